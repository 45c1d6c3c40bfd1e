package http_test

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
)

// The in-memory fake's methods for email verification and change; they
// follow the port contracts that ports/porttest checks on the real stores.

func (f *fakeUsers) SetEmailVerified(_ context.Context, id int64, at time.Time) error {
	f.creates.Add(1)
	if err := f.fail(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.byID[id]
	if !ok {
		return domain.ErrUserNotFound
	}
	f.byID[id] = u.WithEmailVerifiedAt(at)
	return nil
}

func (f *fakeUsers) ChangeEmail(_ context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	f.creates.Add(1)
	if err := f.fail(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.byID[id]
	if !ok {
		return domain.ErrUserNotFound
	}
	for _, v := range f.byID {
		if v.ID() != id && v.Email() == email {
			return domain.ErrEmailTaken
		}
	}
	f.byID[id] = domain.RehydrateUser(id, email.String(), u.PasswordHash(), u.IsActive(), u.CreatedAt()).WithEmailVerifiedAt(verifiedAt)
	return nil
}

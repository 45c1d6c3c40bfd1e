package http_test

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
)

// The in-memory fake's methods for email verification and change; they
// follow the port contracts that ports/porttest checks on the real stores.

func (f *fakeUsers) SetEmailVerified(_ context.Context, id int64, at time.Time) error {
	return f.update(id, func(u *domain.User) (*domain.User, error) { return u.WithEmailVerifiedAt(at), nil })
}

func (f *fakeUsers) ChangeEmail(_ context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	return f.update(id, func(u *domain.User) (*domain.User, error) {
		for _, v := range f.byID {
			if v.ID() != id && v.Email() == email {
				return nil, domain.ErrEmailTaken
			}
		}
		return with(u, email.String(), u.PasswordHash(), u.IsActive()).WithEmailVerifiedAt(verifiedAt), nil
	})
}

package http_test

import (
	"context"
	"sync"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
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

// fakeMail is the emailed tokens and the mail outbox in memory, after
// the port contracts (Issue writes the token and its mail together).
type fakeMail struct {
	mu     sync.Mutex
	users  ports.UserRepository
	tokens map[string]*fakeEmailToken
	sent   []ports.Mail // every message enqueued, in order
	err    error        // when set, every method returns it
}

type fakeEmailToken struct {
	t    ports.EmailToken
	used bool
}

var (
	_ ports.EmailTokenRepository = (*fakeMail)(nil)
	_ ports.MailOutbox           = (*fakeMail)(nil)
)

func newFakeMail(users ports.UserRepository) *fakeMail {
	return &fakeMail{users: users, tokens: map[string]*fakeEmailToken{}}
}

// mails returns the messages enqueued so far to to with template.
func (f *fakeMail) mails(to, template string) []ports.Mail {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ports.Mail
	for _, m := range f.sent {
		if m.To == to && m.Template == template {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeMail) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func (f *fakeMail) Issue(ctx context.Context, hash []byte, t ports.EmailToken, m ports.Mail, now time.Time) error {
	if f.err != nil {
		return f.err
	}
	if _, err := f.users.ByID(ctx, t.UserID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, old := range f.tokens {
		if old.t.UserID == t.UserID && old.t.Purpose == t.Purpose {
			old.used = true
		}
	}
	f.tokens[string(hash)] = &fakeEmailToken{t: t}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeMail) find(hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (*fakeEmailToken, error) {
	if f.err != nil {
		return nil, f.err
	}
	tok, ok := f.tokens[string(hash)]
	if !ok || tok.used || tok.t.Purpose != purpose || !tok.t.ExpiresAt.After(now) {
		return nil, domain.ErrEmailTokenNotFound
	}
	return tok, nil
}

func (f *fakeMail) Consume(_ context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, err := f.find(hash, purpose, now)
	if err != nil {
		return ports.EmailToken{}, err
	}
	tok.used = true
	return tok.t, nil
}

func (f *fakeMail) Lookup(_ context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, err := f.find(hash, purpose, now)
	if err != nil {
		return ports.EmailToken{}, err
	}
	return tok.t, nil
}

func (f *fakeMail) InvalidateAll(_ context.Context, userID int64, purpose ports.EmailTokenPurpose, _ time.Time) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tok := range f.tokens {
		if tok.t.UserID == userID && tok.t.Purpose == purpose {
			tok.used = true
		}
	}
	return nil
}

func (f *fakeMail) DeleteExpired(context.Context, time.Time) (int, error) { return 0, f.err }

func (f *fakeMail) Enqueue(_ context.Context, m ports.Mail, _ time.Time) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return nil
}

// The relay's side of the outbox: the HTTP tests run no relay, so every
// message stays pending.

func (f *fakeMail) Claim(context.Context, time.Time, int, time.Duration) ([]ports.OutboxMail, error) {
	return nil, f.err
}
func (f *fakeMail) MarkSent(context.Context, int64, time.Time) error { return domain.ErrMailNotFound }
func (f *fakeMail) Retry(context.Context, int64, time.Time, string) error {
	return domain.ErrMailNotFound
}
func (f *fakeMail) MarkFailed(context.Context, int64, time.Time, string) error {
	return domain.ErrMailNotFound
}
func (f *fakeMail) Stats(context.Context, time.Time) (int, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent), time.Time{}, f.err
}
func (f *fakeMail) DeleteOld(context.Context, time.Time) (int, error) { return 0, f.err }

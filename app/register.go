package app

import (
	"context"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Register creates an account. Returns EINVALID with field errors for a bad
// email or password (both are checked, so the client sees every problem at
// once), ECONFLICT when the email is taken, EUNAVAILABLE when storage or the
// hasher cannot answer.
func (s *Service) Register(ctx context.Context, rawEmail, password string) (*domain.User, error) {
	ctx, release, err := s.hasher.Admit(ctx) // an overload refuses before any other work
	if err != nil {
		return nil, err
	}
	defer release()
	email, emailErr := domain.ParseEmail(rawEmail)
	if err := domain.MergeInvalid(emailErr, s.cfg.Policy.Validate(password, email)); err != nil {
		return nil, err
	}
	// The policy checked the NFKC form, which is what is stored: the same
	// password typed on another keyboard or OS (NFD accents, full-width
	// digits) must match at login.
	password, err = domain.NormalizePassword(password)
	if err != nil {
		return nil, err
	}
	if err := s.checkBreached(ctx, password); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := domain.NewUser(email, hash, s.clock.Now())
	if err != nil {
		return nil, err
	}
	created, err := s.users.Create(ctx, u)
	if err != nil {
		return nil, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventUserRegistered, UserID: created.ID(), Email: created.Email().String()})
	s.welcome(ctx, created)
	return created, nil
}

// welcome mails a new account its verification link when mail is on.
// The account exists either way: a failure is reported, not returned, and
// the user can ask for another link.
func (s *Service) welcome(ctx context.Context, u *domain.User) {
	if !s.MailEnabled() {
		return
	}
	wait, err := s.allowRecipient(ctx, u.Email(), kindVerify)
	if err == nil && wait == 0 {
		err = s.sendVerification(ctx, u)
	}
	s.reportError("verification mail", err)
}

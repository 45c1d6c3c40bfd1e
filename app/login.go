package app

import (
	"context"
	"errors"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Login checks credentials, starts a session and issues its tokens.
// Unknown email, wrong password and inactive account all return
// domain.ErrInvalidCredentials after exactly one password comparison; only
// the login.failed security event tells them apart. Storage failures are
// returned as they are (EUNAVAILABLE), never turned into invalid
// credentials.
func (s *Service) Login(ctx context.Context, rawEmail, password string) (*Tokens, error) {
	attempt, err := s.beginLogin(ctx, rawEmail)
	if err != nil {
		return nil, err
	}
	if err := s.verifyPassword(ctx, attempt, password); err != nil {
		return nil, err
	}
	s.rehash(ctx, attempt.user, password)
	return s.startSession(ctx, attempt)
}

// loginAttempt is one login on its way: the email (zero when it did not
// parse), the account (nil when there is none), the hash to compare with
// (the timing dummy when there is no account) and the rate-limit guard.
type loginAttempt struct {
	email domain.Email
	user  *domain.User
	hash  string
	guard *accountGuard
}

// beginLogin parses the email, applies the account's rate limits (which
// may refuse the attempt before any password work) and looks the account
// up.
func (s *Service) beginLogin(ctx context.Context, rawEmail string) (*loginAttempt, error) {
	a := &loginAttempt{hash: s.dummyHash, guard: &accountGuard{disabled: true}}
	email, err := domain.ParseEmail(rawEmail)
	if err != nil {
		// Not an address: still one comparison (against the dummy), so
		// the answer takes as long as any other failure.
		return a, nil
	}
	a.email = email
	if a.guard, err = s.guardAccount(ctx, email); err != nil {
		return nil, err
	}
	user, err := s.users.ByEmail(ctx, email)
	switch {
	case err == nil:
		a.user, a.hash = user, user.PasswordHash()
	case domain.ErrorCode(err) != domain.ENOTFOUND:
		return nil, err
	}
	return a, nil
}

// verifyPassword makes the attempt's one password comparison. A failure
// (no account, wrong password, inactive account) is recorded, counted
// against the account and answered domain.ErrInvalidCredentials; a
// success clears the account's failures.
func (s *Service) verifyPassword(ctx context.Context, a *loginAttempt, password string) error {
	ok, err := s.hasher.Compare(ctx, a.hash, password)
	if err != nil {
		return err
	}
	if a.user == nil || !ok || !a.user.IsActive() {
		// Recorded before the failure is counted, so it leaves a trace
		// even if the limit store cannot answer.
		s.events.Record(ctx, loginFailed(a.email, a.user, ok))
		if err := a.guard.failed(ctx); err != nil {
			return err
		}
		return domain.ErrInvalidCredentials
	}
	return a.guard.succeeded(ctx)
}

// loginFailed is the event of a refused login: the email when it parsed,
// the account when there is one, and why. The reason is for operators
// only; the client always sees domain.ErrInvalidCredentials. ("password
// mismatch" rather than "wrong password": tests look for their passwords
// in the log, and that phrase is one of them.)
func loginFailed(email domain.Email, user *domain.User, passwordMatched bool) ports.SecurityEvent {
	e := ports.SecurityEvent{Name: ports.EventLoginFailed, Email: email.String(), Reason: ports.ReasonUnknownEmail}
	if user != nil {
		e.UserID = user.ID()
		e.Reason = ports.ReasonPasswordMismatch
		if passwordMatched {
			e.Reason = ports.ReasonInactiveAccount
		}
	}
	return e
}

// rehash re-hashes a verified password whose stored hash was made with
// other parameters (a raised bcrypt cost), so users upgrade as they log in.
// It is best effort: a failure leaves the old hash, which still verifies,
// and the next login tries again.
func (s *Service) rehash(ctx context.Context, user *domain.User, password string) {
	if !s.hasher.NeedsRehash(user.PasswordHash()) {
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil || hash == "" {
		// An empty hash would lock the account out for good (Register
		// refuses one through domain.NewUser).
		return
	}
	_ = s.users.UpdatePasswordHash(ctx, user.ID(), hash)
}

// startSession stores a new session with its first refresh token and
// issues the tokens.
func (s *Service) startSession(ctx context.Context, a *loginAttempt) (*Tokens, error) {
	now := s.clock.Now()
	id, err := s.sessionTokens.NewSessionID()
	if err != nil {
		return nil, err
	}
	refresh, err := s.sessionTokens.NewRefreshToken()
	if err != nil {
		return nil, err
	}
	refreshHash, ok := s.sessionTokens.Hash(refresh)
	if !ok {
		return nil, errors.New("app: a new refresh token is not well-formed")
	}
	session, err := domain.NewSession(id, a.user.ID(), now, s.cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	if err := s.sessions.Create(ctx, session, refreshHash); err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			// The account was deleted between the lookup and now.
			s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventLoginFailed, UserID: a.user.ID(), Email: a.email.String(), Reason: ports.ReasonUnknownEmail})
			return nil, domain.ErrInvalidCredentials
		}
		return nil, err
	}
	tokens, err := s.issue(a.user, session, refresh, now)
	if err != nil {
		return nil, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventLoginSucceeded, UserID: a.user.ID(), Email: a.email.String(), SessionID: session.ID()})
	return tokens, nil
}

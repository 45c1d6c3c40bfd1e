// Package app holds authd's use cases. It talks to the outside world only
// through the interfaces in ports, which cmd/authd fills with adapters.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// dummyPassword is hashed once at start-up. Logging in with an unknown
// email compares against that hash, so the response takes as long as a
// wrong password for a real account and does not reveal which emails exist.
const dummyPassword = "authd-timing-equalizer-not-a-real-password"

// Ports are the outside world the use cases need; New refuses a nil one.
type Ports struct {
	Users         ports.UserRepository
	Sessions      ports.SessionRepository
	Hasher        ports.PasswordHasher
	Tokens        ports.TokenIssuer
	SessionTokens ports.SessionTokens
	Clock         ports.Clock
	Events        ports.EventLog
	// RateLimits is required when Config.Limits.Enabled.
	RateLimits ports.RateLimitStore
	// Breaches is optional: nil turns the breached-password check off.
	Breaches ports.BreachChecker
}

// Config holds the use cases' rules.
type Config struct {
	Policy domain.PasswordPolicy
	// SessionTTL is a session's absolute lifetime from login; refreshing
	// never extends it. Default 30 days.
	SessionTTL time.Duration
	// ReuseGrace is how long after a refresh the spent token may be
	// presented again (two tabs, a retried request) and receive the same
	// successor. Later, presenting it is treated as theft. Default 10s.
	ReuseGrace time.Duration
	// Limits configure rate limiting (see Limits).
	Limits Limits
	// BreachFailClosed refuses registrations (503) while the breach
	// checker cannot answer; by default they proceed.
	BreachFailClosed bool
}

// Defaults for Config's zero values.
const (
	DefaultSessionTTL = 30 * 24 * time.Hour
	DefaultReuseGrace = 10 * time.Second
	// maxSuccessorWalk bounds how far a grace-window retry follows the
	// chain of successors to the session's current token.
	maxSuccessorWalk = 8
)

// Service runs the use cases.
type Service struct {
	Ports
	cfg       Config
	dummyHash string
}

// New builds the use cases from ports. It hashes a dummy password once with
// the given hasher, so the dummy costs exactly what a real hash costs.
func New(p Ports, cfg Config) (*Service, error) {
	switch {
	case p.Users == nil:
		return nil, errors.New("app: nil UserRepository")
	case p.Sessions == nil:
		return nil, errors.New("app: nil SessionRepository")
	case p.Hasher == nil:
		return nil, errors.New("app: nil PasswordHasher")
	case p.Tokens == nil:
		return nil, errors.New("app: nil TokenIssuer")
	case p.SessionTokens == nil:
		return nil, errors.New("app: nil SessionTokens")
	case p.Clock == nil:
		return nil, errors.New("app: nil Clock")
	case p.Events == nil:
		return nil, errors.New("app: nil EventLog")
	case cfg.Limits.Enabled && p.RateLimits == nil:
		return nil, errors.New("app: rate limits enabled without a RateLimitStore")
	case cfg.Limits.Enabled && (cfg.Limits.IPWindow <= 0 && cfg.Limits.IPRequests > 0 || cfg.Limits.AccountWindow <= 0 && cfg.Limits.AccountFailures > 0):
		return nil, errors.New("app: a rate limit needs a positive window")
	case cfg.SessionTTL < 0 || cfg.ReuseGrace < 0:
		return nil, errors.New("app: negative session lifetime or reuse grace")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ReuseGrace == 0 {
		cfg.ReuseGrace = DefaultReuseGrace
	}
	dummy, err := p.Hasher.Hash(context.Background(), dummyPassword)
	if err != nil {
		return nil, fmt.Errorf("app: hashing the timing dummy: %w", err)
	}
	return &Service{Ports: p, cfg: cfg, dummyHash: dummy}, nil
}

// Register creates an account. Returns EINVALID with field errors for a bad
// email or password (both are checked, so the client sees every problem at
// once), ECONFLICT when the email is taken, EUNAVAILABLE when storage or the
// hasher cannot answer.
func (s *Service) Register(ctx context.Context, rawEmail, password string) (*domain.User, error) {
	email, emailErr := domain.ParseEmail(rawEmail)
	if err := domain.MergeInvalid(emailErr, s.cfg.Policy.Validate(password, email)); err != nil {
		return nil, err
	}
	if err := s.checkBreached(ctx, password); err != nil {
		return nil, err
	}
	hash, err := s.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	u, err := domain.NewUser(email, hash, s.Clock.Now())
	if err != nil {
		return nil, err
	}
	created, err := s.Users.Create(ctx, u)
	if err != nil {
		return nil, err
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "user.registered", UserID: created.ID(), Email: created.Email().String()})
	return created, nil
}

// ErrBreachedPassword refuses a password found in known data breaches.
var ErrBreachedPassword = domain.Invalid(domain.FieldError{Field: "password", Message: "Password has appeared in a data breach; choose another"})

// checkBreached asks the breach checker, if one is configured. When it
// cannot answer, the registration proceeds unless BreachFailClosed is set,
// in which case it is EUNAVAILABLE (503); either way the outage is
// recorded.
func (s *Service) checkBreached(ctx context.Context, password string) error {
	if s.Breaches == nil {
		return nil
	}
	breached, err := s.Breaches.Breached(ctx, password)
	switch {
	case err != nil:
		s.Events.Record(ctx, ports.SecurityEvent{Name: "breach_check.unavailable", Reason: fmt.Sprintf("fail closed: %v", s.cfg.BreachFailClosed)})
		if s.cfg.BreachFailClosed {
			return err
		}
		return nil
	case breached:
		return ErrBreachedPassword
	}
	return nil
}

// Tokens is what a successful login or refresh hands out.
type Tokens struct {
	User        *domain.User
	AccessToken ports.AccessToken
	// RefreshToken is opaque; RefreshExpiresIn is how long its session has
	// left (refreshing never extends it).
	RefreshToken     string
	RefreshExpiresIn time.Duration
}

// Login checks credentials, starts a session and issues its tokens.
// Unknown email, wrong password and inactive account all return
// domain.ErrInvalidCredentials after exactly one password comparison; only
// the login.failed security event tells them apart. Storage failures are
// returned as they are (EUNAVAILABLE), never turned into invalid
// credentials.
func (s *Service) Login(ctx context.Context, rawEmail, password string) (*Tokens, error) {
	var (
		user  *domain.User
		guard = &accountGuard{disabled: true}
	)
	hash := s.dummyHash
	email, err := domain.ParseEmail(rawEmail)
	if err == nil {
		if guard, err = s.guardAccount(ctx, email); err != nil {
			return nil, err
		}
		user, err = s.Users.ByEmail(ctx, email)
		switch {
		case err == nil:
			hash = user.PasswordHash()
		case domain.ErrorCode(err) == domain.ENOTFOUND:
			user = nil
		default:
			return nil, err
		}
	}
	ok, err := s.Hasher.Compare(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if user == nil || !ok || !user.IsActive() {
		// Recorded before the failure is counted, so it leaves a trace
		// even if the limit store cannot answer.
		s.Events.Record(ctx, loginFailed(email, user, ok))
		if err := guard.failed(ctx); err != nil {
			return nil, err
		}
		return nil, domain.ErrInvalidCredentials
	}
	if err := guard.succeeded(ctx); err != nil {
		return nil, err
	}
	s.rehash(ctx, user, password)

	now := s.Clock.Now()
	id, err := s.SessionTokens.NewSessionID()
	if err != nil {
		return nil, err
	}
	refresh, err := s.SessionTokens.NewRefreshToken()
	if err != nil {
		return nil, err
	}
	refreshHash, ok := s.SessionTokens.Hash(refresh)
	if !ok {
		return nil, errors.New("app: a new refresh token is not well-formed")
	}
	session, err := domain.NewSession(id, user.ID(), now, s.cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	if err := s.Sessions.Create(ctx, session, refreshHash); err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			// The account was deleted between the lookup and now.
			s.Events.Record(ctx, ports.SecurityEvent{Name: "login.failed", UserID: user.ID(), Email: email.String(), Reason: "unknown email"})
			return nil, domain.ErrInvalidCredentials
		}
		return nil, err
	}
	tokens, err := s.issue(user, session, refresh, now)
	if err != nil {
		return nil, err
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "login.succeeded", UserID: user.ID(), Email: email.String(), SessionID: session.ID()})
	return tokens, nil
}

// loginFailed is the event of a refused login: the email when it parsed,
// the account when there is one, and why ("unknown email", "password
// mismatch", "inactive account"). The reason is for operators only; the
// client always sees domain.ErrInvalidCredentials. ("password mismatch"
// rather than "wrong password": tests look for their passwords in the
// log, and that phrase is one of them.)
func loginFailed(email domain.Email, user *domain.User, passwordMatched bool) ports.SecurityEvent {
	e := ports.SecurityEvent{Name: "login.failed", Email: email.String(), Reason: "unknown email"}
	if user != nil {
		e.UserID = user.ID()
		e.Reason = "password mismatch"
		if passwordMatched {
			e.Reason = "inactive account"
		}
	}
	return e
}

// rehash re-hashes a verified password whose stored hash was made with
// other parameters (a raised bcrypt cost), so users upgrade as they log in.
// It is best effort: a failure leaves the old hash, which still verifies,
// and the next login tries again.
func (s *Service) rehash(ctx context.Context, user *domain.User, password string) {
	if !s.Hasher.NeedsRehash(user.PasswordHash()) {
		return
	}
	hash, err := s.Hasher.Hash(ctx, password)
	if err != nil || hash == "" {
		// An empty hash would lock the account out for good (Register
		// refuses one through domain.NewUser).
		return
	}
	_ = s.Users.UpdatePasswordHash(ctx, user.ID(), hash)
}

func (s *Service) issue(user *domain.User, session *domain.Session, refresh string, now time.Time) (*Tokens, error) {
	access, err := s.Tokens.Issue(user.ID(), session.ID(), now)
	if err != nil {
		return nil, err
	}
	return &Tokens{User: user, AccessToken: access, RefreshToken: refresh, RefreshExpiresIn: session.RemainingAt(now)}, nil
}

// Refresh rotates a refresh token: it spends the presented token and
// returns its successor with a new access token.
//
// Concurrent or repeated refreshes with one token inside the reuse grace
// window all receive the same successor (see adapters/refreshtoken for why
// that needs no stored plaintext), so two tabs never log the user out and
// never fork the session. A spent token presented after the window is
// taken as theft: the whole session is revoked, so the thief's and the
// victim's newest tokens both stop working, and a security event is
// recorded. Every refusal is domain.ErrInvalidRefreshToken; storage
// failures are EUNAVAILABLE.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	presented, ok := s.SessionTokens.Hash(token)
	if !ok {
		return nil, domain.ErrInvalidRefreshToken
	}
	successor := s.SessionTokens.Successor(token)
	successorHash, ok := s.SessionTokens.Hash(successor)
	if !ok {
		return nil, errors.New("app: a derived refresh token is not well-formed")
	}
	now := s.Clock.Now()
	st, rotated, err := s.Sessions.Rotate(ctx, presented, successorHash, now)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil, domain.ErrInvalidRefreshToken
	case err != nil:
		return nil, err
	case !st.Session.LiveAt(now):
		return nil, domain.ErrInvalidRefreshToken
	}
	if !rotated {
		if now.Sub(st.SpentAt) > s.cfg.ReuseGrace {
			return nil, s.revokeForReuse(ctx, st.Session, now)
		}
		// A retry inside the grace window: hand out the session's current
		// token, which is this token's successor (or, if that was refreshed
		// too in the meantime, its successor's successor).
		if successor, err = s.currentSuccessor(ctx, successor); err != nil {
			return nil, err
		}
	}
	user, err := s.Users.ByID(ctx, st.Session.UserID())
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil, domain.ErrInvalidRefreshToken
	case err != nil:
		return nil, err
	case !user.IsActive():
		return nil, domain.ErrInvalidRefreshToken
	}
	tokens, err := s.issue(user, st.Session, successor, now)
	if err != nil {
		return nil, err
	}
	reason := "rotated"
	if !rotated {
		reason = "grace retry"
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "token.refreshed", UserID: user.ID(), Email: user.Email().String(), SessionID: st.Session.ID(), Reason: reason})
	return tokens, nil
}

// currentSuccessor follows the chain of successors from token until it
// reaches the one that is not yet spent.
func (s *Service) currentSuccessor(ctx context.Context, token string) (string, error) {
	for i := 0; i < maxSuccessorWalk; i++ {
		h, ok := s.SessionTokens.Hash(token)
		if !ok {
			return "", errors.New("app: a derived refresh token is not well-formed")
		}
		st, err := s.Sessions.Token(ctx, h)
		switch {
		case domain.ErrorCode(err) == domain.ENOTFOUND:
			return "", domain.ErrInvalidRefreshToken
		case err != nil:
			return "", err
		case st.SpentAt.IsZero():
			return token, nil
		}
		token = s.SessionTokens.Successor(token)
	}
	return "", domain.ErrInvalidRefreshToken
}

func (s *Service) revokeForReuse(ctx context.Context, session *domain.Session, now time.Time) error {
	// Record the theft first, so it leaves a trace even if revoking fails.
	s.Events.Record(ctx, ports.SecurityEvent{Name: "token.reuse_detected", UserID: session.UserID(), SessionID: session.ID(), Reason: "spent refresh token presented after the grace window"})
	if err := s.Sessions.Revoke(ctx, session.ID(), now); err != nil {
		return err
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "session.revoked", UserID: session.UserID(), SessionID: session.ID(), Reason: "refresh token reuse"})
	return domain.ErrInvalidRefreshToken
}

// Logout ends the session a refresh token belongs to. It is idempotent: a
// malformed, unknown or already-ended token is not an error. Storage
// failures are EUNAVAILABLE.
func (s *Service) Logout(ctx context.Context, token string) error {
	h, ok := s.SessionTokens.Hash(token)
	if !ok {
		return nil
	}
	st, err := s.Sessions.Token(ctx, h)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil
	case err != nil:
		return err
	case !st.Session.RevokedAt().IsZero():
		return nil
	}
	if err := s.Sessions.Revoke(ctx, st.Session.ID(), s.Clock.Now()); err != nil {
		return err
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "session.revoked", UserID: st.Session.UserID(), SessionID: st.Session.ID(), Reason: "logout"})
	return nil
}

// LogoutAll ends every session of the user an access token belongs to;
// the token itself stops working at once. Errors as for Authenticate.
func (s *Service) LogoutAll(ctx context.Context, accessToken string) error {
	u, _, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	n, err := s.Sessions.RevokeAll(ctx, u.ID(), s.Clock.Now())
	if err != nil {
		return err
	}
	s.Events.Record(ctx, ports.SecurityEvent{Name: "session.revoked", UserID: u.ID(), Reason: fmt.Sprintf("logout from all devices (%d sessions)", n)})
	return nil
}

// SweepSessions deletes sessions that expired or were revoked, with their
// tokens, so the tables do not grow without bound. It returns how many.
func (s *Service) SweepSessions(ctx context.Context) (int, error) {
	return s.Sessions.DeleteEnded(ctx, s.Clock.Now())
}

// Authenticate verifies an access token and checks, in one indexed
// lookup, that its session is still live and its user exists and is
// active: logout and reuse detection end access at once. Any failure is
// domain.ErrInvalidToken; storage failures are EUNAVAILABLE.
func (s *Service) Authenticate(ctx context.Context, token string) (*domain.User, ports.AccessClaims, error) {
	now := s.Clock.Now()
	claims, err := s.Tokens.Verify(token, now)
	if err != nil {
		if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			return nil, ports.AccessClaims{}, domain.ErrInvalidToken
		}
		return nil, ports.AccessClaims{}, err
	}
	u, err := s.Sessions.ActiveUser(ctx, claims.SessionID, claims.UserID, now)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil, ports.AccessClaims{}, domain.ErrInvalidToken
	case err != nil:
		return nil, ports.AccessClaims{}, err
	case !u.IsActive():
		return nil, ports.AccessClaims{}, domain.ErrInvalidToken
	}
	return u, claims, nil
}

// CurrentUser returns the user an access token belongs to; see
// Authenticate for the errors.
func (s *Service) CurrentUser(ctx context.Context, token string) (*domain.User, error) {
	u, _, err := s.Authenticate(ctx, token)
	return u, err
}

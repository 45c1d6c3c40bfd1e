package app

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Credentials are what a client logs in with.
type Credentials struct {
	Email    string
	Password string
	// DeviceToken, optional, is the device token an earlier successful
	// login to this account returned (see Limits).
	DeviceToken string
}

// Login checks credentials, starts a session and issues its tokens, with a
// device token for the client to present next time. Unknown email, wrong
// password and inactive account all return domain.ErrInvalidCredentials,
// in the same time; only the login.failed security event tells them
// apart. A login the account's limits refuse is ERATELIMITED before any
// password work. Storage failures are returned as they are (EUNAVAILABLE),
// never turned into invalid credentials.
func (s *Service) Login(ctx context.Context, c Credentials) (*Tokens, error) {
	ctx, release, err := s.hasher.Admit(ctx) // an overload refuses before any other work
	if err != nil {
		return nil, err
	}
	defer release()
	attempt, err := s.beginLogin(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := s.verifyPassword(ctx, attempt, c.Password); err != nil {
		return nil, err
	}
	if s.cfg.Mail.RequireVerified && !attempt.user.EmailVerified() {
		// Told only to whoever knows the password.
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventLoginFailed, UserID: attempt.user.ID(), Email: attempt.email.String(), Reason: ports.ReasonEmailNotVerified})
		return nil, domain.ErrEmailNotVerified
	}
	return s.startSession(ctx, attempt)
}

// loginAttempt is one login on its way: the email (zero when it did not
// parse), the account (nil when there is none), the hash to compare with
// (the timing dummy when there is no account), the verified device token
// and the rate-limit guard.
type loginAttempt struct {
	email    domain.Email
	user     *domain.User
	hash     string
	device   ports.DeviceClaims
	deviceOK bool
	guard    *accountGuard
}

// beginLogin parses the email, looks the account up and applies its rate
// limits, which may refuse the attempt before any password work.
func (s *Service) beginLogin(ctx context.Context, c Credentials) (*loginAttempt, error) {
	a := &loginAttempt{hash: s.dummyHash, guard: &accountGuard{disabled: true}}
	email, err := domain.ParseEmail(c.Email)
	if err != nil {
		// Not an address: still one comparison (against the dummy), so
		// the answer takes as long as any other failure.
		return a, nil
	}
	a.email = email
	user, err := s.users.ByEmail(ctx, email)
	switch {
	case err == nil:
		a.user, a.hash = user, user.PasswordHash()
	case domain.ErrorCode(err) != domain.ENOTFOUND:
		return nil, err
	}
	if c.DeviceToken != "" && s.devices != nil {
		a.device, a.deviceOK = s.devices.Verify(c.DeviceToken, s.clock.Now())
	}
	if a.guard, err = s.guardAccount(ctx, email, a.user, a.device, a.deviceOK); err != nil {
		return nil, err
	}
	return a, nil
}

// verifyPassword checks the password against the attempt's hash. A
// failure (no account, wrong password, inactive account) is recorded,
// counted against the account and answered domain.ErrInvalidCredentials;
// a success settles the guard and upgrades the stored hash when needed.
func (s *Service) verifyPassword(ctx context.Context, a *loginAttempt, raw string) error {
	ok, upgrade, err := s.comparePassword(ctx, a.hash, raw)
	if err != nil {
		// No check happened (the hashing pool refused it, the client went
		// away): what was reserved for it is given back, or an overload
		// would spend the owner's budgets.
		if rerr := a.guard.abandon(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if a.user == nil || !ok || !a.user.IsActive() {
		if err := s.equalizeTime(ctx, a); err != nil {
			return err
		}
		// Recorded before the failure is counted, so it leaves a trace
		// even if the limit store cannot answer.
		s.events.Record(ctx, loginFailed(a.email, a.user, ok))
		if err := a.guard.failed(ctx); err != nil {
			return err
		}
		return domain.ErrInvalidCredentials
	}
	if err := a.guard.succeeded(ctx); err != nil {
		return err
	}
	s.rehash(ctx, a.user, raw, upgrade)
	return nil
}

// comparePassword compares the NFKC form of raw, which is what
// registrations since normalization store. Hashes made before that were of
// the password as typed: when the normalized form does not match and
// differs from raw, raw is tried once, and a match there asks for the hash
// to be upgraded. Text that is not UTF-8 cannot match anything, but is
// compared all the same (against the dummy), so it costs what a wrong
// password costs.
func (s *Service) comparePassword(ctx context.Context, hash, raw string) (ok, upgrade bool, err error) {
	normalized, nerr := domain.NormalizePassword(raw)
	if nerr != nil {
		_, err := s.hasher.Compare(ctx, s.dummyHash, raw)
		return false, false, err
	}
	if ok, err = s.hasher.Compare(ctx, hash, normalized); ok || err != nil || normalized == raw {
		return ok, false, err
	}
	ok, err = s.hasher.Compare(ctx, hash, raw)
	return ok, ok, err
}

// equalizeTime spends, on a failed login whose stored hash is cheaper
// than the hasher's current cost (made before AUTHD_BCRYPT_COST was
// raised), one more comparison at the current cost, so the failure takes
// at least as long as one for an unknown email (compared against the
// dummy, which is at the current cost) and timing does not tell them
// apart.
func (s *Service) equalizeTime(ctx context.Context, a *loginAttempt) error {
	if a.user == nil || !s.hasher.Cheaper(a.hash) {
		return nil
	}
	_, err := s.hasher.Compare(ctx, s.dummyHash, dummyPassword+"x")
	return err
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
// other parameters (a raised bcrypt cost) or from the password as typed
// rather than its NFKC form (upgrade), so users upgrade as they log in.
// It is best effort: a failure leaves the old hash, which still verifies,
// and the next login tries again.
func (s *Service) rehash(ctx context.Context, user *domain.User, raw string, upgrade bool) {
	if !upgrade && !s.hasher.NeedsRehash(user.PasswordHash()) {
		return
	}
	normalized, err := domain.NormalizePassword(raw)
	if err != nil {
		return
	}
	hash, err := s.hasher.Hash(ctx, normalized)
	if err != nil || hash == "" {
		// An empty hash would lock the account out for good (Register
		// refuses one through domain.NewUser).
		return
	}
	_ = s.users.UpdatePasswordHash(ctx, user.ID(), hash)
}

// startSession stores a new session, with its first refresh token and
// where it was started from, and issues the tokens.
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
	session = session.WithClient(ports.UserAgentFrom(ctx), ports.ClientFrom(ctx))
	if err := s.makeRoomForSession(ctx, a.user.ID(), now); err != nil {
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
	if tokens.DeviceToken, err = s.deviceToken(a, now); err != nil {
		return nil, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventLoginSucceeded, UserID: a.user.ID(), Email: a.email.String(), SessionID: session.ID()})
	return tokens, nil
}

// makeRoomForSession ends the user's oldest live sessions so that the new
// one keeps them within MaxSessions: sessions (and their refresh-token
// rows) cannot pile up without bound for one account.
func (s *Service) makeRoomForSession(ctx context.Context, userID int64, now time.Time) error {
	if s.cfg.MaxSessions < 0 {
		return nil
	}
	n, err := s.sessions.RevokeBeyond(ctx, userID, s.cfg.MaxSessions-1, now)
	if err != nil {
		return err
	}
	if n > 0 {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: userID, Reason: ports.ReasonSessionCap})
	}
	return nil
}

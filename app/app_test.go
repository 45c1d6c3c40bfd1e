package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

// dummyHash is what the fake hasher returns for dummyPassword in New.
const dummyHash = "$2a$04$dummy.hash.of.the.timing.equalizer.password"

// now is what the fake clock says. It has sub-second precision so a
// use case that truncates or re-reads the time would not match it.
var now = time.Date(2025, 3, 4, 5, 6, 7, 890123000, time.UTC)

type ctxKey struct{}

// testCtx is a context the use cases must hand to the ports unchanged;
// gomock's default matcher only accepts a deep-equal one, which a fresh
// context.Background() or a derived context is not.
func testCtx(t *testing.T) context.Context {
	return context.WithValue(context.Background(), ctxKey{}, t.Name())
}

type fixture struct {
	users    *mock.MockUserRepository
	sessions *mock.MockSessionRepository
	hasher   *mock.MockPasswordHasher
	tokens   *mock.MockTokenIssuer
	stokens  *mock.MockSessionTokens
	clock    *mock.MockClock
	events   *mock.MockEventLog
	limits   *mock.MockRateLimitStore
	breaches *mock.MockBreachChecker
	// withBreaches hands breaches to New; without it Ports.Breaches is
	// nil and the breached-password check is off.
	withBreaches bool
	svc          *Service
}

func newMocks(t *testing.T) *fixture {
	ctrl := gomock.NewController(t)
	return &fixture{
		users:    mock.NewMockUserRepository(ctrl),
		sessions: mock.NewMockSessionRepository(ctrl),
		hasher:   mock.NewMockPasswordHasher(ctrl),
		tokens:   mock.NewMockTokenIssuer(ctrl),
		stokens:  mock.NewMockSessionTokens(ctrl),
		clock:    mock.NewMockClock(ctrl),
		events:   mock.NewMockEventLog(ctrl),
		limits:   mock.NewMockRateLimitStore(ctrl),
		breaches: mock.NewMockBreachChecker(ctrl),
	}
}

func (f *fixture) ports() Ports {
	p := Ports{
		Users:         f.users,
		Sessions:      f.sessions,
		Hasher:        f.hasher,
		Tokens:        f.tokens,
		SessionTokens: f.stokens,
		Clock:         f.clock,
		Events:        f.events,
		// Always set: with Config.Limits off, any call to it fails the
		// test, which is how the tests show that nothing is counted.
		RateLimits: f.limits,
	}
	if f.withBreaches {
		p.Breaches = f.breaches
	}
	return p
}

// newFixture builds a Service over fresh mocks. The only call it allows is
// the one New must make: hashing the dummy password with a background
// context. Every test then states exactly which further calls it expects;
// any other call fails the test.
func newFixture(t *testing.T, cfg Config) *fixture {
	return newFixtureWith(t, cfg, func(*fixture) {})
}

// newFixtureWith is newFixture with a chance to adjust the mocks (such as
// withBreaches) before New sees them.
func newFixtureWith(t *testing.T, cfg Config, adjust func(*fixture)) *fixture {
	f := newMocks(t)
	adjust(f)
	f.hasher.EXPECT().Hash(context.Background(), dummyPassword).Return(dummyHash, nil)
	admitAll(f) // admission has its own tests (admission_test.go)
	svc, err := New(f.ports(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.svc = svc
	return f
}

func mustEmail(t *testing.T, raw string) domain.Email {
	t.Helper()
	e, err := domain.ParseEmail(raw)
	if err != nil {
		t.Fatalf("ParseEmail(%q): %v", raw, err)
	}
	return e
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("error %v: code %q, want %q", err, got, code)
	}
}

// newUserMatcher matches the *domain.User that Register hands to Create.
type newUserMatcher struct {
	email     string
	hash      string
	createdAt time.Time
}

func (m newUserMatcher) Matches(x any) bool {
	u, ok := x.(*domain.User)
	return ok && u != nil &&
		u.ID() == 0 &&
		u.Email().String() == m.email &&
		u.PasswordHash() == m.hash &&
		u.CreatedAt().Equal(m.createdAt) && u.CreatedAt().Location() == time.UTC &&
		u.IsActive()
}

func (m newUserMatcher) String() string {
	return fmt.Sprintf("new active user (ID 0) %s with hash %q created at %v", m.email, m.hash, m.createdAt)
}

func TestNewRefusesNilPorts(t *testing.T) {
	tests := []struct {
		name  string
		clear func(*Ports)
		want  string
	}{
		{"users", func(p *Ports) { p.Users = nil }, "UserRepository"},
		{"sessions", func(p *Ports) { p.Sessions = nil }, "SessionRepository"},
		{"hasher", func(p *Ports) { p.Hasher = nil }, "PasswordHasher"},
		{"tokens", func(p *Ports) { p.Tokens = nil }, "TokenIssuer"},
		{"session tokens", func(p *Ports) { p.SessionTokens = nil }, "SessionTokens"},
		{"clock", func(p *Ports) { p.Clock = nil }, "Clock"},
		{"events", func(p *Ports) { p.Events = nil }, "EventLog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No expectations: New must not call the hasher when it refuses.
			p := newMocks(t).ports()
			tt.clear(&p)
			svc, err := New(p, Config{})
			if err == nil || svc != nil {
				t.Fatalf("New = %v, %v; want nil and an error", svc, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
	t.Run("all", func(t *testing.T) {
		if svc, err := New(Ports{}, Config{}); err == nil || svc != nil {
			t.Fatalf("New = %v, %v; want nil and an error", svc, err)
		}
	})
}

func TestNewRefusesNegativeConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative session lifetime":      {SessionTTL: -time.Nanosecond},
		"negative reuse grace":           {ReuseGrace: -time.Second},
		"negative lifetime, valid grace": {SessionTTL: -time.Hour, ReuseGrace: time.Second},
		"valid lifetime, negative grace": {SessionTTL: time.Hour, ReuseGrace: -time.Nanosecond},
	} {
		t.Run(name, func(t *testing.T) {
			// No expectations: New must not call the hasher when it refuses.
			svc, err := New(newMocks(t).ports(), cfg)
			if err == nil || svc != nil {
				t.Fatalf("New(%+v) = %v, %v; want nil and an error", cfg, svc, err)
			}
		})
	}
}

func TestNewFailsWhenDummyHashFails(t *testing.T) {
	f := newMocks(t)
	cause := domain.Unavailable(errors.New("hasher pool full"))
	f.hasher.EXPECT().Hash(context.Background(), dummyPassword).Return("", cause)
	svc, err := New(f.ports(), Config{})
	if err == nil || svc != nil {
		t.Fatalf("New = %v, %v; want nil and an error", svc, err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap the hasher's error", err)
	}
	wantCode(t, err, domain.EUNAVAILABLE)
}

func TestRegister(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	const password = "correct horse battery staple"
	stored := domain.RehydrateUser(42, "alice@example.com", "hash-of-password", true, now)

	f.hasher.EXPECT().Hash(ctx, password).Return("hash-of-password", nil)
	f.clock.EXPECT().Now().Return(now)
	gomock.InOrder(
		f.users.EXPECT().Create(ctx, newUserMatcher{email: "alice@example.com", hash: "hash-of-password", createdAt: now}).Return(stored, nil),
		// Recorded once the account exists, with its id and the
		// normalized email (the event log masks it).
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: "user.registered", UserID: 42, Email: "alice@example.com"}),
	)

	u, err := f.svc.Register(ctx, "  Alice@Example.COM ", password)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if u != stored {
		t.Errorf("Register returned %+v, want the repository's user %+v", u, stored)
	}
}

// TestRegisterHashesTheNFKCForm: a password typed with decomposed
// accents (NFD, as macOS keyboards send) is hashed in its NFKC form, the
// form every login compares first, so the same password typed on another
// system matches.
func TestRegisterHashesTheNFKCForm(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	const nfd, nfkc = "cafe\u0301 au lait, s'il vous pla\u0131\u0302t", "caf\u00e9 au lait, s'il vous pla\u0131\u0302t"
	stored := domain.RehydrateUser(42, "alice@example.com", "hash-of-nfkc", true, now)
	f.hasher.EXPECT().Hash(ctx, nfkc).Return("hash-of-nfkc", nil)
	f.clock.EXPECT().Now().Return(now)
	f.users.EXPECT().Create(ctx, newUserMatcher{email: "alice@example.com", hash: "hash-of-nfkc", createdAt: now}).Return(stored, nil)
	f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: "user.registered", UserID: 42, Email: "alice@example.com"})
	if _, err := f.svc.Register(ctx, "alice@example.com", nfd); err != nil {
		t.Fatalf("Register: %v", err)
	}
}

// TestLoginUpgradesAnUnnormalizedHash: a hash made (before normalization)
// from the password as typed still verifies through the one raw retry, and
// is replaced by the hash of the NFKC form.
func TestLoginUpgradesAnUnnormalizedHash(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	const nfd, nfkc = "cafe\u0301 au lait", "caf\u00e9 au lait"
	user := domain.RehydrateUser(42, "alice@example.com", "hash-of-raw-nfd", true, now.Add(-time.Hour))
	calls := []any{
		f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(user, nil),
		f.hasher.EXPECT().Compare(ctx, "hash-of-raw-nfd", nfkc).Return(false, nil),
		f.hasher.EXPECT().Compare(ctx, "hash-of-raw-nfd", nfd).Return(true, nil),
		f.hasher.EXPECT().Hash(ctx, nfkc).Return("hash-of-nfkc", nil),
		f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "hash-of-nfkc").Return(nil),
	}
	calls = append(calls, expectSessionStart(f, ctx, 42, DefaultSessionTTL, nil)...)
	calls = append(calls,
		f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(ports.AccessToken{Token: "t"}, nil),
		f.events.EXPECT().Record(ctx, loginSucceededEvent()),
	)
	gomock.InOrder(calls...)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	if _, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: nfd}); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

func TestRegisterValidation(t *testing.T) {
	tests := []struct {
		name       string
		policy     domain.PasswordPolicy
		email, pw  string
		wantFields []string
	}{
		{"bad email and short password", domain.PasswordPolicy{}, "John <john@example.com>", "short", []string{"email", "password"}},
		{"empty email and empty password", domain.PasswordPolicy{}, "", "", []string{"email", "password"}},
		{"bad email only", domain.PasswordPolicy{}, "john@localhost", "long enough password", []string{"email"}},
		{"short password only", domain.PasswordPolicy{}, "john@example.com", "1234567", []string{"password"}},
		{"73-byte password", domain.PasswordPolicy{}, "john@example.com", strings.Repeat("p", 73), []string{"password"}},
		{"service's MinLength is applied", domain.PasswordPolicy{MinLength: 12}, "john@example.com", "elevenchars", []string{"password"}},
		{"common password", domain.PasswordPolicy{}, "john@example.com", "Password123", []string{"password"}},
		{"password contains the email's name", domain.PasswordPolicy{}, "John@example.com", "johnjohn2024", []string{"password"}},
		{"unparsable email is not applied to the password", domain.PasswordPolicy{}, "john@localhost", "john@localhost!", []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No expectations beyond New: hasher, clock and repository
			// must not be called for invalid input.
			f := newFixture(t, Config{Policy: tt.policy})
			u, err := f.svc.Register(testCtx(t), tt.email, tt.pw)
			if u != nil {
				t.Errorf("Register returned a user: %+v", u)
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != domain.EINVALID {
				t.Fatalf("error = %v, want one EINVALID *domain.Error", err)
			}
			var got []string
			for _, fe := range de.Fields {
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

// TestRegisterFailures also shows that a registration that fails records
// no user.registered event: the mocks refuse Record.
func TestRegisterFailures(t *testing.T) {
	const password = "correct horse battery staple"
	cause := errors.New("database is locked")

	t.Run("email taken is returned unchanged", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.hasher.EXPECT().Hash(ctx, password).Return("h", nil)
		f.clock.EXPECT().Now().Return(now)
		f.users.EXPECT().Create(ctx, newUserMatcher{email: "taken@example.com", hash: "h", createdAt: now}).Return(nil, domain.ErrEmailTaken)

		u, err := f.svc.Register(ctx, "taken@example.com", password)
		if u != nil || err != domain.ErrEmailTaken {
			t.Fatalf("Register = %v, %v; want nil, domain.ErrEmailTaken", u, err)
		}
	})

	t.Run("repository unavailable stays unavailable", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.hasher.EXPECT().Hash(ctx, password).Return("h", nil)
		f.clock.EXPECT().Now().Return(now)
		f.users.EXPECT().Create(ctx, newUserMatcher{email: "bob@example.com", hash: "h", createdAt: now}).Return(nil, domain.Unavailable(cause))

		u, err := f.svc.Register(ctx, "bob@example.com", password)
		if u != nil {
			t.Errorf("Register returned a user: %+v", u)
		}
		wantCode(t, err, domain.EUNAVAILABLE)
		if !errors.Is(err, cause) {
			t.Errorf("error %v lost its cause", err)
		}
	})

	t.Run("hasher failure is returned and nothing is stored", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		hashErr := domain.Unavailable(context.DeadlineExceeded)
		f.hasher.EXPECT().Hash(ctx, password).Return("", hashErr)
		// Reading the clock is harmless; storing is not (no Create).
		f.clock.EXPECT().Now().Return(now).AnyTimes()

		u, err := f.svc.Register(ctx, "bob@example.com", password)
		if u != nil || err != hashErr {
			t.Fatalf("Register = %v, %v; want nil and the hasher's error", u, err)
		}
	})

	t.Run("empty hash from the hasher is internal, nothing stored", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.hasher.EXPECT().Hash(ctx, password).Return("", nil)
		f.clock.EXPECT().Now().Return(now)

		u, err := f.svc.Register(ctx, "bob@example.com", password)
		if u != nil || err == nil {
			t.Fatalf("Register = %v, %v; want an error", u, err)
		}
		wantCode(t, err, domain.EINTERNAL)
	})
}

// newSessionMatcher matches the *domain.Session that Login hands to
// Sessions.Create.
type newSessionMatcher struct {
	id        string
	userID    int64
	createdAt time.Time
	ttl       time.Duration
}

func (m newSessionMatcher) Matches(x any) bool {
	s, ok := x.(*domain.Session)
	return ok && s != nil &&
		s.ID() == m.id &&
		s.UserID() == m.userID &&
		s.CreatedAt().Equal(m.createdAt) && s.CreatedAt().Location() == time.UTC &&
		s.ExpiresAt().Equal(m.createdAt.Add(m.ttl)) && s.ExpiresAt().Location() == time.UTC &&
		s.RevokedAt().IsZero()
}

func (m newSessionMatcher) String() string {
	return fmt.Sprintf("new session %q of user %d from %v to %v", m.id, m.userID, m.createdAt, m.createdAt.Add(m.ttl))
}

// Values the fake SessionTokens hands out at login.
const (
	loginSessionID = "0123456789abcdef0123456789abcdef"
	loginRefresh   = "first-refresh-token-of-the-session"
)

var loginRefreshHash = []byte("sha256(first-refresh-token-of-the-session)")

// expectSessionStart expects, in order, what Login does once the password
// matched: a session id, a refresh token and its hash, then storing the
// session. It returns the calls for gomock.InOrder.
func expectSessionStart(f *fixture, ctx context.Context, userID int64, ttl time.Duration, createErr error) []any {
	return []any{
		f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil),
		f.stokens.EXPECT().NewRefreshToken().Return(loginRefresh, nil),
		f.stokens.EXPECT().Hash(loginRefresh).Return(loginRefreshHash, true),
		// Room for the new session within the per-user cap (100).
		f.sessions.EXPECT().RevokeBeyond(ctx, userID, DefaultMaxSessions-1, now).Return(0, nil),
		f.sessions.EXPECT().Create(ctx, newSessionMatcher{id: loginSessionID, userID: userID, createdAt: now, ttl: ttl}, loginRefreshHash).Return(createErr),
	}
}

// expectNoRehash expects Login to ask, once the password matched, whether
// the stored hash needs rehashing, and answers no.
func expectNoRehash(f *fixture) *mock.MockPasswordHasherNeedsRehashCall {
	return f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false)
}

func TestLoginSuccess(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg     Config
		wantTTL time.Duration
	}{
		"default session lifetime is 30 days": {Config{}, 30 * 24 * time.Hour},
		"configured session lifetime":         {Config{SessionTTL: 90 * time.Minute}, 90 * time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			ctx := testCtx(t)
			const password = "correct horse battery staple"
			user := domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now.Add(-time.Hour))
			token := ports.AccessToken{Token: "signed.jwt.token", ExpiresIn: 15 * time.Minute}

			calls := []any{
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(user, nil),
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil),
				expectNoRehash(f),
			}
			calls = append(calls, expectSessionStart(f, ctx, 42, tc.wantTTL, nil)...)
			calls = append(calls,
				f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(tc.wantTTL)).Return(token, nil),
				f.events.EXPECT().Record(ctx, loginSucceededEvent()),
			)
			gomock.InOrder(calls...)
			f.clock.EXPECT().Now().Return(now)

			res, err := f.svc.Login(ctx, Credentials{Email: " ALICE@example.com", Password: password})
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if res.User != user {
				t.Errorf("User = %+v, want %+v", res.User, user)
			}
			if res.AccessToken != token {
				t.Errorf("AccessToken = %+v, want %+v", res.AccessToken, token)
			}
			if res.RefreshToken != loginRefresh {
				t.Errorf("RefreshToken = %q, want %q", res.RefreshToken, loginRefresh)
			}
			if res.RefreshExpiresIn != tc.wantTTL {
				t.Errorf("RefreshExpiresIn = %v, want %v", res.RefreshExpiresIn, tc.wantTTL)
			}
		})
	}
}

// loginSucceededEvent is the event of alice's login into loginSessionID.
func loginSucceededEvent() ports.SecurityEvent {
	return ports.SecurityEvent{Name: "login.succeeded", UserID: 42, Email: "alice@example.com", SessionID: loginSessionID}
}

// loginFailedEvent is the event of a refused login.
func loginFailedEvent(userID int64, email string, reason ports.Reason) ports.SecurityEvent {
	return ports.SecurityEvent{Name: "login.failed", UserID: userID, Email: email, Reason: reason}
}

func TestLoginRejects(t *testing.T) {
	const password = "correct horse battery staple"
	alice := func() *domain.User {
		return domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now)
	}

	tests := []struct {
		name  string
		email string
		pw    string
		// expect sets the calls the case needs; the mocks refuse others,
		// in particular Issue.
		expect func(t *testing.T, f *fixture, ctx context.Context)
		// event is what the log is told, after the password check; the
		// client sees the same error whatever its reason.
		event ports.SecurityEvent
	}{
		{
			name: "wrong password", email: "alice@example.com", pw: "wrong password",
			event: loginFailedEvent(42, "alice@example.com", "password mismatch"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", "wrong password").Return(false, nil)
				f.hasher.EXPECT().Cheaper("stored-hash").Return(false)
			},
		},
		{
			// A hash made before the cost was raised checks faster than
			// the dummy: the difference is spent, at the current cost, so
			// the failure takes as long as one for an unknown email.
			name: "wrong password, cheaper stored hash: one more comparison", email: "alice@example.com", pw: "wrong password",
			event: loginFailedEvent(42, "alice@example.com", "password mismatch"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				gomock.InOrder(
					f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
					f.hasher.EXPECT().Compare(ctx, "stored-hash", "wrong password").Return(false, nil),
					f.hasher.EXPECT().Cheaper("stored-hash").Return(true),
					f.hasher.EXPECT().Compare(ctx, dummyHash, dummyPassword+"x").Return(false, nil),
				)
			},
		},
		{
			// NFD input is compared in its NFKC form first, then (for
			// hashes made before normalization) as typed: two comparisons,
			// whoever the account is, so this costs the same for any email.
			name: "NFD password that matches neither form", email: "alice@example.com", pw: "cafe\u0301 wrong",
			event: loginFailedEvent(42, "alice@example.com", "password mismatch"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				gomock.InOrder(
					f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
					f.hasher.EXPECT().Compare(ctx, "stored-hash", "caf\u00e9 wrong").Return(false, nil),
					f.hasher.EXPECT().Compare(ctx, "stored-hash", "cafe\u0301 wrong").Return(false, nil),
					f.hasher.EXPECT().Cheaper("stored-hash").Return(false),
				)
			},
		},
		{
			name: "NFD password, unknown email: the same two comparisons", email: "nobody@example.com", pw: "cafe\u0301 wrong",
			event: loginFailedEvent(0, "nobody@example.com", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "nobody@example.com")).Return(nil, domain.ErrUserNotFound)
				f.hasher.EXPECT().Compare(ctx, dummyHash, "caf\u00e9 wrong").Return(false, nil)
				f.hasher.EXPECT().Compare(ctx, dummyHash, "cafe\u0301 wrong").Return(false, nil)
			},
		},
		{
			// Not text: compared against the dummy (never the stored hash),
			// so it costs a comparison like any wrong password.
			name: "invalid UTF-8 password", email: "alice@example.com", pw: "kqzv\xff",
			event: loginFailedEvent(42, "alice@example.com", "password mismatch"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil)
				f.hasher.EXPECT().Compare(ctx, dummyHash, "kqzv\xff").Return(false, nil)
				f.hasher.EXPECT().Cheaper("stored-hash").Return(false)
			},
		},
		{
			name: "unknown email compares against the dummy hash", email: "nobody@example.com", pw: password,
			event: loginFailedEvent(0, "nobody@example.com", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "nobody@example.com")).Return(nil, domain.ErrUserNotFound)
				f.hasher.EXPECT().Compare(ctx, dummyHash, password).Return(false, nil)
			},
		},
		{
			name: "unknown email, wrapped not-found", email: "nobody@example.com", pw: password,
			event: loginFailedEvent(0, "nobody@example.com", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "nobody@example.com")).Return(nil, fmt.Errorf("sqlite: %w", domain.ErrUserNotFound))
				f.hasher.EXPECT().Compare(ctx, dummyHash, password).Return(false, nil)
			},
		},
		{
			name: "unknown email with the dummy password itself", email: "nobody@example.com", pw: dummyPassword,
			event: loginFailedEvent(0, "nobody@example.com", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "nobody@example.com")).Return(nil, domain.ErrUserNotFound)
				f.hasher.EXPECT().Compare(ctx, dummyHash, dummyPassword).Return(true, nil)
			},
		},
		{
			// No email in the event: what was typed is not an address, and
			// could be anything (a password typed in the wrong field).
			name: "malformed email: dummy compare, no lookup", email: "John <john@example.com>", pw: password,
			event: loginFailedEvent(0, "", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.hasher.EXPECT().Compare(ctx, dummyHash, password).Return(false, nil)
			},
		},
		{
			name: "malformed email even if the dummy compare matches", email: "", pw: dummyPassword,
			event: loginFailedEvent(0, "", "unknown email"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.hasher.EXPECT().Compare(ctx, dummyHash, dummyPassword).Return(true, nil)
			},
		},
		{
			name: "inactive user with the right password", email: "alice@example.com", pw: password,
			event: loginFailedEvent(42, "alice@example.com", "inactive account"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				u := alice()
				u.Deactivate()
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(u, nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil)
				f.hasher.EXPECT().Cheaper("stored-hash").Return(false)
			},
		},
		{
			name: "inactive user with a wrong password", email: "alice@example.com", pw: "wrong password",
			event: loginFailedEvent(42, "alice@example.com", "password mismatch"),
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				u := alice()
				u.Deactivate()
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(u, nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", "wrong password").Return(false, nil)
				f.hasher.EXPECT().Cheaper("stored-hash").Return(false)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			tt.expect(t, f, ctx)
			f.events.EXPECT().Record(ctx, tt.event)
			f.clock.EXPECT().Now().Return(now).AnyTimes()

			res, err := f.svc.Login(ctx, Credentials{Email: tt.email, Password: tt.pw})
			if res != nil {
				t.Errorf("Login returned %+v", res)
			}
			if err != domain.ErrInvalidCredentials {
				t.Errorf("Login error = %v, want domain.ErrInvalidCredentials", err)
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	const password = "correct horse battery staple"
	cause := errors.New("dial tcp 10.0.0.5:5432: connection refused")

	tests := []struct {
		name     string
		expect   func(t *testing.T, f *fixture, ctx context.Context)
		wantErr  error
		wantCode string
	}{
		{
			name: "repository unavailable: no compare, not unauthorized",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(nil, domain.Unavailable(cause))
			},
			wantErr: cause, wantCode: domain.EUNAVAILABLE,
		},
		{
			name: "repository internal error: no compare, not unauthorized",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(nil, cause)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
		{
			name: "compare error is propagated",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(false, domain.Unavailable(cause))
			},
			wantErr: cause, wantCode: domain.EUNAVAILABLE,
		},
		{
			name: "compare error on the dummy path is propagated",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(nil, domain.ErrUserNotFound)
				f.hasher.EXPECT().Compare(ctx, dummyHash, password).Return(false, cause)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
		{
			name: "issue error is propagated",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.clock.EXPECT().Now().Return(now)
				calls := []any{
					f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil),
					expectNoRehash(f),
				}
				calls = append(calls, expectSessionStart(f, ctx, 42, DefaultSessionTTL, nil)...)
				gomock.InOrder(append(calls, f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(ports.AccessToken{}, cause))...)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
		{
			name: "session store unavailable: no access token",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.clock.EXPECT().Now().Return(now)
				gomock.InOrder(append([]any{
					f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil),
					expectNoRehash(f),
				}, expectSessionStart(f, ctx, 42, DefaultSessionTTL, domain.Unavailable(cause))...)...)
			},
			wantErr: cause, wantCode: domain.EUNAVAILABLE,
		},
		{
			name: "user deleted before the session was stored: invalid credentials, not 404",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.clock.EXPECT().Now().Return(now)
				calls := append([]any{
					f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil),
					expectNoRehash(f),
				}, expectSessionStart(f, ctx, 42, DefaultSessionTTL, domain.ErrUserNotFound)...)
				gomock.InOrder(append(calls, f.events.EXPECT().Record(ctx, loginFailedEvent(42, "alice@example.com", "unknown email")))...)
			},
			wantErr: domain.ErrInvalidCredentials, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "no session id: nothing stored",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil)
				expectNoRehash(f)
				f.clock.EXPECT().Now().Return(now).AnyTimes()
				f.stokens.EXPECT().NewSessionID().Return("", cause)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
		{
			name: "no refresh token: nothing stored",
			expect: func(t *testing.T, f *fixture, ctx context.Context) {
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil)
				expectNoRehash(f)
				f.clock.EXPECT().Now().Return(now).AnyTimes()
				f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil)
				f.stokens.EXPECT().NewRefreshToken().Return("", cause)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The mocks refuse Record unless a case expects it: a login
			// that fails for want of storage or tokens is neither a
			// success nor a refused credential.
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			tt.expect(t, f, ctx)

			res, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: password})
			if res != nil {
				t.Errorf("Login returned %+v", res)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Login error = %v, want it to wrap %v", err, tt.wantErr)
			}
			wantCode(t, err, tt.wantCode)
		})
	}
}

func TestLoginRefusesMalformedNewRefreshToken(t *testing.T) {
	// A SessionTokens whose own tokens do not hash is broken: internal
	// error, nothing stored, no access token.
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now), nil)
	f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil)
	expectNoRehash(f)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil)
	f.stokens.EXPECT().NewRefreshToken().Return(loginRefresh, nil)
	f.stokens.EXPECT().Hash(loginRefresh).Return(nil, false)

	res, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw-pw-pw-pw"})
	if res != nil || err == nil {
		t.Fatalf("Login = %+v, %v; want an error", res, err)
	}
	wantCode(t, err, domain.EINTERNAL)
}

// authenticators runs a case against both Authenticate and CurrentUser,
// which share their errors.
var authenticators = []struct {
	name string
	call func(s *Service, ctx context.Context, token string) (*domain.User, ports.AccessClaims, error)
}{
	{"Authenticate", func(s *Service, ctx context.Context, token string) (*domain.User, ports.AccessClaims, error) {
		return s.Authenticate(ctx, token)
	}},
	{"CurrentUser", func(s *Service, ctx context.Context, token string) (*domain.User, ports.AccessClaims, error) {
		u, err := s.CurrentUser(ctx, token)
		return u, ports.AccessClaims{}, err
	}},
}

func TestAuthenticateSuccess(t *testing.T) {
	claims := ports.AccessClaims{UserID: 42, SessionID: "sid-of-the-token", TokenID: "jti-1", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(14 * time.Minute)}
	for _, a := range authenticators {
		t.Run(a.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			user := domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now)
			f.clock.EXPECT().Now().Return(now)
			f.tokens.EXPECT().Verify("the.bearer.token", now).Return(claims, nil)
			f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(user, nil)
			// The session's last use is written (the store throttles too).
			f.sessions.EXPECT().Touch(ctx, "sid-of-the-token", now, time.Minute).Return(nil)

			u, gotClaims, err := a.call(f.svc, ctx, "the.bearer.token")
			if err != nil {
				t.Fatalf("%s: %v", a.name, err)
			}
			if u != user {
				t.Errorf("user = %+v, want %+v", u, user)
			}
			if a.name == "Authenticate" && gotClaims != claims {
				t.Errorf("claims = %+v, want %+v", gotClaims, claims)
			}
		})
	}
}

func TestAuthenticateFailures(t *testing.T) {
	claims := ports.AccessClaims{UserID: 42, SessionID: "sid-of-the-token", TokenID: "jti-1", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	cause := errors.New("database is locked")
	jwtErr := &domain.Error{Code: domain.EUNAUTHORIZED, Message: domain.ErrInvalidToken.Message, Err: errors.New("token is expired")}

	tests := []struct {
		name string
		// afterVerify sets what happens once the token is verified; nil
		// means Verify fails with verifyErr and nothing else is called.
		verifyErr   error
		afterVerify func(f *fixture, ctx context.Context)
		wantErr     error // matched with errors.Is
		wantCode    string
	}{
		{
			name: "token rejected", verifyErr: jwtErr,
			wantErr: domain.ErrInvalidToken, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "token rejected with the bare sentinel", verifyErr: domain.ErrInvalidToken,
			wantErr: domain.ErrInvalidToken, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "verifier internal error is not a 401", verifyErr: cause,
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
		{
			name: "session ended or user gone",
			afterVerify: func(f *fixture, ctx context.Context) {
				f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(nil, domain.ErrSessionNotFound)
			},
			wantErr: domain.ErrInvalidToken, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "session ended, wrapped user-not-found",
			afterVerify: func(f *fixture, ctx context.Context) {
				f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(nil, fmt.Errorf("sqlite: %w", domain.ErrUserNotFound))
			},
			wantErr: domain.ErrInvalidToken, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "user inactive",
			afterVerify: func(f *fixture, ctx context.Context) {
				u := domain.RehydrateUser(42, "alice@example.com", "stored-hash", false, now)
				f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(u, nil)
			},
			wantErr: domain.ErrInvalidToken, wantCode: domain.EUNAUTHORIZED,
		},
		{
			name: "session store unavailable",
			afterVerify: func(f *fixture, ctx context.Context) {
				f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(nil, domain.Unavailable(cause))
			},
			wantErr: cause, wantCode: domain.EUNAVAILABLE,
		},
		{
			name: "session store internal error is not a 401",
			afterVerify: func(f *fixture, ctx context.Context) {
				f.sessions.EXPECT().ActiveUser(ctx, "sid-of-the-token", int64(42), now).Return(nil, cause)
			},
			wantErr: cause, wantCode: domain.EINTERNAL,
		},
	}
	for _, tt := range tests {
		for _, a := range authenticators {
			t.Run(tt.name+"/"+a.name, func(t *testing.T) {
				f := newFixture(t, Config{})
				ctx := testCtx(t)
				f.clock.EXPECT().Now().Return(now)
				if tt.afterVerify == nil {
					f.tokens.EXPECT().Verify("the.bearer.token", now).Return(ports.AccessClaims{}, tt.verifyErr)
				} else {
					f.tokens.EXPECT().Verify("the.bearer.token", now).Return(claims, nil)
					tt.afterVerify(f, ctx)
				}

				u, gotClaims, err := a.call(f.svc, ctx, "the.bearer.token")
				if u != nil {
					t.Errorf("returned user %+v", u)
				}
				if gotClaims != (ports.AccessClaims{}) {
					t.Errorf("returned claims %+v with an error", gotClaims)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
				wantCode(t, err, tt.wantCode)
			})
		}
	}
}

// TestLoginRecordsWhereTheSessionStarted: the session keeps the client's
// User-Agent and address from the request context, for the owner's list
// of sessions.
func TestLoginRecordsWhereTheSessionStarted(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ports.WithUserAgent(ports.WithClient(testCtx(t), "203.0.113.7"), "Firefox/140.0")
	user := domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now.Add(-time.Hour))
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(user, nil)
	f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil)
	expectNoRehash(f)
	f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil)
	f.stokens.EXPECT().NewRefreshToken().Return(loginRefresh, nil)
	f.stokens.EXPECT().Hash(loginRefresh).Return(loginRefreshHash, true)
	f.sessions.EXPECT().RevokeBeyond(ctx, int64(42), DefaultMaxSessions-1, now).Return(0, nil)
	f.sessions.EXPECT().Create(ctx, gomock.Cond(func(s *domain.Session) bool {
		return s.ID() == loginSessionID && s.UserAgent() == "Firefox/140.0" && s.ClientAddr() == "203.0.113.7"
	}), loginRefreshHash).Return(nil)
	f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(ports.AccessToken{Token: "t"}, nil)
	f.events.EXPECT().Record(ctx, loginSucceededEvent())
	if _, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw-pw-pw-pw"}); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

// TestAuthenticateTouchesAtMostOncePerMinute: a busy session costs one
// last-use write per minute, not one per request, and a failed write does
// not fail the request.
func TestAuthenticateTouchesAtMostOncePerMinute(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	user := domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now)
	claims := ports.AccessClaims{UserID: 42, SessionID: "sid", ExpiresAt: now.Add(time.Hour)}
	times := []time.Time{now, now.Add(time.Second), now.Add(59 * time.Second), now.Add(61 * time.Second), now.Add(62 * time.Second)}
	for _, at := range times {
		f.clock.EXPECT().Now().Return(at)
		f.tokens.EXPECT().Verify("tok", at).Return(claims, nil)
		f.sessions.EXPECT().ActiveUser(ctx, "sid", int64(42), at).Return(user, nil)
	}
	f.sessions.EXPECT().Touch(ctx, "sid", now, time.Minute).Return(nil)
	f.sessions.EXPECT().Touch(ctx, "sid", now.Add(61*time.Second), time.Minute).Return(domain.Unavailable(errors.New("disk full")))
	for _, at := range times {
		if _, _, err := f.svc.Authenticate(ctx, "tok"); err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
	}
}

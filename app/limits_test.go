package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func TestNewRateLimitConfig(t *testing.T) {
	refused := map[string]struct {
		limits     Limits
		noStore    bool
		wantInText string
	}{
		"enabled without a store":             {Limits{Enabled: true, IPRequests: 10, IPWindow: time.Minute}, true, "RateLimitStore"},
		"enabled without a store, no budgets": {Limits{Enabled: true}, true, "RateLimitStore"},
		"zero client window":                  {Limits{Enabled: true, IPRequests: 10}, false, "window"},
		"negative client window":              {Limits{Enabled: true, IPRequests: 10, IPWindow: -time.Minute}, false, "window"},
		"zero account window":                 {Limits{Enabled: true, AccountFailures: 5}, false, "window"},
		"negative account window":             {Limits{Enabled: true, IPRequests: 10, IPWindow: time.Minute, AccountFailures: 5, AccountWindow: -time.Nanosecond}, false, "window"},
	}
	for name, tt := range refused {
		t.Run(name, func(t *testing.T) {
			// No expectations: New must not call the hasher when it refuses.
			p := newMocks(t).ports()
			if tt.noStore {
				p.RateLimits = nil
			}
			svc, err := New(p, Config{Limits: tt.limits})
			if err == nil || svc != nil {
				t.Fatalf("New(%+v) = %v, %v; want nil and an error", tt.limits, svc, err)
			}
			if !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("error %q does not mention %q", err, tt.wantInText)
			}
		})
	}

	accepted := map[string]struct {
		limits  Limits
		noStore bool
	}{
		"disabled without a store":              {Limits{IPRequests: 10}, true},
		"enabled with a store and both windows": {Limits{Enabled: true, IPRequests: 10, IPWindow: time.Minute, AccountFailures: 5, AccountWindow: 15 * time.Minute}, false},
		"a budget turned off needs no window":   {Limits{Enabled: true, IPRequests: 10, IPWindow: time.Minute}, false},
	}
	for name, tt := range accepted {
		t.Run(name, func(t *testing.T) {
			f := newMocks(t)
			p := f.ports()
			if tt.noStore {
				p.RateLimits = nil
			}
			f.hasher.EXPECT().Hash(context.Background(), dummyPassword).Return(dummyHash, nil)
			if svc, err := New(p, Config{Limits: tt.limits}); err != nil || svc == nil {
				t.Fatalf("New(%+v) = %v, %v; want a service", tt.limits, svc, err)
			}
		})
	}
}

// clientLimits allows 5 requests per client per minute.
var clientLimits = Limits{Enabled: true, IPRequests: 5, IPWindow: time.Minute}

func TestAllowClientCountsNothingWhenOff(t *testing.T) {
	for name, tc := range map[string]struct {
		limits Limits
		client bool
	}{
		"limits disabled":          {Limits{IPRequests: 5, IPWindow: time.Minute}, true},
		"client budget turned off": {Limits{Enabled: true, AccountFailures: 3, AccountWindow: time.Minute}, true},
	} {
		t.Run(name, func(t *testing.T) {
			// No expectations: neither the store nor the clock is used.
			f := newFixture(t, Config{Limits: tc.limits})
			ctx := testCtx(t)
			if tc.client {
				ctx = ports.WithClient(ctx, "203.0.113.7")
			}
			if err := f.svc.AllowClient(ctx); err != nil {
				t.Errorf("AllowClient = %v, want nil", err)
			}
		})
	}
}

// TestNoClientFailsClosed: with limits on, a request whose context names
// no client is refused as an internal error, not let through uncounted,
// for the client budget and the account throttle alike.
func TestNoClientFailsClosed(t *testing.T) {
	f := newFixture(t, Config{Limits: clientLimits})
	err := f.svc.AllowClient(testCtx(t))
	if !errors.Is(err, errNoClient) {
		t.Fatalf("AllowClient without a client = %v, want errNoClient", err)
	}
	wantCode(t, err, domain.EINTERNAL)

	g := newFixture(t, Config{Limits: Limits{Enabled: true, AccountFailures: 3, AccountWindow: time.Minute}})
	ctx := testCtx(t)
	g.clock.EXPECT().Now().Return(now).AnyTimes()
	g.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil)
	_, err = g.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw"})
	if !errors.Is(err, errNoClient) {
		t.Fatalf("Login without a client = %v, want errNoClient", err)
	}
}

func TestAllowClient(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		resetIn   time.Duration // resetAt - now
		wantRetry time.Duration // 0: allowed
		wantEvent bool
	}{
		{name: "first request", count: 1, resetIn: time.Minute},
		{name: "last request of the budget", count: 5, resetIn: 10 * time.Second},
		{name: "first over the budget: refused and recorded", count: 6, resetIn: 30 * time.Second, wantRetry: 30 * time.Second, wantEvent: true},
		{name: "sub-second remainder rounds up", count: 6, resetIn: 29*time.Second + time.Nanosecond, wantRetry: 30 * time.Second, wantEvent: true},
		{name: "half a second rounds up", count: 6, resetIn: 1500 * time.Millisecond, wantRetry: 2 * time.Second, wantEvent: true},
		{name: "exactly one second", count: 6, resetIn: time.Second, wantRetry: time.Second, wantEvent: true},
		{name: "under a second is one second", count: 6, resetIn: 999 * time.Millisecond, wantRetry: time.Second, wantEvent: true},
		{name: "a nanosecond is one second", count: 6, resetIn: time.Nanosecond, wantRetry: time.Second, wantEvent: true},
		{name: "window closing now is one second", count: 6, resetIn: 0, wantRetry: time.Second, wantEvent: true},
		{name: "second over the budget: refused, not recorded again", count: 7, resetIn: 20 * time.Second, wantRetry: 20 * time.Second},
		{name: "far over the budget", count: 500, resetIn: 59*time.Second + 100*time.Millisecond, wantRetry: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{Limits: clientLimits})
			ctx := ports.WithClient(testCtx(t), "203.0.113.7")
			f.clock.EXPECT().Now().Return(now)
			hit := f.limits.EXPECT().Hit(ctx, "ip:203.0.113.7", time.Minute, now).Return(tt.count, now.Add(tt.resetIn), nil)
			if tt.wantEvent {
				f.events.EXPECT().Record(ctx, eventMatcher{name: "ratelimit.exceeded", reason: "client"}).After(hit.Call)
			}

			err := f.svc.AllowClient(ctx)
			if tt.wantRetry == 0 {
				if err != nil {
					t.Fatalf("AllowClient = %v, want nil", err)
				}
				return
			}
			wantCode(t, err, domain.ERATELIMITED)
			if got := domain.ErrorRetryAfter(err); got != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wantRetry)
			}
		})
	}

	t.Run("store unavailable", func(t *testing.T) {
		f := newFixture(t, Config{Limits: clientLimits})
		ctx := ports.WithClient(testCtx(t), "203.0.113.7")
		cause := errors.New("redis: connection refused")
		f.clock.EXPECT().Now().Return(now)
		f.limits.EXPECT().Hit(ctx, "ip:203.0.113.7", time.Minute, now).Return(0, time.Time{}, domain.Unavailable(cause))

		err := f.svc.AllowClient(ctx)
		if !errors.Is(err, cause) {
			t.Errorf("error %v lost its cause", err)
		}
		wantCode(t, err, domain.EUNAVAILABLE)
	})
}

// Account throttling: 3 failures per account in 15 minutes.
var accountLimits = Limits{Enabled: true, AccountFailures: 3, AccountWindow: 15 * time.Minute}

const (
	acctKey = "acct:alice@example.com"
	pairKey = "acct-client:alice@example.com|198.51.100.9"
)

func TestLoginAccountThrottle(t *testing.T) {
	const password = "correct horse battery staple"
	cause := errors.New("redis: connection refused")
	window := accountLimits.AccountWindow
	// The account's window and this client's window on it close at
	// different times; a refusal must quote this client's.
	acctReset := now.Add(10 * time.Minute)
	pairReset := now.Add(90*time.Second + time.Millisecond)

	// Building blocks, each returning its calls for gomock.InOrder. The
	// order is the contract: the account is looked up, its failures
	// counted and this client's attempt reserved, all before the password
	// is compared.
	lookup := func(t *testing.T, f *fixture, ctx context.Context, u *domain.User, err error) any {
		return f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(u, err)
	}
	guard := func(f *fixture, ctx context.Context, failures, mine int) []any {
		return []any{
			f.limits.EXPECT().Count(ctx, acctKey, now).Return(failures, acctReset, nil),
			f.limits.EXPECT().Hit(ctx, pairKey, window, now).Return(mine, pairReset, nil),
		}
	}
	// recordFailure expects the login.failed event, then the failure
	// counted against the account (this client's reservation stays).
	recordFailure := func(f *fixture, ctx context.Context, event ports.SecurityEvent) []any {
		return []any{
			f.events.EXPECT().Record(ctx, event),
			f.limits.EXPECT().Hit(ctx, acctKey, window, now).Return(4, acctReset, nil),
		}
	}
	succeed := func(f *fixture, ctx context.Context) []any {
		calls := []any{
			f.limits.EXPECT().Reset(ctx, acctKey).Return(nil),
			f.limits.EXPECT().Reset(ctx, pairKey).Return(nil),
			expectNoRehash(f),
		}
		calls = append(calls, expectSessionStart(f, ctx, 42, DefaultSessionTTL, nil)...)
		return append(calls,
			f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(ports.AccessToken{Token: "signed.jwt.token"}, nil),
			f.events.EXPECT().Record(ctx, loginSucceededEvent()),
		)
	}
	compare := func(f *fixture, ctx context.Context, hash, pw string, ok bool) []any {
		calls := []any{f.hasher.EXPECT().Compare(ctx, hash, pw).Return(ok, nil)}
		if hash == "stored-hash" && (!ok || pw == password) {
			calls = append(calls, f.hasher.EXPECT().Cheaper("stored-hash").Return(false).MaxTimes(1))
		}
		return calls
	}
	wrongPassword := loginFailedEvent(42, "alice@example.com", "password mismatch")
	unknownEmail := loginFailedEvent(0, "alice@example.com", "unknown email")
	// A refusal names the throttled account (the event log masks it).
	throttled := eventMatcher{name: "ratelimit.exceeded", reason: "throttled account", email: "alice@example.com"}
	inactive := func() *domain.User {
		u := alice()
		u.Deactivate()
		return u
	}
	seq := func(parts ...[]any) []any {
		var out []any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	one := func(c any) []any { return []any{c} }

	tests := []struct {
		name   string
		email  string
		pw     string
		expect func(t *testing.T, f *fixture, ctx context.Context) []any
		// want is one of: "ok", "401", "429", or a cause the error wraps
		// (EUNAVAILABLE).
		want      string
		wantRetry time.Duration
	}{
		{
			name: "below the threshold, correct password: failures reset", email: " Alice@Example.COM", pw: password, want: "ok",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 2, 3), compare(f, ctx, "stored-hash", password, true), succeed(f, ctx))
			},
		},
		{
			name: "below the threshold, wrong password: failure recorded", email: "alice@example.com", pw: "wrong password", want: "401",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 2, 3), compare(f, ctx, "stored-hash", "wrong password", false), recordFailure(f, ctx, wrongPassword))
			},
		},
		{
			name: "unknown email: failure recorded against the email", email: "alice@example.com", pw: password, want: "401",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, nil, domain.ErrUserNotFound)), guard(f, ctx, 0, 1), compare(f, ctx, dummyHash, password, false), recordFailure(f, ctx, unknownEmail))
			},
		},
		{
			name: "inactive account, right password: failure recorded", email: "alice@example.com", pw: password, want: "401",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, inactive(), nil)), guard(f, ctx, 1, 1), compare(f, ctx, "stored-hash", password, true),
					recordFailure(f, ctx, loginFailedEvent(42, "alice@example.com", "inactive account")))
			},
		},
		{
			name: "at the threshold, this client tried before: refused without a compare", email: "alice@example.com", pw: password,
			want: "429", wantRetry: 91 * time.Second,
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 3, 2), one(f.events.EXPECT().Record(ctx, throttled)))
			},
		},
		{
			name: "over the threshold, this client tried before: refused without a compare", email: "alice@example.com", pw: "wrong password",
			want: "429", wantRetry: 91 * time.Second,
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 250, 8), one(f.events.EXPECT().Record(ctx, throttled)))
			},
		},
		{
			name: "throttled, but this client's first attempt: the right password logs in and resets", email: "alice@example.com", pw: password, want: "ok",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 250, 1), compare(f, ctx, "stored-hash", password, true), succeed(f, ctx))
			},
		},
		{
			name: "throttled, this client's first attempt: one password check, failure recorded", email: "alice@example.com", pw: "wrong password", want: "401",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 3, 1), compare(f, ctx, "stored-hash", "wrong password", false), recordFailure(f, ctx, wrongPassword))
			},
		},
		{
			name: "malformed email: no account keys", email: "Alice <alice@example.com>", pw: password, want: "401",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().Compare(ctx, dummyHash, password).Return(false, nil),
					f.events.EXPECT().Record(ctx, loginFailedEvent(0, "", "unknown email")),
				}
			},
		},
		{
			name: "account count unavailable: no compare", email: "alice@example.com", pw: password, want: "unavailable",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return []any{lookup(t, f, ctx, alice(), nil), f.limits.EXPECT().Count(ctx, acctKey, now).Return(0, time.Time{}, domain.Unavailable(cause))}
			},
		},
		{
			name: "client reservation unavailable: no compare", email: "alice@example.com", pw: password, want: "unavailable",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return []any{
					lookup(t, f, ctx, alice(), nil),
					f.limits.EXPECT().Count(ctx, acctKey, now).Return(3, acctReset, nil),
					f.limits.EXPECT().Hit(ctx, pairKey, window, now).Return(0, time.Time{}, domain.Unavailable(cause)),
				}
			},
		},
		{
			name: "recording the account failure unavailable: not a 401", email: "alice@example.com", pw: "wrong password", want: "unavailable",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 0, 1), compare(f, ctx, "stored-hash", "wrong password", false), []any{
					// Recorded before counting: the attempt leaves a trace
					// even though the store is down.
					f.events.EXPECT().Record(ctx, wrongPassword),
					f.limits.EXPECT().Hit(ctx, acctKey, window, now).Return(0, time.Time{}, domain.Unavailable(cause)),
				})
			},
		},
		{
			name: "resetting the account unavailable: no session", email: "alice@example.com", pw: password, want: "unavailable",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 1, 1), compare(f, ctx, "stored-hash", password, true), []any{
					f.limits.EXPECT().Reset(ctx, acctKey).Return(domain.Unavailable(cause)),
					f.limits.EXPECT().Reset(ctx, pairKey).Return(nil),
				})
			},
		},
		{
			name: "resetting the client unavailable: no session", email: "alice@example.com", pw: password, want: "unavailable",
			expect: func(t *testing.T, f *fixture, ctx context.Context) []any {
				return seq(one(lookup(t, f, ctx, alice(), nil)), guard(f, ctx, 1, 1), compare(f, ctx, "stored-hash", password, true), []any{
					f.limits.EXPECT().Reset(ctx, acctKey).Return(nil),
					f.limits.EXPECT().Reset(ctx, pairKey).Return(domain.Unavailable(cause)),
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{Limits: accountLimits})
			ctx := ports.WithClient(testCtx(t), "198.51.100.9")
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			gomock.InOrder(tt.expect(t, f, ctx)...)

			res, err := f.svc.Login(ctx, Credentials{Email: tt.email, Password: tt.pw})
			if tt.want == "ok" {
				if err != nil || res == nil || res.User.ID() != 42 {
					t.Fatalf("Login = %+v, %v; want user 42 logged in", res, err)
				}
				return
			}
			if res != nil {
				t.Errorf("Login returned %+v", res)
			}
			switch tt.want {
			case "401":
				if err != domain.ErrInvalidCredentials {
					t.Errorf("Login error = %v, want domain.ErrInvalidCredentials", err)
				}
			case "429":
				wantCode(t, err, domain.ERATELIMITED)
				if got := domain.ErrorRetryAfter(err); got != tt.wantRetry {
					t.Errorf("RetryAfter = %v, want %v", got, tt.wantRetry)
				}
			default:
				if !errors.Is(err, cause) {
					t.Errorf("Login error = %v, want it to wrap %v", err, cause)
				}
				wantCode(t, err, domain.EUNAVAILABLE)
			}
		})
	}
}

func TestLoginAccountThrottleOff(t *testing.T) {
	// Enabled, but with no account budget: the client budget alone is
	// configured, and Login touches no account key (the store mock would
	// fail the test).
	f := newFixture(t, Config{Limits: clientLimits})
	ctx := ports.WithClient(testCtx(t), "198.51.100.9")
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "wrong password").Return(false, nil),
		f.hasher.EXPECT().Cheaper("stored-hash").Return(false),
		f.events.EXPECT().Record(ctx, loginFailedEvent(42, "alice@example.com", "password mismatch")),
	)
	if res, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "wrong password"}); res != nil || err != domain.ErrInvalidCredentials {
		t.Fatalf("Login = %+v, %v; want nil, domain.ErrInvalidCredentials", res, err)
	}
}

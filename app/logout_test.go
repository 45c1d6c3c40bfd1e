package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func TestLogoutRevokesLiveSession(t *testing.T) {
	for name, spentAt := range map[string]time.Time{
		"current token": {},
		// Any token of the family names its session.
		"spent token of a live session": now.Add(-time.Minute),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
			f.clock.EXPECT().Now().Return(now)
			gomock.InOrder(
				f.sessions.EXPECT().Token(ctx, rh(0)).Return(ports.RefreshTokenState{Session: liveSession(), SpentAt: spentAt}, nil),
				f.sessions.EXPECT().Revoke(ctx, sessionID, now).Return(nil),
				f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: "session.revoked", UserID: 42, SessionID: sessionID, Reason: "logout"}),
			)
			if err := f.svc.Logout(ctx, rt(0)); err != nil {
				t.Fatalf("Logout: %v", err)
			}
		})
	}
}

func TestLogoutIsIdempotent(t *testing.T) {
	tests := []struct {
		name   string
		token  string
		expect func(f *fixture, ctx context.Context)
	}{
		{"malformed token: nothing looked up", "an.access.jwt", func(f *fixture, ctx context.Context) {
			f.stokens.EXPECT().Hash("an.access.jwt").Return(nil, false)
		}},
		{"empty token: nothing looked up", "", func(f *fixture, ctx context.Context) {
			f.stokens.EXPECT().Hash("").Return(nil, false)
		}},
		{"unknown token", rt(0), func(f *fixture, ctx context.Context) {
			f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
			f.sessions.EXPECT().Token(ctx, rh(0)).Return(ports.RefreshTokenState{}, domain.ErrSessionNotFound)
		}},
		{"already revoked: no second revoke, no event", rt(0), func(f *fixture, ctx context.Context) {
			f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
			f.sessions.EXPECT().Token(ctx, rh(0)).Return(ports.RefreshTokenState{Session: revokedSession()}, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Revoke and Record are not expected, so the mocks refuse them.
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			tt.expect(f, ctx)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			if err := f.svc.Logout(ctx, tt.token); err != nil {
				t.Errorf("Logout = %v, want nil", err)
			}
		})
	}
}

func TestLogoutFailures(t *testing.T) {
	cause := errors.New("connection reset by peer")
	tests := []struct {
		name   string
		expect func(f *fixture, ctx context.Context)
	}{
		{"lookup unavailable", func(f *fixture, ctx context.Context) {
			f.sessions.EXPECT().Token(ctx, rh(0)).Return(ports.RefreshTokenState{}, domain.Unavailable(cause))
		}},
		{"revoke unavailable: no event", func(f *fixture, ctx context.Context) {
			f.sessions.EXPECT().Token(ctx, rh(0)).Return(ports.RefreshTokenState{Session: liveSession()}, nil)
			f.clock.EXPECT().Now().Return(now)
			f.sessions.EXPECT().Revoke(ctx, sessionID, now).Return(domain.Unavailable(cause))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
			tt.expect(f, ctx)
			err := f.svc.Logout(ctx, rt(0))
			if !errors.Is(err, cause) {
				t.Errorf("error %v lost its cause", err)
			}
			wantCode(t, err, domain.EUNAVAILABLE)
		})
	}
}

// expectAuthenticated expects Authenticate to accept "the.bearer.token" for
// user 42 in sessionID at now.
func expectAuthenticated(f *fixture, ctx context.Context) {
	claims := ports.AccessClaims{UserID: 42, SessionID: sessionID, TokenID: "jti", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	gomock.InOrder(
		f.tokens.EXPECT().Verify("the.bearer.token", now).Return(claims, nil),
		f.sessions.EXPECT().ActiveUser(ctx, sessionID, int64(42), now).Return(alice(), nil),
	)
}

func TestLogoutAll(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).MinTimes(1)
	expectAuthenticated(f, ctx)
	f.sessions.EXPECT().RevokeAll(ctx, int64(42), now).Return(3, nil)
	f.events.EXPECT().Record(ctx, eventMatcher{"session.revoked", 42, "", "3 sessions", ""})

	if err := f.svc.LogoutAll(ctx, "the.bearer.token"); err != nil {
		t.Fatalf("LogoutAll: %v", err)
	}
}

func TestLogoutAllFailures(t *testing.T) {
	cause := errors.New("database is locked")
	tests := []struct {
		name     string
		expect   func(f *fixture, ctx context.Context)
		wantErr  error
		wantCode string
	}{
		{"bad access token: nothing revoked", func(f *fixture, ctx context.Context) {
			f.tokens.EXPECT().Verify("the.bearer.token", now).Return(ports.AccessClaims{}, domain.ErrInvalidToken)
		}, domain.ErrInvalidToken, domain.EUNAUTHORIZED},
		{"session already ended: nothing revoked", func(f *fixture, ctx context.Context) {
			f.tokens.EXPECT().Verify("the.bearer.token", now).Return(ports.AccessClaims{UserID: 42, SessionID: sessionID}, nil)
			f.sessions.EXPECT().ActiveUser(ctx, sessionID, int64(42), now).Return(nil, domain.ErrSessionNotFound)
		}, domain.ErrInvalidToken, domain.EUNAUTHORIZED},
		{"revoke-all unavailable: no event", func(f *fixture, ctx context.Context) {
			expectAuthenticated(f, ctx)
			f.sessions.EXPECT().RevokeAll(ctx, int64(42), now).Return(0, domain.Unavailable(cause))
		}, cause, domain.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			f.clock.EXPECT().Now().Return(now).MinTimes(1)
			tt.expect(f, ctx)
			err := f.svc.LogoutAll(ctx, "the.bearer.token")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			wantCode(t, err, tt.wantCode)
		})
	}
}

func TestSweep(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now)
	f.sessions.EXPECT().DeleteEnded(ctx, now).Return(5, nil)
	f.limits.EXPECT().DeleteExpired(ctx, now).Return(7, nil)
	res, err := f.svc.Sweep(ctx)
	if res != (SweepResult{Sessions: 5, RateLimits: 7}) || err != nil {
		t.Errorf("Sweep = %+v, %v; want 5 sessions, 7 windows, nil", res, err)
	}

	t.Run("unavailable", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		cause := errors.New("disk I/O error")
		f.clock.EXPECT().Now().Return(now)
		f.sessions.EXPECT().DeleteEnded(ctx, now).Return(0, domain.Unavailable(cause))
		// The windows are still swept when the sessions fail.
		f.limits.EXPECT().DeleteExpired(ctx, now).Return(2, nil)
		res, err := f.svc.Sweep(ctx)
		if !errors.Is(err, cause) {
			t.Errorf("error %v lost its cause", err)
		}
		if res.RateLimits != 2 {
			t.Errorf("RateLimits = %d, want 2", res.RateLimits)
		}
		wantCode(t, err, domain.EUNAVAILABLE)
	})
}

// TestRunSweeper runs the loop with a short interval: it sweeps until the
// context ends, reporting each result, and then returns.
func TestRunSweeper(t *testing.T) {
	f := newFixture(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	f.clock.EXPECT().Now().Return(now).MinTimes(2)
	f.sessions.EXPECT().DeleteEnded(gomock.Any(), now).Return(1, nil).MinTimes(2)
	f.limits.EXPECT().DeleteExpired(gomock.Any(), now).Return(0, nil).MinTimes(2)
	reports := make(chan SweepResult, 10)
	done := make(chan struct{})
	go func() {
		f.svc.RunSweeper(ctx, time.Millisecond, func(r SweepResult, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			select {
			case reports <- r:
			default:
			}
			if len(reports) >= 2 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSweeper did not return after its context ended")
	}
	if r := <-reports; r.Sessions != 1 {
		t.Errorf("report %+v, want 1 session", r)
	}
}

package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

// The fake SessionTokens names the presented refresh token rt(0), its
// successor rt(1), that one's successor rt(2), and so on; the hash of
// rt(i) is rh(i).
func rt(i int) string { return fmt.Sprintf("refresh-token-%d", i) }
func rh(i int) []byte { return []byte(fmt.Sprintf("sha256(refresh-token-%d)", i)) }

const (
	sessionID = "5e55105e55105e55105e55105e55105e"
	// sessionLeft is how long liveSession has left at now.
	sessionLeft = 72 * time.Hour
)

func liveSession() *domain.Session {
	return domain.RehydrateSession(sessionID, 42, now.Add(-time.Hour), now.Add(sessionLeft), time.Time{})
}

func revokedSession() *domain.Session {
	return domain.RehydrateSession(sessionID, 42, now.Add(-time.Hour), now.Add(sessionLeft), now.Add(-time.Minute))
}

func alice() *domain.User {
	return domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now.Add(-24*time.Hour))
}

// expectRotate expects what Refresh does with rt(0) before looking at the
// result: hash it, derive and hash its successor, read the clock, and try
// to rotate. The rest is up to each test.
func expectRotate(f *fixture, ctx context.Context, st ports.RefreshTokenState, rotated bool, err error) *mock.MockSessionRepositoryRotateCall {
	f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
	f.stokens.EXPECT().Successor(rt(0)).Return(rt(1))
	f.stokens.EXPECT().Hash(rt(1)).Return(rh(1), true)
	f.clock.EXPECT().Now().Return(now)
	return f.sessions.EXPECT().Rotate(ctx, rh(0), rh(1), now).Return(st, rotated, err)
}

// expectWalk expects the grace-window walk from rt(1): rt(1)..rt(n-1) are
// found spent and rt(n) is the session's current token.
func expectWalk(f *fixture, ctx context.Context, s *domain.Session, n int) {
	for i := 1; i <= n; i++ {
		f.stokens.EXPECT().Hash(rt(i)).Return(rh(i), true)
		st := ports.RefreshTokenState{Session: s}
		if i < n {
			st.SpentAt = now.Add(-time.Duration(n-i) * time.Second)
			f.stokens.EXPECT().Successor(rt(i)).Return(rt(i + 1))
		}
		f.sessions.EXPECT().Token(ctx, rh(i)).Return(st, nil)
	}
}

// expectIssue expects the user lookup, the access token and the
// token.refreshed event (with reason) of a refresh that succeeds, and
// returns the token.
func expectIssue(f *fixture, ctx context.Context, user *domain.User, reason ports.Reason) ports.AccessToken {
	access := ports.AccessToken{Token: "fresh.access.jwt", ExpiresIn: 15 * time.Minute}
	gomock.InOrder(
		f.users.EXPECT().ByID(ctx, int64(42)).Return(user, nil),
		f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: sessionID}, now, now.Add(sessionLeft)).Return(access, nil),
		f.events.EXPECT().Record(ctx, refreshed(reason)),
	)
	return access
}

// eventMatcher matches a SecurityEvent by name, user, session and email,
// and a reason that contains the given words.
type eventMatcher struct {
	name      ports.EventName
	userID    int64
	sessionID string
	reason    string
	email     string
}

func (m eventMatcher) Matches(x any) bool {
	e, ok := x.(ports.SecurityEvent)
	return ok && e.Name == m.name && e.UserID == m.userID && e.SessionID == m.sessionID &&
		e.Email == m.email && e.Reason != "" && strings.Contains(string(e.Reason), m.reason)
}

func (m eventMatcher) String() string {
	return fmt.Sprintf("event %q for user %d, session %q, email %q, reason containing %q", m.name, m.userID, m.sessionID, m.email, m.reason)
}

// refreshed is the event of a refresh of sessionID by alice that succeeds.
func refreshed(reason ports.Reason) ports.SecurityEvent {
	return ports.SecurityEvent{Name: "token.refreshed", UserID: 42, Email: "alice@example.com", SessionID: sessionID, Reason: reason}
}

func wantTokens(t *testing.T, res *Tokens, err error, user *domain.User, access ports.AccessToken, refresh string, left time.Duration) {
	t.Helper()
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if res.User != user {
		t.Errorf("User = %+v, want %+v", res.User, user)
	}
	if res.AccessToken != access {
		t.Errorf("AccessToken = %+v, want %+v", res.AccessToken, access)
	}
	if res.RefreshToken != refresh {
		t.Errorf("RefreshToken = %q, want %q", res.RefreshToken, refresh)
	}
	if res.RefreshExpiresIn != left {
		t.Errorf("RefreshExpiresIn = %v, want %v", res.RefreshExpiresIn, left)
	}
}

func wantRefused(t *testing.T, res *Tokens, err error) {
	t.Helper()
	if res != nil {
		t.Errorf("Refresh returned %+v", res)
	}
	if err != domain.ErrInvalidRefreshToken {
		t.Errorf("Refresh error = %v, want domain.ErrInvalidRefreshToken", err)
	}
}

func TestRefreshRotates(t *testing.T) {
	for name, expires := range map[string]time.Duration{
		"long-lived session": sessionLeft,
		// Refreshing never extends a session: with five minutes left, the
		// new refresh token has five minutes too, not a fresh SessionTTL.
		"session about to end": 5 * time.Minute,
		"a nanosecond left":    time.Nanosecond,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			s := domain.RehydrateSession(sessionID, 42, now.Add(-29*24*time.Hour), now.Add(expires), time.Time{})
			user := alice()
			access := ports.AccessToken{Token: "fresh.access.jwt", ExpiresIn: 15 * time.Minute}
			gomock.InOrder(
				expectRotate(f, ctx, ports.RefreshTokenState{Session: s}, true, nil),
				f.users.EXPECT().ByID(ctx, int64(42)).Return(user, nil),
				f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: sessionID}, now, now.Add(expires)).Return(access, nil),
				f.events.EXPECT().Record(ctx, refreshed("rotated")),
			)

			res, err := f.svc.Refresh(ctx, rt(0))
			wantTokens(t, res, err, user, access, rt(1), expires)
		})
	}
}

func TestRefreshMalformedTokenLooksNothingUp(t *testing.T) {
	for _, tok := range []string{"", "an.access.jwt", "not a refresh token"} {
		t.Run(tok, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.stokens.EXPECT().Hash(tok).Return(nil, false)
			res, err := f.svc.Refresh(testCtx(t), tok)
			wantRefused(t, res, err)
		})
	}
}

func TestRefreshGraceWindowWalksToCurrentToken(t *testing.T) {
	for _, steps := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d step(s)", steps), func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			s := liveSession()
			user := alice()
			// rt(0) was spent 3s ago by another tab; since then the chain
			// has moved steps-1 further.
			expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-3 * time.Second)}, false, nil)
			expectWalk(f, ctx, s, steps)
			access := expectIssue(f, ctx, user, "grace retry")

			res, err := f.svc.Refresh(ctx, rt(0))
			wantTokens(t, res, err, user, access, rt(steps), sessionLeft)
		})
	}
}

func TestRefreshGraceWalkIsBounded(t *testing.T) {
	// The bound must allow a short burst of refreshes inside the window
	// yet keep one request's lookups few.
	if maxSuccessorWalk < 3 || maxSuccessorWalk > 16 {
		t.Fatalf("maxSuccessorWalk = %d, want a small bound in [3, 16]", maxSuccessorWalk)
	}
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	s := liveSession()
	expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-time.Second)}, false, nil)
	// Every successor is spent too: a broken store or a chain longer than
	// any real burst of refreshes. The walk gives up after the bound
	// instead of looping, and hands out nothing.
	for i := 1; i <= maxSuccessorWalk; i++ {
		f.stokens.EXPECT().Hash(rt(i)).Return(rh(i), true)
		f.sessions.EXPECT().Token(ctx, rh(i)).Return(ports.RefreshTokenState{Session: s, SpentAt: now.Add(-time.Second)}, nil)
		f.stokens.EXPECT().Successor(rt(i)).Return(rt(i + 1))
	}

	res, err := f.svc.Refresh(ctx, rt(0))
	wantRefused(t, res, err)
}

// TestRefreshGraceBoundary documents the window: a spent token presented
// exactly ReuseGrace after it was spent is still a retry (now - spentAt ==
// grace is inside); a nanosecond later it is reuse.
func TestRefreshGraceBoundary(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		ago    time.Duration // now - spentAt
		inside bool
	}{
		{"default grace: spent at this very instant", Config{}, 0, true},
		{"default grace: 10s - 1ns", Config{}, 10*time.Second - time.Nanosecond, true},
		{"default grace: exactly 10s", Config{}, 10 * time.Second, true},
		{"default grace: 10s + 1ns", Config{}, 10*time.Second + time.Nanosecond, false},
		{"default grace: an hour", Config{}, time.Hour, false},
		{"2s grace: exactly 2s", Config{ReuseGrace: 2 * time.Second}, 2 * time.Second, true},
		{"2s grace: 2s + 1ns", Config{ReuseGrace: 2 * time.Second}, 2*time.Second + time.Nanosecond, false},
		{"2s grace: 3s (inside the default)", Config{ReuseGrace: 2 * time.Second}, 3 * time.Second, false},
		{"1m grace: 59s (outside the default)", Config{ReuseGrace: time.Minute}, 59 * time.Second, true},
		// Strict rotation: any second presentation is theft, even at the
		// very instant the token was spent (a grace of 0 alone would let
		// that one through).
		{"strict: spent at this very instant", Config{StrictRotation: true}, 0, false},
		{"strict: a second later", Config{StrictRotation: true}, time.Second, false},
		{"strict wins over a grace", Config{StrictRotation: true, ReuseGrace: time.Minute}, time.Second, false},
		// Another instance's clock a little ahead of ours.
		{"spent a second in our future", Config{}, -time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			ctx := testCtx(t)
			s := liveSession()
			expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-tt.ago)}, false, nil)
			if tt.inside {
				expectWalk(f, ctx, s, 1)
				access := expectIssue(f, ctx, alice(), "grace retry")
				res, err := f.svc.Refresh(ctx, rt(0))
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				if res.RefreshToken != rt(1) || res.AccessToken != access {
					t.Errorf("Refresh = %+v, want the successor and a new access token", res)
				}
				return
			}
			f.sessions.EXPECT().Revoke(ctx, sessionID, now).Return(nil)
			f.events.EXPECT().Record(ctx, eventMatcher{"token.reuse_detected", 42, sessionID, "", ""})
			f.events.EXPECT().Record(ctx, eventMatcher{"session.revoked", 42, sessionID, "reuse", ""})
			res, err := f.svc.Refresh(ctx, rt(0))
			wantRefused(t, res, err)
		})
	}
}

func TestRefreshReuseAfterGraceRevokesSession(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	s := liveSession()
	gomock.InOrder(
		expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-time.Hour)}, false, nil),
		f.sessions.EXPECT().Revoke(ctx, sessionID, now).Return(nil),
	)
	// The events are recorded, with the ids an operator needs; no access
	// token is issued and the user is not even looked up.
	f.events.EXPECT().Record(ctx, eventMatcher{"token.reuse_detected", 42, sessionID, "", ""})
	f.events.EXPECT().Record(ctx, eventMatcher{"session.revoked", 42, sessionID, "reuse", ""})

	res, err := f.svc.Refresh(ctx, rt(0))
	wantRefused(t, res, err)
}

func TestRefreshRefuses(t *testing.T) {
	tests := []struct {
		name   string
		expect func(f *fixture, ctx context.Context)
	}{
		{"unknown token", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{}, false, domain.ErrSessionNotFound)
		}},
		{"unknown token, wrapped not-found", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{}, false, fmt.Errorf("postgres: %w", domain.ErrSessionNotFound))
		}},
		// An ended session refuses every token, even one spent long ago:
		// that is not a new theft, so nothing is revoked or recorded.
		{"revoked session, current token", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: revokedSession()}, false, nil)
		}},
		{"revoked session, token spent long ago", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: revokedSession(), SpentAt: now.Add(-time.Hour)}, false, nil)
		}},
		{"revoked session, token spent inside the grace window", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: revokedSession(), SpentAt: now.Add(-time.Second)}, false, nil)
		}},
		{"session expiring exactly now", func(f *fixture, ctx context.Context) {
			s := domain.RehydrateSession(sessionID, 42, now.Add(-DefaultSessionTTL), now, time.Time{})
			expectRotate(f, ctx, ports.RefreshTokenState{Session: s}, false, nil)
		}},
		{"expired session, token spent long ago", func(f *fixture, ctx context.Context) {
			s := domain.RehydrateSession(sessionID, 42, now.Add(-40*24*time.Hour), now.Add(-10*24*time.Hour), time.Time{})
			expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-11 * 24 * time.Hour)}, false, nil)
		}},
		{"user deleted", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession()}, true, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(nil, domain.ErrUserNotFound)
		}},
		{"user deleted, wrapped not-found", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession()}, true, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(nil, fmt.Errorf("sqlite: %w", domain.ErrUserNotFound))
		}},
		{"user inactive", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession()}, true, nil)
			u := alice()
			u.Deactivate()
			f.users.EXPECT().ByID(ctx, int64(42)).Return(u, nil)
		}},
		{"user inactive, grace-window retry", func(f *fixture, ctx context.Context) {
			s := liveSession()
			expectRotate(f, ctx, ports.RefreshTokenState{Session: s, SpentAt: now.Add(-time.Second)}, false, nil)
			expectWalk(f, ctx, s, 1)
			u := alice()
			u.Deactivate()
			f.users.EXPECT().ByID(ctx, int64(42)).Return(u, nil)
		}},
		{"successor missing during the walk", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession(), SpentAt: now.Add(-time.Second)}, false, nil)
			f.stokens.EXPECT().Hash(rt(1)).Return(rh(1), true)
			f.sessions.EXPECT().Token(ctx, rh(1)).Return(ports.RefreshTokenState{}, domain.ErrSessionNotFound)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The mocks refuse Revoke, Record and Issue unless a case
			// expects them.
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			tt.expect(f, ctx)
			res, err := f.svc.Refresh(ctx, rt(0))
			wantRefused(t, res, err)
		})
	}
}

func TestRefreshFailures(t *testing.T) {
	cause := errors.New("database is locked")
	tests := []struct {
		name     string
		expect   func(f *fixture, ctx context.Context)
		wantCode string
	}{
		{"rotate unavailable", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{}, false, domain.Unavailable(cause))
		}, domain.EUNAVAILABLE},
		{"rotate internal error", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{}, false, cause)
		}, domain.EINTERNAL},
		{"user lookup unavailable", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession()}, true, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(nil, domain.Unavailable(cause))
		}, domain.EUNAVAILABLE},
		{"walk unavailable", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession(), SpentAt: now.Add(-time.Second)}, false, nil)
			f.stokens.EXPECT().Hash(rt(1)).Return(rh(1), true)
			f.sessions.EXPECT().Token(ctx, rh(1)).Return(ports.RefreshTokenState{}, domain.Unavailable(cause))
		}, domain.EUNAVAILABLE},
		{"revoke after reuse unavailable", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession(), SpentAt: now.Add(-time.Hour)}, false, nil)
			f.sessions.EXPECT().Revoke(ctx, sessionID, now).Return(domain.Unavailable(cause))
			// Whether the attempt is recorded is not this test's concern.
			f.events.EXPECT().Record(ctx, gomock.Any()).AnyTimes()
		}, domain.EUNAVAILABLE},
		{"issue error", func(f *fixture, ctx context.Context) {
			expectRotate(f, ctx, ports.RefreshTokenState{Session: liveSession()}, true, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil)
			f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: sessionID}, now, now.Add(sessionLeft)).Return(ports.AccessToken{}, cause)
		}, domain.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			tt.expect(f, ctx)
			res, err := f.svc.Refresh(ctx, rt(0))
			if res != nil {
				t.Errorf("Refresh returned %+v", res)
			}
			if !errors.Is(err, cause) {
				t.Errorf("error %v lost its cause", err)
			}
			wantCode(t, err, tt.wantCode)
		})
	}
}

func TestRefreshMalformedSuccessorIsInternal(t *testing.T) {
	// SessionTokens deriving a successor it cannot hash is a bug there,
	// not a bad token: internal error, and nothing is rotated.
	f := newFixture(t, Config{})
	f.stokens.EXPECT().Hash(rt(0)).Return(rh(0), true)
	f.stokens.EXPECT().Successor(rt(0)).Return("")
	f.stokens.EXPECT().Hash("").Return(nil, false)
	f.clock.EXPECT().Now().Return(now).AnyTimes()

	res, err := f.svc.Refresh(testCtx(t), rt(0))
	if res != nil || err == nil {
		t.Fatalf("Refresh = %+v, %v; want an error", res, err)
	}
	wantCode(t, err, domain.EINTERNAL)
}

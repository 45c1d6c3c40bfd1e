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

// wantLoggedIn checks a login that succeeded with expectSessionStart's
// session and the given access token.
func wantLoggedIn(t *testing.T, res *Tokens, err error, user *domain.User, access ports.AccessToken) {
	t.Helper()
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if res.User != user {
		t.Errorf("User = %+v, want %+v", res.User, user)
	}
	if res.AccessToken != access {
		t.Errorf("AccessToken = %+v, want %+v", res.AccessToken, access)
	}
	if res.RefreshToken != loginRefresh {
		t.Errorf("RefreshToken = %q, want %q", res.RefreshToken, loginRefresh)
	}
}

func TestLoginRehash(t *testing.T) {
	const password = "correct horse battery staple"
	cause := errors.New("database is locked")

	tests := []struct {
		name string
		// rehash returns, in order, what Login does between the matching
		// Compare and the session start.
		rehash func(f *fixture, ctx context.Context) []any
	}{
		{
			name: "outdated hash is replaced",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().NeedsRehash("stored-hash").Return(true),
					f.hasher.EXPECT().Hash(ctx, password).Return("new-hash", nil),
					f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(nil),
				}
			},
		},
		{
			name: "storing the new hash fails: login still succeeds",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().NeedsRehash("stored-hash").Return(true),
					f.hasher.EXPECT().Hash(ctx, password).Return("new-hash", nil),
					f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(domain.Unavailable(cause)),
				}
			},
		},
		{
			name: "user deleted before the new hash was stored: login goes on to the session",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().NeedsRehash("stored-hash").Return(true),
					f.hasher.EXPECT().Hash(ctx, password).Return("new-hash", nil),
					f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(domain.ErrUserNotFound),
				}
			},
		},
		{
			name: "hashing fails: nothing stored, login still succeeds",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().NeedsRehash("stored-hash").Return(true),
					f.hasher.EXPECT().Hash(ctx, password).Return("", domain.Unavailable(context.DeadlineExceeded)),
				}
			},
		},
		{
			name: "hasher returns an empty hash: nothing stored, login still succeeds",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{
					f.hasher.EXPECT().NeedsRehash("stored-hash").Return(true),
					f.hasher.EXPECT().Hash(ctx, password).Return("", nil),
				}
			},
		},
		{
			name: "current hash: no hashing, nothing stored",
			rehash: func(f *fixture, ctx context.Context) []any {
				return []any{f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			user := alice()
			access := ports.AccessToken{Token: "signed.jwt.token", ExpiresIn: 15 * time.Minute}
			f.clock.EXPECT().Now().Return(now)

			calls := []any{
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(user, nil),
				f.hasher.EXPECT().Compare(ctx, "stored-hash", password).Return(true, nil),
			}
			calls = append(calls, tt.rehash(f, ctx)...)
			calls = append(calls, expectSessionStart(f, ctx, 42, DefaultSessionTTL, nil)...)
			gomock.InOrder(append(calls,
				f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(access, nil),
				f.events.EXPECT().Record(ctx, loginSucceededEvent()),
			)...)

			res, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: password})
			wantLoggedIn(t, res, err, user, access)
		})
	}

	t.Run("wrong password: rehashing is not considered", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		gomock.InOrder(
			f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
			f.hasher.EXPECT().Compare(ctx, "stored-hash", "wrong password").Return(false, nil),
			f.hasher.EXPECT().Cheaper("stored-hash").Return(false),
			f.events.EXPECT().Record(ctx, loginFailedEvent(42, "alice@example.com", "password mismatch")),
		)
		res, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "wrong password"})
		if res != nil || err != domain.ErrInvalidCredentials {
			t.Fatalf("Login = %+v, %v; want nil, domain.ErrInvalidCredentials", res, err)
		}
	})
}

func TestRegisterBreachCheck(t *testing.T) {
	const password = "correct horse battery staple"
	cause := errors.New("api.pwnedpasswords.com: i/o timeout")
	stored := func() *domain.User {
		return domain.RehydrateUser(42, "alice@example.com", "hash-of-password", true, now)
	}

	// expectCreate expects, in order after what came before, the hash and
	// the store of a registration that goes ahead.
	expectCreate := func(f *fixture, ctx context.Context, before ...any) *domain.User {
		u := stored()
		f.clock.EXPECT().Now().Return(now)
		gomock.InOrder(append(before,
			f.hasher.EXPECT().Hash(ctx, password).Return("hash-of-password", nil),
			f.users.EXPECT().Create(ctx, newUserMatcher{email: "alice@example.com", hash: "hash-of-password", createdAt: now}).Return(u, nil),
			f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: "user.registered", UserID: 42, Email: "alice@example.com"}),
		)...)
		return u
	}
	withBreaches := func(f *fixture) { f.withBreaches = true }

	t.Run("breached password is refused before hashing", func(t *testing.T) {
		f := newFixtureWith(t, Config{}, withBreaches)
		ctx := testCtx(t)
		f.breaches.EXPECT().Breached(ctx, password).Return(true, nil)

		u, err := f.svc.Register(ctx, "alice@example.com", password)
		if u != nil {
			t.Errorf("Register returned a user: %+v", u)
		}
		if err != ErrBreachedPassword {
			t.Errorf("error = %v, want ErrBreachedPassword", err)
		}
		wantCode(t, err, domain.EINVALID)
		if fields := domain.ErrorFields(err); len(fields) != 1 || fields[0].Field != "password" || fields[0].Message == "" {
			t.Errorf("fields = %+v, want one message for password", fields)
		}
	})

	t.Run("breached even with fail-closed configured", func(t *testing.T) {
		f := newFixtureWith(t, Config{BreachFailClosed: true}, withBreaches)
		ctx := testCtx(t)
		f.breaches.EXPECT().Breached(ctx, password).Return(true, nil)
		if u, err := f.svc.Register(ctx, "alice@example.com", password); u != nil || err != ErrBreachedPassword {
			t.Errorf("Register = %v, %v; want nil, ErrBreachedPassword", u, err)
		}
	})

	t.Run("not breached: registered", func(t *testing.T) {
		f := newFixtureWith(t, Config{}, withBreaches)
		ctx := testCtx(t)
		want := expectCreate(f, ctx, f.breaches.EXPECT().Breached(ctx, password).Return(false, nil))

		u, err := f.svc.Register(ctx, "alice@example.com", password)
		if err != nil || u != want {
			t.Fatalf("Register = %v, %v; want the repository's user", u, err)
		}
	})

	t.Run("checker unavailable, fail open: registered and recorded", func(t *testing.T) {
		f := newFixtureWith(t, Config{}, withBreaches)
		ctx := testCtx(t)
		want := expectCreate(f, ctx,
			f.breaches.EXPECT().Breached(ctx, password).Return(false, domain.Unavailable(cause)),
			f.events.EXPECT().Record(ctx, eventMatcher{name: "breach_check.unavailable", reason: "fail closed: false"}),
		)

		u, err := f.svc.Register(ctx, "alice@example.com", password)
		if err != nil || u != want {
			t.Fatalf("Register = %v, %v; want the repository's user", u, err)
		}
	})

	t.Run("checker unavailable, fail closed: unavailable, recorded, nothing stored", func(t *testing.T) {
		f := newFixtureWith(t, Config{BreachFailClosed: true}, withBreaches)
		ctx := testCtx(t)
		gomock.InOrder(
			f.breaches.EXPECT().Breached(ctx, password).Return(false, domain.Unavailable(cause)),
			f.events.EXPECT().Record(ctx, eventMatcher{name: "breach_check.unavailable", reason: "fail closed: true"}),
		)

		u, err := f.svc.Register(ctx, "alice@example.com", password)
		if u != nil {
			t.Errorf("Register returned a user: %+v", u)
		}
		if !errors.Is(err, cause) {
			t.Errorf("error %v lost its cause", err)
		}
		wantCode(t, err, domain.EUNAVAILABLE)
	})

	t.Run("policy failures do not reach the checker", func(t *testing.T) {
		for name, in := range map[string]struct{ email, pw string }{
			"short password":  {"alice@example.com", "short"},
			"common password": {"alice@example.com", "Password123"},
			"bad email":       {"alice@localhost", password},
		} {
			t.Run(name, func(t *testing.T) {
				// No expectations: neither the checker nor the hasher.
				f := newFixtureWith(t, Config{BreachFailClosed: true}, withBreaches)
				u, err := f.svc.Register(testCtx(t), in.email, in.pw)
				if u != nil {
					t.Errorf("Register returned a user: %+v", u)
				}
				wantCode(t, err, domain.EINVALID)
				if err == ErrBreachedPassword {
					t.Errorf("policy failure reported as a breach")
				}
			})
		}
	})

	t.Run("no checker: fail-closed has nothing to fail on", func(t *testing.T) {
		// Breaches is nil; the breaches mock would fail the test if called,
		// and no event may be recorded.
		f := newFixture(t, Config{BreachFailClosed: true})
		ctx := testCtx(t)
		want := expectCreate(f, ctx)

		u, err := f.svc.Register(ctx, "alice@example.com", password)
		if err != nil || u != want {
			t.Fatalf("Register = %v, %v; want the repository's user", u, err)
		}
	})
}

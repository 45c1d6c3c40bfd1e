package breaker

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

type ctxKey struct{}

// TestDelegation checks that every method of the three decorators calls
// the wrapped method once with the same arguments, under a context derived
// from the caller's with a deadline, and returns exactly what it returned:
// results and error as they are for success and for a domain outcome, and
// EUNAVAILABLE wrapping the error for a failure.
func TestDelegation(t *testing.T) {
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	email, err := domain.ParseEmail("a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	user := domain.RehydrateUser(7, "a@example.com", "hash", true, now)
	session := domain.RehydrateSession("sid", 7, now, now.Add(time.Hour), time.Time{})
	state := ports.RefreshTokenState{Session: session, SpentAt: now}
	hash, successor := []byte{1, 2, 3}, []byte{4, 5, 6}
	token := ports.EmailToken{UserID: 7, Purpose: ports.PurposeChangeEmail, NewEmail: "b@example.com", ExpiresAt: now}
	mail := ports.Mail{To: "a@example.com", Template: ports.TemplateVerifyEmail, Data: map[string]string{"link": "x"}}
	claimed := ports.OutboxMail{ID: 9, Mail: mail, Attempts: 1, CreatedAt: now}

	// A context derived from the caller's: it carries the caller's value
	// and has the inner deadline.
	derived := gomock.Cond(func(ctx context.Context) bool {
		_, ok := ctx.Deadline()
		return ok && ctx.Value(ctxKey{}) == "caller"
	})

	type mocks struct {
		users    *mock.MockUserRepository
		sessions *mock.MockSessionRepository
		limits   *mock.MockRateLimitStore
		tokens   *mock.MockEmailTokenRepository
		outbox   *mock.MockMailOutbox
	}
	type decorated struct {
		users    ports.UserRepository
		sessions ports.SessionRepository
		limits   ports.RateLimitStore
		tokens   ports.EmailTokenRepository
		outbox   ports.MailOutbox
	}
	cases := []struct {
		name string
		// expect sets one call, returning want and err.
		expect func(m mocks, err error)
		call   func(ctx context.Context, d decorated) ([]any, error)
		want   []any
	}{
		{
			name:   "Users.Create",
			expect: func(m mocks, err error) { m.users.EXPECT().Create(derived, user).Return(user, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				u, err := d.users.Create(ctx, user)
				return []any{u}, err
			},
			want: []any{user},
		},
		{
			name:   "Users.ByID",
			expect: func(m mocks, err error) { m.users.EXPECT().ByID(derived, int64(7)).Return(user, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				u, err := d.users.ByID(ctx, 7)
				return []any{u}, err
			},
			want: []any{user},
		},
		{
			name:   "Users.ByEmail",
			expect: func(m mocks, err error) { m.users.EXPECT().ByEmail(derived, email).Return(user, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				u, err := d.users.ByEmail(ctx, email)
				return []any{u}, err
			},
			want: []any{user},
		},
		{
			name: "Users.UpdatePasswordHash",
			expect: func(m mocks, err error) {
				m.users.EXPECT().UpdatePasswordHash(derived, int64(7), "new-hash").Return(err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.users.UpdatePasswordHash(ctx, 7, "new-hash")
			},
		},
		{
			name:   "Sessions.Create",
			expect: func(m mocks, err error) { m.sessions.EXPECT().Create(derived, session, hash).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.sessions.Create(ctx, session, hash)
			},
		},
		{
			name: "Sessions.Rotate",
			expect: func(m mocks, err error) {
				m.sessions.EXPECT().Rotate(derived, hash, successor, now).Return(state, true, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				s, ok, err := d.sessions.Rotate(ctx, hash, successor, now)
				return []any{s, ok}, err
			},
			want: []any{state, true},
		},
		{
			name:   "Sessions.Token",
			expect: func(m mocks, err error) { m.sessions.EXPECT().Token(derived, hash).Return(state, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				s, err := d.sessions.Token(ctx, hash)
				return []any{s}, err
			},
			want: []any{state},
		},
		{
			name:   "Sessions.Revoke",
			expect: func(m mocks, err error) { m.sessions.EXPECT().Revoke(derived, "sid", now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.sessions.Revoke(ctx, "sid", now)
			},
		},
		{
			name:   "Sessions.RevokeAll",
			expect: func(m mocks, err error) { m.sessions.EXPECT().RevokeAll(derived, int64(7), now).Return(3, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.sessions.RevokeAll(ctx, 7, now)
				return []any{n}, err
			},
			want: []any{3},
		},
		{
			name: "Sessions.RevokeOthers",
			expect: func(m mocks, err error) {
				m.sessions.EXPECT().RevokeOthers(derived, int64(7), "keep", now).Return(2, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.sessions.RevokeOthers(ctx, 7, "keep", now)
				return []any{n}, err
			},
			want: []any{2},
		},
		{
			name: "Sessions.ActiveUser",
			expect: func(m mocks, err error) {
				m.sessions.EXPECT().ActiveUser(derived, "sid", int64(7), now).Return(user, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				u, err := d.sessions.ActiveUser(ctx, "sid", 7, now)
				return []any{u}, err
			},
			want: []any{user},
		},
		{
			name:   "Sessions.DeleteEnded",
			expect: func(m mocks, err error) { m.sessions.EXPECT().DeleteEnded(derived, now).Return(4, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.sessions.DeleteEnded(ctx, now)
				return []any{n}, err
			},
			want: []any{4},
		},
		{
			name: "Users.List",
			expect: func(m mocks, err error) {
				q := ports.UserQuery{EmailPrefix: "a@", AfterID: 3, Limit: 10}
				m.users.EXPECT().List(derived, q).Return([]*domain.User{user}, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				us, err := d.users.List(ctx, ports.UserQuery{EmailPrefix: "a@", AfterID: 3, Limit: 10})
				return sliceResult(us), err
			},
			want: []any{user, 1},
		},
		{
			name:   "Users.SetActive",
			expect: func(m mocks, err error) { m.users.EXPECT().SetActive(derived, int64(7), false).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.users.SetActive(ctx, 7, false)
			},
		},
		{
			name:   "Users.Delete",
			expect: func(m mocks, err error) { m.users.EXPECT().Delete(derived, int64(7)).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.users.Delete(ctx, 7)
			},
		},
		{
			name: "Sessions.ListLive",
			expect: func(m mocks, err error) {
				m.sessions.EXPECT().ListLive(derived, int64(7), now).Return([]*domain.Session{session}, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				ss, err := d.sessions.ListLive(ctx, 7, now)
				return sliceResult(ss), err
			},
			want: []any{session, 1},
		},
		{
			name: "Sessions.RevokeForUser",
			expect: func(m mocks, err error) {
				m.sessions.EXPECT().RevokeForUser(derived, int64(7), "sid", now).Return(err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.sessions.RevokeForUser(ctx, 7, "sid", now)
			},
		},
		{
			name:   "Sessions.Touch",
			expect: func(m mocks, err error) { m.sessions.EXPECT().Touch(derived, "sid", now, time.Minute).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.sessions.Touch(ctx, "sid", now, time.Minute)
			},
		},
		{
			name:   "Sessions.Stats",
			expect: func(m mocks, err error) { m.sessions.EXPECT().Stats(derived, int64(7), now).Return(2, now, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, last, err := d.sessions.Stats(ctx, 7, now)
				return []any{n, last}, err
			},
			want: []any{2, now},
		},
		{
			name:   "Sessions.RevokeBeyond",
			expect: func(m mocks, err error) { m.sessions.EXPECT().RevokeBeyond(derived, int64(7), 4, now).Return(3, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.sessions.RevokeBeyond(ctx, 7, 4, now)
				return []any{n}, err
			},
			want: []any{3},
		},
		{
			name: "RateLimits.Hit",
			expect: func(m mocks, err error) {
				m.limits.EXPECT().Hit(derived, "login:ip", time.Minute, now).Return(5, now.Add(time.Minute), err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, at, err := d.limits.Hit(ctx, "login:ip", time.Minute, now)
				return []any{n, at}, err
			},
			want: []any{5, now.Add(time.Minute)},
		},
		{
			name: "RateLimits.Count",
			expect: func(m mocks, err error) {
				m.limits.EXPECT().Count(derived, "login:ip", now).Return(6, now.Add(time.Second), err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, at, err := d.limits.Count(ctx, "login:ip", now)
				return []any{n, at}, err
			},
			want: []any{6, now.Add(time.Second)},
		},
		{
			name:   "RateLimits.Reset",
			expect: func(m mocks, err error) { m.limits.EXPECT().Reset(derived, "login:ip").Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.limits.Reset(ctx, "login:ip")
			},
		},
		{
			name:   "RateLimits.Release",
			expect: func(m mocks, err error) { m.limits.EXPECT().Release(derived, "login:ip", now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.limits.Release(ctx, "login:ip", now)
			},
		},
		{
			name:   "Users.SetEmailVerified",
			expect: func(m mocks, err error) { m.users.EXPECT().SetEmailVerified(derived, int64(7), now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.users.SetEmailVerified(ctx, 7, now)
			},
		},
		{
			name:   "Users.ChangeEmail",
			expect: func(m mocks, err error) { m.users.EXPECT().ChangeEmail(derived, int64(7), email, now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.users.ChangeEmail(ctx, 7, email, now)
			},
		},
		{
			name:   "EmailTokens.Issue",
			expect: func(m mocks, err error) { m.tokens.EXPECT().Issue(derived, hash, token, mail, now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.tokens.Issue(ctx, hash, token, mail, now)
			},
		},
		{
			name: "EmailTokens.Consume",
			expect: func(m mocks, err error) {
				m.tokens.EXPECT().Consume(derived, hash, ports.PurposeChangeEmail, now).Return(token, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				tok, err := d.tokens.Consume(ctx, hash, ports.PurposeChangeEmail, now)
				return []any{tok}, err
			},
			want: []any{token},
		},
		{
			name: "EmailTokens.Lookup",
			expect: func(m mocks, err error) {
				m.tokens.EXPECT().Lookup(derived, hash, ports.PurposeResetPassword, now).Return(token, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				tok, err := d.tokens.Lookup(ctx, hash, ports.PurposeResetPassword, now)
				return []any{tok}, err
			},
			want: []any{token},
		},
		{
			name: "EmailTokens.InvalidateAll",
			expect: func(m mocks, err error) {
				m.tokens.EXPECT().InvalidateAll(derived, int64(7), ports.PurposeResetPassword, now).Return(err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.tokens.InvalidateAll(ctx, 7, ports.PurposeResetPassword, now)
			},
		},
		{
			name:   "EmailTokens.DeleteExpired",
			expect: func(m mocks, err error) { m.tokens.EXPECT().DeleteExpired(derived, now).Return(3, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.tokens.DeleteExpired(ctx, now)
				return []any{n}, err
			},
			want: []any{3},
		},
		{
			name:   "Outbox.Enqueue",
			expect: func(m mocks, err error) { m.outbox.EXPECT().Enqueue(derived, mail, now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.outbox.Enqueue(ctx, mail, now)
			},
		},
		{
			name: "Outbox.Claim",
			expect: func(m mocks, err error) {
				m.outbox.EXPECT().Claim(derived, now, 10, time.Minute).Return([]ports.OutboxMail{claimed}, err)
			},
			call: func(ctx context.Context, d decorated) ([]any, error) {
				ms, err := d.outbox.Claim(ctx, now, 10, time.Minute)
				if len(ms) != 1 {
					return []any{ports.OutboxMail{}.ID, len(ms)}, err
				}
				return []any{ms[0].ID, 1}, err
			},
			want: []any{claimed.ID, 1},
		},
		{
			name:   "Outbox.MarkSent",
			expect: func(m mocks, err error) { m.outbox.EXPECT().MarkSent(derived, int64(9), now).Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.outbox.MarkSent(ctx, 9, now)
			},
		},
		{
			name:   "Outbox.Retry",
			expect: func(m mocks, err error) { m.outbox.EXPECT().Retry(derived, int64(9), now, "451 later").Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.outbox.Retry(ctx, 9, now, "451 later")
			},
		},
		{
			name:   "Outbox.MarkFailed",
			expect: func(m mocks, err error) { m.outbox.EXPECT().MarkFailed(derived, int64(9), now, "550 no").Return(err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				return nil, d.outbox.MarkFailed(ctx, 9, now, "550 no")
			},
		},
		{
			name:   "Outbox.Stats",
			expect: func(m mocks, err error) { m.outbox.EXPECT().Stats(derived, now).Return(4, now, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, oldest, err := d.outbox.Stats(ctx, now)
				return []any{n, oldest}, err
			},
			want: []any{4, now},
		},
		{
			name:   "Outbox.DeleteOld",
			expect: func(m mocks, err error) { m.outbox.EXPECT().DeleteOld(derived, now).Return(5, err) },
			call: func(ctx context.Context, d decorated) ([]any, error) {
				n, err := d.outbox.DeleteOld(ctx, now)
				return []any{n}, err
			},
			want: []any{5},
		},
	}

	failure := domain.Unavailable(errors.New("db down"))
	for _, c := range cases {
		for _, r := range []struct {
			name string
			err  error
		}{{"ok", nil}, {"outcome", domain.ErrUserNotFound}, {"failure", failure}} {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				ctrl := gomock.NewController(t)
				m := mocks{mock.NewMockUserRepository(ctrl), mock.NewMockSessionRepository(ctrl), mock.NewMockRateLimitStore(ctrl),
					mock.NewMockEmailTokenRepository(ctrl), mock.NewMockMailOutbox(ctrl)}
				d := decorated{
					Users(m.users, commandName(t), fast()),
					Sessions(m.sessions, commandName(t), fast()),
					RateLimits(m.limits, commandName(t), fast()),
					EmailTokens(m.tokens, commandName(t), fast()),
					Outbox(m.outbox, commandName(t), fast()),
				}
				c.expect(m, r.err)

				ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
				got, err := c.call(ctx, d)
				if len(got) != len(c.want) {
					t.Fatalf("%d results, want %d", len(got), len(c.want))
				}
				if r.err == failure {
					wantUnavailable(t, err, failure)
					for i, g := range got {
						if !isZero(g) {
							t.Errorf("result %d = %v, want the zero value on failure", i, g)
						}
					}
					return
				}
				if err != r.err {
					t.Errorf("err = %v, want the very same %v", err, r.err)
				}
				for i := range got {
					if got[i] != c.want[i] { // pointers: the very same one
						t.Errorf("result %d = %v, want %v", i, got[i], c.want[i])
					}
				}
			})
		}
	}
}

// sliceResult is a returned slice as comparable results: its only element
// (nil when empty) and its length.
func sliceResult[T any](s []*T) []any {
	if len(s) != 1 {
		return []any{(*T)(nil), len(s)}
	}
	return []any{s[0], 1}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case *domain.User:
		return v == nil
	case *domain.Session:
		return v == nil
	case ports.RefreshTokenState:
		return v == ports.RefreshTokenState{}
	case ports.EmailToken:
		return v == ports.EmailToken{}
	case int64:
		return v == 0
	case bool:
		return !v
	case int:
		return v == 0
	case time.Time:
		return v.IsZero()
	}
	return false
}

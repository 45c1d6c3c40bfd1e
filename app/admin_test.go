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

func TestFindUser(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	u := alice()
	f.users.EXPECT().ByID(ctx, int64(42)).Return(u, nil)
	f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(u, nil)
	for _, ref := range []string{"42", " Alice@Example.com"} {
		if got, err := f.svc.FindUser(ctx, ref); err != nil || got != u {
			t.Errorf("FindUser(%q) = %v, %v", ref, got, err)
		}
	}
	// Neither an id nor an address, or a non-positive id: not found, with
	// nothing looked up.
	for _, ref := range []string{"", "0", "-3", "not an address"} {
		if _, err := f.svc.FindUser(ctx, ref); !errors.Is(err, domain.ErrUserNotFound) {
			t.Errorf("FindUser(%q) = %v, want ErrUserNotFound", ref, err)
		}
	}
}

func TestListUsersValidatesThePage(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	for _, q := range []ports.UserQuery{{Limit: 0}, {Limit: ports.MaxUserQueryLimit + 1}, {Limit: 5, AfterID: -1}} {
		if _, err := f.svc.ListUsers(ctx, q); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("ListUsers(%+v) = %v, want EINVALID", q, err)
		}
	}
	q := ports.UserQuery{EmailPrefix: "al", AfterID: 7, Limit: 2}
	f.users.EXPECT().List(ctx, q).Return([]*domain.User{alice()}, nil)
	if got, err := f.svc.ListUsers(ctx, q); err != nil || len(got) != 1 {
		t.Errorf("ListUsers = %v, %v", got, err)
	}
}

func TestUserDetails(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now)
	f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil)
	f.sessions.EXPECT().Stats(ctx, int64(42), now).Return(3, now.Add(-time.Hour), nil)
	d, err := f.svc.UserDetails(ctx, 42)
	if err != nil || d.LiveSessions != 3 || !d.LastLogin.Equal(now.Add(-time.Hour)) || d.User.ID() != 42 {
		t.Fatalf("UserDetails = %+v, %v", d, err)
	}
}

// TestDeactivateUser: the flag is set and every session ends, so tokens in
// circulation stop working at once; both steps are audit events naming
// the operator's tool.
func TestDeactivateUser(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ports.WithActor(testCtx(t), "cli")
	off := alice()
	off.Deactivate()
	f.clock.EXPECT().Now().Return(now)
	gomock.InOrder(
		f.users.EXPECT().SetActive(ctx, int64(42), false).Return(nil),
		f.sessions.EXPECT().RevokeAll(ctx, int64(42), now).Return(2, nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeactivated, UserID: 42, Reason: ports.ReasonOperator}),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, Reason: ports.ReasonDeactivated}),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(off, nil),
	)
	u, err := f.svc.DeactivateUser(ctx, 42)
	if err != nil || u.IsActive() {
		t.Fatalf("DeactivateUser = %+v, %v", u, err)
	}

	g := newFixture(t, Config{})
	g.users.EXPECT().SetActive(ctx, int64(9), false).Return(domain.ErrUserNotFound)
	if _, err := g.svc.DeactivateUser(ctx, 9); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestActivateRevokeDelete(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := ports.WithActor(testCtx(t), "admin_api")
	f.clock.EXPECT().Now().Return(now)
	gomock.InOrder(
		f.users.EXPECT().SetActive(ctx, int64(42), true).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventUserActivated, UserID: 42, Reason: ports.ReasonOperator}),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.sessions.EXPECT().RevokeAll(ctx, int64(42), now).Return(4, nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, Reason: ports.ReasonOperator}),
		f.users.EXPECT().Delete(ctx, int64(42)).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeleted, UserID: 42, Reason: ports.ReasonOperator}),
	)
	if _, err := f.svc.ActivateUser(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.RevokeUserSessions(ctx, 42); err != nil || n != 4 {
		t.Fatalf("RevokeUserSessions = %d, %v", n, err)
	}
	if err := f.svc.DeleteUser(ctx, 42); err != nil {
		t.Fatal(err)
	}
}

func TestMySessions(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	claims := ports.AccessClaims{UserID: 42, SessionID: "mine", ExpiresAt: now.Add(time.Hour)}
	mine := domain.RehydrateSession("mine", 42, now.Add(-time.Hour), now.Add(time.Hour), time.Time{})
	other := domain.RehydrateSession("other", 42, now.Add(-2*time.Hour), now.Add(time.Hour), time.Time{})
	f.clock.EXPECT().Now().Return(now).Times(2)
	f.tokens.EXPECT().Verify("tok", now).Return(claims, nil)
	f.sessions.EXPECT().ActiveUser(ctx, "mine", int64(42), now).Return(alice(), nil)
	f.sessions.EXPECT().Touch(ctx, "mine", now, time.Minute).Return(nil)
	f.sessions.EXPECT().ListLive(ctx, int64(42), now).Return([]*domain.Session{mine, other}, nil)
	views, err := f.svc.MySessions(ctx, "tok")
	if err != nil || len(views) != 2 || !views[0].Current || views[1].Current {
		t.Fatalf("MySessions = %+v, %v; want mine current, other not", views, err)
	}
}

// TestRevokeMySession: another user's session and a missing one are the
// same not-found, from the one conditional statement.
func TestRevokeMySession(t *testing.T) {
	claims := ports.AccessClaims{UserID: 42, SessionID: "mine", ExpiresAt: now.Add(time.Hour)}
	for _, tc := range []struct {
		name    string
		repoErr error
		want    error
	}{
		{"own session", nil, nil},
		{"not the caller's, or missing", domain.ErrSessionNotFound, domain.ErrSessionNotFound},
		{"storage down", domain.Unavailable(errors.New("down")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			ctx := testCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			f.tokens.EXPECT().Verify("tok", now).Return(claims, nil)
			f.sessions.EXPECT().ActiveUser(ctx, "mine", int64(42), now).Return(alice(), nil)
			f.sessions.EXPECT().Touch(ctx, "mine", now, time.Minute).Return(nil)
			f.sessions.EXPECT().RevokeForUser(ctx, int64(42), "s2", now).Return(tc.repoErr)
			if tc.repoErr == nil {
				f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, SessionID: "s2", Reason: ports.ReasonOwnSession})
			}
			err := f.svc.RevokeMySession(ctx, "tok", "s2")
			switch {
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("err = %v, want %v", err, tc.want)
			case tc.repoErr == nil && err != nil:
				t.Errorf("err = %v", err)
			case tc.name == "storage down" && domain.ErrorCode(err) != domain.EUNAVAILABLE:
				t.Errorf("err = %v, want EUNAVAILABLE", err)
			}
		})
	}
}

// TestDeleteMyAccount: the current password is required; a wrong one is
// 403 and counts like a failed login; the right one deletes.
func TestDeleteMyAccount(t *testing.T) {
	claims := ports.AccessClaims{UserID: 42, SessionID: "mine", ExpiresAt: now.Add(time.Hour)}
	setup := func(t *testing.T) (*fixture, context.Context) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		f.tokens.EXPECT().Verify("tok", now).Return(claims, nil)
		f.sessions.EXPECT().ActiveUser(ctx, "mine", int64(42), now).Return(alice(), nil)
		return f, ctx
	}
	t.Run("right password", func(t *testing.T) {
		f, ctx := setup(t)
		gomock.InOrder(
			f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil),
			f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false),
			f.users.EXPECT().Delete(ctx, int64(42)).Return(nil),
			f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeleted, UserID: 42, Email: "alice@example.com", Reason: ports.ReasonSelfDeleted}),
		)
		if err := f.svc.DeleteMyAccount(ctx, "tok", "pw-pw-pw-pw"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		f, ctx := setup(t)
		gomock.InOrder(
			f.hasher.EXPECT().Compare(ctx, "stored-hash", "nope").Return(false, nil),
			f.hasher.EXPECT().Cheaper("stored-hash").Return(false),
			f.events.EXPECT().Record(ctx, loginFailedEvent(42, "alice@example.com", ports.ReasonPasswordMismatch)),
		)
		if err := f.svc.DeleteMyAccount(ctx, "tok", "nope"); !errors.Is(err, domain.ErrWrongPassword) {
			t.Fatalf("err = %v, want ErrWrongPassword", err)
		}
	})
}

// TestLoginEndsTheOldestBeyondTheCap: with a cap of 2, a login asks the
// store to keep 1 before creating the new session, and records what was
// ended.
func TestLoginEndsTheOldestBeyondTheCap(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 2})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil),
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false),
		f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil),
		f.stokens.EXPECT().NewRefreshToken().Return(loginRefresh, nil),
		f.stokens.EXPECT().Hash(loginRefresh).Return(loginRefreshHash, true),
		f.sessions.EXPECT().RevokeBeyond(ctx, int64(42), 1, now).Return(1, nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, Reason: ports.ReasonSessionCap}),
		f.sessions.EXPECT().Create(ctx, gomock.Any(), loginRefreshHash).Return(nil),
		f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID}, now, now.Add(DefaultSessionTTL)).Return(ports.AccessToken{Token: "t"}, nil),
		f.events.EXPECT().Record(ctx, loginSucceededEvent()),
	)
	if _, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw-pw-pw-pw"}); err != nil {
		t.Fatal(err)
	}
}

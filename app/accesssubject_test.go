package app

import (
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The access token says whether the user's email is verified: login and
// refresh pass the user's state to the issuer. (The other tests use
// unverified users, so they expect EmailVerified false.)

func TestLoginIssuesEmailVerified(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	user := domain.RehydrateUser(42, "alice@example.com", "stored-hash", true, now.Add(-time.Hour)).
		WithEmailVerifiedAt(now.Add(-30 * time.Minute))
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(user, nil)
	f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil)
	expectNoRehash(f)
	f.stokens.EXPECT().NewSessionID().Return(loginSessionID, nil)
	f.stokens.EXPECT().NewRefreshToken().Return(loginRefresh, nil)
	f.stokens.EXPECT().Hash(loginRefresh).Return(loginRefreshHash, true)
	f.sessions.EXPECT().RevokeBeyond(ctx, int64(42), DefaultMaxSessions-1, now).Return(0, nil)
	f.sessions.EXPECT().Create(ctx, gomock.Any(), loginRefreshHash).Return(nil)
	f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: loginSessionID, EmailVerified: true}, now, now.Add(DefaultSessionTTL)).
		Return(ports.AccessToken{Token: "t"}, nil)
	f.events.EXPECT().Record(ctx, loginSucceededEvent())
	if _, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw-pw-pw-pw"}); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

func TestRefreshIssuesEmailVerified(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := testCtx(t)
	s := liveSession()
	user := alice().WithEmailVerifiedAt(now.Add(-time.Hour))
	access := ports.AccessToken{Token: "fresh.access.jwt", ExpiresIn: 15 * time.Minute}
	gomock.InOrder(
		expectRotate(f, ctx, ports.RefreshTokenState{Session: s}, true, nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(user, nil),
		f.tokens.EXPECT().Issue(ports.AccessSubject{UserID: 42, SessionID: sessionID, EmailVerified: true}, now, now.Add(sessionLeft)).
			Return(access, nil),
		f.events.EXPECT().Record(ctx, refreshed("rotated")),
	)
	res, err := f.svc.Refresh(ctx, rt(0))
	wantTokens(t, res, err, user, access, rt(1), sessionLeft)
}

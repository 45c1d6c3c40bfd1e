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

// admitAll lets every Admit through with the context it was given and a
// release that does nothing, for the tests about everything after it.
// Declared after a test's own Admit expectations (newFixtureWith's adjust
// runs first), it only answers the calls those leave.
func admitAll(f *fixture) {
	f.hasher.EXPECT().Admit(gomock.Any()).DoAndReturn(func(ctx context.Context) (context.Context, func(), error) {
		return ctx, func() {}, nil
	}).AnyTimes()
}

type admittedKey struct{}

// admitOnce expects one Admit with ctx and answers with a derived context
// (so the test can see it is the one later calls get) and a release that
// counts its calls.
func admitOnce(f *fixture, ctx context.Context, released *int) context.Context {
	admitted := context.WithValue(ctx, admittedKey{}, "reservation")
	f.hasher.EXPECT().Admit(ctx).Return(admitted, func() { *released++ }, nil)
	return admitted
}

var errOverloaded = func() error {
	e := domain.Unavailable(errors.New("hasher overloaded"))
	e.RetryAfter = 3 * time.Second
	return e
}()

// An overloaded hasher refuses a registration before anything else: no
// policy check (the invalid email and short password are not reported),
// no breach check, no storage. The mocks fail any other call.
func TestRegisterRefusedByAdmissionFirst(t *testing.T) {
	ctx := testCtx(t)
	f := newFixtureWith(t, Config{}, func(f *fixture) {
		f.withBreaches = true
		f.hasher.EXPECT().Admit(ctx).Return(ctx, func() { t.Error("release called after a refusal") }, errOverloaded)
	})
	_, err := f.svc.Register(ctx, "not an email", "short")
	if !errors.Is(err, errOverloaded) {
		t.Fatalf("Register = %v, want the hasher's refusal", err)
	}
	if got := domain.ErrorRetryAfter(err); got != 3*time.Second {
		t.Errorf("RetryAfter = %v, want the hasher's 3s", got)
	}
}

// An overloaded hasher refuses a login before the account is looked up
// or any limit counted (limits are on: a call to the store would fail).
func TestLoginRefusedByAdmissionFirst(t *testing.T) {
	ctx := testCtx(t)
	cfg := Config{Limits: Limits{Enabled: true, IPRequests: 10, IPWindow: time.Minute, AccountFailures: 10, AccountWindow: time.Minute}}
	f := newFixtureWith(t, cfg, func(f *fixture) {
		f.hasher.EXPECT().Admit(ctx).Return(ctx, func() { t.Error("release called after a refusal") }, errOverloaded)
	})
	_, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "correct horse battery staple"})
	if !errors.Is(err, errOverloaded) {
		t.Fatalf("Login = %v, want the hasher's refusal", err)
	}
}

// An admitted registration hashes, and stores, with the context carrying
// the reservation, and gives the reservation back once it ends, whether
// it hashed or failed the policy first.
func TestRegisterUsesAndReleasesItsReservation(t *testing.T) {
	ctx := testCtx(t)
	var released int
	var admitted context.Context
	f := newFixtureWith(t, Config{}, func(f *fixture) { admitted = admitOnce(f, ctx, &released) })
	stored := domain.RehydrateUser(42, "alice@example.com", "hash", true, now)
	f.hasher.EXPECT().Hash(admitted, "correct horse battery staple").Return("hash", nil)
	f.clock.EXPECT().Now().Return(now)
	f.users.EXPECT().Create(admitted, gomock.Any()).Return(stored, nil)
	f.events.EXPECT().Record(admitted, ports.SecurityEvent{Name: "user.registered", UserID: 42, Email: "alice@example.com"})
	if _, err := f.svc.Register(ctx, "alice@example.com", "correct horse battery staple"); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if released != 1 {
		t.Errorf("release called %d times, want once", released)
	}

	released = 0
	f2 := newFixtureWith(t, Config{}, func(f *fixture) { admitOnce(f, ctx, &released) })
	if _, err := f2.svc.Register(ctx, "alice@example.com", "short"); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("Register with a short password = %v, want EINVALID", err)
	}
	if released != 1 {
		t.Errorf("release called %d times after a refused password, want once", released)
	}
}

// An admitted login compares with the context carrying the reservation
// and gives it back when it ends.
func TestLoginUsesAndReleasesItsReservation(t *testing.T) {
	ctx := testCtx(t)
	var released int
	var admitted context.Context
	f := newFixtureWith(t, Config{}, func(f *fixture) { admitted = admitOnce(f, ctx, &released) })
	f.users.EXPECT().ByEmail(admitted, mustEmail(t, "nobody@example.com")).Return(nil, domain.ErrUserNotFound)
	f.hasher.EXPECT().Compare(admitted, dummyHash, "wrong password").Return(false, nil)
	f.events.EXPECT().Record(admitted, gomock.Any())
	if _, err := f.svc.Login(ctx, Credentials{Email: "nobody@example.com", Password: "wrong password"}); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("Login = %v, want invalid credentials", err)
	}
	if released != 1 {
		t.Errorf("release called %d times, want once", released)
	}
}

// The scenario tests' hashers admit everything: their subject is what
// happens after admission.
func (h *countingHasher) Admit(ctx context.Context) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

func (h *busyHasher) Admit(ctx context.Context) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

func (h *fakeHasher) Admit(ctx context.Context) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

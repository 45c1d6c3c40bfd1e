package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The UserRepository cases for email verification and change.

// userEmailCases are added to TestUserRepository.
var userEmailCases = []struct {
	name string
	run  func(t *testing.T, repo ports.UserRepository)
}{
	{"SetEmailVerified", testSetEmailVerified},
	{"SetEmailVerifiedNotFound", testSetEmailVerifiedNotFound},
	{"ChangeEmail", testChangeEmail},
	{"ChangeEmailTaken", testChangeEmailTaken},
	{"ChangeEmailNotFound", testChangeEmailNotFound},
}

// verifiedAt has non-zero microseconds and another zone than UTC.
var verifiedAt = time.Date(2026, 2, 3, 4, 5, 6, 654321000, time.FixedZone("plus-five", 5*3600))

// assertVerified checks every reader of user id: not verified when want
// is zero, verified at want (to the microsecond, in UTC) otherwise.
func assertVerified(t *testing.T, repo ports.UserRepository, op string, id int64, want time.Time) *domain.User {
	t.Helper()
	ctx := context.Background()
	u, err := repo.ByID(ctx, id)
	if err != nil {
		t.Fatalf("%s: ByID: %v", op, err)
	}
	byEmail, err := repo.ByEmail(ctx, u.Email())
	if err != nil {
		t.Fatalf("%s: ByEmail: %v", op, err)
	}
	listed, err := repo.List(ctx, ports.UserQuery{EmailPrefix: u.Email().String(), Limit: 10})
	if err != nil || len(listed) != 1 {
		t.Fatalf("%s: List: %d users, %v", op, len(listed), err)
	}
	for name, got := range map[string]*domain.User{"ByID": u, "ByEmail": byEmail, "List": listed[0]} {
		if got.EmailVerified() != !want.IsZero() || !got.EmailVerifiedAt().Equal(want) {
			t.Errorf("%s: %s: verified %v at %s, want at %s", op, name, got.EmailVerified(),
				got.EmailVerifiedAt().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
		}
		if !want.IsZero() && got.EmailVerifiedAt().Location() != time.UTC {
			t.Errorf("%s: %s: EmailVerifiedAt location %v, want UTC", op, name, got.EmailVerifiedAt().Location())
		}
	}
	return u
}

func testSetEmailVerified(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "verify"), testHash, createdAt))
	if u.EmailVerified() {
		t.Error("Create: the new user is verified")
	}
	assertVerified(t, repo, "after Create", u.ID(), time.Time{})
	if err := repo.SetEmailVerified(ctx, u.ID(), verifiedAt); err != nil {
		t.Fatalf("SetEmailVerified: %v", err)
	}
	got := assertVerified(t, repo, "after SetEmailVerified", u.ID(), verifiedAt)
	assertUser(t, "after SetEmailVerified", got, u.ID(), u)
	later := verifiedAt.Add(time.Hour)
	if err := repo.SetEmailVerified(ctx, u.ID(), later); err != nil {
		t.Fatalf("SetEmailVerified again: %v", err)
	}
	assertVerified(t, repo, "after a second SetEmailVerified", u.ID(), later)
}

func testSetEmailVerifiedNotFound(t *testing.T, repo ports.UserRepository) {
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "verify-gone"), testHash, createdAt))
	if err := repo.Delete(context.Background(), u.ID()); err != nil {
		t.Fatal(err)
	}
	assertCode(t, "SetEmailVerified of a deleted user", repo.SetEmailVerified(context.Background(), u.ID(), verifiedAt), domain.ENOTFOUND)
}

func testChangeEmail(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "change-old"), testHash, createdAt))
	if err := repo.SetEmailVerified(ctx, u.ID(), verifiedAt); err != nil {
		t.Fatal(err)
	}
	// Changed and verified in one step (a confirmed change).
	next := uniqueEmail(t, "change-new")
	if err := repo.ChangeEmail(ctx, u.ID(), next, verifiedAt.Add(time.Minute)); err != nil {
		t.Fatalf("ChangeEmail: %v", err)
	}
	got := assertVerified(t, repo, "after ChangeEmail", u.ID(), verifiedAt.Add(time.Minute))
	if got.Email() != next {
		t.Errorf("after ChangeEmail: email %q, want %q", got.Email(), next)
	}
	if got.PasswordHash() != u.PasswordHash() || !got.IsActive() || !got.CreatedAt().Equal(u.CreatedAt()) {
		t.Errorf("after ChangeEmail: other fields changed: %+v", got)
	}
	_, err := repo.ByEmail(ctx, u.Email())
	assertCode(t, "ByEmail(old email)", err, domain.ENOTFOUND)
	// The old email is free again.
	other := mustCreate(t, repo, newUser(t, u.Email(), testHash, createdAt))
	if other.ID() == u.ID() {
		t.Fatal("the old email's new user has the changed user's ID")
	}
	// Changed without verification (an administrator's change).
	third := uniqueEmail(t, "change-unverified")
	if err := repo.ChangeEmail(ctx, u.ID(), third, time.Time{}); err != nil {
		t.Fatalf("ChangeEmail unverified: %v", err)
	}
	assertVerified(t, repo, "after an unverified ChangeEmail", u.ID(), time.Time{})
}

func testChangeEmailTaken(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	a := mustCreate(t, repo, newUser(t, uniqueEmail(t, "taken-a"), testHash, createdAt))
	b := mustCreate(t, repo, newUser(t, uniqueEmail(t, "taken-b"), testHash, createdAt))
	assertEmailTaken(t, "ChangeEmail to another user's email", repo.ChangeEmail(ctx, a.ID(), b.Email(), verifiedAt))
	got := assertVerified(t, repo, "after the refused ChangeEmail", a.ID(), time.Time{})
	if got.Email() != a.Email() {
		t.Errorf("after the refused ChangeEmail: email %q, want %q", got.Email(), a.Email())
	}
	// Its own email is not another user's.
	if err := repo.ChangeEmail(ctx, a.ID(), a.Email(), verifiedAt); err != nil {
		t.Errorf("ChangeEmail to its own email: %v", err)
	}
}

func testChangeEmailNotFound(t *testing.T, repo ports.UserRepository) {
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "change-gone"), testHash, createdAt))
	if err := repo.Delete(context.Background(), u.ID()); err != nil {
		t.Fatal(err)
	}
	err := repo.ChangeEmail(context.Background(), u.ID(), uniqueEmail(t, "change-gone-new"), time.Time{})
	assertCode(t, "ChangeEmail of a deleted user", err, domain.ENOTFOUND)
}

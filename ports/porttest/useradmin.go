package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The UserRepository cases for account administration: List, SetActive and
// Delete. Each works on users whose emails share a random prefix, so it can
// filter its own users out of a shared database.

// userAdminCases are added to TestUserRepository.
var userAdminCases = []struct {
	name string
	run  func(t *testing.T, repo ports.UserRepository)
}{
	{"ListPages", testListPages},
	{"ListAfterIDWithoutPrefix", testListAfterIDWithoutPrefix},
	{"ListPrefixCaseInsensitive", testListPrefixCase},
	{"ListPrefixWildcardsLiteral", testListPrefixWildcards},
	{"ListNoMatch", testListNoMatch},
	{"ListInvalidQuery", testListInvalid},
	{"SetActive", testSetActive},
	{"SetActiveNotFound", testSetActiveNotFound},
	{"Delete", testDelete},
	{"DeleteNotFound", testDeleteNotFound},
	{"DeleteRace", testDeleteRace},
	{"AdminDoneContext", testUserAdminDoneContext},
}

// listTag returns a random, lower-case local-part prefix for one case.
func listTag(t *testing.T) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return "list" + hex.EncodeToString(b[:])
}

// createTagged stores a user whose email is tag+rest@porttest.example.com.
func createTagged(t *testing.T, repo ports.UserRepository, tag, rest string) *domain.User {
	t.Helper()
	e, err := domain.ParseEmail(tag + rest + "@porttest.example.com")
	if err != nil {
		t.Fatalf("ParseEmail(%s%s): %v", tag, rest, err)
	}
	return mustCreate(t, repo, newUser(t, e, testHash, createdAt))
}

func list(t *testing.T, repo ports.UserRepository, q ports.UserQuery) []*domain.User {
	t.Helper()
	users, err := repo.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return users
}

func ids(users []*domain.User) []int64 {
	out := make([]int64, len(users))
	for i, u := range users {
		out[i] = u.ID()
	}
	return out
}

func wantIDs(t *testing.T, op string, got []*domain.User, want ...*domain.User) {
	t.Helper()
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Fatalf("%s: ids %v, want %v", op, ids(got), ids(want))
	}
	for i := range got {
		assertUser(t, op, got[i], want[i].ID(), want[i])
	}
}

// testListPages walks a prefix in pages of 3: every user once, in id
// order, and an empty page after the last.
func testListPages(t *testing.T, repo ports.UserRepository) {
	tag := listTag(t)
	var want []*domain.User
	for i := range 7 {
		want = append(want, createTagged(t, repo, tag, fmt.Sprintf("-%d", i)))
	}
	// One user is inactive: List returns every account.
	if err := repo.SetActive(context.Background(), want[3].ID(), false); err != nil {
		t.Fatal(err)
	}
	want[3].Deactivate()

	var got []*domain.User
	q := ports.UserQuery{EmailPrefix: tag, Limit: 3}
	for page := 0; ; page++ {
		users := list(t, repo, q)
		if len(users) > q.Limit {
			t.Fatalf("page %d: %d users, more than the limit %d", page, len(users), q.Limit)
		}
		if len(users) == 0 {
			break
		}
		if page > 3 {
			t.Fatalf("more pages than 7 users in pages of 3 can fill")
		}
		got = append(got, users...)
		q.AfterID = users[len(users)-1].ID()
	}
	wantIDs(t, "all pages", got, want...)

	// A cursor in the middle starts after it.
	wantIDs(t, "after the third", list(t, repo, ports.UserQuery{EmailPrefix: tag, AfterID: want[2].ID(), Limit: 2}), want[3], want[4])
}

// testListAfterIDWithoutPrefix: other cases add users concurrently, so it
// checks only that its own users come in order among the rest.
func testListAfterIDWithoutPrefix(t *testing.T, repo ports.UserRepository) {
	tag := listTag(t)
	var want []*domain.User
	for i := range 3 {
		want = append(want, createTagged(t, repo, tag, fmt.Sprintf("-%d", i)))
	}
	got := list(t, repo, ports.UserQuery{AfterID: want[0].ID() - 1, Limit: ports.MaxUserQueryLimit})
	var mine []*domain.User
	for i, u := range got {
		if u.ID() < want[0].ID() {
			t.Errorf("user %d at or before the cursor %d", u.ID(), want[0].ID()-1)
		}
		if i > 0 && u.ID() <= got[i-1].ID() {
			t.Errorf("ids not strictly ascending: %d after %d", u.ID(), got[i-1].ID())
		}
		if strings.HasPrefix(u.Email().String(), tag) {
			mine = append(mine, u)
		}
	}
	if len(got) < ports.MaxUserQueryLimit {
		wantIDs(t, "own users without a prefix", mine, want...)
	}
	if one := list(t, repo, ports.UserQuery{AfterID: want[0].ID() - 1, Limit: 1}); len(one) != 1 || one[0].ID() != want[0].ID() {
		t.Errorf("Limit 1 after %d: ids %v, want [%d]", want[0].ID()-1, ids(one), want[0].ID())
	}
}

func testListPrefixCase(t *testing.T, repo ports.UserRepository) {
	tag := listTag(t)
	a := createTagged(t, repo, tag, "-a")
	b := createTagged(t, repo, tag, "-b")
	for _, prefix := range []string{tag, strings.ToUpper(tag), strings.ToUpper(tag[:4]) + tag[4:] + "-"} {
		wantIDs(t, "prefix "+prefix, list(t, repo, ports.UserQuery{EmailPrefix: prefix, Limit: 10}), a, b)
	}
	wantIDs(t, "upper-case prefix of one", list(t, repo, ports.UserQuery{EmailPrefix: strings.ToUpper(tag + "-B"), Limit: 10}), b)
	// The whole address, as the user typed it in any case.
	wantIDs(t, "whole address", list(t, repo, ports.UserQuery{EmailPrefix: strings.ToUpper(a.Email().String()), Limit: 10}), a)
}

// testListPrefixWildcards: % and _ in the prefix match only themselves.
func testListPrefixWildcards(t *testing.T, repo ports.UserRepository) {
	tag := listTag(t)
	percent := createTagged(t, repo, tag, "%x")
	underscore := createTagged(t, repo, tag, "_x")
	plain := createTagged(t, repo, tag, "ax")
	other := createTagged(t, repo, tag, "zz")
	wantIDs(t, "prefix ending in %", list(t, repo, ports.UserQuery{EmailPrefix: tag + "%", Limit: 10}), percent)
	wantIDs(t, "prefix ending in _", list(t, repo, ports.UserQuery{EmailPrefix: tag + "_", Limit: 10}), underscore)
	wantIDs(t, "prefix with _ inside", list(t, repo, ports.UserQuery{EmailPrefix: tag + "_X", Limit: 10}), underscore)
	wantIDs(t, "the tag alone", list(t, repo, ports.UserQuery{EmailPrefix: tag, Limit: 10}), percent, underscore, plain, other)
	// A prefix up to the @: a store that bounds a range scan by the next
	// string ("...A" after "...@") must not let a case-folding collation
	// widen it to "..._x@".
	at := createTagged(t, repo, tag, "q")
	qx := createTagged(t, repo, tag, "q_x")
	wantIDs(t, "prefix ending in @", list(t, repo, ports.UserQuery{EmailPrefix: tag + "q@", Limit: 10}), at)
	wantIDs(t, "the tag alone, again", list(t, repo, ports.UserQuery{EmailPrefix: tag, Limit: 10}), percent, underscore, plain, other, at, qx)
	// A backslash cannot be in an email; as a prefix it matches nothing
	// and must not break the escaping.
	wantIDs(t, "prefix with a backslash", list(t, repo, ports.UserQuery{EmailPrefix: tag + `\`, Limit: 10}))
	wantIDs(t, "prefix with an escaped percent", list(t, repo, ports.UserQuery{EmailPrefix: tag + `\%`, Limit: 10}))
}

func testListNoMatch(t *testing.T, repo ports.UserRepository) {
	tag := listTag(t)
	createTagged(t, repo, tag, "-a")
	for _, prefix := range []string{tag + "-b", tag + "-a-longer", "\xff\xff", "zzzz" + tag} {
		users, err := repo.List(context.Background(), ports.UserQuery{EmailPrefix: prefix, Limit: 10})
		if err != nil || len(users) != 0 {
			t.Errorf("List(prefix %q): ids %v, %v; want none, nil", prefix, ids(users), err)
		}
	}
}

func testListInvalid(t *testing.T, repo ports.UserRepository) {
	for _, q := range []ports.UserQuery{
		{Limit: 0},
		{Limit: -1},
		{Limit: ports.MaxUserQueryLimit + 1},
		{AfterID: -1, Limit: 10},
	} {
		users, err := repo.List(context.Background(), q)
		assertCode(t, fmt.Sprintf("List(%+v)", q), err, domain.EINVALID)
		if users != nil {
			t.Errorf("List(%+v) returned users with its error", q)
		}
	}
}

func testSetActive(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "setactive"), testHash, createdAt))
	other := mustCreate(t, repo, newUser(t, uniqueEmail(t, "setactive-other"), testHash, createdAt))
	for _, step := range []bool{false, false, true, true, false} {
		if err := repo.SetActive(ctx, u.ID(), step); err != nil {
			t.Fatalf("SetActive(%v): %v", step, err)
		}
		for name, read := range readers(repo, u) {
			got, err := read(ctx)
			if err != nil {
				t.Fatalf("%s after SetActive(%v): %v", name, step, err)
			}
			if got.IsActive() != step {
				t.Errorf("%s after SetActive(%v): IsActive %v", name, step, got.IsActive())
			}
			if got.PasswordHash() != u.PasswordHash() || got.Email() != u.Email() {
				t.Errorf("%s after SetActive(%v): other fields changed", name, step)
			}
		}
	}
	if got, err := repo.ByID(ctx, other.ID()); err != nil || !got.IsActive() {
		t.Errorf("another user after SetActive: %v, %v; want active", got, err)
	}
}

func testSetActiveNotFound(t *testing.T, repo ports.UserRepository) {
	for _, active := range []bool{true, false} {
		assertCode(t, fmt.Sprintf("SetActive(missing, %v)", active), repo.SetActive(context.Background(), 1<<63-1, active), domain.ENOTFOUND)
	}
}

func testDelete(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "delete"), testHash, createdAt))
	other := mustCreate(t, repo, newUser(t, uniqueEmail(t, "delete-other"), testHash, createdAt))
	if err := repo.Delete(ctx, u.ID()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for name, read := range readers(repo, u) {
		got, err := read(ctx)
		assertCode(t, name+" after Delete", err, domain.ENOTFOUND)
		if got != nil {
			t.Errorf("%s after Delete returned a user", name)
		}
	}
	assertCode(t, "second Delete", repo.Delete(ctx, u.ID()), domain.ENOTFOUND)
	assertCode(t, "SetActive after Delete", repo.SetActive(ctx, u.ID(), true), domain.ENOTFOUND)
	if _, err := repo.ByID(ctx, other.ID()); err != nil {
		t.Errorf("another user after Delete: %v", err)
	}

	// The email is free again, for a new account with a new id.
	again := mustCreate(t, repo, newUser(t, u.Email(), testHash, createdAt))
	if again.ID() == u.ID() {
		t.Errorf("re-registered user got the deleted user's id %d", u.ID())
	}
	got, err := repo.ByEmail(ctx, u.Email())
	if err != nil {
		t.Fatalf("ByEmail after re-registering: %v", err)
	}
	assertUser(t, "ByEmail after re-registering", got, again.ID(), again)
}

func testDeleteNotFound(t *testing.T, repo ports.UserRepository) {
	assertCode(t, "Delete(missing)", repo.Delete(context.Background(), 1<<63-1), domain.ENOTFOUND)
}

// testDeleteRace: of many concurrent deletions of one user exactly one
// succeeds; the rest find nothing.
func testDeleteRace(t *testing.T, repo ports.UserRepository) {
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "delete-race"), testHash, createdAt))
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		errs[i] = repo.Delete(context.Background(), u.ID())
	})
	deleted := 0
	for i, err := range errs {
		switch domain.ErrorCode(err) {
		case "":
			deleted++
		case domain.ENOTFOUND:
		default:
			t.Errorf("goroutine %d: Delete: %v, want nil or ENOTFOUND", i, err)
		}
	}
	if deleted != 1 {
		t.Errorf("%d of %d concurrent Deletes succeeded, want exactly 1", deleted, concurrency)
	}
}

func testUserAdminDoneContext(t *testing.T, repo ports.UserRepository) {
	u := mustCreate(t, repo, newUser(t, uniqueEmail(t, "admin-done"), testHash, createdAt))
	for kind, newCtx := range doneContexts(t) {
		users, err := repo.List(newCtx(), ports.UserQuery{EmailPrefix: u.Email().String(), Limit: 10})
		assertCode(t, kind+": List", err, domain.EUNAVAILABLE)
		if users != nil {
			t.Errorf("%s: List returned users with its error", kind)
		}
		assertCode(t, kind+": SetActive", repo.SetActive(newCtx(), u.ID(), false), domain.EUNAVAILABLE)
		assertCode(t, kind+": Delete", repo.Delete(newCtx(), u.ID()), domain.EUNAVAILABLE)
	}
	got, err := repo.ByID(context.Background(), u.ID())
	if err != nil {
		t.Fatalf("ByID after refused calls: %v", err)
	}
	assertUser(t, "after refused calls", got, u.ID(), u)
}

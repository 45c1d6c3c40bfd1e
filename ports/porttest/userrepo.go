// Package porttest holds contract suites that every implementation of a
// port must pass, in the manner of net/http/httptest: an adapter's own test
// calls the suite with a constructor for its implementation.
//
// The suites import only the standard library, domain and ports, so the
// same cases run unchanged against SQLite, PostgreSQL or an in-memory fake.
package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// concurrency is how many goroutines the race cases start at once.
const concurrency = 20

// atOnce calls call(i) for every i below concurrency, each on its own
// goroutine, all released together so the calls overlap, and returns when
// every call has. call must not stop the test (no t.Fatal).
func atOnce(call func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			<-start
			call(i)
		})
	}
	close(start)
	wg.Wait()
}

// TestUserRepository runs the ports.UserRepository contract as parallel
// subtests of t.
//
// newRepo is called once per subtest, with that subtest's t, and may be
// called from several goroutines at once. It may return a fresh repository
// each time or the same one over a shared database: every case writes only
// users with unique random emails and never assumes the store is empty, so
// leftovers from earlier runs or other packages do no harm. Register any
// teardown with t.Cleanup.
func TestUserRepository(t *testing.T, newRepo func(t *testing.T) ports.UserRepository) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, repo ports.UserRepository)
	}{
		{"CreateThenReadBack", testCreateThenReadBack},
		{"CreatedAtNonUTCInput", testCreatedAtNonUTC},
		{"IDsPositiveAndDistinct", testIDsDistinct},
		{"DuplicateEmail", testDuplicateEmail},
		{"DuplicateEmailDifferentCase", testDuplicateEmailCase},
		{"ByEmailAfterNormalization", testByEmailNormalized},
		{"NotFoundByID", testNotFoundByID},
		{"NotFoundByEmail", testNotFoundByEmail},
		{"ConcurrentSameEmail", testConcurrentSameEmail},
		{"ConcurrentDistinctEmails", testConcurrentDistinctEmails},
		{"DoneContext", testDoneContext},
		{"InactiveUser", testInactiveUser},
		{"PasswordHashVerbatim", testPasswordHashVerbatim},
		{"UpdatePasswordHash", testUpdatePasswordHash},
		{"UpdatePasswordHashNotFound", testUpdatePasswordHashNotFound},
	}
	cases = append(cases, userAdminCases...)
	cases = append(cases, userEmailCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newRepo(t))
		})
	}
}

// createdAt has non-zero microseconds, so a store that drops sub-second
// precision fails.
var createdAt = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// testHash is shaped like a bcrypt hash: '$', '.' and '/' included.
const testHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

func testCreateThenReadBack(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	want := newUser(t, uniqueEmail(t, "read"), testHash, createdAt)

	created := mustCreate(t, repo, want)
	if created.ID() <= 0 {
		t.Fatalf("Create: ID = %d, want > 0", created.ID())
	}
	assertUser(t, "Create", created, created.ID(), want)

	byID, err := repo.ByID(ctx, created.ID())
	if err != nil {
		t.Fatalf("ByID(%d): %v", created.ID(), err)
	}
	assertUser(t, "ByID", byID, created.ID(), want)

	byEmail, err := repo.ByEmail(ctx, want.Email())
	if err != nil {
		t.Fatalf("ByEmail(%s): %v", want.Email(), err)
	}
	assertUser(t, "ByEmail", byEmail, created.ID(), want)
}

func testCreatedAtNonUTC(t *testing.T, repo ports.UserRepository) {
	// 03:04:05.123456 at UTC+05:30 is 21:34:05.123456 UTC the day before.
	india := time.FixedZone("UTC+05:30", 5*3600+30*60)
	local := time.Date(2026, 1, 2, 3, 4, 5, 123456000, india)
	wantUTC := time.Date(2026, 1, 1, 21, 34, 5, 123456000, time.UTC)
	if !local.Equal(wantUTC) {
		t.Fatalf("test setup: %v is not %v", local, wantUTC)
	}
	u := newUser(t, uniqueEmail(t, "zone"), testHash, local)
	created := mustCreate(t, repo, u)

	for name, get := range readers(repo, created) {
		got, err := get(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertCreatedAt(t, name, got.CreatedAt(), wantUTC)
	}
}

func testIDsDistinct(t *testing.T, repo ports.UserRepository) {
	seen := map[int64]string{}
	for i := range 5 {
		u := mustCreate(t, repo, newUser(t, uniqueEmail(t, fmt.Sprintf("ids%d", i)), testHash, createdAt))
		if u.ID() <= 0 {
			t.Errorf("Create(%s): ID = %d, want > 0", u.Email(), u.ID())
		}
		if other, dup := seen[u.ID()]; dup {
			t.Errorf("Create(%s): ID %d already given to %s", u.Email(), u.ID(), other)
		}
		seen[u.ID()] = u.Email().String()
	}
}

func testDuplicateEmail(t *testing.T, repo ports.UserRepository) {
	email := uniqueEmail(t, "dup")
	first := mustCreate(t, repo, newUser(t, email, testHash, createdAt))

	_, err := repo.Create(context.Background(), newUser(t, email, "$2a$10$other", createdAt.Add(time.Hour)))
	assertEmailTaken(t, "second Create", err)

	// The first registration is untouched.
	got, err := repo.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("ByEmail after conflict: %v", err)
	}
	assertUser(t, "ByEmail after conflict", got, first.ID(), first)
}

func testDuplicateEmailCase(t *testing.T, repo ports.UserRepository) {
	lower := uniqueEmail(t, "case")
	mustCreate(t, repo, newUser(t, lower, testHash, createdAt))

	upper, err := domain.ParseEmail("  " + strings.ToUpper(lower.String()) + " ")
	if err != nil {
		t.Fatalf("ParseEmail: %v", err)
	}
	if upper != lower {
		t.Fatalf("test setup: ParseEmail of the upper-case form gave %q, want %q", upper, lower)
	}
	_, err = repo.Create(context.Background(), newUser(t, upper, testHash, createdAt))
	assertEmailTaken(t, "Create with upper-cased email", err)
}

func testByEmailNormalized(t *testing.T, repo ports.UserRepository) {
	email := uniqueEmail(t, "norm")
	created := mustCreate(t, repo, newUser(t, email, testHash, createdAt))

	typed, err := domain.ParseEmail(strings.ToUpper(email.String()))
	if err != nil {
		t.Fatalf("ParseEmail: %v", err)
	}
	got, err := repo.ByEmail(context.Background(), typed)
	if err != nil {
		t.Fatalf("ByEmail(%s): %v", typed, err)
	}
	assertUser(t, "ByEmail", got, created.ID(), created)
}

func testNotFoundByID(t *testing.T, repo ports.UserRepository) {
	for _, id := range []int64{1<<63 - 1, 0, -1} {
		u, err := repo.ByID(context.Background(), id)
		assertCode(t, fmt.Sprintf("ByID(%d)", id), err, domain.ENOTFOUND)
		if u != nil {
			t.Errorf("ByID(%d) returned a user with its error: %+v", id, u)
		}
	}
}

func testNotFoundByEmail(t *testing.T, repo ports.UserRepository) {
	email := uniqueEmail(t, "absent")
	u, err := repo.ByEmail(context.Background(), email)
	assertCode(t, "ByEmail", err, domain.ENOTFOUND)
	if u != nil {
		t.Errorf("ByEmail returned a user with its error: %+v", u)
	}
}

func testConcurrentSameEmail(t *testing.T, repo ports.UserRepository) {
	email := uniqueEmail(t, "race")
	results := make([]struct {
		u   *domain.User
		err error
	}, concurrency)

	users := make([]*domain.User, concurrency)
	for i := range users {
		users[i] = newUser(t, email, fmt.Sprintf("$2a$10$hash%02d", i), createdAt)
	}
	atOnce(func(i int) {
		results[i].u, results[i].err = repo.Create(context.Background(), users[i])
	})

	var winner *domain.User
	for i, r := range results {
		switch code := domain.ErrorCode(r.err); code {
		case "":
			if winner != nil {
				t.Errorf("goroutine %d: second successful Create for %s (IDs %d and %d)", i, email, winner.ID(), r.u.ID())
			}
			winner = r.u
		case domain.ECONFLICT:
			assertEmailTaken(t, fmt.Sprintf("goroutine %d", i), r.err)
		default:
			t.Errorf("goroutine %d: Create error code %q, want %q or success: %v", i, code, domain.ECONFLICT, r.err)
		}
	}
	if winner == nil {
		t.Fatalf("no Create of %s succeeded among %d", email, concurrency)
	}
	got, err := repo.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("ByEmail after race: %v", err)
	}
	assertUser(t, "ByEmail after race", got, winner.ID(), winner)
}

func testConcurrentDistinctEmails(t *testing.T, repo ports.UserRepository) {
	users := make([]*domain.User, concurrency)
	for i := range users {
		users[i] = newUser(t, uniqueEmail(t, fmt.Sprintf("par%02d", i)), testHash, createdAt)
	}
	created := make([]*domain.User, concurrency)
	errs := make([]error, concurrency)

	atOnce(func(i int) {
		created[i], errs[i] = repo.Create(context.Background(), users[i])
	})

	ids := map[int64]int{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: Create(%s): %v", i, users[i].Email(), err)
			continue
		}
		if other, dup := ids[created[i].ID()]; dup {
			t.Errorf("goroutines %d and %d both got ID %d", other, i, created[i].ID())
		}
		ids[created[i].ID()] = i
		got, err := repo.ByID(context.Background(), created[i].ID())
		if err != nil {
			t.Errorf("ByID(%d): %v", created[i].ID(), err)
			continue
		}
		assertUser(t, "ByID", got, created[i].ID(), users[i])
	}
}

func testDoneContext(t *testing.T, repo ports.UserRepository) {
	// A user that exists, so ByID and ByEmail could succeed but for the
	// context.
	stored := mustCreate(t, repo, newUser(t, uniqueEmail(t, "ctx"), testHash, createdAt))

	contexts := doneContexts(t)
	for kind, newCtx := range contexts {
		fresh := newUser(t, uniqueEmail(t, "ctxnew"), testHash, createdAt)
		u, err := repo.Create(newCtx(), fresh)
		assertCode(t, kind+": Create", err, domain.EUNAVAILABLE)
		if u != nil {
			t.Errorf("%s: Create returned a user with its error", kind)
		}
		// A call refused for its context must not have written anything.
		if _, err := repo.ByEmail(context.Background(), fresh.Email()); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Errorf("%s: after a refused Create, ByEmail(%s) = %v, want code %q", kind, fresh.Email(), err, domain.ENOTFOUND)
		}

		u, err = repo.ByID(newCtx(), stored.ID())
		assertCode(t, kind+": ByID", err, domain.EUNAVAILABLE)
		if u != nil {
			t.Errorf("%s: ByID returned a user with its error", kind)
		}

		u, err = repo.ByEmail(newCtx(), stored.Email())
		assertCode(t, kind+": ByEmail", err, domain.EUNAVAILABLE)
		if u != nil {
			t.Errorf("%s: ByEmail returned a user with its error", kind)
		}

		err = repo.UpdatePasswordHash(newCtx(), stored.ID(), "$2a$12$refused-for-its-context")
		assertCode(t, kind+": UpdatePasswordHash", err, domain.EUNAVAILABLE)
		// ...and must not have written anything.
		if got, err := repo.ByID(context.Background(), stored.ID()); err != nil {
			t.Errorf("%s: ByID after a refused UpdatePasswordHash: %v", kind, err)
		} else if got.PasswordHash() != testHash {
			t.Errorf("%s: a refused UpdatePasswordHash stored %q", kind, got.PasswordHash())
		}
	}
}

func testInactiveUser(t *testing.T, repo ports.UserRepository) {
	u := newUser(t, uniqueEmail(t, "inactive"), testHash, createdAt)
	u.Deactivate()
	created := mustCreate(t, repo, u)
	if created.IsActive() {
		t.Errorf("Create returned an active user for an inactive one")
	}
	for name, get := range readers(repo, created) {
		got, err := get(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertUser(t, name, got, created.ID(), u)
	}
}

func testPasswordHashVerbatim(t *testing.T, repo ports.UserRepository) {
	hashes := map[string]string{
		"bcrypt":   testHash,
		"bcrypt2b": "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		"argon2id": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		// Characters that break naive quoting or escaping, and non-ASCII.
		"awkward": `'; DROP TABLE users; -- "\ % _ ? $1 :name ` + "\t\r\n é ☃ 𝄞",
		"spaces":  "  leading and trailing  ",
		"long":    strings.Repeat("0123456789abcdef", 64),
	}
	for name, hash := range hashes {
		u := newUser(t, uniqueEmail(t, "hash-"+name), hash, createdAt)
		created := mustCreate(t, repo, u)
		for reader, get := range readers(repo, created) {
			got, err := get(context.Background())
			if err != nil {
				t.Fatalf("%s hash: %s: %v", name, reader, err)
			}
			if got.PasswordHash() != hash {
				t.Errorf("%s hash: %s: PasswordHash = %q, want %q", name, reader, got.PasswordHash(), hash)
			}
		}
	}
}

func testUpdatePasswordHash(t *testing.T, repo ports.UserRepository) {
	ctx := context.Background()
	// An inactive user, so a store that rewrites the whole row from
	// defaults would be caught reactivating it.
	target := newUser(t, uniqueEmail(t, "rehash"), testHash, createdAt)
	target.Deactivate()
	created := mustCreate(t, repo, target)
	bystander := mustCreate(t, repo, newUser(t, uniqueEmail(t, "rehash-other"), testHash, createdAt))

	for i, hash := range []string{
		"$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		// Characters that break naive quoting, and a longer encoding.
		`$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$'; -- "\ % _ ? $1 é`,
	} {
		if err := repo.UpdatePasswordHash(ctx, created.ID(), hash); err != nil {
			t.Fatalf("UpdatePasswordHash #%d: %v", i+1, err)
		}
		want := newUser(t, created.Email(), hash, createdAt)
		want.Deactivate()
		for name, get := range readers(repo, created) {
			got, err := get(ctx)
			if err != nil {
				t.Fatalf("#%d: %s: %v", i+1, name, err)
			}
			assertUser(t, fmt.Sprintf("#%d: %s after UpdatePasswordHash", i+1, name), got, created.ID(), want)
		}
	}

	// Only that user's row changed.
	got, err := repo.ByID(ctx, bystander.ID())
	if err != nil {
		t.Fatalf("ByID(bystander): %v", err)
	}
	assertUser(t, "bystander after UpdatePasswordHash", got, bystander.ID(), bystander)
}

func testUpdatePasswordHashNotFound(t *testing.T, repo ports.UserRepository) {
	for _, id := range []int64{1<<63 - 1, 0, -1} {
		err := repo.UpdatePasswordHash(context.Background(), id, testHash)
		assertCode(t, fmt.Sprintf("UpdatePasswordHash(%d)", id), err, domain.ENOTFOUND)
	}
}

// readers returns the two ways of loading u back, by name.
func readers(repo ports.UserRepository, u *domain.User) map[string]func(context.Context) (*domain.User, error) {
	return map[string]func(context.Context) (*domain.User, error){
		"ByID":    func(ctx context.Context) (*domain.User, error) { return repo.ByID(ctx, u.ID()) },
		"ByEmail": func(ctx context.Context) (*domain.User, error) { return repo.ByEmail(ctx, u.Email()) },
	}
}

// uniqueEmail returns a normalized, valid email that no other call, run or
// process will produce.
func uniqueEmail(t *testing.T, tag string) domain.Email {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	e, err := domain.ParseEmail(tag + "-" + hex.EncodeToString(b[:]) + "@porttest.example.com")
	if err != nil {
		t.Fatalf("ParseEmail: %v", err)
	}
	return e
}

func newUser(t *testing.T, email domain.Email, hash string, at time.Time) *domain.User {
	t.Helper()
	u, err := domain.NewUser(email, hash, at)
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	return u
}

func mustCreate(t *testing.T, repo ports.UserRepository, u *domain.User) *domain.User {
	t.Helper()
	created, err := repo.Create(context.Background(), u)
	if err != nil {
		t.Fatalf("Create(%s): %v", u.Email(), err)
	}
	if created == nil {
		t.Fatalf("Create(%s) returned a nil user and no error", u.Email())
	}
	return created
}

// assertUser checks that got is want stored under id.
func assertUser(t *testing.T, op string, got *domain.User, id int64, want *domain.User) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil user", op)
	}
	if got.ID() != id {
		t.Errorf("%s: ID = %d, want %d", op, got.ID(), id)
	}
	if got.Email() != want.Email() {
		t.Errorf("%s: Email = %q, want %q", op, got.Email(), want.Email())
	}
	if got.PasswordHash() != want.PasswordHash() {
		t.Errorf("%s: PasswordHash = %q, want %q", op, got.PasswordHash(), want.PasswordHash())
	}
	if got.IsActive() != want.IsActive() {
		t.Errorf("%s: IsActive = %v, want %v", op, got.IsActive(), want.IsActive())
	}
	assertCreatedAt(t, op, got.CreatedAt(), want.CreatedAt())
}

// assertCreatedAt wants the same instant, to the microsecond, in UTC.
func assertCreatedAt(t *testing.T, op string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: CreatedAt = %s, want %s", op, got.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s: CreatedAt location = %v, want UTC", op, got.Location())
	}
}

func assertCode(t *testing.T, op string, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q, want %q (error: %v)", op, got, code, err)
	}
}

// assertEmailTaken wants ECONFLICT with the client message of
// domain.ErrEmailTaken; identity with that value is not required.
func assertEmailTaken(t *testing.T, op string, err error) {
	t.Helper()
	assertCode(t, op, err, domain.ECONFLICT)
	if err != nil {
		if msg, want := domain.ErrorMessage(err), domain.ErrEmailTaken.Message; msg != want {
			t.Errorf("%s: error message %q, want %q", op, msg, want)
		}
	}
}

// doneContexts returns makers of contexts that are already over, one per
// way a context ends; every repository method must answer them with
// EUNAVAILABLE.
func doneContexts(t *testing.T) map[string]func() context.Context {
	return map[string]func() context.Context{
		"cancelled": func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		},
		"deadline exceeded": func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		},
	}
}

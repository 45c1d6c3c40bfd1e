package sqlite_test

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"

	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/porttest"
)

// The contract suite runs over one migrated file shared by all its parallel
// subtests, as a PostgreSQL run would share one server.
func TestUserRepositoryContract(t *testing.T) {
	db := repoOpenMigrated(t, repoTempPath(t))
	porttest.TestUserRepository(t, func(*testing.T) ports.UserRepository { return db.Users() })
}

// Each subtest gets its own fresh file, so nothing in the suite depends on
// sharing.
func TestUserRepositoryContractFreshFile(t *testing.T) {
	porttest.TestUserRepository(t, func(t *testing.T) ports.UserRepository {
		return repoOpenMigrated(t, repoTempPath(t)).Users()
	})
}

// The session suite needs its users in the same database, so it runs over
// one shared migrated file only.
func TestSessionRepositoryContract(t *testing.T) {
	db := repoOpenMigrated(t, repoTempPath(t))
	porttest.TestSessionRepository(t, db.Users(), func(*testing.T) ports.SessionRepository { return db.Sessions() })
}

// latestVersion is the newest embedded migration.
const latestVersion = 6

func TestMigrationsUpDownUp(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db := repoOpen(t, path)
	m := repoMigrator(t, db)
	users := db.Users()

	if err := m.Up(); err != nil {
		t.Fatalf("first Up: %v", err)
	}
	repoWantVersion(t, m, latestVersion)
	if err := m.Up(); !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("Up when already up: %v, want ErrNoChange", err)
	}
	before := repoCreate(t, users, "updown@example.com")
	if _, err := users.ByID(ctx, before.ID()); err != nil {
		t.Fatalf("ByID after Up: %v", err)
	}

	if err := m.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, _, err := m.Version(); !errors.Is(err, migrate.ErrNilVersion) {
		t.Fatalf("Version after Down: %v, want ErrNilVersion", err)
	}
	raw := repoRawDB(t, path)
	for _, table := range []string{"users", "sessions", "refresh_tokens", "email_tokens", "mail_outbox", "session_cache_epoch"} {
		if n := repoCount(t, raw, `SELECT count(*) FROM sqlite_master WHERE tbl_name = '`+table+`'`); n != 0 {
			t.Errorf("after Down, sqlite_master still has %d objects for table %s", n, table)
		}
	}
	_, err := users.ByID(ctx, before.ID())
	repoWantCode(t, "ByID after Down", err, domain.EUNAVAILABLE)

	if err := m.Up(); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	repoWantVersion(t, m, latestVersion)
	// Down dropped the table: the data is gone, and the email is free again.
	_, err = users.ByEmail(ctx, before.Email())
	repoWantCode(t, "ByEmail after Down and Up", err, domain.ENOTFOUND)
	_, err = users.ByID(ctx, before.ID())
	repoWantCode(t, "ByID after Down and Up", err, domain.ENOTFOUND)
	after := repoCreate(t, users, "updown@example.com")
	got, err := users.ByID(ctx, after.ID())
	if err != nil {
		t.Fatalf("ByID after re-create: %v", err)
	}
	if got.Email() != before.Email() {
		t.Errorf("ByID after re-create: email %q, want %q", got.Email(), before.Email())
	}

	// The migrated schema survives closing and reopening the file.
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db2 := repoOpen(t, path)
	if _, err := db2.Users().ByID(ctx, after.ID()); err != nil {
		t.Errorf("ByID after reopen: %v", err)
	}
	repoWantVersion(t, repoMigrator(t, db2), latestVersion)
}

func TestUnmigratedDatabase(t *testing.T) {
	ctx := context.Background()
	users := repoOpen(t, repoTempPath(t)).Users()
	email := repoEmail(t, "nomigrate@example.com")
	u, err := domain.NewUser(email, "$2a$10$hash", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}

	got, err := users.Create(ctx, u)
	repoWantCode(t, "Create", err, domain.EUNAVAILABLE)
	if got != nil {
		t.Errorf("Create returned a user with its error")
	}
	_, err = users.ByID(ctx, 1)
	repoWantCode(t, "ByID", err, domain.EUNAVAILABLE)
	_, err = users.ByEmail(ctx, email)
	repoWantCode(t, "ByEmail", err, domain.EUNAVAILABLE)
}

func TestSchemaUniqueEmailIndex(t *testing.T) {
	path := repoTempPath(t)
	repoOpenMigrated(t, path)
	raw := repoRawDB(t, path)

	type column struct {
		index, name, collation string
		unique                 bool
	}
	rows, err := raw.Query(`
		SELECT il.name, il."unique", ix.name, ix.coll
		FROM sqlite_master AS m
		JOIN pragma_index_list(m.tbl_name) AS il ON il.name = m.name
		JOIN pragma_index_xinfo(il.name) AS ix ON ix.key = 1
		WHERE m.type = 'index' AND m.tbl_name = 'users'`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.index, &c.unique, &c.name, &c.collation); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	want := column{index: "users_email_key", name: "email", collation: "NOCASE", unique: true}
	if len(cols) != 1 || cols[0] != want {
		t.Fatalf("indexes on users (from sqlite_master) = %+v, want exactly %+v", cols, want)
	}

	// The index, not only the adapter's normalization, refuses a second
	// spelling of an address: a writer that forgets to lower-case is caught.
	insert := `INSERT INTO users (email, password_hash, is_active, created_at) VALUES (?, 'h', 1, '2026-01-02T03:04:05.000000Z')`
	if _, err := raw.Exec(insert, "mixed@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(insert, "MiXeD@Example.COM")
	if err == nil || !strings.Contains(err.Error(), "UNIQUE constraint failed: users.email") {
		t.Fatalf("inserting an upper-case duplicate: %v, want a UNIQUE constraint failure on users.email", err)
	}
}

func TestPingAndClose(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping on an open database: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	repoWantCode(t, "Ping with a cancelled context", db.Ping(cancelled), domain.EUNAVAILABLE)

	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	repoWantCode(t, "Ping after Close", db.Ping(ctx), domain.EUNAVAILABLE)
	_, err = db.Users().ByID(ctx, 1)
	repoWantCode(t, "ByID after Close", err, domain.EUNAVAILABLE)
}

func TestOpenRejectsBadPath(t *testing.T) {
	ctx := context.Background()
	if db, err := sqlite.Open(ctx, ""); err == nil {
		db.Close()
		t.Error("Open(\"\"): no error")
	}
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "authd.db")
	if db, err := sqlite.Open(ctx, missing); err == nil {
		db.Close()
		t.Errorf("Open(%q): no error for a file in a missing directory", missing)
	}
}

// Open puts the file in WAL mode, which persists in the file, so a plain
// second connection sees it.
func TestWALJournalMode(t *testing.T) {
	path := repoTempPath(t)
	repoOpenMigrated(t, path)
	var mode string
	if err := repoRawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// busy_timeout is per connection and cannot be read from outside, so this
// checks what it does: a Create that meets another connection's write lock
// waits for it instead of failing at once with "database is locked".
func TestBusyTimeoutWaitsForWriteLock(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	users := repoOpenMigrated(t, path).Users()

	conn, err := repoRawDB(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatalf("taking the write lock: %v", err)
	}

	const hold = 300 * time.Millisecond
	type result struct {
		err     error
		elapsed time.Duration
	}
	u, err := domain.NewUser(repoEmail(t, "busy@example.com"), "$2a$10$hash", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	started := time.Now()
	go func() {
		_, err := users.Create(ctx, u)
		done <- result{err, time.Since(started)}
	}()

	select {
	case r := <-done:
		t.Fatalf("Create returned after %v while the write lock was held: %v", r.elapsed, r.err)
	case <-time.After(hold):
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatalf("releasing the write lock: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Create after the lock was released (%v): %v", r.elapsed, r.err)
	}
	if r.elapsed < hold {
		t.Errorf("Create took %v, less than the %v the lock was held", r.elapsed, hold)
	}
}

// Two handles on one file stand for two authd processes: the unique index
// and the busy timeout must hold across them, not only inside one *sql.DB.
func TestTwoHandlesSameFile(t *testing.T) {
	path := repoTempPath(t)
	handles := [2]*sqlite.DB{repoOpenMigrated(t, path), repoOpen(t, path)}
	const perHandle = 20

	t.Run("SameEmail", func(t *testing.T) {
		email := repoEmail(t, "twoproc@example.com")
		errs := repoRace(t, handles, perHandle, func(int) *domain.User {
			u, err := domain.NewUser(email, "$2a$10$hash", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return u
		})
		wins := 0
		for i, err := range errs {
			switch domain.ErrorCode(err) {
			case "":
				wins++
			case domain.ECONFLICT:
			default:
				t.Errorf("goroutine %d: %v, want success or ECONFLICT", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d Creates of one email succeeded across two handles, want exactly 1", wins)
		}
		for _, h := range handles {
			if _, err := h.Users().ByEmail(context.Background(), email); err != nil {
				t.Errorf("ByEmail through each handle: %v", err)
			}
		}
	})

	t.Run("DistinctEmails", func(t *testing.T) {
		errs := repoRace(t, handles, perHandle, func(i int) *domain.User {
			u, err := domain.NewUser(repoEmail(t, fmt.Sprintf("twoproc%02d@example.com", i)), "$2a$10$hash", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return u
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: %v", i, err)
			}
		}
	})
}

// Deleting a user deletes its sessions, and deleting a session its refresh
// tokens: the foreign keys cascade, which needs PRAGMA foreign_keys on (as
// Open sets it).
func TestSessionForeignKeysCascade(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db := repoOpenMigrated(t, path)
	sessions := db.Sessions()
	start := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

	u := repoCreate(t, db.Users(), "cascade@example.com")
	s1, h1 := repoStartSession(t, sessions, u.ID(), start)
	s2, h2 := repoStartSession(t, sessions, u.ID(), start)
	h3 := []byte("second token of session two, 32B")
	if _, rotated, err := sessions.Rotate(ctx, h2, h3, start.Add(time.Minute)); err != nil || !rotated {
		t.Fatalf("Rotate: %v, %v", rotated, err)
	}

	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.Exec(`DELETE FROM sessions WHERE id = ?`, s1.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = sessions.Token(ctx, h1)
	repoWantCode(t, "token of a deleted session", err, domain.ENOTFOUND)
	if _, err := sessions.Token(ctx, h3); err != nil {
		t.Fatalf("token of the other session: %v", err)
	}

	if _, err := raw.Exec(`DELETE FROM users WHERE id = ?`, u.ID()); err != nil {
		t.Fatal(err)
	}
	if n := repoCount(t, raw, `SELECT count(*) FROM sessions WHERE id = '`+s2.ID()+`'`); n != 0 {
		t.Errorf("sessions of a deleted user: %d rows, want 0", n)
	}
	if n := repoCount(t, raw, `SELECT count(*) FROM refresh_tokens`); n != 0 {
		t.Errorf("refresh tokens left after their user was deleted: %d, want 0", n)
	}
}

// Two handles on one file stand for two authd processes refreshing with the
// same token: exactly one rotates, and the others neither fail with
// SQLITE_BUSY (every transaction begins IMMEDIATE and waits) nor rotate.
func TestSessionRotateRaceTwoHandles(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	handles := [2]*sqlite.DB{repoOpenMigrated(t, path), repoOpen(t, path)}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := repoCreate(t, handles[0].Users(), "rotate-race@example.com")

	for round := range 5 {
		_, presented := repoStartSession(t, handles[round%2].Sessions(), u.ID(), start)
		const n = 40
		rotated := make([]bool, n)
		errs := make([]error, n)
		release := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			repo := handles[i%2].Sessions()
			successor := []byte(fmt.Sprintf("successor %02d of round %d.........", i, round))[:32]
			wg.Go(func() {
				<-release
				_, rotated[i], errs[i] = repo.Rotate(ctx, presented, successor, start.Add(time.Minute))
			})
		}
		close(release)
		wg.Wait()
		wins := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("round %d, goroutine %d: %v", round, i, errs[i])
			}
			if rotated[i] {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d of %d Rotate calls rotated, want exactly 1", round, wins, n)
		}
	}
}

func repoStartSession(t *testing.T, repo ports.SessionRepository, userID int64, now time.Time) (*domain.Session, []byte) {
	t.Helper()
	var b [16]byte
	_, _ = crand.Read(b[:])
	s, err := domain.NewSession(hex.EncodeToString(b[:]), userID, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hash := make([]byte, 32)
	_, _ = crand.Read(hash)
	if err := repo.Create(context.Background(), s, hash); err != nil {
		t.Fatalf("Create session: %v", err)
	}
	return s, hash
}

// repoRace starts perHandle goroutines on each handle, all released at
// once, each creating newUser(i), and returns their errors. Any "locked" or
// "busy" error fails the test: the busy timeout should have absorbed it.
func repoRace(t *testing.T, handles [2]*sqlite.DB, perHandle int, newUser func(i int) *domain.User) []error {
	t.Helper()
	n := len(handles) * perHandle
	users := make([]*domain.User, n)
	for i := range users {
		users[i] = newUser(i)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		repo := handles[i%len(handles)].Users()
		wg.Go(func() {
			<-start
			_, errs[i] = repo.Create(context.Background(), users[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil && (strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "SQLITE_BUSY")) {
			t.Errorf("goroutine %d: %v (the busy timeout should have waited)", i, err)
		}
	}
	return errs
}

func repoTempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "authd.db")
}

// repoOpen opens path with sqlite.Open and closes it when the test ends
// (closing twice is harmless).
func repoOpen(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func repoOpenMigrated(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db := repoOpen(t, path)
	if err := repoMigrator(t, db).Up(); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return db
}

func repoMigrator(t *testing.T, db *sqlite.DB) *migrate.Migrate {
	t.Helper()
	m, err := db.Migrator()
	if err != nil {
		t.Fatalf("Migrator: %v", err)
	}
	return m
}

func repoWantVersion(t *testing.T, m *migrate.Migrate, want uint) {
	t.Helper()
	v, dirty, err := m.Version()
	if err != nil || v != want || dirty {
		t.Fatalf("Version = %d, dirty %v, %v; want %d, clean", v, dirty, err, want)
	}
}

// repoRawDB opens path with no pragmas through the same driver, for looking
// at the file from outside the adapter.
func repoRawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func repoCount(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func repoEmail(t *testing.T, raw string) domain.Email {
	t.Helper()
	e, err := domain.ParseEmail(raw)
	if err != nil {
		t.Fatalf("ParseEmail(%q): %v", raw, err)
	}
	return e
}

func repoCreate(t *testing.T, users ports.UserRepository, email string) *domain.User {
	t.Helper()
	u, err := domain.NewUser(repoEmail(t, email), "$2a$10$hash", time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	created, err := users.Create(context.Background(), u)
	if err != nil {
		t.Fatalf("Create(%s): %v", email, err)
	}
	return created
}

func repoWantCode(t *testing.T, op string, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Errorf("%s: error code %q, want %q (error: %v)", op, got, code, err)
	}
}

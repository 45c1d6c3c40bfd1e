package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/porttest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUserRepositoryContract(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	porttest.TestUserRepository(t, func(t *testing.T) ports.UserRepository { return db.Users() })
}

func TestSessionRepositoryContract(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	porttest.TestSessionRepository(t, db.Users(), func(t *testing.T) ports.SessionRepository { return db.Sessions() })
}

// latestVersion is the newest embedded migration.
const latestVersion = 6

func TestMigrationsUpDownUp(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	ctx := context.Background()
	if v, dirty, err := db.SchemaVersion(ctx); err != nil || v != latestVersion || dirty {
		t.Fatalf("after up: %d %v %v", v, dirty, err)
	}
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Down(); err != nil {
		t.Fatal(err)
	}
	if v, _, err := db.SchemaVersion(ctx); err != nil || v != -1 {
		t.Fatalf("after down: %d %v", v, err)
	}
	_, err = db.Users().ByID(ctx, 1)
	if domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("query without schema: %v", err)
	}
	if _, _, err := db.RateLimits().Hit(ctx, "k", time.Minute, time.Now()); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("rate-limit hit without schema: %v", err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("second up: %v", err)
	}
	// Closing a migrator must leave the pool usable.
	if srcErr, dbErr := m.Close(); srcErr != nil || dbErr != nil {
		t.Fatal(srcErr, dbErr)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("pool after migrator close: %v", err)
	}
}

// TestConcurrentMigrations starts several migrators on one empty database
// at once, as several instances starting together would: golang-migrate's
// advisory lock must make exactly one of them apply the schema, cleanly.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	const n = 5
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(context.Background(), postgres.Config{URL: url})
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			m, err := db.Migrator()
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, dirty, err := db.SchemaVersion(context.Background()); err != nil || v != latestVersion || dirty {
		t.Fatalf("version %d dirty %v err %v", v, dirty, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	// Unparseable URL: the message must not echo the password.
	_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://u:s3cret@[::1:5432/db"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
	// Nothing listens: a clear error within the connect timeout.
	start := time.Now()
	_, err = postgres.Open(ctx, postgres.Config{URL: "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable", ConnectTimeout: time.Second})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// TestUnavailableWhenServerGoes checks that queries on a pool whose server
// is gone are EUNAVAILABLE, never not-found or conflict.
func TestUnavailableAfterClose(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	repo := db.Users()
	_ = db.Close()
	ctx := context.Background()
	email, _ := domain.ParseEmail("gone@example.com")
	u, _ := domain.NewUser(email, "hash", time.Now())
	if _, err := repo.Create(ctx, u); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("create: %v", err)
	}
	if _, err := repo.ByEmail(ctx, email); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("by email: %v", err)
	}
	if err := db.Ping(ctx); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("ping: %v", err)
	}
}

func TestRateLimitStoreContract(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	// One store for every case: this store never drops a window on its
	// own, only through DeleteExpired, which the suite does not call.
	store := db.RateLimits()
	porttest.TestRateLimitStore(t, func(t *testing.T) ports.RateLimitStore { return store })
}

// TestRateLimitSharedAcrossPools hits one key from two pools on one
// database at once, as two instances would: the counts add up, none is
// lost, and all see one window.
func TestRateLimitSharedAcrossPools(t *testing.T) {
	first, url := postgres.OpenMigratedForTest(t)
	second, err := postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Close() })

	const perPool = 50
	var (
		ctx    = context.Background()
		key    = "login|shared@example.com|2001:db8::7"
		now    = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
		window = 15 * time.Minute
		wg     sync.WaitGroup
		mu     sync.Mutex
		seen   = map[int]int{}
		start  = make(chan struct{})
	)
	for _, db := range []*postgres.DB{first, second} {
		store := db.RateLimits()
		for range perPool {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				n, resetAt, err := store.Hit(ctx, key, window, now)
				if err != nil {
					t.Error(err)
					return
				}
				if !resetAt.Equal(now.Add(window)) {
					t.Errorf("Hit %d: resetAt %v, want %v", n, resetAt, now.Add(window))
				}
				mu.Lock()
				seen[n]++
				mu.Unlock()
			}()
		}
	}
	close(start)
	wg.Wait()
	for n := 1; n <= 2*perPool; n++ {
		if seen[n] != 1 {
			t.Errorf("count %d returned %d times, want once", n, seen[n])
		}
	}
	for _, db := range []*postgres.DB{first, second} {
		n, _, err := db.RateLimits().Count(ctx, key, now.Add(time.Second))
		if err != nil || n != 2*perPool {
			t.Errorf("Count = %d, %v; want %d, nil", n, err, 2*perPool)
		}
	}
}

func TestRateLimitDeleteExpired(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	store := db.RateLimits()
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for i := range 3 {
		if _, _, err := store.Hit(ctx, fmt.Sprintf("short-%d", i), time.Minute, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.Hit(ctx, "long", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if n, err := store.DeleteExpired(ctx, now.Add(time.Minute-time.Microsecond)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before any window closed = %d, %v; want 0, nil", n, err)
	}
	// A window closes at its resetAt: at that instant it is swept.
	if n, err := store.DeleteExpired(ctx, now.Add(time.Minute)); err != nil || n != 3 {
		t.Fatalf("DeleteExpired = %d, %v; want 3, nil", n, err)
	}
	if n, err := store.DeleteExpired(ctx, now.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("second DeleteExpired = %d, %v; want 0, nil", n, err)
	}
	if n, _, err := store.Count(ctx, "long", now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Count(long) = %d, %v; want 1, nil", n, err)
	}
	// A swept key starts over.
	if n, _, err := store.Hit(ctx, "short-0", time.Minute, now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Hit after the sweep = %d, %v; want 1, nil", n, err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := store.DeleteExpired(cancelled, now.Add(time.Hour)); domain.ErrorCode(err) != domain.EUNAVAILABLE || n != 0 {
		t.Fatalf("DeleteExpired with a cancelled context = %d, %v; want 0, EUNAVAILABLE", n, err)
	}
}

func TestRateLimitUnavailableAfterClose(t *testing.T) {
	db, _ := postgres.OpenMigratedForTest(t)
	store := db.RateLimits()
	_ = db.Close()
	ctx := context.Background()
	now := time.Now()
	if _, _, err := store.Hit(ctx, "k", time.Minute, now); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("Hit: %v", err)
	}
	if _, _, err := store.Count(ctx, "k", now); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("Count: %v", err)
	}
	if err := store.Reset(ctx, "k"); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("Reset: %v", err)
	}
	if _, err := store.DeleteExpired(ctx, now); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("DeleteExpired: %v", err)
	}
}

package postgres_test

import (
	"context"
	"errors"
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

// openMigrated opens a fresh database on the shared throwaway cluster and
// migrates it up.
func openMigrated(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	url := pgtest.Start(t).NewDatabase(t)
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	return db, url
}

func TestUserRepositoryContract(t *testing.T) {
	db, _ := openMigrated(t)
	porttest.TestUserRepository(t, func(t *testing.T) ports.UserRepository { return db.Users() })
}

func TestSessionRepositoryContract(t *testing.T) {
	db, _ := openMigrated(t)
	porttest.TestSessionRepository(t, db.Users(), func(t *testing.T) ports.SessionRepository { return db.Sessions() })
}

// latestVersion is the newest embedded migration.
const latestVersion = 2

func TestMigrationsUpDownUp(t *testing.T) {
	db, _ := openMigrated(t)
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
	db, _ := openMigrated(t)
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

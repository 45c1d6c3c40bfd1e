package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/ratelimit"
	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/ports"
)

// store is what cmd/authd needs from a database adapter.
type store interface {
	Users() ports.UserRepository
	Sessions() ports.SessionRepository
	// Ping reports whether the database answers (EUNAVAILABLE if not).
	Ping(ctx context.Context) error
	// SchemaVersion is the applied migration, -1 when none.
	SchemaVersion(ctx context.Context) (version int, dirty bool, err error)
	Migrator() (*migrate.Migrate, error)
	Close() error
}

// rateLimitStore picks where rate-limit counters live: in the database on
// PostgreSQL, so every instance shares the budgets; in memory (bounded to
// maxKeys) on SQLite, which serves one instance.
func rateLimitStore(st store, maxKeys int) interface {
	ports.RateLimitStore
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
} {
	if pg, ok := st.(postgresStore); ok {
		return pg.RateLimits()
	}
	return ratelimit.New(maxKeys)
}

type sqliteStore struct{ *sqlite.DB }

func (s sqliteStore) Users() ports.UserRepository       { return s.DB.Users() }
func (s sqliteStore) Sessions() ports.SessionRepository { return s.DB.Sessions() }

type postgresStore struct{ *postgres.DB }

func (s postgresStore) Users() ports.UserRepository       { return s.DB.Users() }
func (s postgresStore) Sessions() ports.SessionRepository { return s.DB.Sessions() }

// opened is a store together with the newest migration its binary ships.
type opened struct {
	store
	latest int
}

func openStore(ctx context.Context, db databaseConfig) (*opened, error) {
	var (
		st    store
		files fs.FS
	)
	switch db.Driver {
	case "sqlite":
		d, err := sqlite.Open(ctx, db.Path)
		if err != nil {
			return nil, fmt.Errorf("AUTHD_DATABASE_URL: %w", err)
		}
		st, files = sqliteStore{d}, sqlite.MigrationFiles()
	case "postgres":
		d, err := postgres.Open(ctx, postgres.Config{URL: db.URL, MaxConns: int32(db.MaxConns), ConnectTimeout: db.ConnectTimeout})
		if err != nil {
			return nil, fmt.Errorf("AUTHD_DATABASE_URL: %w", err)
		}
		st, files = postgresStore{d}, postgres.MigrationFiles()
	default:
		return nil, fmt.Errorf("AUTHD_DATABASE_URL: unsupported driver %q", db.Driver)
	}
	latest, err := latestMigration(files)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return &opened{store: st, latest: latest}, nil
}

// latestMigration is the highest NNN in the NNN_name.up.sql files.
func latestMigration(files fs.FS) (int, error) {
	ups, err := fs.Glob(files, "*.up.sql")
	if err != nil {
		return 0, err
	}
	latest := -1
	for _, name := range ups {
		prefix, _, _ := strings.Cut(name, "_")
		n, err := strconv.Atoi(prefix)
		if err != nil {
			return 0, fmt.Errorf("migration %s: no version number", name)
		}
		latest = max(latest, n)
	}
	if latest < 0 {
		return 0, errors.New("no migrations embedded")
	}
	return latest, nil
}

// readiness reports the database and schema state for /readyz. A schema
// newer than this binary knows is ready: during a rolling update the old
// instances keep serving after the new ones migrate.
func (o *opened) readiness(ctx context.Context) (map[string]string, bool) {
	checks := map[string]string{"database": "ok", "migrations": "ok"}
	if err := o.Ping(ctx); err != nil {
		checks["database"], checks["migrations"] = "unavailable", "unknown"
		return checks, false
	}
	v, dirty, err := o.SchemaVersion(ctx)
	switch {
	case err != nil:
		checks["database"], checks["migrations"] = "unavailable", "unknown"
	case dirty:
		checks["migrations"] = "dirty"
	case v < o.latest:
		checks["migrations"] = "pending"
	}
	return checks, checks["database"] == "ok" && checks["migrations"] == "ok"
}

func migrateUp(st store, logger *slog.Logger) error {
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	defer m.Close()
	// Up holds the migration lock (on PostgreSQL an advisory lock) from
	// reading the version to the last step, so of several instances
	// starting together exactly one applies the migrations and the others
	// find nothing to do.
	switch err := m.Up(); {
	case errors.Is(err, migrate.ErrNoChange):
		logger.Info("schema up to date")
	case err != nil:
		return fmt.Errorf("migrate up: %w", err)
	default:
		v, _, verr := m.Version()
		if verr != nil {
			return fmt.Errorf("migrate up: reading the version: %w", verr)
		}
		logger.Info("migrations applied", "version", v)
	}
	return nil
}

// runMigrate implements `authd migrate up|down [N]|version`.
func runMigrate(ctx context.Context, cfg config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: authd migrate up|down [N]|version")
	}
	st, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
	case "up":
		if len(args) != 1 {
			return errors.New("usage: authd migrate up")
		}
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrate up: %w", err)
		}
	case "down":
		n := 1
		if len(args) > 2 {
			return errors.New("usage: authd migrate down [N]")
		}
		if len(args) == 2 {
			if n, err = strconv.Atoi(args[1]); err != nil || n < 1 {
				return fmt.Errorf("migrate down: %q is not a positive number of steps", args[1])
			}
		}
		if err := m.Steps(-n); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			var short migrate.ErrShortLimit
			if !errors.As(err, &short) {
				return fmt.Errorf("migrate down: %w", err)
			}
		}
	case "version":
		if len(args) != 1 {
			return errors.New("usage: authd migrate version")
		}
	default:
		return fmt.Errorf("unknown migrate command %q (want up, down or version)", args[0])
	}
	return printVersion(m, out)
}

func printVersion(m *migrate.Migrate, out io.Writer) error {
	v, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		_, err = fmt.Fprintln(out, "version: none (no migrations applied)")
		return err
	case err != nil:
		return fmt.Errorf("migrate version: %w", err)
	}
	state := "clean"
	if dirty {
		state = "dirty"
	}
	_, err = fmt.Fprintf(out, "version: %d (%s)\n", v, state)
	return err
}

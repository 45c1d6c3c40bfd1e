package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/golang-migrate/migrate/v4"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/sessioncache"
	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/ports"
)

// store is what cmd/authd needs from a database adapter: the ports, the
// readiness checks, pool statistics and migrations. *sqlite.DB and
// *postgres.DB provide it themselves, so a new store adds one case to
// openStore and nothing else.
type store interface {
	Users() ports.UserRepository
	Sessions() ports.SessionRepository
	EmailTokens() ports.EmailTokenRepository
	Outbox() ports.MailOutbox
	// SharedRateLimits is the rate-limit store every instance on this
	// database shares; false when there is none (SQLite serves one
	// instance).
	SharedRateLimits() (ports.RateLimitStore, bool)
	// ReadyDatabase and ReadyMigrations are the "database" and
	// "migrations" readiness checks.
	ReadyDatabase(ctx context.Context) (string, bool)
	ReadyMigrations(ctx context.Context) (string, bool)
	PoolStats() ports.PoolStats
	LiveSessions(ctx context.Context, now time.Time) (int, error)
	// SchemaVersion is the applied migration, -1 when none.
	SchemaVersion(ctx context.Context) (version int, dirty bool, err error)
	Migrator() (*migrate.Migrate, error)
	// WatchSessions is the session cache's change feed.
	sessioncache.Feed
	Close() error
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// openStore opens the database db names.
func openStore(ctx context.Context, db databaseConfig) (store, error) {
	var (
		st  store
		err error
	)
	switch db.Driver {
	case "sqlite":
		st, err = sqlite.Open(ctx, db.Path)
	case "postgres":
		st, err = postgres.Open(ctx, postgres.Config{URL: db.URL, MaxConns: int32(db.MaxConns), ConnectTimeout: db.ConnectTimeout})
	default:
		return nil, fmt.Errorf("AUTHD_DATABASE_URL: unsupported driver %q", db.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("AUTHD_DATABASE_URL: %w", err)
	}
	return st, nil
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

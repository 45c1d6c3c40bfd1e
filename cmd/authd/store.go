package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/golang-migrate/migrate/v4"

	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/ports"
)

// store is what cmd/authd needs from a database adapter.
type store interface {
	Users() ports.UserRepository
	// Ready reports whether the database answers and its schema is
	// current.
	Ready(ctx context.Context) error
	Migrator() (*migrate.Migrate, error)
	Close() error
}

type sqliteStore struct{ *sqlite.DB }

func (s sqliteStore) Users() ports.UserRepository { return s.DB.Users() }

func (s sqliteStore) Ready(ctx context.Context) error { return s.DB.Ping(ctx) }

func openStore(ctx context.Context, db databaseConfig) (store, error) {
	switch db.Driver {
	case "sqlite":
		d, err := sqlite.Open(ctx, db.Path)
		if err != nil {
			return nil, fmt.Errorf("AUTHD_DATABASE_URL: %w", err)
		}
		return sqliteStore{d}, nil
	default:
		return nil, fmt.Errorf("AUTHD_DATABASE_URL: unsupported driver %q", db.Driver)
	}
}

func migrateUp(st store) error {
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", err)
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

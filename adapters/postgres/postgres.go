// Package postgres stores users in PostgreSQL through pgx v5 and its pool
// (native pgx for queries; database/sql only for golang-migrate).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/migration"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Config is what the adapter needs; cmd/authd fills it.
type Config struct {
	// URL is a postgres:// or postgresql:// connection URL.
	URL string
	// MaxConns bounds the pool; 0 keeps pgx's default (max(4, CPUs)).
	MaxConns int32
	// ConnectTimeout bounds establishing one connection; 0 means 5s.
	ConnectTimeout time.Duration
}

// DB is a connection pool to one PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// latest is the newest migration embedded in this binary.
	latest int
	// watch is the session-cache listener, once WatchSessions started it.
	watch *listener
}

// Open builds the pool and checks that the database answers.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's message can quote the URL, password included: do not wrap it.
		return nil, errors.New("postgres: the connection URL cannot be parsed")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	if pc.ConnConfig.ConnectTimeout <= 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach the database at %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	latest, err := migration.Latest(MigrationFiles())
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool, latest: latest}, nil
}

// Close closes the pool.
func (d *DB) Close() error {
	d.watch.stop()
	d.pool.Close()
	return nil
}

// Ping checks that the database answers; EUNAVAILABLE otherwise.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return domain.Unavailable(fmt.Errorf("postgres: %w", err))
	}
	return nil
}

// Migrator returns a golang-migrate instance over the embedded migrations.
// It uses migrate's pgx v5 driver, whose advisory lock makes concurrent
// start-ups of several instances migrate once. Closing it releases its
// connections back to the pool; the pool stays open.
func (d *DB) Migrator() (*migrate.Migrate, error) {
	src, err := iofs.New(MigrationFiles(), ".")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	drv, err := pgxmigrate.WithInstance(stdlib.OpenDBFromPool(d.pool), &pgxmigrate.Config{})
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	return m, nil
}

// MigrationFiles are the embedded SQL migrations, NNNNNN_name.up.sql and
// .down.sql at the root.
func MigrationFiles() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// SchemaVersion reads the applied migration version without taking any
// lock; (-1, false) when none is applied.
func (d *DB) SchemaVersion(ctx context.Context) (int, bool, error) {
	var (
		v     int64
		dirty bool
	)
	err := d.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.As(err, &pe) && pe.Code == "42P01": // undefined_table
		return -1, false, nil
	case err != nil:
		return 0, false, domain.Unavailable(fmt.Errorf("postgres: %w", err))
	}
	return int(v), dirty, nil
}

// Users returns the user repository on this database.
func (d *DB) Users() ports.UserRepository { return &UserRepository{pool: d.pool} }

var _ ports.UserRepository = (*UserRepository)(nil)

// UserRepository implements ports.UserRepository.
type UserRepository struct{ pool *pgxpool.Pool }

// Create inserts u. A unique violation (SQLSTATE 23505) is
// domain.ErrEmailTaken.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	var id int64
	err := r.pool.QueryRow(ctx,
		`INSERT INTO users (email, password_hash, is_active, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt().UTC()).Scan(&id)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return nil, domain.ErrEmailTaken
		}
		return nil, storageError(err)
	}
	return domain.RehydrateUser(id, u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt()), nil
}

// UpdatePasswordHash returns domain.ErrUserNotFound when there is no such
// user.
func (r *UserRepository) UpdatePasswordHash(ctx context.Context, id int64, hash string) error {
	tag, err := r.pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, id)
	if err != nil {
		return storageError(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.ErrUserNotFound
	}
	return nil
}

// ByID returns domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ByID(ctx context.Context, id int64) (*domain.User, error) {
	return r.one(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// ByEmail returns domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	return r.one(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = $1`, email.String())
}

func (r *UserRepository) one(ctx context.Context, query string, arg any) (*domain.User, error) {
	u, err := scanUser(r.pool.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrUserNotFound
	}
	if err != nil {
		return nil, storageError(err)
	}
	return u, nil
}

// userColumns are what scanUser reads.
const userColumns = `id, email, password_hash, is_active, created_at, email_verified_at`

// scanUser scans userColumns; errors are pgx's, unwrapped.
func scanUser(row pgx.Row) (*domain.User, error) {
	var (
		id          int64
		email, hash string
		active      bool
		created     time.Time
		verified    *time.Time
	)
	if err := row.Scan(&id, &email, &hash, &active, &created, &verified); err != nil {
		return nil, err
	}
	u := domain.RehydrateUser(id, email, hash, active, created)
	if verified != nil {
		u = u.WithEmailVerifiedAt(*verified)
	}
	return u, nil
}

// nullTime is NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// storageError marks a failure to reach or use the database (refused
// connection, pool timeout, cancelled context, server error) as
// EUNAVAILABLE, so the client sees 503 and the log keeps the cause.
func storageError(err error) error {
	return domain.Unavailable(fmt.Errorf("postgres: %w", err))
}

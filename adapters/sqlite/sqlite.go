// Package sqlite stores users in an embedded SQLite file through the
// pure-Go driver github.com/glebarez/go-sqlite (no cgo). authd uses
// database/sql directly, not GORM.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/migration"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// timeLayout keeps UTC timestamps as fixed-width text, so they sort and
// compare as strings and round-trip to the microsecond.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// DB is an open SQLite database file.
type DB struct {
	db    *sql.DB
	stmts statements
	// latest is the newest migration embedded in this binary.
	latest int
	path   string
	// watch is the session-cache change feed, once WatchSessions started it.
	watch *watcher
}

// Open opens (creating if needed) the database file at path with WAL, a
// busy timeout and foreign keys on. It does not migrate.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", fileDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// WAL lets readers run beside the one writer; more connections than
	// that only add lock contention.
	db.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	db.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))
	// Retries SQLITE_BUSY, which processes opening a new file at the same
	// time can get while switching it to WAL.
	if err := pingRetryBusy(ctx, db); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", path, err), db.Close())
	}
	latest, err := migration.Latest(MigrationFiles())
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &DB{db: db, latest: latest, path: path}, nil
}

// createPrivate creates the database file, when it does not exist yet,
// readable and writable by its owner only: it holds password hashes and
// session data. SQLite gives its -wal and -shm files, and the migration
// lock file takes, the main file's permission bits. An existing file keeps
// the permissions its operator gave it.
func createPrivate(path string) error {
	if path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Close closes the database.
func (d *DB) Close() error {
	return errors.Join(d.watch.close(), d.stmts.closeAll(), d.db.Close())
}

// Ping checks that the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return domain.Unavailable(err)
	}
	return nil
}

// Migrator returns a golang-migrate instance over the embedded migrations
// and this database. Closing it leaves the database open.
func (d *DB) Migrator() (*migrate.Migrate, error) {
	src, err := iofs.New(MigrationFiles(), ".")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	drv, err := NewMigrationDriver(d.db)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite", drv)
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
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

// SchemaVersion reads the applied migration version without taking the
// migration lock; (-1, false) when none is applied.
func (d *DB) SchemaVersion(ctx context.Context) (int, bool, error) {
	var tables int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, false, storageError(err)
	}
	if tables == 0 {
		return -1, false, nil
	}
	var v, dirty int64
	err := d.db.QueryRowContext(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return -1, false, nil
	case err != nil:
		return 0, false, storageError(err)
	}
	return int(v), dirty != 0, nil
}

// Users returns the user repository on this database.
func (d *DB) Users() ports.UserRepository { return &UserRepository{db: d.db} }

var _ ports.UserRepository = (*UserRepository)(nil)

// UserRepository implements ports.UserRepository.
type UserRepository struct{ db *sql.DB }

// Create inserts u. A unique-index violation on email, recognised by
// SQLite's extended result code, is domain.ErrEmailTaken.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	res, err := r.db.ExecContext(ctx,
		`INSERT INTO users (email, password_hash, is_active, created_at) VALUES (?, ?, ?, ?)`,
		u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt().UTC().Format(timeLayout))
	if err != nil {
		var se *gosqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return nil, domain.ErrEmailTaken
		}
		return nil, storageError(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, storageError(err)
	}
	return domain.RehydrateUser(id, u.Email().String(), u.PasswordHash(), u.IsActive(), u.CreatedAt()), nil
}

// UpdatePasswordHash returns domain.ErrUserNotFound when there is no such
// user.
func (r *UserRepository) UpdatePasswordHash(ctx context.Context, id int64, hash string) error {
	res, err := r.db.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	if err != nil {
		return storageError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return storageError(err)
	} else if n == 0 {
		return domain.ErrUserNotFound
	}
	return nil
}

// ByID returns domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ByID(ctx context.Context, id int64) (*domain.User, error) {
	return r.one(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

// ByEmail returns domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	return r.one(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email.String())
}

func (r *UserRepository) one(ctx context.Context, query string, arg any) (*domain.User, error) {
	u, err := scanUser(r.db.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrUserNotFound
	}
	return u, err
}

// storageError marks any failure to reach or use the database (locked past
// the busy timeout, I/O error, cancelled context) as EUNAVAILABLE, so the
// client sees 503 and the log keeps the cause.
func storageError(err error) error {
	return domain.Unavailable(fmt.Errorf("sqlite: %w", err))
}

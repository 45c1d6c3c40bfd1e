package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	// Registers the database/sql driver name "sqlite". Do NOT import
	// github.com/golang-migrate/migrate/v4/database/sqlite or the root
	// modernc.org/sqlite package: both register "sqlite" too and linking
	// them together with this driver panics at init.
	_ "github.com/glebarez/go-sqlite"
	"github.com/golang-migrate/migrate/v4/database"
)

// migrationVersionTable is the table in which the current schema version is kept.
const migrationVersionTable = "schema_migrations"

// MigrationDriver implements github.com/golang-migrate/migrate/v4/database.Driver
// for SQLite over a *sql.DB that the caller owns.
//
// Lock and Unlock are an in-process lock only; safety across processes comes
// from every migration (and every version change) running inside a single
// SQLite transaction.
type MigrationDriver struct {
	db *sql.DB
	// ownsDB is true when the driver opened db itself (via Open) and must
	// close it in Close.
	ownsDB   bool
	isLocked atomic.Bool
}

var _ database.Driver = (*MigrationDriver)(nil)

// NewMigrationDriver ensures the version table exists and returns a driver
// over db. The caller keeps ownership of db: Close on the returned driver does
// not close it.
func NewMigrationDriver(db *sql.DB) (*MigrationDriver, error) {
	if db == nil {
		return nil, errors.New("sqlite migration driver: nil *sql.DB")
	}
	d := &MigrationDriver{db: db}
	if err := d.ensureVersionTable(d.db); err != nil {
		return nil, err
	}
	return d, nil
}

// migrExecer is the subset of *sql.DB and *sql.Tx used by ensureVersionTable.
type migrExecer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

func (d *MigrationDriver) ensureVersionTable(e migrExecer) error {
	query := `CREATE TABLE IF NOT EXISTS ` + migrQuoteIdent(migrationVersionTable) +
		` (version INTEGER NOT NULL, dirty INTEGER NOT NULL)`
	if _, err := e.Exec(query); err != nil {
		return database.Error{OrigErr: err, Query: []byte(query), Err: "creating version table failed"}
	}
	return nil
}

// Open accepts "sqlite://<path>" or "sqlite3://<path>", opens the file at
// path with busy_timeout(5000), journal_mode(WAL) and foreign_keys(1), and
// returns a driver that closes that database in Close.
//
// Query parameters are not supported and are rejected, rather than being
// silently reinterpreted.
func (d *MigrationDriver) Open(url string) (database.Driver, error) {
	var path string
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path = strings.TrimPrefix(url, "sqlite://")
	case strings.HasPrefix(url, "sqlite3://"):
		path = strings.TrimPrefix(url, "sqlite3://")
	default:
		return nil, fmt.Errorf("sqlite migration driver: unsupported URL %q: want sqlite://<path> or sqlite3://<path>", url)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlite migration driver: URL %q has no database path", url)
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite migration driver: URL %q: query parameters are not supported", url)
	}

	db, err := sql.Open("sqlite", fileDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite migration driver: opening %q: %w", path, err)
	}
	// sql.Open does not connect; make sure the file can actually be opened
	// and the pragmas applied before handing the driver out.
	if err := db.Ping(); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite migration driver: opening %q: %w", path, err), db.Close())
	}
	nd, err := NewMigrationDriver(db)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	nd.ownsDB = true
	return nd, nil
}

// fileDSN builds a glebarez/go-sqlite URI DSN for the file at path.
// The characters that are special in an SQLite URI filename are
// percent-encoded so that any path is taken literally.
func fileDSN(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + escaped +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
}

// Close closes the underlying database only if the driver opened it itself
// (via Open). A driver made by NewMigrationDriver leaves the caller's
// *sql.DB open.
func (d *MigrationDriver) Close() error {
	if !d.ownsDB {
		return nil
	}
	return d.db.Close()
}

// Lock acquires the in-process lock. It returns database.ErrLocked if the
// driver is already locked.
func (d *MigrationDriver) Lock() error {
	if !d.isLocked.CompareAndSwap(false, true) {
		return database.ErrLocked
	}
	return nil
}

// Unlock releases the in-process lock. It returns database.ErrNotLocked if
// the driver is not locked.
func (d *MigrationDriver) Unlock() error {
	if !d.isLocked.CompareAndSwap(true, false) {
		return database.ErrNotLocked
	}
	return nil
}

// Run executes the whole migration inside one transaction. SQLite DDL is
// transactional, so a failing migration leaves no partial change behind.
// The SQLite driver executes several ;-separated statements in one Exec.
func (d *MigrationDriver) Run(migration io.Reader) error {
	body, err := io.ReadAll(migration)
	if err != nil {
		return fmt.Errorf("sqlite migration driver: reading migration: %w", err)
	}
	query := string(body)

	tx, err := d.db.Begin()
	if err != nil {
		return database.Error{OrigErr: err, Err: "transaction start failed"}
	}
	if _, err := tx.Exec(query); err != nil {
		return database.Error{OrigErr: migrRollback(tx, err), Query: body, Err: "migration failed"}
	}
	if err := tx.Commit(); err != nil {
		return database.Error{OrigErr: err, Query: body, Err: "transaction commit failed"}
	}
	return nil
}

// SetVersion replaces the stored version and dirty flag in one transaction.
// As in the upstream drivers, a NilVersion that is dirty is still stored (so
// a failed down migration of the first migration is remembered); a clean
// NilVersion leaves the table empty.
func (d *MigrationDriver) SetVersion(version int, dirty bool) error {
	tx, err := d.db.Begin()
	if err != nil {
		return database.Error{OrigErr: err, Err: "transaction start failed"}
	}

	query := `DELETE FROM ` + migrQuoteIdent(migrationVersionTable)
	if _, err := tx.Exec(query); err != nil {
		return database.Error{OrigErr: migrRollback(tx, err), Query: []byte(query)}
	}

	if version >= 0 || (version == database.NilVersion && dirty) {
		query = `INSERT INTO ` + migrQuoteIdent(migrationVersionTable) + ` (version, dirty) VALUES (?, ?)`
		dirtyInt := 0
		if dirty {
			dirtyInt = 1
		}
		if _, err := tx.Exec(query, version, dirtyInt); err != nil {
			return database.Error{OrigErr: migrRollback(tx, err), Query: []byte(query)}
		}
	}

	if err := tx.Commit(); err != nil {
		return database.Error{OrigErr: err, Err: "transaction commit failed"}
	}
	return nil
}

// Version returns the stored version and dirty flag, or database.NilVersion
// and false when no version is stored.
func (d *MigrationDriver) Version() (version int, dirty bool, err error) {
	query := `SELECT version, dirty FROM ` + migrQuoteIdent(migrationVersionTable) + ` LIMIT 1`
	var v, dirtyInt int64
	err = d.db.QueryRow(query).Scan(&v, &dirtyInt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return database.NilVersion, false, nil
	case err != nil:
		return 0, false, database.Error{OrigErr: err, Query: []byte(query)}
	}
	return int(v), dirtyInt != 0, nil
}

// Drop drops every user view and table (SQLite's internal sqlite_* tables
// are skipped; indexes and triggers go with their tables) in one
// transaction, and then recreates the empty version table so the driver and
// the database stay usable: afterwards Version reports NilVersion.
//
// Foreign key checks are deferred to the commit (PRAGMA defer_foreign_keys,
// which SQLite resets at the end of the transaction), so tables can be
// dropped in any order even with foreign_keys enabled; by the commit every
// referencing table is gone as well.
//
// No VACUUM is run: it cannot run inside the transaction, and freed pages
// are reused by SQLite anyway.
func (d *MigrationDriver) Drop() error {
	tx, err := d.db.Begin()
	if err != nil {
		return database.Error{OrigErr: err, Err: "transaction start failed"}
	}

	query := `PRAGMA defer_foreign_keys = ON`
	if _, err := tx.Exec(query); err != nil {
		return database.Error{OrigErr: migrRollback(tx, err), Query: []byte(query)}
	}

	// Views first (they may reference tables), then virtual tables (dropping
	// one also drops its shadow tables, hence IF EXISTS below), then the rest.
	query = `SELECT type, name FROM sqlite_schema
		WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY type = 'table', sql NOT LIKE 'CREATE VIRTUAL TABLE%', name`
	objects, err := migrListObjects(tx, query)
	if err != nil {
		return database.Error{OrigErr: migrRollback(tx, err), Query: []byte(query)}
	}

	for _, o := range objects {
		query := `DROP ` + strings.ToUpper(o.typ) + ` IF EXISTS ` + migrQuoteIdent(o.name)
		if _, err := tx.Exec(query); err != nil {
			return database.Error{OrigErr: migrRollback(tx, err), Query: []byte(query)}
		}
	}

	if err := d.ensureVersionTable(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}

	if err := tx.Commit(); err != nil {
		return database.Error{OrigErr: err, Err: "transaction commit failed"}
	}
	return nil
}

type migrSchemaObject struct {
	typ  string // "table" or "view"
	name string
}

// migrListObjects reads the whole result before returning, since SQLite refuses
// to drop a table while a statement reading the schema is still active.
func migrListObjects(tx *sql.Tx, query string) (objs []migrSchemaObject, err error) {
	rows, err := tx.Query(query)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	for rows.Next() {
		var o migrSchemaObject
		if err := rows.Scan(&o.typ, &o.name); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, rows.Err()
}

// migrRollback rolls tx back and joins any rollback error to err.
func migrRollback(tx *sql.Tx, err error) error {
	if rbErr := tx.Rollback(); rbErr != nil {
		return errors.Join(err, rbErr)
	}
	return err
}

// migrQuoteIdent quotes an SQLite identifier.
func migrQuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

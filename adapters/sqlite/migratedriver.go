package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	// Registers the database/sql driver name "sqlite". Do NOT import
	// github.com/golang-migrate/migrate/v4/database/sqlite or the root
	// modernc.org/sqlite package: both register "sqlite" too and linking
	// them together with this driver panics at init.
	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/golang-migrate/migrate/v4/database"
	sqlite3 "modernc.org/sqlite/lib"
)

// migrationVersionTable is the table in which the current schema version is kept.
const migrationVersionTable = "schema_migrations"

// lockFileSuffix is appended to the path of the main database file to name
// the sidecar file that Lock takes an exclusive flock(2) on.
const lockFileSuffix = "-migrate.lock"

// MigrationDriver implements github.com/golang-migrate/migrate/v4/database.Driver
// for SQLite over a *sql.DB that the caller owns.
//
// Each migration (and each version change) runs in one SQLite transaction,
// but that alone does not make concurrent migrators safe: two processes can
// both read the same version and both run the next migration, and the loser
// fails and leaves the version dirty. So Lock serialises migrators:
//
//   - within one driver, a second Lock fails at once with database.ErrLocked;
//   - across drivers and processes, on Unix, Lock also takes an exclusive
//     flock(2) on the sidecar file "<database file>-migrate.lock" next to the
//     database (for example "authd.db-migrate.lock"), and waits for it.
//     golang-migrate bounds that wait with Migrate.LockTimeout. The file is
//     created on first use, is empty and is left in place; deleting it while
//     no migration runs is harmless. flock locks belong to an open file, so
//     two drivers in one process exclude each other as well, and the kernel
//     drops the lock if the holding process dies.
//
// In-memory and temporary databases (which no other process can open) and
// platforms without flock(2) get only the in-process lock. flock(2) is
// advisory: it does not guard against a migrator that does not take it (such
// as golang-migrate's own sqlite drivers), and it may not work on network
// file systems, where SQLite's own locking is unreliable anyway.
type MigrationDriver struct {
	db *sql.DB
	// ownsDB is true when the driver opened db itself (via Open) and must
	// close it in Close.
	ownsDB bool
	// dbFile is the main database file, whose sidecar lock file Lock takes,
	// or "" when Lock is in-process only.
	dbFile string

	mu sync.Mutex // guards the fields below
	// lockState is lockUnlocked, lockAcquiring while Lock waits for the
	// file lock, or lockHeld.
	lockState lockState
	lockFile  *os.File // the flock-ed sidecar file while lockHeld, or nil
	closed    bool
}

type lockState uint8

const (
	lockUnlocked lockState = iota
	lockAcquiring
	lockHeld
)

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
	if fileLockSupported {
		file, err := mainDatabaseFile(db)
		if err != nil {
			return nil, err
		}
		d.dbFile = file
	}
	return d, nil
}

// mainDatabaseFile returns the absolute path of db's main database file as
// SQLite reports it, or "" for an in-memory or temporary database.
func mainDatabaseFile(db *sql.DB) (string, error) {
	query := `SELECT file FROM pragma_database_list WHERE name = 'main'`
	var file string
	if err := db.QueryRow(query).Scan(&file); err != nil {
		return "", database.Error{OrigErr: err, Query: []byte(query), Err: "finding the database file failed"}
	}
	return file, nil
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
	if err := pingRetryBusy(context.Background(), db); err != nil {
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
//
// _txlock=immediate makes every read-write transaction (BeginTx without
// ReadOnly) start with BEGIN IMMEDIATE, taking the write lock at once and
// waiting for it under the busy timeout. A deferred transaction that reads
// and then writes fails at once with SQLITE_BUSY when another connection
// committed in between: in WAL mode SQLite cannot upgrade a stale read
// snapshot, and the busy handler is not called.
func fileDSN(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + escaped +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// busyRetryFor bounds how long pingRetryBusy keeps retrying.
const busyRetryFor = 5 * time.Second

// pingRetryBusy pings db (which opens a connection and applies the DSN's
// pragmas), retrying with a short, jittered backoff for up to busyRetryFor
// while the error is SQLITE_BUSY, and stops early when ctx is done.
//
// The busy timeout does not cover everything: when several processes open a
// brand-new file at once, switching it to WAL can fail with SQLITE_BUSY
// straight away, because SQLite returns BUSY rather than wait where waiting
// could deadlock. A fresh attempt then finds the file already in WAL mode.
func pingRetryBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyRetryFor)
	delay := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) {
			return err
		}
		wait := delay/2 + rand.N(delay)
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(err, ctx.Err())
		case <-timer.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// isBusy reports whether err is an SQLite error whose primary result code
// is SQLITE_BUSY (any extended code, such as SQLITE_BUSY_RECOVERY).
func isBusy(err error) bool {
	var se *gosqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// errDriverClosed is returned by Lock on a closed driver.
var errDriverClosed = errors.New("sqlite migration driver: driver is closed")

// Close releases the migration lock if it is still held, makes a Lock that
// is still waiting give its file lock up as soon as it gets it (this happens
// after golang-migrate's LockTimeout, which abandons a waiting Lock), and
// closes the underlying database only if the driver opened it itself (via
// Open). A driver made by NewMigrationDriver leaves the caller's *sql.DB
// open. Lock fails on a closed driver.
func (d *MigrationDriver) Close() error {
	d.mu.Lock()
	d.closed = true
	var err error
	if d.lockState == lockHeld {
		err = releaseFileLock(d.lockFile)
		d.lockFile, d.lockState = nil, lockUnlocked
	}
	d.mu.Unlock()
	if !d.ownsDB {
		return err
	}
	return errors.Join(err, d.db.Close())
}

// Lock takes the migration lock, waiting for another driver or process that
// holds the file lock (see MigrationDriver). It returns database.ErrLocked
// at once, without waiting, if this driver is already locked or locking.
func (d *MigrationDriver) Lock() error {
	d.mu.Lock()
	if d.lockState != lockUnlocked {
		d.mu.Unlock()
		return database.ErrLocked
	}
	if d.closed {
		d.mu.Unlock()
		return errDriverClosed
	}
	d.lockState = lockAcquiring
	d.mu.Unlock()

	var f *os.File
	if d.dbFile != "" {
		var err error
		if f, err = acquireFileLock(d.dbFile); err != nil {
			d.mu.Lock()
			d.lockState = lockUnlocked
			d.mu.Unlock()
			return err
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.lockState = lockUnlocked
		return errors.Join(errDriverClosed, releaseFileLock(f))
	}
	d.lockFile, d.lockState = f, lockHeld
	return nil
}

// Unlock releases the migration lock. It returns database.ErrNotLocked if
// the driver is not locked (including while a Lock is still waiting).
func (d *MigrationDriver) Unlock() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lockState != lockHeld {
		return database.ErrNotLocked
	}
	f := d.lockFile
	d.lockFile, d.lockState = nil, lockUnlocked
	return releaseFileLock(f)
}

// acquireFileLock opens (creating if needed) the lock file of the database
// file dbFile and blocks until it holds an exclusive flock on it. A new lock
// file gets the permission bits of dbFile (less the umask), much as SQLite
// does for its -wal and -shm files, so that whoever may write the database
// may also take the lock.
func acquireFileLock(dbFile string) (*os.File, error) {
	path := dbFile + lockFileSuffix
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(dbFile); err == nil {
		perm = fi.Mode().Perm()
	}
	// Read-only is enough for flock, and lets it work on a lock file that
	// another user created.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("sqlite migration driver: opening lock file: %w", err)
	}
	if err := flockExclusive(f); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite migration driver: locking %s: %w", path, err), f.Close())
	}
	return f, nil
}

// releaseFileLock drops the flock on f and closes it; f may be nil.
func releaseFileLock(f *os.File) error {
	if f == nil {
		return nil
	}
	if err := flockRelease(f); err != nil {
		return errors.Join(fmt.Errorf("sqlite migration driver: unlocking %s: %w", f.Name(), err), f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite migration driver: closing lock file: %w", err)
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

//go:build (unix && !aix && !solaris) || illumos

package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// lockHelperEnv, when set to a database path, turns
// TestMigrationDriverLockHelperProcess into the child process of
// TestMigrationDriverLockAcrossProcesses.
const lockHelperEnv = "AUTHD_TEST_LOCK_HELPER"

// lockWait bounds every wait for a Lock that should succeed; lockHold is
// how long a Lock that should wait is watched to make sure it does.
const (
	lockWait = 5 * time.Second
	lockHold = 300 * time.Millisecond
)

// flockOpenDriver opens path with Open, as authd does, and returns a
// migration driver over it; both are closed when the test ends.
func flockOpenDriver(t *testing.T, path string) *MigrationDriver {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	d, err := NewMigrationDriver(db.db)
	if err != nil {
		t.Fatalf("NewMigrationDriver: %v", err)
	}
	return d
}

// flockLockAsync calls d.Lock in a goroutine and delivers its result.
func flockLockAsync(d *MigrationDriver) <-chan error {
	done := make(chan error, 1)
	go func() { done <- d.Lock() }()
	return done
}

// flockWantWaiting fails the test if the Lock behind done returns within
// lockHold.
func flockWantWaiting(t *testing.T, done <-chan error, holder string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Lock returned (%v) while %s held the lock", err, holder)
	case <-time.After(lockHold):
	}
}

// flockWantLocked fails the test unless the Lock behind done succeeds
// within lockWait.
func flockWantLocked(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
	case <-time.After(lockWait):
		t.Fatalf("Lock still waiting after %v although the lock was released", lockWait)
	}
}

// flock locks belong to an open file description, so two drivers in one
// process (two *sql.DB handles, two lock file descriptors) exclude each
// other just as two processes do.
func TestMigrationDriverLockFileExcludesOtherDriver(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock.db")
	a, b := flockOpenDriver(t, path), flockOpenDriver(t, path)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if dfi, err := os.Stat(a.dbFile); err != nil || !os.SameFile(fi, dfi) {
		t.Fatalf("driver's database file = %q (%v), want %q", a.dbFile, err, path)
	}

	if err := a.Lock(); err != nil {
		t.Fatalf("Lock a: %v", err)
	}
	lockFile := path + "-migrate.lock"
	lfi, err := os.Stat(lockFile)
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	if lfi.Mode().Perm()&^fi.Mode().Perm() != 0 {
		t.Errorf("lock file mode %v is wider than the database's %v", lfi.Mode(), fi.Mode())
	}

	done := flockLockAsync(b)
	flockWantWaiting(t, done, "another driver")
	// While b waits, b is "locking": a second Lock fails at once and an
	// Unlock finds nothing to release.
	if err := b.Lock(); !errors.Is(err, database.ErrLocked) {
		t.Fatalf("second Lock on a driver that is waiting = %v, want ErrLocked", err)
	}
	if err := b.Unlock(); !errors.Is(err, database.ErrNotLocked) {
		t.Fatalf("Unlock on a driver that is waiting = %v, want ErrNotLocked", err)
	}

	if err := a.Unlock(); err != nil {
		t.Fatalf("Unlock a: %v", err)
	}
	flockWantLocked(t, done)
	if err := b.Unlock(); err != nil {
		t.Fatalf("Unlock b: %v", err)
	}
	// The lock file stays, and the lock can be taken again.
	if _, err := os.Stat(lockFile); err != nil {
		t.Errorf("lock file after Unlock: %v", err)
	}
	if err := a.Lock(); err != nil {
		t.Fatalf("Lock a again: %v", err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatalf("Unlock a again: %v", err)
	}
}

// A relative path is resolved by SQLite; the lock file lands next to the
// database, not in whatever directory is current when Lock runs.
func TestMigrationDriverLockFileRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	d := flockOpenDriver(t, "rel.db")
	if !filepath.IsAbs(d.dbFile) {
		t.Fatalf("driver's database file %q is not absolute", d.dbFile)
	}
	t.Chdir(t.TempDir())
	if err := d.Lock(); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer d.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "rel.db-migrate.lock")); err != nil {
		t.Fatalf("lock file next to the database: %v", err)
	}
}

// Close gives up a held lock, and a Lock that golang-migrate abandoned at
// its LockTimeout (its goroutine still waits on the file lock) lets the lock
// go as soon as it gets it once the driver is closed, instead of keeping it
// for the life of the process.
func TestMigrationDriverCloseReleasesFileLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "close.db")
	holder, other := flockOpenDriver(t, path), flockOpenDriver(t, path)

	t.Run("Held", func(t *testing.T) {
		d := flockOpenDriver(t, path)
		if err := d.Lock(); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		flockWantLocked(t, flockLockAsync(other))
		if err := other.Unlock(); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		if err := d.Lock(); !errors.Is(err, errDriverClosed) {
			t.Fatalf("Lock after Close = %v, want errDriverClosed", err)
		}
	})

	t.Run("AbandonedAtLockTimeout", func(t *testing.T) {
		if err := holder.Lock(); err != nil {
			t.Fatalf("Lock holder: %v", err)
		}
		d := flockOpenDriver(t, path)
		m := migrNewTestMigrate(t, migrTestMigrations, d)
		m.LockTimeout = 50 * time.Millisecond
		if err := m.Up(); !errors.Is(err, migrate.ErrLockTimeout) {
			t.Fatalf("Up while the lock is held = %v, want ErrLockTimeout", err)
		}
		if srcErr, dbErr := m.Close(); srcErr != nil || dbErr != nil {
			t.Fatalf("m.Close() = %v, %v", srcErr, dbErr)
		}
		if err := holder.Unlock(); err != nil {
			t.Fatalf("Unlock holder: %v", err)
		}
		// The abandoned Lock gets the file lock, sees the driver closed and
		// lets it go again.
		deadline := time.Now().Add(lockWait)
		for {
			d.mu.Lock()
			state := d.lockState
			d.mu.Unlock()
			if state == lockUnlocked {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("abandoned Lock still in state %d after %v", state, lockWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
		flockWantLocked(t, flockLockAsync(other))
		if err := other.Unlock(); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
	})
}

// Several migrators start at once on one new file, each on its own handle
// as separate authd processes would be: exactly one applies the
// migrations, the others find nothing to do, and the version ends clean.
// Without the file lock, two of them run migration 1 and one fails with
// "table users already exists", leaving the version dirty.
func TestMigrationDriverConcurrentMigratorsOneFile(t *testing.T) {
	t.Parallel()
	const handles, rounds = 8, 20
	for round := range rounds {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("race%02d.db", round))
		dbs := make([]*DB, handles)
		errs := make([]error, handles)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range handles {
			wg.Go(func() {
				<-start
				dbs[i], errs[i] = flockMigrateUp(path)
			})
		}
		close(start)
		wg.Wait()
		for _, db := range dbs {
			if db != nil {
				t.Cleanup(func() { db.Close() })
			}
		}

		applied := 0
		for i, err := range errs {
			switch {
			case err == nil:
				applied++
			case errors.Is(err, migrate.ErrNoChange):
			default:
				t.Errorf("round %d, migrator %d: %v", round, i, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		if applied != 1 {
			t.Fatalf("round %d: %d migrators applied migrations, want exactly 1", round, applied)
		}
		d := migrNewTestDriver(t, dbs[0].db)
		migrWantVersion(t, d, 2, false)
		var n int
		if err := dbs[0].db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("round %d: users rows = %d, %v; want 1 (migration 2 ran once)", round, n, err)
		}
	}
}

// flockMigrateUp opens path and migrates it up with migrTestMigrations, the
// way authd's start-up does with its own migrations.
func flockMigrateUp(path string) (*DB, error) {
	db, err := Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	drv, err := NewMigrationDriver(db.db)
	if err != nil {
		return db, err
	}
	src, err := iofs.New(migrTestMigrations, "migrations")
	if err != nil {
		return db, err
	}
	m, err := migrate.NewWithInstance("iofs", src, "sqlite", drv)
	if err != nil {
		return db, err
	}
	err = m.Up()
	srcErr, dbErr := m.Close()
	return db, errors.Join(err, srcErr, dbErr)
}

// TestMigrationDriverLockAcrossProcesses takes the lock in a child process
// (this test binary, re-run as TestMigrationDriverLockHelperProcess) and
// checks that Lock here waits until the child lets go, both by unlocking
// and by dying.
func TestMigrationDriverLockAcrossProcesses(t *testing.T) {
	for _, release := range []string{"Unlock", "Kill"} {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "procs.db")
			d := flockOpenDriver(t, path)

			cmd := exec.Command(os.Args[0], "-test.run=^TestMigrationDriverLockHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := false
			t.Cleanup(func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})

			// Wait for the child to hold the lock.
			locked := make(chan error, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if sc.Text() == "locked" {
						locked <- nil
						_, _ = io.Copy(io.Discard, stdout)
						return
					}
				}
				locked <- fmt.Errorf("child ended without taking the lock (%v)", sc.Err())
			}()
			select {
			case err := <-locked:
				if err != nil {
					t.Fatalf("%v; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(lockWait):
				t.Fatalf("child did not take the lock within %v", lockWait)
			}

			done := flockLockAsync(d)
			flockWantWaiting(t, done, "the child process")

			switch release {
			case "Unlock":
				// Closing stdin tells the child to unlock and exit.
				if err := stdin.Close(); err != nil {
					t.Fatal(err)
				}
			case "Kill":
				// The kernel drops the lock of a process that dies.
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			flockWantLocked(t, done)
			err = cmd.Wait()
			waited = true
			if release == "Unlock" && err != nil {
				t.Errorf("child: %v; stderr:\n%s", err, stderr.String())
			}
			if err := d.Unlock(); err != nil {
				t.Fatalf("Unlock: %v", err)
			}
		})
	}
}

// TestMigrationDriverLockHelperProcess is the child process of
// TestMigrationDriverLockAcrossProcesses: it takes the lock on the database
// named by $AUTHD_TEST_LOCK_HELPER, prints "locked", and unlocks when its
// stdin reaches EOF. Run normally, it skips.
func TestMigrationDriverLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process for TestMigrationDriverLockAcrossProcesses")
	}
	d := flockOpenDriver(t, path)
	if err := d.Lock(); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	fmt.Println("locked")
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-time.After(30 * time.Second): // the parent is gone or stuck
	}
	if err := d.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

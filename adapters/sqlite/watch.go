package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// WatchSessions starts the session cache's change feed (see
// adapters/sessioncache and migration 000006). It opens connections of its
// own that never write, so PRAGMA data_version on one of them changes
// whenever any other connection commits: this process's pool, another
// process such as the operator CLI, anything. current runs that pragma
// (no disk read: SQLite keeps the value in shared memory) and, only when
// it moved, reads the change counter that the triggers bump; when the
// counter moved it calls all() before it returns. It reports false when it
// cannot tell (an error), so the caller asks the database instead. The
// connections close with the DB; user is never called (the counter does
// not say whose change it was).
func (d *DB) WatchSessions(ctx context.Context, user func(int64), all func()) (func(context.Context) bool, error) {
	if d.watch != nil {
		return nil, errors.New("sqlite: WatchSessions called twice")
	}
	if d.path == ":memory:" {
		return nil, errors.New("sqlite: an in-memory database cannot be watched from another connection")
	}
	db, err := sql.Open("sqlite", fileDSN(d.path)+"&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: watch: %w", err)
	}
	n := max(2, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	w := &watcher{db: db, conns: make(chan *watchConn, n), all: all, seen: -1, shmPath: d.path + "-shm"}
	for range n {
		c, err := w.open(ctx)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite: watch: %w", err), w.close())
		}
		w.every = append(w.every, c)
		w.conns <- c
	}
	d.watch = w
	return w.current, nil
}

// watcher holds the feed's connections; each remembers the data_version
// it saw last, and seen is the newest counter value any of them read.
type watcher struct {
	db    *sql.DB
	conns chan *watchConn
	every []*watchConn
	all   func()

	mu   sync.Mutex
	seen int64

	// The fast path (see walIndexHeader): the shared-memory file, opened
	// on first use, and the header it held before the last full check
	// that succeeded.
	shmPath  string
	shmOnce  sync.Once
	shm      *os.File
	checked  atomic.Pointer[[walHeaderLen]byte]
	fullRuns atomic.Int64 // full checks run, for tests
}

// walHeaderLen is the WAL-index header at the start of the -shm file:
// two copies of the 48-byte header (https://www.sqlite.org/walformat.html).
const walHeaderLen = 96

// walIndexHeader reads the WAL-index header, which every commit by any
// connection or process rewrites (its iChange counter goes up, and
// mxFrame, the salts and checksums change with it). ok is false when the
// file cannot be read or its two copies differ (a writer is in the middle
// of updating it); then only the full check can tell. One pread, no lock,
// no SQLite call: an unchanged header means no commit happened since it
// was read.
func (w *watcher) walIndexHeader() (h [walHeaderLen]byte, ok bool) {
	w.shmOnce.Do(func() { w.shm, _ = os.Open(w.shmPath) })
	if w.shm == nil {
		return h, false
	}
	if n, err := w.shm.ReadAt(h[:], 0); err != nil || n != walHeaderLen {
		return h, false
	}
	return h, bytes.Equal(h[:48], h[48:]) && h[12] == 1 // isInit
}

type watchConn struct {
	conn        *sql.Conn
	version     *sql.Stmt
	lastVersion int64
}

func (w *watcher) open(ctx context.Context) (*watchConn, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c := &watchConn{conn: conn, lastVersion: -1}
	if c.version, err = conn.PrepareContext(ctx, `PRAGMA data_version`); err != nil {
		return nil, errors.Join(err, c.close())
	}
	return c, nil
}

func (c *watchConn) close() error {
	var err error
	if c.version != nil {
		err = c.version.Close()
	}
	return errors.Join(err, c.conn.Close())
}

// current reports whether every change committed before the call has been
// passed on, passing on any it finds. When the WAL-index header is the one
// read before the last full check that succeeded, nothing was committed
// since, and it answers at once; otherwise it runs the full check.
func (w *watcher) current(ctx context.Context) bool {
	h, ok := w.walIndexHeader()
	if last := w.checked.Load(); ok && last != nil && *last == h {
		return true
	}
	if !w.fullCheck(ctx) {
		return false
	}
	if ok {
		// Read before the full check: a commit that raced it changes the
		// header again, and the next call checks in full.
		w.checked.Store(&h)
	}
	return true
}

// fullCheck asks SQLite: PRAGMA data_version and, when it moved, the
// change counter.
func (w *watcher) fullCheck(ctx context.Context) bool {
	w.fullRuns.Add(1)
	var c *watchConn
	select {
	case c = <-w.conns:
	case <-ctx.Done():
		return false
	}
	defer func() { w.conns <- c }()
	var v int64
	if err := c.version.QueryRowContext(ctx).Scan(&v); err != nil {
		return false
	}
	if v == c.lastVersion {
		return true
	}
	// Not prepared: it runs only after a commit, and the table exists
	// only once migration 000006 has run (until then this fails, and the
	// cache is not used).
	var n int64
	if err := c.conn.QueryRowContext(ctx, `SELECT n FROM session_cache_epoch WHERE id = 1`).Scan(&n); err != nil {
		return false
	}
	w.mu.Lock()
	// A connection whose read is older than another's has nothing new to
	// report: the newer read already flushed everything up to it.
	if n > w.seen {
		w.seen = n
		w.all()
	}
	w.mu.Unlock()
	// Recorded only now: had the counter read failed, the next call must
	// look again.
	c.lastVersion = v
	return true
}

// close closes the feed's connections, which must not be in use; a nil
// watcher is a no-op.
func (w *watcher) close() error {
	if w == nil {
		return nil
	}
	var errs []error
	for _, c := range w.every {
		errs = append(errs, c.close())
	}
	if w.shm != nil {
		errs = append(errs, w.shm.Close())
	}
	return errors.Join(append(errs, w.db.Close())...)
}

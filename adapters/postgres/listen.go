package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SessionCacheChannel is the NOTIFY channel of migration 000006's triggers.
const SessionCacheChannel = "authd_session_cache"

// SessionCacheEchoChannel carries SyncSessions' markers and their
// acknowledgements.
const SessionCacheEchoChannel = "authd_session_cache_echo"

// syncTimeout bounds how long SyncSessions waits for acknowledgements.
const syncTimeout = 2 * time.Second

// ListenerApplicationName names the listener's connection in
// pg_stat_activity.
const ListenerApplicationName = "authd-session-cache"

// Listener timing: how long the connection may stay silent before it is
// probed (a network that drops packets without a reset is otherwise only
// noticed by TCP, minutes later), how long a probe may take, and the
// backoff between reconnects.
const (
	listenerPingEvery   = time.Second
	listenerPingTimeout = 2 * time.Second
	listenerRetryMax    = 5 * time.Second
)

// WatchSessions starts the session cache's change feed (see
// adapters/sessioncache and migration 000006): a connection of its own,
// outside the pool, that LISTENs on SessionCacheChannel and calls user(id)
// or, for an empty payload, all() for every notification. current reports
// whether that connection is up. On every (re)connect it calls all() once
// LISTEN is in place and only then reports true, so notifications missed
// while it was down never matter. It stops when ctx ends or the DB closes.
func (d *DB) WatchSessions(ctx context.Context, user func(int64), all func()) (func(context.Context) bool, error) {
	if d.watch != nil {
		return nil, errors.New("postgres: WatchSessions called twice")
	}
	cfg := d.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	ctx, cancel := context.WithCancel(ctx)
	l := &listener{cfg: cfg, pool: d.pool, user: user, all: all, cancel: cancel, done: make(chan struct{}), waiting: map[string]*syncWait{}}
	d.watch = l
	go l.run(ctx)
	return func(context.Context) bool { return l.up.Load() }, nil
}

type listener struct {
	cfg    *pgx.ConnConfig
	pool   *pgxpool.Pool
	user   func(int64)
	all    func()
	up     atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	waiting map[string]*syncWait // SyncSessions markers not acknowledged yet
}

// SyncSessions returns once every instance's listener has received every
// notification committed before the call. It counts the listeners on this
// database (pg_stat_activity, by ListenerApplicationName), sends a marker
// on SessionCacheEchoChannel and waits until that many listeners have
// acknowledged it. PostgreSQL delivers notifications to each listener in
// commit order, and a listener applies each one before it reads the next,
// so a listener that acknowledges the marker has already forgotten what
// the changes before it changed. A writer calls it after a change that
// ends access (a logout, a deactivation) and before answering, so a
// client that goes straight on to another instance finds the change there.
// Without a listener here it returns at once (this cache is bypassed
// then). If the acknowledgements do not all come within syncTimeout (an
// instance stopped mid-way, a listener reconnecting, which flushes its
// cache anyway) it flushes this cache and returns.
func (d *DB) SyncSessions(ctx context.Context) error {
	l := d.watch
	if l == nil {
		return d.syncWithoutListener(ctx)
	}
	if !l.up.Load() {
		return nil
	}
	var listeners int
	if err := l.pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, ListenerApplicationName).Scan(&listeners); err != nil {
		l.all()
		return storageError(err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	marker := hex.EncodeToString(b[:])
	w := &syncWait{need: listeners, done: make(chan struct{})}
	l.mu.Lock()
	l.waiting[marker] = w
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, marker)
		l.mu.Unlock()
	}()
	if _, err := l.pool.Exec(ctx, "SELECT pg_notify($1, $2)", SessionCacheEchoChannel, markerPrefix+marker); err != nil {
		l.all()
		return storageError(err)
	}
	t := time.NewTimer(syncTimeout)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		l.all()
	case <-ctx.Done():
		l.all()
	}
	return nil
}

// syncWithoutListener is SyncSessions for a process that runs no session
// cache (the operator CLI): on a connection of its own it listens on the
// echo channel, sends a marker and waits, up to syncTimeout, for every
// running instance's listener to acknowledge it. Its result is only
// whether it got them all; its write happened either way.
func (d *DB) syncWithoutListener(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return storageError(err)
	}
	// LISTEN stays with the connection: it must not go back to the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	var listeners int
	if err := c.QueryRow(ctx, `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, ListenerApplicationName).Scan(&listeners); err != nil {
		return storageError(err)
	}
	if listeners == 0 {
		return nil
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	marker := hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, "LISTEN "+SessionCacheEchoChannel); err != nil {
		return storageError(err)
	}
	if _, err := c.Exec(ctx, "SELECT pg_notify($1, $2)", SessionCacheEchoChannel, markerPrefix+marker); err != nil {
		return storageError(err)
	}
	for got := 0; got < listeners; {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return storageError(err)
		}
		if n.Payload == ackPrefix+marker {
			got++
		}
	}
	return nil
}

// The echo channel's payloads: a marker to acknowledge, and an
// acknowledgement.
const (
	markerPrefix = "m:"
	ackPrefix    = "a:"
	probePrefix  = "p:" // a listener's own delivery check; others ignore it
)

// syncWait counts the acknowledgements of one marker.
type syncWait struct {
	need, got int
	done      chan struct{}
}

// echo handles the echo channel: a marker (from any instance) is
// acknowledged, off the listener's goroutine, once everything before it
// has been applied (it has: notifications are handled in order); an
// acknowledgement counts toward this process's wait for that marker.
func (l *listener) echo(ctx context.Context, payload string) {
	if marker, ok := strings.CutPrefix(payload, markerPrefix); ok {
		go func() {
			actx, cancel := context.WithTimeout(ctx, syncTimeout)
			defer cancel()
			_, _ = l.pool.Exec(actx, "SELECT pg_notify($1, $2)", SessionCacheEchoChannel, ackPrefix+marker)
		}()
		return
	}
	marker, ok := strings.CutPrefix(payload, ackPrefix)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.waiting[marker]; ok {
		if w.got++; w.got == w.need {
			close(w.done)
		}
	}
}

// stop ends the listener and waits for it; a nil listener is a no-op.
func (l *listener) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		if l.session(ctx) {
			wait = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, listenerRetryMax)
	}
}

// session connects, listens and dispatches notifications until the
// connection fails; it reports whether it got as far as listening.
func (l *listener) session(ctx context.Context) bool {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return false
	}
	defer func() {
		l.up.Store(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+SessionCacheChannel+"; LISTEN "+SessionCacheEchoChannel); err != nil {
		return false
	}
	// Trusted only once a notification sent through the pool has come
	// back: behind a pooler that does not carry LISTEN (PgBouncer in
	// transaction mode) none would, and the cache stays bypassed.
	if !l.probe(ctx, conn) {
		return false
	}
	l.all()
	l.up.Store(true)
	for {
		wctx, cancel := context.WithTimeout(ctx, listenerPingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(ctx, n)
			continue
		case ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true
		}
		// Quiet for a while: make sure notifications still arrive.
		if !l.probe(ctx, conn) {
			return true
		}
	}
}

// dispatch applies one notification.
func (l *listener) dispatch(ctx context.Context, n *pgconn.Notification) {
	switch {
	case n.Channel != SessionCacheEchoChannel:
		l.deliver(n.Payload)
	case !strings.HasPrefix(n.Payload, probePrefix):
		l.echo(ctx, n.Payload)
	}
}

// probe sends a notification of its own through the pool and waits, up
// to listenerPingTimeout, to receive it on conn, applying whatever
// arrives before it: it proves that the connection is up and that
// notifications reach it.
func (l *listener) probe(ctx context.Context, conn *pgx.Conn) bool {
	var b [12]byte
	_, _ = rand.Read(b[:])
	marker := probePrefix + hex.EncodeToString(b[:])
	pctx, cancel := context.WithTimeout(ctx, listenerPingTimeout)
	defer cancel()
	if _, err := l.pool.Exec(pctx, "SELECT pg_notify($1, $2)", SessionCacheEchoChannel, marker); err != nil {
		return false
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			return false
		}
		if n.Channel == SessionCacheEchoChannel && n.Payload == marker {
			return true
		}
		l.dispatch(ctx, n)
	}
}

func (l *listener) deliver(payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		l.all()
		return
	}
	l.user(id)
}

// TerminateBackends ends every connection to this database whose
// application_name is name (for tests: ListenerApplicationName kills the
// session cache's listener).
func (d *DB) TerminateBackends(ctx context.Context, name string) error {
	_, err := d.pool.Exec(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, name)
	return err
}

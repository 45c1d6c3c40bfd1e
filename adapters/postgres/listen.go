package postgres

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// SessionCacheChannel is the NOTIFY channel of migration 000006's triggers.
const SessionCacheChannel = "authd_session_cache"

// ListenerApplicationName names the listener's connection in
// pg_stat_activity.
const ListenerApplicationName = "authd-session-cache"

// Listener timing: how long the connection may stay silent before it is
// pinged (a network that drops packets without a reset is otherwise only
// noticed by TCP, minutes later), and the backoff between reconnects.
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
	l := &listener{cfg: cfg, user: user, all: all, cancel: cancel, done: make(chan struct{})}
	d.watch = l
	go l.run(ctx)
	return func(context.Context) bool { return l.up.Load() }, nil
}

type listener struct {
	cfg    *pgx.ConnConfig
	user   func(int64)
	all    func()
	up     atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
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
	if _, err := conn.Exec(ctx, "LISTEN "+SessionCacheChannel); err != nil {
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
			l.deliver(n.Payload)
			continue
		case ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true
		}
		// Quiet for a while: make sure the connection is still there.
		pctx, cancel := context.WithTimeout(ctx, listenerPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true
		}
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

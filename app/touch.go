package app

import (
	"context"
	"sync"
	"time"
)

// touchLog remembers when this process last wrote each session's last
// use, so an authenticated request costs a write at most once per
// touchEvery per session (the store's Touch is conditional too, which
// covers several instances). Bounded: when it holds maxTouched sessions
// it starts afresh, which costs only some redundant conditional writes.
type touchLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const maxTouched = 100_000

// due reports whether session id's last use should be written at now,
// and if so notes it as written.
func (l *touchLog) due(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[id]; ok && now.Sub(t) < touchEvery {
		return false
	}
	if l.last == nil || len(l.last) >= maxTouched {
		l.last = make(map[string]time.Time)
	}
	l.last[id] = now
	return true
}

// touch records the session's use, best effort: a failure only leaves
// last_used_at older than it could be, and must not fail the request.
func (s *Service) touch(ctx context.Context, sessionID string, now time.Time) {
	if s.touched.due(sessionID, now) {
		_ = s.sessions.Touch(ctx, sessionID, now, touchEvery)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/authd/authd/ports"
)

// Stats reports the connection pool's state, for metrics.
func (d *DB) Stats() sql.DBStats { return d.db.Stats() }

// LiveSessions counts the sessions neither revoked nor expired at now,
// for metrics. Returns EUNAVAILABLE.
func (d *DB) LiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1`, formatTime(now)).Scan(&n)
	if err != nil {
		return 0, storageError(err)
	}
	return n, nil
}

func poolStats(s sql.DBStats) ports.PoolStats {
	return ports.PoolStats{
		Open: s.OpenConnections, InUse: s.InUse, Idle: s.Idle, Max: s.MaxOpenConnections,
		Waits: s.WaitCount, WaitTime: s.WaitDuration,
	}
}

// SharedRateLimits reports that SQLite has no rate-limit store shared
// between instances: it serves one instance, whose counters can live in
// memory.
func (d *DB) SharedRateLimits() (ports.RateLimitStore, bool) { return nil, false }

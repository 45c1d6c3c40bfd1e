package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/ports"
)

// Stats reports the connection pool's state, for metrics.
func (d *DB) Stats() *pgxpool.Stat { return d.pool.Stat() }

// LiveSessions counts the sessions neither revoked nor expired at now,
// for metrics. Returns EUNAVAILABLE.
func (d *DB) LiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := d.pool.QueryRow(ctx,
		`SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1`, now).Scan(&n)
	if err != nil {
		return 0, storageError(err)
	}
	return n, nil
}

func poolStats(s *pgxpool.Stat) ports.PoolStats {
	return ports.PoolStats{
		Open: int(s.TotalConns()), InUse: int(s.AcquiredConns()), Idle: int(s.IdleConns()), Max: int(s.MaxConns()),
		Waits: s.EmptyAcquireCount(), WaitTime: s.EmptyAcquireWaitTime(),
		Acquires: s.AcquireCount(), AcquireTime: s.AcquireDuration(), CountsAcquires: true,
	}
}

// SharedRateLimits returns the rate-limit store on this database, which
// every instance on it shares (see RateLimits).
func (d *DB) SharedRateLimits() (ports.RateLimitStore, bool) { return d.RateLimits(), true }

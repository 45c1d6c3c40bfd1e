package sqlite

import (
	"context"
	"database/sql"
	"time"
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

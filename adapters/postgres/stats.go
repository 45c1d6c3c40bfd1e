package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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

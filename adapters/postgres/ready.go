package postgres

import (
	"context"

	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/migration"
)

// ReadyDatabase is the "database" readiness check: "ok" when the database
// answers a query, else "unavailable".
func (d *DB) ReadyDatabase(ctx context.Context) (string, bool) {
	if err := d.Ping(ctx); err != nil {
		return "unavailable", false
	}
	return "ok", true
}

// ReadyMigrations is the "migrations" readiness check (see
// migration.State).
func (d *DB) ReadyMigrations(ctx context.Context) (string, bool) {
	v, dirty, err := d.SchemaVersion(ctx)
	return migration.State(v, dirty, err, d.latest)
}

// PoolStats reports the connection pool's state, for metrics.
func (d *DB) PoolStats() ports.PoolStats { return poolStats(d.Stats()) }

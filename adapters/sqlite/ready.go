package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/authd/authd/ports"
)

// ReadyDatabase is the "database" readiness check: "ok" when the database
// answers a query, else "unavailable".
func (d *DB) ReadyDatabase(ctx context.Context) (string, bool) {
	if err := d.Ping(ctx); err != nil {
		return "unavailable", false
	}
	return "ok", true
}

// ReadyMigrations is the "migrations" readiness check: "ok" when the
// schema is at or past the newest migration this binary ships, "pending"
// when older, "dirty" when a migration failed half-way, "unknown" when the
// database does not answer. A newer schema is ready: during a rolling
// update the old instances keep serving after the new ones migrate.
func (d *DB) ReadyMigrations(ctx context.Context) (string, bool) {
	v, dirty, err := d.SchemaVersion(ctx)
	switch {
	case err != nil:
		return "unknown", false
	case dirty:
		return "dirty", false
	case v < d.latest:
		return "pending", false
	}
	return "ok", true
}

// PoolStats reports the connection pool's state, for metrics.
func (d *DB) PoolStats() ports.PoolStats { return poolStats(d.Stats()) }

// latestMigration is the highest NNN in the NNN_name.up.sql files.
func latestMigration(files fs.FS) (int, error) {
	ups, err := fs.Glob(files, "*.up.sql")
	if err != nil {
		return 0, err
	}
	latest := -1
	for _, name := range ups {
		prefix, _, _ := strings.Cut(name, "_")
		n, err := strconv.Atoi(prefix)
		if err != nil {
			return 0, fmt.Errorf("sqlite: migration %s: no version number", name)
		}
		latest = max(latest, n)
	}
	if latest < 0 {
		return 0, errors.New("sqlite: no migrations embedded")
	}
	return latest, nil
}

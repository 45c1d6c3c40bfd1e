package ports

import "time"

// PoolStats is a snapshot of a database connection pool, in terms both
// PostgreSQL's pgxpool and database/sql (SQLite) report: each store
// adapter fills it, the metrics adapter exports it.
type PoolStats struct {
	// Open is every connection, in use or idle (pgxpool TotalConns,
	// sql.DBStats OpenConnections); Max is the pool's bound.
	Open, InUse, Idle, Max int
	// Waits counts acquisitions that found no idle connection and had to
	// wait (pgxpool EmptyAcquireCount, sql.DBStats WaitCount), and
	// WaitTime is the time they waited together.
	Waits    int64
	WaitTime time.Duration
	// Acquires counts every acquisition and AcquireTime the time they
	// took together. Only pgxpool counts these: CountsAcquires says so,
	// and without it the two metrics are left out rather than shown as 0.
	Acquires       int64
	AcquireTime    time.Duration
	CountsAcquires bool
}

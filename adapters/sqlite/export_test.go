package sqlite

// FullChecks counts the session-cache feed's full checks (PRAGMA
// data_version and the counter), for tests of its fast path.
func FullChecks(d *DB) int64 { return d.watch.fullRuns.Load() }

package sqlite_test

import (
	"context"
	"testing"
)

// TestReadinessChecks walks the schema from none to pending, current,
// dirty, and a closed database, through the two /readyz checks, and checks
// the pool statistics and the rate-limit answer on the way.
func TestReadinessChecks(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db := repoOpen(t, path)
	want := func(what, wantDB, wantMig string) {
		t.Helper()
		state, ok := db.ReadyDatabase(ctx)
		if state != wantDB || ok != (wantDB == "ok") {
			t.Errorf("%s: database = %q, %v; want %q", what, state, ok, wantDB)
		}
		state, ok = db.ReadyMigrations(ctx)
		if state != wantMig || ok != (wantMig == "ok") {
			t.Errorf("%s: migrations = %q, %v; want %q", what, state, ok, wantMig)
		}
	}
	want("empty file", "ok", "pending")
	m := repoMigrator(t, db)
	if err := m.Steps(1); err != nil {
		t.Fatal(err)
	}
	want("first migration only", "ok", "pending")
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	want("migrated", "ok", "ok")
	if _, err := repoRawDB(t, path).Exec(`UPDATE schema_migrations SET dirty = 1`); err != nil {
		t.Fatal(err)
	}
	want("dirty", "ok", "dirty")

	if s := db.PoolStats(); s.Max < 1 || s.Open < 1 || s.CountsAcquires {
		t.Errorf("PoolStats = %+v, want an open pool with a bound and no acquire counts", s)
	}
	if store, shared := db.SharedRateLimits(); shared || store != nil {
		t.Errorf("SharedRateLimits = %v, %v; SQLite has none", store, shared)
	}
	db.Close()
	want("closed", "unavailable", "unknown")
}

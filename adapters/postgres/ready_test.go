package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
)

// TestReadinessChecks walks the schema from none to pending, current,
// dirty, and a closed pool, through the two /readyz checks, and checks the
// pool statistics and the shared rate-limit store on the way.
func TestReadinessChecks(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDatabase(t)
	db, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	want("empty database", "ok", "pending")
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Steps(1); err != nil {
		t.Fatal(err)
	}
	want("first migration only", "ok", "pending")
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	want("migrated", "ok", "ok")
	// The migrator holds pool connections until closed, and closing the
	// pool waits for them.
	if srcErr, dbErr := m.Close(); srcErr != nil || dbErr != nil {
		t.Fatal(srcErr, dbErr)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	want("dirty", "ok", "dirty")

	if s := db.PoolStats(); s.Max < 1 || s.Open < 1 || !s.CountsAcquires || s.Acquires < 1 {
		t.Errorf("PoolStats = %+v, want an open pool with a bound and acquire counts", s)
	}
	store, shared := db.SharedRateLimits()
	if !shared || store == nil {
		t.Fatalf("SharedRateLimits = %v, %v; want the database's store", store, shared)
	}
	if n, _, err := store.Hit(ctx, "ready-test", time.Minute, time.Now()); err != nil || n != 1 {
		t.Errorf("Hit through the shared store = %d, %v", n, err)
	}
	db.Close()
	want("closed", "unavailable", "unknown")
}

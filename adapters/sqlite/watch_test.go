package sqlite_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/domain"
)

// TestWatchFastPath: while nothing is committed, the feed answers from
// the WAL-index header without asking SQLite; a commit by another handle
// on the file (what the operator CLI is) makes the next call check in
// full and pass the change on; and a write that changes nothing the cache
// depends on still costs only that one full check.
func TestWatchFastPath(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db := repoOpenMigrated(t, path)
	var flushes atomic.Int64
	current, err := db.WatchSessions(ctx, func(int64) {}, func() { flushes.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	other := repoOpen(t, path)
	u, err := other.Users().Create(ctx, mustUser(t, "fast@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if !current(ctx) { // the first call checks in full
		t.Fatal("current = false")
	}
	full := sqlite.FullChecks(db)
	for range 100 {
		if !current(ctx) {
			t.Fatal("current = false")
		}
	}
	if got := sqlite.FullChecks(db) - full; got != 0 {
		t.Fatalf("%d full checks with nothing committed, want 0", got)
	}
	before := flushes.Load()
	if err := other.Users().SetActive(ctx, u.ID(), false); err != nil {
		t.Fatal(err)
	}
	if !current(ctx) {
		t.Fatal("current = false")
	}
	if sqlite.FullChecks(db) != full+1 || flushes.Load() != before+1 {
		t.Fatalf("after another handle's commit: %d full checks, %d flushes; want 1 and 1", sqlite.FullChecks(db)-full, flushes.Load()-before)
	}
	if !current(ctx) || sqlite.FullChecks(db) != full+1 {
		t.Fatalf("the next call checked in full again (%d)", sqlite.FullChecks(db)-full)
	}
}

func mustUser(t *testing.T, email string) *domain.User {
	t.Helper()
	e, err := domain.ParseEmail(email)
	if err != nil {
		t.Fatal(err)
	}
	u, err := domain.NewUser(e, "$2a$04$hash", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMigration4Backfill stores a session under schema 3, migrates up and
// reads it back: its last use is its creation and its client is unknown.
// Down to 3 and up again keeps it.
func TestMigration4Backfill(t *testing.T) {
	ctx := context.Background()
	path := repoTempPath(t)
	db := repoOpen(t, path)
	m := repoMigrator(t, db)
	if err := m.Migrate(3); err != nil {
		t.Fatal(err)
	}
	u := repoCreate(t, db.Users(), "backfill@example.com")
	raw := repoRawDB(t, path)
	created := "2026-03-04T05:06:07.123456Z"
	if _, err := raw.Exec(`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('old', ?, ?, '2026-04-04T05:06:07.123456Z')`, u.ID(), created); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (x'01', 'old', ?)`, created); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	check := func(op string) {
		t.Helper()
		st, err := db.Sessions().Token(ctx, []byte{1})
		if err != nil {
			t.Fatalf("%s: Token: %v", op, err)
		}
		if s := st.Session; !s.LastUsedAt().Equal(want) || s.UserAgent() != "" || s.ClientAddr() != "" {
			t.Errorf("%s: last used %s, client %q %q; want %s and none", op, s.LastUsedAt(), s.UserAgent(), s.ClientAddr(), want)
		}
	}
	for i, step := range []uint{4, 3, 4} {
		if err := m.Migrate(step); err != nil {
			t.Fatalf("step %d: Migrate(%d): %v", i, step, err)
		}
		if step == 4 {
			check(fmt.Sprintf("step %d", i))
		}
	}
	live, err := db.Sessions().ListLive(ctx, u.ID(), want)
	if err != nil || len(live) != 1 {
		t.Fatalf("ListLive after the migration: %d sessions, %v", len(live), err)
	}
}

package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/domain"
)

// TestMigration4Backfill stores a session under schema 3, migrates up and
// reads it back: its last use is its creation and its client is unknown.
// Down to 3 and up again keeps it.
func TestMigration4Backfill(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t).NewDatabase(t)
	db, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Migrate(3); err != nil {
		t.Fatal(err)
	}
	email, _ := domain.ParseEmail("backfill@example.com")
	nu, _ := domain.NewUser(email, "hash", time.Now())
	u, err := db.Users().Create(ctx, nu)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	created := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	if _, err := conn.Exec(ctx, `
		WITH s AS (INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('old', $1, $2, $3) RETURNING id)
		INSERT INTO refresh_tokens (hash, session_id, issued_at) SELECT '\x01'::bytea, id, $2 FROM s`,
		u.ID(), created, created.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i, step := range []uint{4, 3, 4} {
		if err := m.Migrate(step); err != nil {
			t.Fatalf("step %d: Migrate(%d): %v", i, step, err)
		}
		if step != 4 {
			continue
		}
		st, err := db.Sessions().Token(ctx, []byte{1})
		if err != nil {
			t.Fatalf("step %d: Token: %v", i, err)
		}
		if s := st.Session; !s.LastUsedAt().Equal(created) || s.UserAgent() != "" || s.ClientAddr() != "" {
			t.Errorf("step %d: last used %s, client %q %q; want %s and none", i, s.LastUsedAt(), s.UserAgent(), s.ClientAddr(), created)
		}
	}
	live, err := db.Sessions().ListLive(ctx, u.ID(), created)
	if err != nil || len(live) != 1 {
		t.Fatalf("ListLive after the migration: %d sessions, %v", len(live), err)
	}
}

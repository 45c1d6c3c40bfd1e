package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRevokeBeyondLocksOnlyTheSurplus: a login enforcing the session cap
// locks only the sessions it ends, not the ones it keeps: while another
// transaction holds the newest session's row (a refresh of it, say), the
// cap still ends the oldest at once instead of queueing behind it.
func TestRevokeBeyondLocksOnlyTheSurplus(t *testing.T) {
	ctx := context.Background()
	db, _ := OpenMigratedForTest(t)
	var userID int64
	if err := db.pool.QueryRow(ctx,
		`INSERT INTO users (email, password_hash, created_at) VALUES ('cap@example.com', 'x', now()) RETURNING id`).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if _, err := db.pool.Exec(ctx,
			`INSERT INTO sessions (id, user_id, created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $3)`,
			fmt.Sprintf("s%d", i), userID, start.Add(time.Duration(i)*time.Minute), start.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(ctx) }()
	if _, err := holder.Exec(ctx, `SELECT 1 FROM sessions WHERE id = 's4' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := db.Sessions().RevokeBeyond(bounded, userID, 2, start.Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("RevokeBeyond(keep 2) while the newest session is locked: %d, %v; want 3 at once", n, err)
	}
	var live []string
	rows, err := db.pool.Query(ctx, `SELECT id FROM sessions WHERE revoked_at IS NULL ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		live = append(live, id)
	}
	if fmt.Sprint(live) != "[s3 s4]" {
		t.Errorf("live sessions %v, want [s3 s4]", live)
	}
}

package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/ports"
)

// TestListPlans checks with EXPLAIN QUERY PLAN that List with an email
// prefix searches users_email_key by range instead of scanning the table,
// so no separate prefix index is needed; and that the per-user session
// queries use sessions_user_id_created_at_idx.
func TestListPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}

	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := db.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}

	query, args := listQuery(ports.UserQuery{EmailPrefix: "Alice", AfterID: 10, Limit: 50})
	got := plan(query, args...)
	t.Logf("List with a prefix:\n%s", got)
	if !strings.Contains(got, "USING INDEX users_email_key (email>? AND email<?)") {
		t.Errorf("List with a prefix does not range-scan users_email_key:\n%s", got)
	}

	query, args = listQuery(ports.UserQuery{AfterID: 10, Limit: 50})
	got = plan(query, args...)
	t.Logf("List without a prefix:\n%s", got)
	if !strings.Contains(got, "USING INTEGER PRIMARY KEY (rowid>?)") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("List without a prefix is not a rowid range in order:\n%s", got)
	}

	got = plan(`SELECT `+sessionColumns+` FROM sessions AS s
		WHERE s.user_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
		ORDER BY s.created_at DESC, s.id DESC`, 1, "x")
	t.Logf("ListLive:\n%s", got)
	if !strings.Contains(got, "sessions_user_id_created_at_idx (user_id=?)") {
		t.Errorf("ListLive does not use sessions_user_id_created_at_idx:\n%s", got)
	}
}

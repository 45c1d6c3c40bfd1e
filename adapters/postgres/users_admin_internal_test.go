package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/authd/authd/ports"
)

// TestListPlan checks with EXPLAIN that List with an email prefix, on a
// table large enough for the planner to care, reads users_email_pattern_idx
// by range (the ~>=~ / ~<~ index condition text_pattern_ops gives a LIKE
// prefix) rather than scanning users.
func TestListPlan(t *testing.T) {
	ctx := context.Background()
	db, _ := OpenMigratedForTest(t)
	if _, err := db.pool.Exec(ctx, `
		INSERT INTO users (email, password_hash, created_at)
		SELECT 'user' || i || '@example.com', 'x', now() FROM generate_series(1, 20000) AS i;
		ANALYZE users`); err != nil {
		t.Fatal(err)
	}

	query, args := listQuery(ports.UserQuery{EmailPrefix: "User123_", AfterID: 0, Limit: 50})
	// EXPLAIN cannot take parameters; these values are safe literals.
	for i, a := range args {
		lit := fmt.Sprint(a)
		if _, ok := a.(string); ok {
			lit = "'" + lit + "'"
		}
		query = strings.Replace(query, fmt.Sprintf("$%d", i+1), lit, 1)
	}
	rows, err := db.pool.Query(ctx, "EXPLAIN "+query)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	t.Logf("%s\n%s", query, got)
	if !strings.Contains(got, "users_email_pattern_idx") || !strings.Contains(got, "~>=~") {
		t.Errorf("List with a prefix does not range-scan users_email_pattern_idx:\n%s", got)
	}
}

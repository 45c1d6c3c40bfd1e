package pgtest

import (
	"os"
	"strings"
	"testing"
)

func TestStartClusterOutsideATest(t *testing.T) {
	s, err := StartCluster()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skipf("PostgreSQL tests skipped: %v", err)
	}
	defer func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}()
	for _, bad := range []string{"", "Bench", "a-b", "x; DROP DATABASE postgres", strings.Repeat("a", 64)} {
		if _, err := s.CreateDatabase(bad); err == nil {
			t.Errorf("CreateDatabase(%q): no error", bad)
		}
	}
	u, err := s.CreateDatabase("bench_1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(u, "/bench_1?sslmode=disable") {
		t.Errorf("url %q", u)
	}
	if out, err := s.psql("bench_1", "SELECT 1"); err != nil {
		t.Fatalf("query the new database: %v %s", err, out)
	}
}

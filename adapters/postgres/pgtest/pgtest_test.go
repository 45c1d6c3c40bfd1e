package pgtest

import (
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartAndCreateDatabase(t *testing.T) {
	s := Start(t)
	u := s.NewDatabase(t)
	if !strings.HasPrefix(u, "postgres://postgres@127.0.0.1:") || !strings.Contains(u, "/authd_test_") {
		t.Fatalf("url %q", u)
	}
	out, err := s.psql(u[strings.LastIndex(u, "/")+1:strings.Index(u, "?")], "SELECT 1")
	if err != nil {
		t.Fatalf("query the new database: %v %s", err, out)
	}
}

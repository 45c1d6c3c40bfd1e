package postgres

import (
	"context"
	"testing"

	"github.com/authd/authd/adapters/postgres/pgtest"
)

// OpenMigratedForTest opens a fresh database on the shared throwaway
// cluster, migrated up, and returns it with its URL: for this package's
// tests, internal and external.
func OpenMigratedForTest(t *testing.T) (*DB, string) {
	t.Helper()
	url := pgtest.Start(t).NewDatabase(t)
	db, err := Open(context.Background(), Config{URL: url, MaxConns: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	return db, url
}

package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/ports/porttest"
)

// Each subtest gets its own fresh database: the outbox cases count every
// message in it.
func TestEmailStoreContract(t *testing.T) {
	porttest.TestEmailStore(t, func(t *testing.T) porttest.EmailStore {
		db, url := postgres.OpenMigratedForTest(t)
		raw, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(raw.Close)
		return porttest.EmailStore{
			Users: db.Users(), Tokens: db.EmailTokens(), Outbox: db.Outbox(),
			Peek: func(t *testing.T, id int64) (string, string) {
				t.Helper()
				var (
					data    string
					lastErr *string
				)
				if err := raw.QueryRow(context.Background(),
					`SELECT data, last_error FROM mail_outbox WHERE id = $1`, id).Scan(&data, &lastErr); err != nil {
					t.Fatalf("peek at message %d: %v", id, err)
				}
				if lastErr == nil {
					return data, ""
				}
				return data, *lastErr
			},
		}
	})
}

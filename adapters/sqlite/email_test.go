package sqlite_test

import (
	"database/sql"
	"testing"

	"github.com/authd/authd/ports/porttest"
)

// Each subtest gets its own fresh file: the outbox cases count every
// message in the database.
func TestEmailStoreContract(t *testing.T) {
	porttest.TestEmailStore(t, func(t *testing.T) porttest.EmailStore {
		path := repoTempPath(t)
		db := repoOpenMigrated(t, path)
		raw := repoRawDB(t, path)
		return porttest.EmailStore{
			Users: db.Users(), Tokens: db.EmailTokens(), Outbox: db.Outbox(),
			Peek: func(t *testing.T, id int64) (string, string) {
				t.Helper()
				var (
					data    string
					lastErr sql.NullString
				)
				if err := raw.QueryRow(`SELECT data, last_error FROM mail_outbox WHERE id = ?`, id).Scan(&data, &lastErr); err != nil {
					t.Fatalf("peek at message %d: %v", id, err)
				}
				return data, lastErr.String
			},
		}
	})
}

package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// List pages through users in id order. An email prefix is matched with
// lower(email) LIKE 'prefix%', the prefix escaped, which
// users_email_pattern_idx (lower(email) text_pattern_ops) serves as a
// range scan under any database collation.
func (r *UserRepository) List(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	query, args := listQuery(q)
	rows, err := r.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, storageError(err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.User, error) { return scanUser(row) })
	if err != nil {
		return nil, storageError(err)
	}
	return users, nil
}

// listQuery is List's statement for a valid q.
func listQuery(q ports.UserQuery) (string, []any) {
	query := `SELECT ` + userColumns + ` FROM users WHERE id > $1`
	args := []any{q.AfterID, q.Limit}
	if q.EmailPrefix != "" {
		// Stored emails are lower-cased by domain.ParseEmail; lower() folds
		// the stored side too, as users_email_key does.
		query += ` AND lower(email) LIKE $3 ESCAPE '\'`
		args = append(args, escapeLike(strings.ToLower(q.EmailPrefix))+"%")
	}
	query += ` ORDER BY id LIMIT $2`
	return query, args
}

// SetActive returns domain.ErrUserNotFound when there is no such user;
// PostgreSQL counts a matched row even when the value stays the same.
func (r *UserRepository) SetActive(ctx context.Context, id int64, active bool) error {
	tag, err := r.pool.Exec(ctx, `UPDATE users SET is_active = $2 WHERE id = $1`, id, active)
	return oneRow(tag, err, domain.ErrUserNotFound)
}

// Delete removes the user; its sessions and their tokens go by ON DELETE
// CASCADE.
func (r *UserRepository) Delete(ctx context.Context, id int64) error {
	tag, err := r.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	return oneRow(tag, err, domain.ErrUserNotFound)
}

// oneRow turns a command that touched no row into notFound.
func oneRow(tag pgconn.CommandTag, err error, notFound error) error {
	if err != nil {
		return storageError(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound
	}
	return nil
}

// escapeLike makes s match itself literally in a LIKE pattern with
// ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// List pages through users in id order. An email prefix is matched with a
// range on users_email_key (email >= prefix AND email < the next string
// after every string with that prefix), which the index serves, and a
// LIKE with the prefix escaped, which makes the match exact: the range
// bound is compared under NOCASE, which can widen it.
func (r *UserRepository) List(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	query, args := listQuery(q)
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var users []*domain.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	return users, nil
}

// listQuery is List's statement for a valid q.
func listQuery(q ports.UserQuery) (string, []any) {
	query := `SELECT ` + userColumns + ` FROM users WHERE id > ?`
	args := []any{q.AfterID}
	if q.EmailPrefix != "" {
		// Stored emails are lower-cased by domain.ParseEmail with the same
		// function, so this is the case-insensitive match for every
		// script, not only the ASCII that NOCASE and LIKE fold.
		prefix := strings.ToLower(q.EmailPrefix)
		query += ` AND email >= ? AND email LIKE ? ESCAPE '\'`
		args = append(args, prefix, escapeLike(prefix)+"%")
		if upper, ok := prefixUpperBound(prefix); ok {
			query += ` AND email < ?`
			args = append(args, upper)
		}
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, q.Limit)
	return query, args
}

// SetActive returns domain.ErrUserNotFound when there is no such user.
// SQLite counts a matched row as changed even when the value stays the
// same, so setting the current state is found too.
func (r *UserRepository) SetActive(ctx context.Context, id int64, active bool) error {
	res, err := r.db.ExecContext(ctx, `UPDATE users SET is_active = ? WHERE id = ?`, active, id)
	return oneRow(res, err, domain.ErrUserNotFound)
}

// Delete removes the user; its sessions and their tokens go by ON DELETE
// CASCADE (foreign_keys is on for every connection, see fileDSN).
func (r *UserRepository) Delete(ctx context.Context, id int64) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	return oneRow(res, err, domain.ErrUserNotFound)
}

// oneRow turns an Exec result that touched no row into notFound.
func oneRow(res interface{ RowsAffected() (int64, error) }, err error, notFound error) error {
	if err != nil {
		return storageError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return storageError(err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// userColumns are what scanUser reads.
const userColumns = `id, email, password_hash, is_active, created_at, email_verified_at`

// scanUser scans userColumns; no row is sql.ErrNoRows, unwrapped, for the
// caller to name.
func scanUser(row rowScanner) (*domain.User, error) {
	var (
		id              int64
		email, hash, ts string
		active          bool
		verified        sql.NullString
	)
	if err := row.Scan(&id, &email, &hash, &active, &ts, &verified); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, storageError(err)
	}
	created, err := parseTime("users.created_at", ts)
	if err != nil {
		return nil, err
	}
	var verifiedAt time.Time
	if verified.Valid {
		if verifiedAt, err = parseTime("users.email_verified_at", verified.String); err != nil {
			return nil, err
		}
	}
	return domain.RehydrateUser(id, email, hash, active, created).WithEmailVerifiedAt(verifiedAt), nil
}

// nullTime is NULL for the zero time, the stored text otherwise.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// escapeLike makes s match itself literally in a LIKE pattern with
// ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// prefixUpperBound is the least string greater than every string that
// starts with prefix: prefix with its last byte below 0xFF incremented and
// what follows it dropped. ok is false when there is none (all 0xFF).
func prefixUpperBound(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

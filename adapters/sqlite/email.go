package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// SetEmailVerified returns domain.ErrUserNotFound when there is no such
// user.
func (r *UserRepository) SetEmailVerified(ctx context.Context, id int64, at time.Time) error {
	res, err := r.db.ExecContext(ctx, `UPDATE users SET email_verified_at = ? WHERE id = ?`, formatTime(at), id)
	return oneRow(res, err, domain.ErrUserNotFound)
}

// ChangeEmail returns domain.ErrEmailTaken on a unique-index violation,
// domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ChangeEmail(ctx context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	res, err := r.db.ExecContext(ctx, `UPDATE users SET email = ?, email_verified_at = ? WHERE id = ?`,
		email.String(), nullTime(verifiedAt), id)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return domain.ErrEmailTaken
	}
	return oneRow(res, err, domain.ErrUserNotFound)
}

func isConstraint(err error, code int) bool {
	var se *gosqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// EmailTokens returns the emailed-token repository on this database.
func (d *DB) EmailTokens() ports.EmailTokenRepository { return &EmailTokenRepository{db: d.db} }

// Outbox returns the mail outbox on this database.
func (d *DB) Outbox() ports.MailOutbox { return &MailOutbox{db: d.db} }

var (
	_ ports.EmailTokenRepository = (*EmailTokenRepository)(nil)
	_ ports.MailOutbox           = (*MailOutbox)(nil)
)

// EmailTokenRepository implements ports.EmailTokenRepository.
type EmailTokenRepository struct{ db *sql.DB }

// Issue runs in one immediate transaction (see fileDSN): the older
// tokens, the new one and the message commit together or not at all. A
// foreign-key violation (no such user) is domain.ErrUserNotFound.
func (r *EmailTokenRepository) Issue(ctx context.Context, hash []byte, t ports.EmailToken, m ports.Mail, now time.Time) error {
	data, err := encodeMailData(m.Data)
	if err != nil {
		return err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return storageError(err)
	}
	defer tx.Rollback() // a no-op once committed

	at := formatTime(now)
	if _, err := tx.ExecContext(ctx,
		`UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
		at, t.UserID, string(t.Purpose)); err != nil {
		return storageError(err)
	}
	var newEmail any // NULL
	if t.NewEmail != "" {
		newEmail = t.NewEmail
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO email_tokens (hash, user_id, purpose, new_email, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		hash, t.UserID, string(t.Purpose), newEmail, at, formatTime(t.ExpiresAt)); err != nil {
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
			return domain.ErrUserNotFound
		}
		return storageError(err)
	}
	if err := enqueue(ctx, tx, m.To, m.Template, data, at); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return storageError(err)
	}
	return nil
}

// Consume is one conditional UPDATE ... RETURNING: SQLite runs writes one
// at a time, so of concurrent calls only the first finds the token unused.
func (r *EmailTokenRepository) Consume(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return r.usable(ctx, `
		UPDATE email_tokens SET used_at = ?1
		WHERE hash = ?2 AND purpose = ?3 AND used_at IS NULL AND expires_at > ?1
		RETURNING user_id, purpose, new_email, expires_at`, hash, purpose, now)
}

// Lookup is one SELECT with Consume's conditions; it changes nothing, so
// a Consume may still win or lose the token afterwards.
func (r *EmailTokenRepository) Lookup(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return r.usable(ctx, `
		SELECT user_id, purpose, new_email, expires_at FROM email_tokens
		WHERE hash = ?2 AND purpose = ?3 AND used_at IS NULL AND expires_at > ?1`, hash, purpose, now)
}

// usable runs query, which selects (or updates and returns) the usable
// token with hash and purpose as of now, and reads its row.
func (r *EmailTokenRepository) usable(ctx context.Context, query string, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	var (
		t        ports.EmailToken
		p        string
		newEmail sql.NullString
		expires  string
	)
	err := r.db.QueryRowContext(ctx, query, formatTime(now), hash, string(purpose)).Scan(&t.UserID, &p, &newEmail, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.EmailToken{}, domain.ErrEmailTokenNotFound
	}
	if err != nil {
		return ports.EmailToken{}, storageError(err)
	}
	if t.ExpiresAt, err = parseTime("email_tokens.expires_at", expires); err != nil {
		return ports.EmailToken{}, err
	}
	t.Purpose, t.NewEmail = ports.EmailTokenPurpose(p), newEmail.String
	return t, nil
}

// InvalidateAll marks the unused tokens used.
func (r *EmailTokenRepository) InvalidateAll(ctx context.Context, userID int64, purpose ports.EmailTokenPurpose, now time.Time) error {
	if _, err := r.db.ExecContext(ctx,
		`UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
		formatTime(now), userID, string(purpose)); err != nil {
		return storageError(err)
	}
	return nil
}

// DeleteExpired deletes the tokens used or expired before before.
func (r *EmailTokenRepository) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	res, err := r.db.ExecContext(ctx,
		`DELETE FROM email_tokens WHERE used_at < ?1 OR expires_at < ?1`, formatTime(before))
	return affected(res, err)
}

// MailOutbox implements ports.MailOutbox on a table. SQLite has one
// writer at a time, so a Claim's UPDATE cannot interleave with another's.
type MailOutbox struct{ db *sql.DB }

// Enqueue adds m, due at now.
func (o *MailOutbox) Enqueue(ctx context.Context, m ports.Mail, now time.Time) error {
	data, err := encodeMailData(m.Data)
	if err != nil {
		return err
	}
	return enqueue(ctx, o.db, m.To, m.Template, data, formatTime(now))
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func enqueue(ctx context.Context, db execer, to, template, data, at string) error {
	if _, err := db.ExecContext(ctx, `
		INSERT INTO mail_outbox (recipient, template, data, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?)`, to, template, data, at, at); err != nil {
		return storageError(err)
	}
	return nil
}

// Claim leases due messages with one UPDATE ... RETURNING over a
// subselect, in an immediate transaction: it holds the write lock from
// its start, so the rows it selects are the rows it leases.
func (o *MailOutbox) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]ports.OutboxMail, error) {
	if n < 1 || lease <= 0 {
		return nil, domain.Errorf(domain.EINVALID, "Claim needs n >= 1 and a positive lease")
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, storageError(err)
	}
	defer tx.Rollback() // a no-op once committed

	rows, err := tx.QueryContext(ctx, `
		UPDATE mail_outbox SET locked_until = ?2
		WHERE id IN (
			SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1
			  AND (locked_until IS NULL OR locked_until <= ?1)
			ORDER BY next_attempt_at, id
			LIMIT ?3)
		RETURNING id, recipient, template, data, attempts, created_at`,
		formatTime(now), formatTime(now.Add(lease)), n)
	if err != nil {
		return nil, storageError(err)
	}
	var out []ports.OutboxMail
	for rows.Next() {
		var (
			m             ports.OutboxMail
			data, created string
		)
		if err := rows.Scan(&m.ID, &m.Mail.To, &m.Mail.Template, &data, &m.Attempts, &created); err != nil {
			rows.Close()
			return nil, storageError(err)
		}
		if m.Mail.Data, err = decodeMailData(m.ID, data); err != nil {
			rows.Close()
			return nil, err
		}
		if m.CreatedAt, err = parseTime("mail_outbox.created_at", created); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, storageError(err)
	}
	return out, nil
}

// MarkSent records the delivery and clears the data.
func (o *MailOutbox) MarkSent(ctx context.Context, id int64, now time.Time) error {
	res, err := o.db.ExecContext(ctx,
		`UPDATE mail_outbox SET sent_at = ?, locked_until = NULL, data = '{}' WHERE id = ?`, formatTime(now), id)
	return oneRow(res, err, domain.ErrMailNotFound)
}

// Retry counts the attempt and makes the message due at next.
func (o *MailOutbox) Retry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	res, err := o.db.ExecContext(ctx, `
		UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ?, locked_until = NULL, last_error = ?
		WHERE id = ?`, formatTime(next), ports.TruncateError(lastErr), id)
	return oneRow(res, err, domain.ErrMailNotFound)
}

// MarkFailed gives the message up and clears the data.
func (o *MailOutbox) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	res, err := o.db.ExecContext(ctx, `
		UPDATE mail_outbox SET failed_at = ?, locked_until = NULL, data = '{}', last_error = ?
		WHERE id = ?`, formatTime(now), ports.TruncateError(lastErr), id)
	return oneRow(res, err, domain.ErrMailNotFound)
}

// Stats counts the pending messages over mail_outbox_due_idx.
func (o *MailOutbox) Stats(ctx context.Context, _ time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullString
	)
	if err := o.db.QueryRowContext(ctx, `
		SELECT count(*), min(created_at) FROM mail_outbox
		WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, storageError(err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	t, err := parseTime("mail_outbox.created_at", oldest.String)
	return n, t, err
}

// DeleteOld deletes sent and failed messages older than before.
func (o *MailOutbox) DeleteOld(ctx context.Context, before time.Time) (int, error) {
	res, err := o.db.ExecContext(ctx,
		`DELETE FROM mail_outbox WHERE sent_at < ?1 OR failed_at < ?1`, formatTime(before))
	return affected(res, err)
}

// encodeMailData is the JSON object stored in mail_outbox.data.
func encodeMailData(data map[string]string) (string, error) {
	if data == nil {
		return "{}", nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("sqlite: mail data: %w", err)
	}
	return string(b), nil
}

func decodeMailData(id int64, s string) (map[string]string, error) {
	data := map[string]string{}
	if err := json.Unmarshal([]byte(s), &data); err != nil {
		return nil, fmt.Errorf("sqlite: mail_outbox %d: bad data: %w", id, err)
	}
	return data, nil
}

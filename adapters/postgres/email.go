package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// SetEmailVerified returns domain.ErrUserNotFound when there is no such
// user.
func (r *UserRepository) SetEmailVerified(ctx context.Context, id int64, at time.Time) error {
	tag, err := r.pool.Exec(ctx, `UPDATE users SET email_verified_at = $2 WHERE id = $1`, id, at)
	return oneRow(tag, err, domain.ErrUserNotFound)
}

// ChangeEmail returns domain.ErrEmailTaken on a unique violation (SQLSTATE
// 23505), domain.ErrUserNotFound when there is no such user.
func (r *UserRepository) ChangeEmail(ctx context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	tag, err := r.pool.Exec(ctx, `UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1`,
		id, email.String(), nullTime(verifiedAt))
	if pgCode(err) == "23505" {
		return domain.ErrEmailTaken
	}
	return oneRow(tag, err, domain.ErrUserNotFound)
}

// pgCode is the SQLSTATE of a server error in err's chain, "" for none.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// EmailTokens returns the emailed-token repository on this database.
func (d *DB) EmailTokens() ports.EmailTokenRepository { return &EmailTokenRepository{pool: d.pool} }

// Outbox returns the mail outbox on this database.
func (d *DB) Outbox() ports.MailOutbox { return &MailOutbox{pool: d.pool} }

var (
	_ ports.EmailTokenRepository = (*EmailTokenRepository)(nil)
	_ ports.MailOutbox           = (*MailOutbox)(nil)
)

// EmailTokenRepository implements ports.EmailTokenRepository.
type EmailTokenRepository struct{ pool *pgxpool.Pool }

// Issue runs in one transaction: the older tokens, the new one and the
// message commit together or not at all. A foreign-key violation (SQLSTATE
// 23503: no such user) is domain.ErrUserNotFound.
func (r *EmailTokenRepository) Issue(ctx context.Context, hash []byte, t ports.EmailToken, m ports.Mail, now time.Time) error {
	data, err := encodeMailData(m.Data)
	if err != nil {
		return err
	}
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return storageError(err)
	}
	defer tx.Rollback(ctx) // a no-op once committed

	// Issues for one user queue on the user's row (the lock an UPDATE of
	// its non-key columns takes; sessions' foreign keys do not wait on
	// it). Without it, concurrent calls each voided only the tokens their
	// snapshot saw and left several links of one purpose usable.
	var found int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, t.UserID).Scan(&found); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrUserNotFound
		}
		return storageError(err)
	}
	if _, err := tx.Exec(ctx,
		`UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`,
		t.UserID, string(t.Purpose), now); err != nil {
		return storageError(err)
	}
	var newEmail *string // NULL
	if t.NewEmail != "" {
		newEmail = &t.NewEmail
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO email_tokens (hash, user_id, purpose, new_email, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		hash, t.UserID, string(t.Purpose), newEmail, now, t.ExpiresAt); err != nil {
		if pgCode(err) == "23503" {
			return domain.ErrUserNotFound
		}
		return storageError(err)
	}
	if err := enqueue(ctx, tx, m.To, m.Template, data, now); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return storageError(err)
	}
	return nil
}

// Consume is one conditional UPDATE ... RETURNING. Concurrent calls queue
// on the token's row lock; when the winner commits, PostgreSQL re-checks
// the others' WHERE against the used row and they update nothing.
func (r *EmailTokenRepository) Consume(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return r.usable(ctx, `
		UPDATE email_tokens SET used_at = $3
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING user_id, purpose, new_email, expires_at`, hash, purpose, now)
}

// Lookup is one SELECT with Consume's conditions; it takes no lock, so a
// Consume may still win or lose the token afterwards.
func (r *EmailTokenRepository) Lookup(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return r.usable(ctx, `
		SELECT user_id, purpose, new_email, expires_at FROM email_tokens
		WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3`, hash, purpose, now)
}

// usable runs query, which selects (or updates and returns) the usable
// token with hash and purpose as of now, and reads its row.
func (r *EmailTokenRepository) usable(ctx context.Context, query string, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	var (
		t        ports.EmailToken
		p        string
		newEmail *string
	)
	err := r.pool.QueryRow(ctx, query, hash, string(purpose), now).Scan(&t.UserID, &p, &newEmail, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ports.EmailToken{}, domain.ErrEmailTokenNotFound
	}
	if err != nil {
		return ports.EmailToken{}, storageError(err)
	}
	t.Purpose, t.ExpiresAt = ports.EmailTokenPurpose(p), t.ExpiresAt.UTC()
	if newEmail != nil {
		t.NewEmail = *newEmail
	}
	return t, nil
}

// InvalidateAll marks the unused tokens used.
func (r *EmailTokenRepository) InvalidateAll(ctx context.Context, userID int64, purpose ports.EmailTokenPurpose, now time.Time) error {
	if _, err := r.pool.Exec(ctx,
		`UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`,
		userID, string(purpose), now); err != nil {
		return storageError(err)
	}
	return nil
}

// DeleteExpired deletes the tokens used or expired before before.
func (r *EmailTokenRepository) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM email_tokens WHERE used_at < $1 OR expires_at < $1`, before)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

// MailOutbox implements ports.MailOutbox on a table that the instances
// sharing the database claim from together.
type MailOutbox struct{ pool *pgxpool.Pool }

// Enqueue adds m, due at now.
func (o *MailOutbox) Enqueue(ctx context.Context, m ports.Mail, now time.Time) error {
	data, err := encodeMailData(m.Data)
	if err != nil {
		return err
	}
	return enqueue(ctx, o.pool, m.To, m.Template, data, now)
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func enqueue(ctx context.Context, db execer, to, template, data string, at time.Time) error {
	if _, err := db.Exec(ctx, `
		INSERT INTO mail_outbox (recipient, template, data, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $4)`, to, template, data, at); err != nil {
		return storageError(err)
	}
	return nil
}

// Claim selects due rows FOR UPDATE SKIP LOCKED and leases them in the
// same statement: a row another instance's Claim is leasing right now is
// skipped, not waited for, and once that Claim commits the row's new
// locked_until excludes it (PostgreSQL re-checks a locked row's WHERE).
func (o *MailOutbox) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]ports.OutboxMail, error) {
	if n < 1 || lease <= 0 {
		return nil, domain.Errorf(domain.EINVALID, "Claim needs n >= 1 and a positive lease")
	}
	rows, err := o.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM mail_outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
			  AND (locked_until IS NULL OR locked_until <= $1)
			ORDER BY next_attempt_at, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		)
		UPDATE mail_outbox AS m SET locked_until = $2
		FROM due WHERE m.id = due.id
		RETURNING m.id, m.recipient, m.template, m.data, m.attempts, m.created_at`,
		now, now.Add(lease), n)
	if err != nil {
		return nil, storageError(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ports.OutboxMail, error) {
		var (
			m    ports.OutboxMail
			data string
		)
		if err := row.Scan(&m.ID, &m.Mail.To, &m.Mail.Template, &data, &m.Attempts, &m.CreatedAt); err != nil {
			return m, err
		}
		m.CreatedAt = m.CreatedAt.UTC()
		m.Mail.Data, err = decodeMailData(m.ID, data)
		return m, err
	})
	if err != nil {
		return nil, storageError(err)
	}
	return out, nil
}

// MarkSent records the delivery and clears the data.
func (o *MailOutbox) MarkSent(ctx context.Context, id int64, now time.Time) error {
	tag, err := o.pool.Exec(ctx,
		`UPDATE mail_outbox SET sent_at = $2, locked_until = NULL, data = '{}' WHERE id = $1`, id, now)
	return oneRow(tag, err, domain.ErrMailNotFound)
}

// Retry counts the attempt and makes the message due at next.
func (o *MailOutbox) Retry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	tag, err := o.pool.Exec(ctx, `
		UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, locked_until = NULL, last_error = $3
		WHERE id = $1`, id, next, ports.TruncateError(lastErr))
	return oneRow(tag, err, domain.ErrMailNotFound)
}

// MarkFailed gives the message up and clears the data.
func (o *MailOutbox) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	tag, err := o.pool.Exec(ctx, `
		UPDATE mail_outbox SET failed_at = $2, locked_until = NULL, data = '{}', last_error = $3
		WHERE id = $1`, id, now, ports.TruncateError(lastErr))
	return oneRow(tag, err, domain.ErrMailNotFound)
}

// Stats counts the pending messages over mail_outbox_due_idx.
func (o *MailOutbox) Stats(ctx context.Context, _ time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest *time.Time
	)
	if err := o.pool.QueryRow(ctx, `
		SELECT count(*), min(created_at) FROM mail_outbox
		WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, storageError(err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, oldest.UTC(), nil
}

// DeleteOld deletes sent and failed messages older than before.
func (o *MailOutbox) DeleteOld(ctx context.Context, before time.Time) (int, error) {
	tag, err := o.pool.Exec(ctx, `DELETE FROM mail_outbox WHERE sent_at < $1 OR failed_at < $1`, before)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

// encodeMailData is the JSON object stored in mail_outbox.data.
func encodeMailData(data map[string]string) (string, error) {
	if data == nil {
		return "{}", nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("postgres: mail data: %w", err)
	}
	return string(b), nil
}

func decodeMailData(id int64, s string) (map[string]string, error) {
	data := map[string]string{}
	if err := json.Unmarshal([]byte(s), &data); err != nil {
		return nil, fmt.Errorf("postgres: mail_outbox %d: bad data: %w", id, err)
	}
	return data, nil
}

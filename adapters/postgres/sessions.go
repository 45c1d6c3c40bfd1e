package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Sessions returns the session repository on this database.
func (d *DB) Sessions() ports.SessionRepository { return &SessionRepository{pool: d.pool} }

var _ ports.SessionRepository = (*SessionRepository)(nil)

// SessionRepository implements ports.SessionRepository.
type SessionRepository struct{ pool *pgxpool.Pool }

// Create inserts s and its first token in one statement. A foreign-key
// violation (SQLSTATE 23503: no such user) is domain.ErrUserNotFound.
func (r *SessionRepository) Create(ctx context.Context, s *domain.Session, tokenHash []byte) error {
	var revoked *time.Time
	if at := s.RevokedAt(); !at.IsZero() {
		revoked = &at
	}
	_, err := r.pool.Exec(ctx, `
		WITH s AS (
			INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, last_used_at, user_agent, client_ip)
			VALUES ($1, $2, $3, $4, $5, $7, $8, $9)
			RETURNING id, created_at
		)
		INSERT INTO refresh_tokens (hash, session_id, issued_at) SELECT $6::bytea, id, created_at FROM s`,
		s.ID(), s.UserID(), s.CreatedAt(), s.ExpiresAt(), revoked, tokenHash,
		s.LastUsedAt(), s.UserAgent(), s.ClientAddr())
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" {
			return domain.ErrUserNotFound
		}
		return storageError(err)
	}
	return nil
}

// Rotate spends presented with one conditional UPDATE in a READ COMMITTED
// transaction. Concurrent calls with one token queue on its row lock; when
// the winner commits, PostgreSQL re-checks the others' WHERE against the
// spent row and they update nothing. When nothing was updated it reports
// the token's current state.
func (r *SessionRepository) Rotate(ctx context.Context, presented, successor []byte, now time.Time) (ports.RefreshTokenState, bool, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	defer tx.Rollback(ctx) // a no-op once committed or rolled back

	// RETURNING gives the session as the UPDATE saw it, not as a later
	// read in this READ COMMITTED transaction might.
	var rec domain.SessionRecord
	err = tx.QueryRow(ctx, `
		UPDATE refresh_tokens AS t SET spent_at = $2
		FROM sessions AS s
		WHERE t.hash = $1 AND t.spent_at IS NULL
		  AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > $2
		RETURNING s.id, s.user_id, s.created_at, s.expires_at, s.last_used_at, s.user_agent, s.client_ip`,
		presented, now).Scan(&rec.ID, &rec.UserID, &rec.CreatedAt, &rec.ExpiresAt, &rec.LastUsedAt, &rec.UserAgent, &rec.ClientAddr)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := tx.Rollback(ctx); err != nil {
			return ports.RefreshTokenState{}, false, storageError(err)
		}
		st, err := r.Token(ctx, presented)
		return st, false, err
	}
	if err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	// One round trip stores the successor and prunes the session's spent
	// tokens beyond the newest ports.SpentTokensKept. The DELETE sees the
	// token spent above (an earlier statement) and not the successor (same
	// statement), which is unspent anyway.
	if _, err := tx.Exec(ctx, `
		WITH successor AS (
			INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES ($1, $2, $3)
		)
		DELETE FROM refresh_tokens
		WHERE session_id = $2 AND spent_at IS NOT NULL
		  AND hash NOT IN (SELECT hash FROM refresh_tokens
		                   WHERE session_id = $2 AND spent_at IS NOT NULL
		                   ORDER BY spent_at DESC, issued_at DESC, hash DESC
		                   LIMIT $4)`,
		successor, rec.ID, now, ports.SpentTokensKept); err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	return ports.RefreshTokenState{Session: domain.RehydrateSessionRecord(rec)}, true, nil
}

// Token returns domain.ErrSessionNotFound for an unknown hash.
func (r *SessionRepository) Token(ctx context.Context, hash []byte) (ports.RefreshTokenState, error) {
	var spent *time.Time
	s, err := scanSession(r.pool.QueryRow(ctx, `
		SELECT `+sessionColumns+`, t.spent_at
		FROM refresh_tokens AS t JOIN sessions AS s ON s.id = t.session_id
		WHERE t.hash = $1`, hash), &spent)
	if err != nil {
		return ports.RefreshTokenState{}, err
	}
	st := ports.RefreshTokenState{Session: s}
	if spent != nil {
		st.SpentAt = spent.UTC()
	}
	return st, nil
}

// Revoke leaves an already revoked session's revocation time alone.
func (r *SessionRepository) Revoke(ctx context.Context, id string, now time.Time) error {
	if _, err := r.pool.Exec(ctx,
		`UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now); err != nil {
		return storageError(err)
	}
	return nil
}

// RevokeAll leaves revoked and expired sessions alone. Like every
// statement that ends several of a user's sessions, it locks them first in
// id order (lockLiveSessions): two such statements taking the same rows in
// different orders deadlocked (SQLSTATE 40P01).
func (r *SessionRepository) RevokeAll(ctx context.Context, userID int64, now time.Time) (int, error) {
	tag, err := r.pool.Exec(ctx, `
		WITH live AS (`+lockLiveSessions+`)
		UPDATE sessions AS s SET revoked_at = $2 FROM live WHERE s.id = live.id`,
		userID, now, "")
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

// RevokeOthers is RevokeAll sparing keepID. A concurrent call waits on
// the rows this one locks and, once it commits, re-checks revoked_at IS
// NULL against them: each session is counted by one call only.
func (r *SessionRepository) RevokeOthers(ctx context.Context, userID int64, keepID string, now time.Time) (int, error) {
	tag, err := r.pool.Exec(ctx, `
		WITH live AS (`+lockLiveSessions+`)
		UPDATE sessions AS s SET revoked_at = $2 FROM live WHERE s.id = live.id`,
		userID, now, keepID)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

// ActiveUser joins the session to its user in one query on the sessions
// primary key; domain.ErrSessionNotFound unless the session is live and
// belongs to userID.
func (r *SessionRepository) ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error) {
	u, err := scanUser(r.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.password_hash, u.is_active, u.created_at, u.email_verified_at
		FROM sessions AS s JOIN users AS u ON u.id = s.user_id
		WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3`,
		sessionID, userID, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrSessionNotFound
	}
	if err != nil {
		return nil, storageError(err)
	}
	return u, nil
}

// lockLiveSessions selects and locks the live sessions of user $1 at $2,
// except the one with id $3 ("" spares none), in id order, with the lock an
// UPDATE takes. Waiting for a row that another statement revokes, the lock
// re-checks the WHERE against the new row version and drops it, so each
// session is ended (and counted) by one statement only.
const lockLiveSessions = `
		SELECT id FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id <> $3
		ORDER BY id
		FOR NO KEY UPDATE`

// DeleteEnded counts only sessions; their tokens go by ON DELETE CASCADE.
func (r *SessionRepository) DeleteEnded(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1`, cutoff)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

// sessionColumns are what scanSession reads, from sessions aliased s.
const sessionColumns = `s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.last_used_at, s.user_agent, s.client_ip`

// scanSession scans sessionColumns and then extra; no row is
// domain.ErrSessionNotFound.
func scanSession(row pgx.Row, extra ...any) (*domain.Session, error) {
	var (
		rec     domain.SessionRecord
		revoked *time.Time
	)
	err := row.Scan(append([]any{&rec.ID, &rec.UserID, &rec.CreatedAt, &rec.ExpiresAt, &revoked, &rec.LastUsedAt, &rec.UserAgent, &rec.ClientAddr}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrSessionNotFound
	}
	if err != nil {
		return nil, storageError(err)
	}
	rec.RevokedAt = deref(revoked)
	return domain.RehydrateSessionRecord(rec), nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

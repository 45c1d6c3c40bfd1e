package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Sessions returns the session repository on this database.
func (d *DB) Sessions() ports.SessionRepository { return &SessionRepository{db: d.db, stmts: &d.stmts} }

var _ ports.SessionRepository = (*SessionRepository)(nil)

// SessionRepository implements ports.SessionRepository. Its transactions
// begin IMMEDIATE (see fileDSN), so concurrent writers queue on the busy
// timeout instead of failing with SQLITE_BUSY.
type SessionRepository struct {
	db    *sql.DB
	stmts *statements
}

// activeUserQuery runs on every authenticated request.
const activeUserQuery = `
		SELECT u.id, u.email, u.password_hash, u.is_active, u.created_at, u.email_verified_at
		FROM sessions AS s JOIN users AS u ON u.id = s.user_id
		WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ?`

// statements holds prepared statements for the hottest queries: SQLite
// would otherwise parse and plan the statement again on every call, which
// profiling showed as about a third of the CPU of an authenticated request.
type statements struct {
	mu    sync.Mutex
	user  atomic.Pointer[sql.Stmt] // read without the lock on every request
	close bool
}

// activeUser returns the prepared session check, preparing it on first
// use; nil (use an unprepared query) while it cannot be prepared, e.g.
// before the schema is migrated.
func (st *statements) activeUser(ctx context.Context, db *sql.DB) *sql.Stmt {
	if stmt := st.user.Load(); stmt != nil {
		return stmt
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.user.Load() == nil && !st.close {
		if stmt, err := db.PrepareContext(ctx, activeUserQuery); err == nil {
			st.user.Store(stmt)
		}
	}
	return st.user.Load()
}

func (st *statements) closeAll() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.close = true
	stmt := st.user.Swap(nil)
	if stmt == nil {
		return nil
	}
	return stmt.Close()
}

// Create inserts s and its first token in one transaction. A foreign-key
// violation (no such user), recognised by SQLite's extended result code, is
// domain.ErrUserNotFound.
func (r *SessionRepository) Create(ctx context.Context, s *domain.Session, tokenHash []byte) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return storageError(err)
	}
	defer tx.Rollback() // a no-op once committed or rolled back

	var revoked any // NULL
	if !s.RevokedAt().IsZero() {
		revoked = formatTime(s.RevokedAt())
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, last_used_at, user_agent, client_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID(), s.UserID(), formatTime(s.CreatedAt()), formatTime(s.ExpiresAt()), revoked,
		formatTime(s.LastUsedAt()), s.UserAgent(), s.ClientAddr()); err != nil {
		var se *gosqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return domain.ErrUserNotFound
		}
		return storageError(err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)`,
		tokenHash, s.ID(), formatTime(s.CreatedAt())); err != nil {
		return storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return storageError(err)
	}
	return nil
}

// Rotate spends presented with one conditional UPDATE inside an immediate
// transaction, which holds the write lock from its start: concurrent calls
// with one token run one after the other, and only the first finds it
// unspent. When nothing was updated it reports the token's current state.
func (r *SessionRepository) Rotate(ctx context.Context, presented, successor []byte, now time.Time) (ports.RefreshTokenState, bool, error) {
	at := formatTime(now)
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	defer tx.Rollback() // a no-op once committed or rolled back

	var sessionID string
	err = tx.QueryRowContext(ctx, `
		UPDATE refresh_tokens SET spent_at = ?1
		WHERE hash = ?2 AND spent_at IS NULL
		  AND EXISTS (SELECT 1 FROM sessions AS s
		              WHERE s.id = refresh_tokens.session_id
		                AND s.revoked_at IS NULL AND s.expires_at > ?1)
		RETURNING session_id`, at, presented).Scan(&sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		if err := tx.Rollback(); err != nil {
			return ports.RefreshTokenState{}, false, storageError(err)
		}
		st, err := r.Token(ctx, presented)
		return st, false, err
	}
	if err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}

	// The write lock is held, so the session is as the UPDATE saw it.
	s, err := scanSession(tx.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions AS s WHERE id = ?`, sessionID))
	if err != nil {
		return ports.RefreshTokenState{}, false, err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO refresh_tokens (hash, session_id, issued_at) VALUES (?, ?, ?)`,
		successor, sessionID, at); err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	if _, err := tx.ExecContext(ctx, pruneSpentTokens, sessionID, ports.SpentTokensKept); err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return ports.RefreshTokenState{}, false, storageError(err)
	}
	return ports.RefreshTokenState{Session: s}, true, nil
}

// Token returns domain.ErrSessionNotFound for an unknown hash.
func (r *SessionRepository) Token(ctx context.Context, hash []byte) (ports.RefreshTokenState, error) {
	var spent sql.NullString
	s, err := scanSession(r.db.QueryRowContext(ctx, `
		SELECT `+sessionColumns+`, t.spent_at
		FROM refresh_tokens AS t JOIN sessions AS s ON s.id = t.session_id
		WHERE t.hash = ?`, hash), &spent)
	if err != nil {
		return ports.RefreshTokenState{}, err
	}
	st := ports.RefreshTokenState{Session: s}
	if spent.Valid {
		if st.SpentAt, err = parseTime("refresh_tokens.spent_at", spent.String); err != nil {
			return ports.RefreshTokenState{}, err
		}
	}
	return st, nil
}

// Revoke leaves an already revoked session's revocation time alone.
func (r *SessionRepository) Revoke(ctx context.Context, id string, now time.Time) error {
	if _, err := r.db.ExecContext(ctx,
		`UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		formatTime(now), id); err != nil {
		return storageError(err)
	}
	return nil
}

// RevokeAll leaves revoked and expired sessions alone.
func (r *SessionRepository) RevokeAll(ctx context.Context, userID int64, now time.Time) (int, error) {
	at := formatTime(now)
	res, err := r.db.ExecContext(ctx,
		`UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?1`,
		at, userID)
	return affected(res, err)
}

// RevokeOthers is RevokeAll sparing keepID. SQLite runs writes one at a
// time, so of concurrent calls only the first finds the sessions live.
func (r *SessionRepository) RevokeOthers(ctx context.Context, userID int64, keepID string, now time.Time) (int, error) {
	res, err := r.db.ExecContext(ctx, `
		UPDATE sessions SET revoked_at = ?1
		WHERE user_id = ?2 AND id <> ?3 AND revoked_at IS NULL AND expires_at > ?1`,
		formatTime(now), userID, keepID)
	return affected(res, err)
}

// ActiveUser joins the session to its user in one query on the sessions
// primary key; domain.ErrSessionNotFound unless the session is live and
// belongs to userID.
func (r *SessionRepository) ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error) {
	args := []any{sessionID, userID, formatTime(now)}
	var row *sql.Row
	if stmt := r.stmts.activeUser(ctx, r.db); stmt != nil {
		row = stmt.QueryRowContext(ctx, args...)
	} else {
		row = r.db.QueryRowContext(ctx, activeUserQuery, args...)
	}
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrSessionNotFound
	}
	return u, err
}

// DeleteEnded counts only sessions; their tokens go by ON DELETE CASCADE.
func (r *SessionRepository) DeleteEnded(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := r.db.ExecContext(ctx,
		`DELETE FROM sessions WHERE expires_at < ?1 OR revoked_at < ?1`, formatTime(cutoff))
	return affected(res, err)
}

// sessionColumns are what scanSession reads, from sessions aliased s.
const sessionColumns = `s.id, s.user_id, s.created_at, s.expires_at, s.revoked_at, s.last_used_at, s.user_agent, s.client_ip`

// pruneSpentTokens deletes session ?1's spent tokens beyond the newest ?2
// (ports.SpentTokensKept), so a long session's rotations do not pile up.
// It reads at most ?2 + 2 rows through the session_id index.
const pruneSpentTokens = `
		DELETE FROM refresh_tokens
		WHERE session_id = ?1 AND spent_at IS NOT NULL
		  AND hash NOT IN (SELECT hash FROM refresh_tokens
		                   WHERE session_id = ?1 AND spent_at IS NOT NULL
		                   ORDER BY spent_at DESC, issued_at DESC, hash DESC
		                   LIMIT ?2)`

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanSession scans sessionColumns and then extra; no row is
// domain.ErrSessionNotFound.
func scanSession(row rowScanner, extra ...any) (*domain.Session, error) {
	var (
		rec                    domain.SessionRecord
		created, expires, used string
		revoked                sql.NullString
	)
	err := row.Scan(append([]any{&rec.ID, &rec.UserID, &created, &expires, &revoked, &used, &rec.UserAgent, &rec.ClientAddr}, extra...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.ErrSessionNotFound
	}
	if err != nil {
		return nil, storageError(err)
	}
	if rec.CreatedAt, err = parseTime("sessions.created_at", created); err != nil {
		return nil, err
	}
	if rec.ExpiresAt, err = parseTime("sessions.expires_at", expires); err != nil {
		return nil, err
	}
	if rec.LastUsedAt, err = parseTime("sessions.last_used_at", used); err != nil {
		return nil, err
	}
	if revoked.Valid {
		if rec.RevokedAt, err = parseTime("sessions.revoked_at", revoked.String); err != nil {
			return nil, err
		}
	}
	return domain.RehydrateSessionRecord(rec), nil
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, storageError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, storageError(err)
	}
	return int(n), nil
}

// formatTime is the stored form of t: UTC in timeLayout, truncated to the
// microsecond.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(column, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad %s %q: %w", column, s, err)
	}
	return t, nil
}

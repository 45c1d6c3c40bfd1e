package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/authd/authd/domain"
)

// ListLive reads the user's sessions through sessions_user_id_created_at_idx.
func (r *SessionRepository) ListLive(ctx context.Context, userID int64, now time.Time) ([]*domain.Session, error) {
	rows, err := r.db.QueryContext(ctx, `
		SELECT `+sessionColumns+` FROM sessions AS s
		WHERE s.user_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
		ORDER BY s.created_at DESC, s.id DESC`, userID, formatTime(now))
	if err != nil {
		return nil, storageError(err)
	}
	defer rows.Close()
	var sessions []*domain.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		sessions = append(sessions, s)
	}
	if err := rows.Err(); err != nil {
		return nil, storageError(err)
	}
	return sessions, nil
}

// RevokeForUser is one conditional UPDATE on the primary key: a missing
// session and another user's cost the same.
func (r *SessionRepository) RevokeForUser(ctx context.Context, userID int64, sessionID string, now time.Time) error {
	res, err := r.db.ExecContext(ctx, `
		UPDATE sessions SET revoked_at = ?1
		WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL AND expires_at > ?1`,
		formatTime(now), sessionID, userID)
	return oneRow(res, err, domain.ErrSessionNotFound)
}

// Touch writes only when the recorded use is older than now-minInterval;
// a negative minInterval counts as zero, so last_used_at never moves back.
func (r *SessionRepository) Touch(ctx context.Context, sessionID string, now time.Time, minInterval time.Duration) error {
	if _, err := r.db.ExecContext(ctx,
		`UPDATE sessions SET last_used_at = ?1 WHERE id = ?2 AND last_used_at < ?3`,
		formatTime(now), sessionID, formatTime(now.Add(-max(minInterval, 0)))); err != nil {
		return storageError(err)
	}
	return nil
}

// Stats counts in one pass over the user's sessions.
func (r *SessionRepository) Stats(ctx context.Context, userID int64, now time.Time) (int, time.Time, error) {
	var (
		live int
		last sql.NullString
	)
	err := r.db.QueryRowContext(ctx, `
		SELECT count(CASE WHEN revoked_at IS NULL AND expires_at > ?2 THEN 1 END), max(created_at)
		FROM sessions WHERE user_id = ?1`, userID, formatTime(now)).Scan(&live, &last)
	if err != nil {
		return 0, time.Time{}, storageError(err)
	}
	if !last.Valid {
		return live, time.Time{}, nil
	}
	lastLogin, err := parseTime("sessions.created_at", last.String)
	if err != nil {
		return 0, time.Time{}, err
	}
	return live, lastLogin, nil
}

// RevokeBeyond is one UPDATE; SQLite runs one writer at a time, so
// concurrent calls see each other's revocations.
func (r *SessionRepository) RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error) {
	if keep < 0 {
		return 0, errors.New("sqlite: RevokeBeyond: negative keep")
	}
	res, err := r.db.ExecContext(ctx, `
		UPDATE sessions SET revoked_at = ?1
		WHERE revoked_at IS NULL AND id IN (
			SELECT id FROM sessions
			WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?1
			ORDER BY created_at DESC, id DESC
			LIMIT -1 OFFSET ?3)`,
		formatTime(now), userID, keep)
	return affected(res, err)
}

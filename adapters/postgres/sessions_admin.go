package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/domain"
)

// ListLive reads the user's sessions through sessions_user_id_created_at_idx.
func (r *SessionRepository) ListLive(ctx context.Context, userID int64, now time.Time) ([]*domain.Session, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT `+sessionColumns+` FROM sessions AS s
		WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
		ORDER BY s.created_at DESC, s.id DESC`, userID, now)
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
	tag, err := r.pool.Exec(ctx, `
		UPDATE sessions SET revoked_at = $3
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3`,
		sessionID, userID, now)
	return oneRow(tag, err, domain.ErrSessionNotFound)
}

// Touch writes only when the recorded use is older than now-minInterval;
// a negative minInterval counts as zero, so last_used_at never moves back.
// Of concurrent touches, those that wait for the row lock re-check the
// condition against the winner's value and write nothing.
func (r *SessionRepository) Touch(ctx context.Context, sessionID string, now time.Time, minInterval time.Duration) error {
	if _, err := r.pool.Exec(ctx,
		`UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND last_used_at < $3`,
		sessionID, now, now.Add(-max(minInterval, 0))); err != nil {
		return storageError(err)
	}
	return nil
}

// Stats counts in one pass over the user's sessions.
func (r *SessionRepository) Stats(ctx context.Context, userID int64, now time.Time) (int, time.Time, error) {
	var (
		live int
		last *time.Time
	)
	err := r.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE revoked_at IS NULL AND expires_at > $2), max(created_at)
		FROM sessions WHERE user_id = $1`, userID, now).Scan(&live, &last)
	if err != nil {
		return 0, time.Time{}, storageError(err)
	}
	if last == nil {
		return live, time.Time{}, nil
	}
	return live, last.UTC(), nil
}

// RevokeBeyond is one statement: it picks the user's live sessions beyond
// the newest keep, then locks only those, in id order as RevokeAll and
// RevokeOthers lock theirs (lockLiveSessions), and ends them. A login runs
// it with the cap as keep, so it must not lock the sessions it keeps (a
// lock is a write to each row). Concurrent calls pick the same surplus;
// the ones that waited for a lock re-check revoked_at IS NULL on the new
// row version and drop the row, so each session is counted once.
func (r *SessionRepository) RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error) {
	if keep < 0 {
		return 0, errors.New("postgres: RevokeBeyond: negative keep")
	}
	tag, err := r.pool.Exec(ctx, `
		WITH surplus AS (
			SELECT id FROM sessions
			WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
			ORDER BY created_at DESC, id DESC
			OFFSET $3),
		locked AS (
			SELECT id FROM sessions
			WHERE id IN (SELECT id FROM surplus) AND revoked_at IS NULL AND expires_at > $2
			ORDER BY id
			FOR NO KEY UPDATE)
		UPDATE sessions AS s SET revoked_at = $2 FROM locked WHERE s.id = locked.id`,
		userID, now, keep)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

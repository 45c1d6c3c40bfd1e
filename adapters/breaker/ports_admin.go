package breaker

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The pass-through methods for account administration and session
// listing, kept apart from ports.go so the two grow without conflicts.

// List calls the wrapped List.
func (r *UserRepository) List(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	return do(ctx, r.cmd, func(ctx context.Context) ([]*domain.User, error) { return r.next.List(ctx, q) })
}

// SetActive calls the wrapped SetActive.
func (r *UserRepository) SetActive(ctx context.Context, id int64, active bool) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.SetActive(ctx, id, active)
	})
	return err
}

// Delete calls the wrapped Delete.
func (r *UserRepository) Delete(ctx context.Context, id int64) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.Delete(ctx, id)
	})
	return err
}

// ListLive calls the wrapped ListLive.
func (r *SessionRepository) ListLive(ctx context.Context, userID int64, now time.Time) ([]*domain.Session, error) {
	return do(ctx, r.cmd, func(ctx context.Context) ([]*domain.Session, error) {
		return r.next.ListLive(ctx, userID, now)
	})
}

// RevokeForUser calls the wrapped RevokeForUser.
func (r *SessionRepository) RevokeForUser(ctx context.Context, userID int64, sessionID string, now time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.RevokeForUser(ctx, userID, sessionID, now)
	})
	return err
}

// Touch calls the wrapped Touch.
func (r *SessionRepository) Touch(ctx context.Context, sessionID string, now time.Time, minInterval time.Duration) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.Touch(ctx, sessionID, now, minInterval)
	})
	return err
}

type sessionStats struct {
	live      int
	lastLogin time.Time
}

// Stats calls the wrapped Stats.
func (r *SessionRepository) Stats(ctx context.Context, userID int64, now time.Time) (int, time.Time, error) {
	res, err := do(ctx, r.cmd, func(ctx context.Context) (sessionStats, error) {
		live, last, err := r.next.Stats(ctx, userID, now)
		return sessionStats{live, last}, err
	})
	return res.live, res.lastLogin, err
}

// RevokeBeyond calls the wrapped RevokeBeyond.
func (r *SessionRepository) RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (int, error) { return r.next.RevokeBeyond(ctx, userID, keep, now) })
}

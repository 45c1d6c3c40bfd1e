package breaker

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var (
	_ ports.UserRepository    = (*UserRepository)(nil)
	_ ports.SessionRepository = (*SessionRepository)(nil)
	_ ports.RateLimitStore    = (*RateLimitStore)(nil)
)

// UserRepository runs every call of the wrapped repository as one
// hystrix command.
type UserRepository struct {
	next ports.UserRepository
	cmd  command
}

// Users wraps next in the hystrix command name (such as "db.users"),
// configured from cfg. It panics on an empty name or an invalid cfg (see
// Config.Validate).
func Users(next ports.UserRepository, name string, cfg Config) ports.UserRepository {
	return &UserRepository{next: next, cmd: newCommand(name, cfg)}
}

// Create calls the wrapped Create; see the package comment for errors.
func (r *UserRepository) Create(ctx context.Context, u *domain.User) (*domain.User, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (*domain.User, error) { return r.next.Create(ctx, u) })
}

// ByID calls the wrapped ByID.
func (r *UserRepository) ByID(ctx context.Context, id int64) (*domain.User, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (*domain.User, error) { return r.next.ByID(ctx, id) })
}

// ByEmail calls the wrapped ByEmail.
func (r *UserRepository) ByEmail(ctx context.Context, email domain.Email) (*domain.User, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (*domain.User, error) { return r.next.ByEmail(ctx, email) })
}

// UpdatePasswordHash calls the wrapped UpdatePasswordHash.
func (r *UserRepository) UpdatePasswordHash(ctx context.Context, id int64, hash string) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.UpdatePasswordHash(ctx, id, hash)
	})
	return err
}

// SessionRepository runs every call of the wrapped repository as one
// hystrix command.
type SessionRepository struct {
	next ports.SessionRepository
	cmd  command
}

// Sessions wraps next in the hystrix command name (such as
// "db.sessions"), configured from cfg. It panics on an empty name or an
// invalid cfg.
func Sessions(next ports.SessionRepository, name string, cfg Config) ports.SessionRepository {
	return &SessionRepository{next: next, cmd: newCommand(name, cfg)}
}

// Create calls the wrapped Create.
func (r *SessionRepository) Create(ctx context.Context, s *domain.Session, tokenHash []byte) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.Create(ctx, s, tokenHash)
	})
	return err
}

type rotated struct {
	state ports.RefreshTokenState
	ok    bool
}

// Rotate calls the wrapped Rotate.
func (r *SessionRepository) Rotate(ctx context.Context, presented, successor []byte, now time.Time) (ports.RefreshTokenState, bool, error) {
	res, err := do(ctx, r.cmd, func(ctx context.Context) (rotated, error) {
		state, ok, err := r.next.Rotate(ctx, presented, successor, now)
		return rotated{state, ok}, err
	})
	return res.state, res.ok, err
}

// Token calls the wrapped Token.
func (r *SessionRepository) Token(ctx context.Context, hash []byte) (ports.RefreshTokenState, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (ports.RefreshTokenState, error) { return r.next.Token(ctx, hash) })
}

// Revoke calls the wrapped Revoke.
func (r *SessionRepository) Revoke(ctx context.Context, id string, now time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.Revoke(ctx, id, now)
	})
	return err
}

// RevokeAll calls the wrapped RevokeAll.
func (r *SessionRepository) RevokeAll(ctx context.Context, userID int64, now time.Time) (int, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (int, error) { return r.next.RevokeAll(ctx, userID, now) })
}

// RevokeOthers calls the wrapped RevokeOthers.
func (r *SessionRepository) RevokeOthers(ctx context.Context, userID int64, keepID string, now time.Time) (int, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (int, error) { return r.next.RevokeOthers(ctx, userID, keepID, now) })
}

// ActiveUser calls the wrapped ActiveUser.
func (r *SessionRepository) ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (*domain.User, error) {
		return r.next.ActiveUser(ctx, sessionID, userID, now)
	})
}

// DeleteEnded calls the wrapped DeleteEnded.
func (r *SessionRepository) DeleteEnded(ctx context.Context, cutoff time.Time) (int, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (int, error) { return r.next.DeleteEnded(ctx, cutoff) })
}

// RateLimitStore runs every call of the wrapped store as one hystrix
// command.
type RateLimitStore struct {
	next ports.RateLimitStore
	cmd  command
}

// RateLimits wraps next in the hystrix command name (such as
// "db.ratelimits"), configured from cfg. It panics on an empty name or an
// invalid cfg.
func RateLimits(next ports.RateLimitStore, name string, cfg Config) ports.RateLimitStore {
	return &RateLimitStore{next: next, cmd: newCommand(name, cfg)}
}

type counted struct {
	count   int
	resetAt time.Time
}

// Hit calls the wrapped Hit.
func (s *RateLimitStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	res, err := do(ctx, s.cmd, func(ctx context.Context) (counted, error) {
		n, at, err := s.next.Hit(ctx, key, window, now)
		return counted{n, at}, err
	})
	return res.count, res.resetAt, err
}

// Count calls the wrapped Count.
func (s *RateLimitStore) Count(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	res, err := do(ctx, s.cmd, func(ctx context.Context) (counted, error) {
		n, at, err := s.next.Count(ctx, key, now)
		return counted{n, at}, err
	})
	return res.count, res.resetAt, err
}

// DeleteExpired calls the wrapped DeleteExpired.
func (s *RateLimitStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return do(ctx, s.cmd, func(ctx context.Context) (int, error) {
		return s.next.DeleteExpired(ctx, now)
	})
}

// Release calls the wrapped Release.
func (s *RateLimitStore) Release(ctx context.Context, key string, now time.Time) error {
	_, err := do(ctx, s.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.next.Release(ctx, key, now)
	})
	return err
}

// Reset calls the wrapped Reset.
func (s *RateLimitStore) Reset(ctx context.Context, key string) error {
	_, err := do(ctx, s.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.next.Reset(ctx, key)
	})
	return err
}

var _ ports.BreachChecker = (*BreachChecker)(nil)

// BreachChecker runs every call of the wrapped checker as one hystrix
// command.
type BreachChecker struct {
	next ports.BreachChecker
	cmd  command
}

// Breaches wraps next in the hystrix command name (such as "hibp"),
// configured from cfg. It panics on an empty name or an invalid cfg.
func Breaches(next ports.BreachChecker, name string, cfg Config) ports.BreachChecker {
	return &BreachChecker{next: next, cmd: newCommand(name, cfg)}
}

// Breached calls the wrapped Breached.
func (b *BreachChecker) Breached(ctx context.Context, password string) (bool, error) {
	return do(ctx, b.cmd, func(ctx context.Context) (bool, error) { return b.next.Breached(ctx, password) })
}

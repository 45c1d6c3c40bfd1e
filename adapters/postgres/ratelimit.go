package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/ports"
)

// RateLimits returns the rate-limit store on this database. Every instance
// that uses the same database shares its counters, and so its budgets.
func (d *DB) RateLimits() *RateLimitStore { return &RateLimitStore{pool: d.pool} }

var _ ports.RateLimitStore = (*RateLimitStore)(nil)

// RateLimitStore implements ports.RateLimitStore on the rate_limits table.
// Times come from the caller, never from the database's clock, and are
// kept to the microsecond. A key is stored as given, so it must be valid
// UTF-8 without NUL bytes and (for the primary-key index) under about
// 2 KB; a key PostgreSQL refuses is EUNAVAILABLE like any storage error.
//
// Rows of closed windows stay until DeleteExpired removes them: call it
// periodically, or the table holds every key seen since the last sweep.
type RateLimitStore struct{ pool *pgxpool.Pool }

// Hit counts an event in one statement. The upsert takes the row lock on
// key, so concurrent hits on one key, from any number of pools or
// instances, queue and each sees the count the one before it left: none is
// lost. A window that closed at or before now restarts at now.
func (s *RateLimitStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	var (
		count   int
		resetAt time.Time
	)
	// $3 (now + window, computed here) is the new window's end, used when
	// the key is new or its window has closed.
	err := s.pool.QueryRow(ctx, `
		INSERT INTO rate_limits AS r (key, count, reset_at) VALUES ($1, 1, $3)
		ON CONFLICT (key) DO UPDATE SET
			count    = CASE WHEN r.reset_at <= $2 THEN 1 ELSE r.count + 1 END,
			reset_at = CASE WHEN r.reset_at <= $2 THEN EXCLUDED.reset_at ELSE r.reset_at END
		RETURNING count, reset_at`,
		key, now, now.Add(window)).Scan(&count, &resetAt)
	if err != nil {
		return 0, time.Time{}, storageError(err)
	}
	return count, resetAt.UTC(), nil
}

// Count reads key's open window; a closed window that is not yet swept
// reads as (0, zero time).
func (s *RateLimitStore) Count(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var (
		count   int
		resetAt time.Time
	)
	err := s.pool.QueryRow(ctx,
		`SELECT count, reset_at FROM rate_limits WHERE key = $1 AND reset_at > $2`,
		key, now).Scan(&count, &resetAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, storageError(err)
	}
	return count, resetAt.UTC(), nil
}

// Reset deletes key's row; an unknown key is not an error.
func (s *RateLimitStore) Reset(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE key = $1`, key); err != nil {
		return storageError(err)
	}
	return nil
}

// Release decrements key's open window, or deletes its row when the count
// is 1 (the table keeps no zero counts). The two statements each take the
// row lock; a Hit or Release between them makes the DELETE match nothing,
// so a release can be lost under contention but never applied twice.
func (s *RateLimitStore) Release(ctx context.Context, key string, now time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND reset_at > $2 AND count > 1`, key, now)
	if err != nil {
		return storageError(err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.pool.Exec(ctx,
		`DELETE FROM rate_limits WHERE key = $1 AND (count <= 1 OR reset_at <= $2)`, key, now); err != nil {
		return storageError(err)
	}
	return nil
}

// DeleteExpired deletes every window closed at now (reset_at <= now), on
// the reset_at index, and returns how many. It is not part of the port:
// cmd/authd runs it periodically. Returns EUNAVAILABLE.
func (s *RateLimitStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE reset_at <= $1`, now)
	if err != nil {
		return 0, storageError(err)
	}
	return int(tag.RowsAffected()), nil
}

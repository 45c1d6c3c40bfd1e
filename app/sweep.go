package app

import (
	"context"
	"errors"
	"time"
)

// SweepResult says what one sweep deleted.
type SweepResult struct {
	Sessions   int // ended sessions, with their refresh tokens
	RateLimits int // closed rate-limit windows
}

// Sweep deletes what has ended as of the Clock's now: sessions that
// expired or were revoked (with their tokens) and closed rate-limit
// windows, so neither table grows without bound. Both are attempted; the
// errors (EUNAVAILABLE) are joined.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.clock.Now()
	n, errSessions := s.sessions.DeleteEnded(ctx, now)
	res.Sessions = n
	var errLimits error
	if s.limits != nil {
		res.RateLimits, errLimits = s.limits.DeleteExpired(ctx, now)
	}
	return res, errors.Join(errSessions, errLimits)
}

// RunSweeper calls Sweep every interval until ctx ends, handing each
// result to report (err is nil on success). It blocks; run it in its own
// goroutine.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration, report func(SweepResult, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			report(s.Sweep(ctx))
		}
	}
}

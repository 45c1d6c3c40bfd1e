package app

import (
	"context"
	"errors"
	"time"
)

// SweepResult says what one sweep deleted.
type SweepResult struct {
	Sessions    int // ended sessions, with their refresh tokens
	RateLimits  int // closed rate-limit windows
	EmailTokens int // used or expired emailed tokens
	Mail        int // outbox messages sent or given up more than MailKept ago
}

// MailKept is how long a sent or failed message stays in the outbox (its
// data already cleared), for an operator looking into a delivery.
const MailKept = 7 * 24 * time.Hour

// Sweep deletes what has ended as of the Clock's now: sessions that
// expired or were revoked (with their tokens), closed rate-limit windows,
// used or expired emailed tokens and old delivered mail, so no table grows
// without bound. Both are attempted; the
// errors (EUNAVAILABLE) are joined.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := s.clock.Now()
	n, errSessions := s.sessions.DeleteEnded(ctx, now)
	res.Sessions = n
	var errLimits, errTokens, errMail error
	if s.limits != nil {
		res.RateLimits, errLimits = s.limits.DeleteExpired(ctx, now)
	}
	if s.MailEnabled() {
		res.EmailTokens, errTokens = s.emailTokens.DeleteExpired(ctx, now)
		res.Mail, errMail = s.outbox.DeleteOld(ctx, now.Add(-MailKept))
	}
	return res, errors.Join(errSessions, errLimits, errTokens, errMail)
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

package app

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Limits configure rate limiting. With Enabled false nothing is counted.
//
// Two budgets guard the auth endpoints. Every register, login and refresh
// request spends one unit of its client's (IP's) budget, so one client
// cannot hammer many accounts. Failed logins also count against the
// account (the normalized email, known or not), so many clients cannot
// spray one account.
//
// Locking a victim out must not be cheap, so the account budget does not
// block the account: once an account has had AccountFailures failures in
// AccountWindow, only clients that have themselves failed on it in that
// window are refused (429) without a password check. A client that has not
// failed there — the real user, typically — still gets its password
// checked, and a success resets the account. The price: an attacker with
// many addresses gets one guess per address per window once the account is
// throttled, and each of those addresses also spends its IP budget.
type Limits struct {
	Enabled         bool
	IPRequests      int
	IPWindow        time.Duration
	AccountFailures int
	AccountWindow   time.Duration
}

// errNoClient refuses work that is rate limited by client when the
// transport did not say who the client is. Passing the request unlimited
// instead would turn the limit off without anyone noticing; this is a 500
// that names the bug.
var errNoClient = errors.New("app: no client address in the request context, so its rate limits cannot apply")

// AllowClient spends one unit of the client's request budget. It returns
// an ERATELIMITED error (429) once the budget for the window is spent, and
// EUNAVAILABLE when the limit store cannot answer.
func (s *Service) AllowClient(ctx context.Context) error {
	l := s.cfg.Limits
	if !l.Enabled || l.IPRequests <= 0 {
		return nil
	}
	client := ports.ClientFrom(ctx)
	if client == "" {
		return errNoClient
	}
	now := s.clock.Now()
	n, resetAt, err := s.limits.Hit(ctx, "ip:"+client, l.IPWindow, now)
	if err != nil {
		return err
	}
	if n > l.IPRequests {
		if n == l.IPRequests+1 { // once per window, not once per refused request
			s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Reason: ports.ReasonClientBudget})
		}
		return domain.RateLimited(retryAfter(resetAt, now))
	}
	return nil
}

// accountGuard tracks one login attempt against the account budget.
type accountGuard struct {
	s        *Service
	account  string // rate-limit key of the account
	pair     string // rate-limit key of this client on this account
	disabled bool
}

// guardAccount refuses a login without a password check when the account
// is throttled and this client has already failed on it.
func (s *Service) guardAccount(ctx context.Context, email domain.Email) (*accountGuard, error) {
	l := s.cfg.Limits
	g := &accountGuard{s: s, account: "acct:" + email.String(), pair: "acct-client:" + email.String() + "|" + ports.ClientFrom(ctx)}
	if !l.Enabled || l.AccountFailures <= 0 {
		g.disabled = true
		return g, nil
	}
	if ports.ClientFrom(ctx) == "" {
		return nil, errNoClient
	}
	now := s.clock.Now()
	failures, _, err := s.limits.Count(ctx, g.account, now)
	if err != nil {
		return nil, err
	}
	if failures < l.AccountFailures {
		return g, nil
	}
	mine, resetAt, err := s.limits.Count(ctx, g.pair, now)
	if err != nil {
		return nil, err
	}
	if mine > 0 {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Email: email.String(), Reason: ports.ReasonThrottledAccount})
		return nil, domain.RateLimited(retryAfter(resetAt, now))
	}
	return g, nil
}

// failed counts a failed login against the account and this client.
func (g *accountGuard) failed(ctx context.Context) error {
	if g.disabled {
		return nil
	}
	now := g.s.clock.Now()
	if _, _, err := g.s.limits.Hit(ctx, g.account, g.s.cfg.Limits.AccountWindow, now); err != nil {
		return err
	}
	_, _, err := g.s.limits.Hit(ctx, g.pair, g.s.cfg.Limits.AccountWindow, now)
	return err
}

// succeeded clears the account's failures after a correct password.
func (g *accountGuard) succeeded(ctx context.Context) error {
	if g.disabled {
		return nil
	}
	if err := g.s.limits.Reset(ctx, g.account); err != nil {
		return err
	}
	return g.s.limits.Reset(ctx, g.pair)
}

// retryAfter rounds the wait up to whole seconds, at least one.
func retryAfter(resetAt, now time.Time) time.Duration {
	d := resetAt.Sub(now)
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

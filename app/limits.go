package app

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Limits configure rate limiting. With Enabled false nothing is counted.
//
// # The client budget
//
// Every register, login, refresh and logout request spends one unit of
// its client's budget (IPRequests per IPWindow), so one client cannot
// hammer many accounts. A client is an IPv4 address, or an IPv6 /64: one
// subscriber usually holds a whole /64, so counting IPv6 addresses one by
// one would give an attacker 2^64 budgets. Each IPv6 /48 (a site) also
// has a budget of IPv6WideFactor times that, against an attacker who
// holds many /64s.
//
// # The account throttle
//
// Failed logins count against the account (the normalized email, known or
// not). Once an account has had AccountFailures failures in
// AccountWindow, a client that has tried it in that window is refused
// (429) without a password check, while a client that has not, the real
// user typically, still gets one check. Attempts are reserved before the
// check, so parallel requests cannot all pass before the first failure is
// counted.
//
// # The account-wide cap
//
// The throttle still gives an attacker one guess per address. So at most
// AccountCap password checks may fail per account in AccountCapWindow,
// counted from every address (NIST SP 800-63B 5.2.2 asks for at most
// 100). Beyond it every login to the account is 429, the right password
// included, unless the client presents a device token: proof, from an
// earlier successful login, that it has logged in to this account before.
// Such a login skips the cap and the throttle and is judged on its
// device's own budget, DeviceFailures per AccountWindow, so an attacker
// who exhausts the cap cannot lock the owner out of the devices they
// already use. The cap is reserved before the check too, and released
// when the password was right, so N parallel guesses never yield more than
// AccountCap failed checks.
type Limits struct {
	Enabled         bool
	IPRequests      int
	IPWindow        time.Duration
	AccountFailures int
	AccountWindow   time.Duration
	// AccountCap is 0 for no cap; AccountCapWindow defaults to 24 hours.
	AccountCap       int
	AccountCapWindow time.Duration
	// DeviceFailures defaults to AccountFailures.
	DeviceFailures int
}

// IPv6WideFactor is how many times the /64 budget an IPv6 /48 gets.
const IPv6WideFactor = 10

// DefaultAccountCapWindow is the cap's window when none is configured.
const DefaultAccountCapWindow = 24 * time.Hour

// errNoClient refuses work that is rate limited by client when the
// transport did not say who the client is. Passing the request unlimited
// instead would turn the limit off without anyone noticing; this is a 500
// that names the bug.
var errNoClient = errors.New("app: no client address in the request context, so its rate limits cannot apply")

// clientBudget is one budget a client's request spends.
type clientBudget struct {
	key   string
	limit int
}

// clientBudgets returns the keys the request's client is counted under:
// its IPv4 address, or its IPv6 /64 and /48. Anything that is not an IP
// address (a transport without one) is counted as it is.
func (s *Service) clientBudgets(ctx context.Context) ([]clientBudget, error) {
	client := ports.ClientFrom(ctx)
	if client == "" {
		return nil, errNoClient
	}
	l := s.cfg.Limits
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return []clientBudget{{"ip:" + client, l.IPRequests}}, nil
	}
	if addr = addr.Unmap(); addr.Is4() {
		return []clientBudget{{"ip:" + addr.String(), l.IPRequests}}, nil
	}
	p64, _ := addr.Prefix(64)
	p48, _ := addr.Prefix(48)
	return []clientBudget{
		{"ip:" + p64.String(), l.IPRequests},
		{"ip:" + p48.String(), l.IPRequests * IPv6WideFactor},
	}, nil
}

// clientID names the client for the account throttle: its address, or
// its /64 for IPv6.
func (s *Service) clientID(ctx context.Context) (string, error) {
	b, err := s.clientBudgets(ctx)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(b[0].key, "ip:"), nil
}

// AllowClient spends one unit of each of the client's request budgets. It
// returns an ERATELIMITED error (429) once one of them is spent for its
// window, and EUNAVAILABLE when the limit store cannot answer.
func (s *Service) AllowClient(ctx context.Context) error {
	l := s.cfg.Limits
	if !l.Enabled || l.IPRequests <= 0 {
		return nil
	}
	budgets, err := s.clientBudgets(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, b := range budgets {
		n, resetAt, err := s.limits.Hit(ctx, b.key, l.IPWindow, now)
		if err != nil {
			return err
		}
		if n > b.limit {
			if n == b.limit+1 { // once per window, not once per refused request
				s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Reason: ports.ReasonClientBudget})
			}
			return domain.RateLimited(retryAfter(resetAt, now))
		}
	}
	return nil
}

// accountGuard holds what one login attempt reserved against the
// account's limits, to be settled once the password was checked.
type accountGuard struct {
	s        *Service
	disabled bool
	// account counts the account's failures (the throttle); pair reserves
	// this client's attempts on it.
	account, pair string
	// cap reserves against the account-wide cap; device against the
	// presenting device's own budget. "" when not reserved.
	cap, device string
}

// guardAccount applies the account's limits to a login attempt before
// its password is checked, reserving what the attempt spends. user is nil
// for an unknown email; device holds a verified device token's claims
// (ok false when none was presented or it did not verify).
func (s *Service) guardAccount(ctx context.Context, email domain.Email, user *domain.User, device ports.DeviceClaims, deviceOK bool) (*accountGuard, error) {
	l := s.cfg.Limits
	g := &accountGuard{s: s}
	if !l.Enabled || (l.AccountFailures <= 0 && l.AccountCap <= 0) {
		g.disabled = true
		return g, nil
	}
	now := s.clock.Now()
	if deviceOK && user != nil && device.UserID == user.ID() {
		return g, g.reserveDevice(ctx, email, device.DeviceID, now)
	}
	client, err := s.clientID(ctx)
	if err != nil {
		return nil, err
	}
	if l.AccountFailures > 0 {
		g.account, g.pair = "acct:"+email.String(), "acct-client:"+email.String()+"|"+client
		if err := g.reserveThrottle(ctx, email, now); err != nil {
			return nil, err
		}
	}
	if l.AccountCap > 0 {
		if err := g.reserveCap(ctx, email, user, now); err != nil {
			return nil, errors.Join(err, g.releasePair(ctx, now))
		}
	}
	return g, nil
}

// reserveDevice spends one attempt of the device's own failure budget.
func (g *accountGuard) reserveDevice(ctx context.Context, email domain.Email, deviceID string, now time.Time) error {
	l := g.s.cfg.Limits
	limit := l.DeviceFailures
	if limit <= 0 {
		limit = max(l.AccountFailures, 1)
	}
	g.device = "device:" + deviceID
	n, resetAt, err := g.s.limits.Hit(ctx, g.device, l.AccountWindow, now)
	if err != nil {
		return err
	}
	if n > limit {
		g.s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Email: email.String(), Reason: ports.ReasonDeviceBudget})
		return domain.RateLimited(retryAfter(resetAt, now))
	}
	return nil
}

// reserveThrottle reserves this client's attempt on the account, and
// refuses it when the account is throttled and the client has tried it
// before in the window (or is trying it in parallel right now).
func (g *accountGuard) reserveThrottle(ctx context.Context, email domain.Email, now time.Time) error {
	l := g.s.cfg.Limits
	failures, _, err := g.s.limits.Count(ctx, g.account, now)
	if err != nil {
		return err
	}
	mine, resetAt, err := g.s.limits.Hit(ctx, g.pair, l.AccountWindow, now)
	if err != nil {
		return err
	}
	if failures >= l.AccountFailures && mine > 1 {
		g.s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Email: email.String(), Reason: ports.ReasonThrottledAccount})
		return domain.RateLimited(retryAfter(resetAt, now))
	}
	return nil
}

// reserveCap reserves one check against the account-wide cap.
func (g *accountGuard) reserveCap(ctx context.Context, email domain.Email, user *domain.User, now time.Time) error {
	l := g.s.cfg.Limits
	window := l.AccountCapWindow
	if window <= 0 {
		window = DefaultAccountCapWindow
	}
	key := "acct-cap:" + email.String()
	n, resetAt, err := g.s.limits.Hit(ctx, key, window, now)
	if err != nil {
		return err
	}
	if n > l.AccountCap {
		if n == l.AccountCap+1 {
			e := ports.SecurityEvent{Name: ports.EventAccountLocked, Email: email.String(), Reason: ports.ReasonAccountCap}
			if user != nil {
				e.UserID = user.ID()
			}
			g.s.events.Record(ctx, e)
		}
		return domain.RateLimited(retryAfter(resetAt, now))
	}
	g.cap = key
	return nil
}

func (g *accountGuard) releasePair(ctx context.Context, now time.Time) error {
	if g.pair == "" {
		return nil
	}
	return g.s.limits.Release(ctx, g.pair, now)
}

// failed settles a failed check: the account's failure is counted; the
// reservations stay spent.
func (g *accountGuard) failed(ctx context.Context) error {
	if g.disabled || g.account == "" {
		return nil
	}
	_, _, err := g.s.limits.Hit(ctx, g.account, g.s.cfg.Limits.AccountWindow, g.s.clock.Now())
	return err
}

// succeeded settles a right password: the account's and this client's
// failures are forgotten, the device's budget is restored, and the cap
// reservation is released (earlier failures stay counted: the cap counts
// failed checks in its window, whoever made them).
func (g *accountGuard) succeeded(ctx context.Context) error {
	if g.disabled {
		return nil
	}
	var errs []error
	if g.device != "" {
		errs = append(errs, g.s.limits.Reset(ctx, g.device))
	}
	if g.account != "" {
		errs = append(errs, g.s.limits.Reset(ctx, g.account), g.s.limits.Reset(ctx, g.pair))
	}
	if g.cap != "" {
		errs = append(errs, g.s.limits.Release(ctx, g.cap, g.s.clock.Now()))
	}
	return errors.Join(errs...)
}

// abandon gives back what the attempt reserved when its password was
// never checked.
func (g *accountGuard) abandon(ctx context.Context) error {
	if g.disabled {
		return nil
	}
	now := g.s.clock.Now()
	var errs []error
	for _, key := range []string{g.pair, g.cap, g.device} {
		if key != "" {
			errs = append(errs, g.s.limits.Release(ctx, key, now))
		}
	}
	return errors.Join(errs...)
}

// retryAfter rounds the wait up to whole seconds, at least one.
func retryAfter(resetAt, now time.Time) time.Duration {
	d := resetAt.Sub(now)
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

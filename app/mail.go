package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// MailConfig configures the email flows (verification, password reset,
// email change, the notices). The flows are on when Ports.EmailTokens and
// Ports.Outbox are set; otherwise they answer domain.ErrMailDisabled and
// registration sends nothing.
type MailConfig struct {
	// AppURL is the application's base URL (no trailing slash): mailed
	// links point at its pages, /verify-email?token=... and
	// /reset-password?token=..., and the application POSTs the token to
	// authd. A GET never consumes a token.
	AppURL string
	// VerifyTTL is how long a verification (or email change) link works;
	// default 24h. ResetTTL is a reset link's; default 30m.
	VerifyTTL time.Duration
	ResetTTL  time.Duration
	// RequireVerified refuses logins (403 email_not_verified) until the
	// account's email is verified.
	RequireVerified bool
	// EnumerationSafe makes registration answer the same whether or not
	// the email has an account (see RegisterQuietly).
	EnumerationSafe bool
	// Cooldown is the least time between two mails of one kind to one
	// address (default 1m); DailyCap is the most mails of all kinds to one
	// address per 24 hours (default 10); NoMailLimit turns either off.
	// Both apply while rate limits are on (Limits.Enabled) and are counted
	// per address whether or not it has an account, so they tell a client
	// nothing.
	Cooldown time.Duration
	DailyCap int
	// ClientMails is how many requests that send mail one client may make
	// per ClientMailWindow (default 20 per hour; an IPv6 /48 gets
	// IPv6WideFactor times as many), while rate limits are on. Beyond it:
	// 429. Together with the per-address limits, no single client can
	// flood one inbox or spend a budget that others need.
	ClientMails      int
	ClientMailWindow time.Duration
	// Background bounds how many anonymous mail requests (verification
	// resend, forgotten password) may be in progress after their 202;
	// beyond it they are 503 (default 64).
	Background int
	// OnError hears what goes wrong after a request was answered (an
	// outbox write behind a 202, a registration's verification mail). It
	// never carries a token. Nil drops them.
	OnError func(op string, err error)
}

// NoMailLimit, as MailConfig.Cooldown or DailyCap, turns that limit off.
const NoMailLimit = -1

// Defaults for MailConfig's zero values.
const (
	DefaultVerifyTTL        = 24 * time.Hour
	DefaultResetTTL         = 30 * time.Minute
	DefaultMailCooldown     = time.Minute
	DefaultMailDailyCap     = 10
	DefaultClientMails      = 20
	DefaultClientMailWindow = time.Hour
	defaultMailBackground   = 64
	// backgroundTimeout bounds the work behind one 202.
	backgroundTimeout = 30 * time.Second
	// answerFirst is how long the work behind a 202 waits before it
	// starts, so the answer is written first (see later).
	answerFirst = 5 * time.Millisecond
	// mailDay is the daily cap's window.
	mailDay = 24 * time.Hour
)

// The pages of the application the mails link to.
const (
	pageVerifyEmail    = "/verify-email"
	pageResetPassword  = "/reset-password"
	pageForgotPassword = "/forgot-password"
)

func (c *MailConfig) setDefaults() {
	setDefault(&c.VerifyTTL, DefaultVerifyTTL)
	setDefault(&c.ResetTTL, DefaultResetTTL)
	setDefault(&c.Cooldown, DefaultMailCooldown)
	setDefault(&c.DailyCap, DefaultMailDailyCap)
	setDefault(&c.ClientMails, DefaultClientMails)
	setDefault(&c.ClientMailWindow, DefaultClientMailWindow)
	setDefault(&c.Background, defaultMailBackground)
}

// background runs the work behind requests answered before it is done.
type background struct {
	slots chan struct{}
	wg    sync.WaitGroup
}

// MailEnabled tells whether the mail flows are on.
func (s *Service) MailEnabled() bool { return s.emailTokens != nil }

// EnumerationSafe tells whether registration answers alike for new and
// registered emails (MailConfig.EnumerationSafe).
func (s *Service) EnumerationSafe() bool { return s.cfg.Mail.EnumerationSafe && s.MailEnabled() }

// Wait blocks until the work behind answered requests (see
// MailConfig.Background) is done, or ctx ends: a shutdown calls it before
// closing the store.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.bg.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// later runs job after the request is answered, with the request's
// values (client, request id: the audit trail) but not its cancellation,
// bounded in time. When MailConfig.Background jobs are already running it
// refuses with EUNAVAILABLE, which tells the client nothing about any
// account.
func (s *Service) later(ctx context.Context, op string, job func(context.Context) error) error {
	select {
	case s.bg.slots <- struct{}{}:
	default:
		return &domain.Error{Code: domain.EUNAVAILABLE, Reason: domain.ReasonUnavailable, Message: "Too many requests in progress; try again shortly", RetryAfter: time.Second}
	}
	s.bg.wg.Add(1)
	go func() {
		defer func() {
			<-s.bg.slots
			s.bg.wg.Done()
		}()
		// Let the answer go first: a job that starts at once competes with
		// the 202 it follows for the CPU (on SQLite the store runs in
		// process), so the 202 for an address with an account came later
		// than for one without (medians 1.8x in cmd/authd's
		// TestMailTimingMedians).
		time.Sleep(answerFirst)
		jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		s.reportError(op, job(jctx))
	}()
	return nil
}

func (s *Service) reportError(op string, err error) {
	if err != nil && s.cfg.Mail.OnError != nil {
		s.cfg.Mail.OnError(op, err)
	}
}

// mailKind names a kind of mail for the per-address cooldown.
type mailKind string

const (
	kindVerify          mailKind = "verify"
	kindReset           mailKind = "reset"
	kindChange          mailKind = "change"
	kindRegisterAttempt mailKind = "register-attempt"
)

// allowClientMail spends one of the client's mail requests: ERATELIMITED
// once they are spent for the window.
func (s *Service) allowClientMail(ctx context.Context) error {
	if !s.cfg.Limits.Enabled {
		return nil
	}
	budgets, err := s.clientBudgets(ctx)
	if err != nil {
		return err
	}
	mc := s.cfg.Mail
	now := s.clock.Now()
	for i, b := range budgets {
		limit := mc.ClientMails
		if i > 0 {
			limit *= IPv6WideFactor
		}
		n, resetAt, err := s.limits.Hit(ctx, "mail-"+b.key, mc.ClientMailWindow, now)
		if err != nil {
			return err
		}
		if n > limit {
			if n == limit+1 {
				s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Reason: ports.ReasonClientBudget})
			}
			return domain.RateLimited(retryAfter(resetAt, now))
		}
	}
	return nil
}

// allowRecipient spends the address's cooldown for kind and its daily
// cap. It returns 0 when a mail may go, otherwise how long until one of
// that kind may (the mail is then not sent: mail.suppressed).
func (s *Service) allowRecipient(ctx context.Context, to domain.Email, kind mailKind) (time.Duration, error) {
	if !s.cfg.Limits.Enabled {
		return 0, nil
	}
	mc := s.cfg.Mail
	now := s.clock.Now()
	if mc.Cooldown > 0 {
		n, resetAt, err := s.limits.Hit(ctx, "mail-to:"+string(kind)+":"+to.String(), mc.Cooldown, now)
		if err != nil {
			return 0, err
		}
		if n > 1 {
			s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventMailSuppressed, Email: to.String(), Reason: ports.ReasonMailCooldown})
			return retryAfter(resetAt, now), nil
		}
	}
	if mc.DailyCap < 0 {
		return 0, nil
	}
	n, resetAt, err := s.limits.Hit(ctx, "mail-day:"+to.String(), mailDay, now)
	if err != nil {
		return 0, err
	}
	if n > mc.DailyCap {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventMailSuppressed, Email: to.String(), Reason: ports.ReasonMailDailyCap})
		return retryAfter(resetAt, now), nil
	}
	return 0, nil
}

// tokenMail is a mail that carries a new single-use token.
type tokenMail struct {
	user     int64
	to       domain.Email
	purpose  ports.EmailTokenPurpose
	newEmail string // change_email only
	template string
	page     string
	ttl      time.Duration
	data     map[string]string
}

// sendToken stores a new token for m and, in the same transaction, the
// mail that carries it (see EmailTokenRepository.Issue); older tokens of
// the purpose stop working. The token is 256 random bits, stored only as
// its hash, and appears nowhere but in the mail's link.
func (s *Service) sendToken(ctx context.Context, m tokenMail) error {
	token, err := s.sessionTokens.NewRefreshToken()
	if err != nil {
		return err
	}
	hash, ok := s.sessionTokens.Hash(token)
	if !ok {
		return errors.New("app: a new emailed token is not well-formed")
	}
	data := map[string]string{"link": s.cfg.Mail.AppURL + m.page + "?token=" + token, "email": m.to.String()}
	for k, v := range m.data {
		data[k] = v
	}
	now := s.clock.Now()
	t := ports.EmailToken{UserID: m.user, Purpose: m.purpose, NewEmail: m.newEmail, ExpiresAt: now.Add(m.ttl)}
	return s.emailTokens.Issue(ctx, hash, t, ports.Mail{To: m.to.String(), Template: m.template, Data: data}, now)
}

// notify enqueues a notice (no token) to the address.
func (s *Service) notify(ctx context.Context, to domain.Email, template string, data map[string]string) error {
	d := map[string]string{"email": to.String(), "link": s.cfg.Mail.AppURL + pageForgotPassword}
	for k, v := range data {
		d[k] = v
	}
	return s.outbox.Enqueue(ctx, ports.Mail{To: to.String(), Template: template, Data: d}, s.clock.Now())
}

// anonymousMail is the shared front of the anonymous mail flows: the
// address must parse, the client's mail budget and the address's limits
// are spent (all alike whether the address has an account), and send runs
// after the 202 unless the address's limits suppress it. Every request
// that passes the checks is answered the same, at the same speed.
func (s *Service) anonymousMail(ctx context.Context, rawEmail string, kind mailKind, op string, send func(context.Context, domain.Email) error) error {
	if !s.MailEnabled() {
		return domain.ErrMailDisabled
	}
	email, err := domain.ParseEmail(rawEmail)
	if err != nil {
		return err
	}
	if err := s.allowClientMail(ctx); err != nil {
		return err
	}
	wait, err := s.allowRecipient(ctx, email, kind)
	if err != nil || wait > 0 {
		return err
	}
	return s.later(ctx, op, func(ctx context.Context) error { return send(ctx, email) })
}

// accountFor looks up the account of email for an anonymous mail flow:
// nil (and no error) when there is none or it is inactive, with the event
// that says so recorded as name.
func (s *Service) accountFor(ctx context.Context, email domain.Email, name ports.EventName) (*domain.User, error) {
	u, err := s.users.ByEmail(ctx, email)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		s.events.Record(ctx, ports.SecurityEvent{Name: name, Email: email.String(), Reason: ports.ReasonNoAccount})
		return nil, nil
	case err != nil:
		return nil, err
	case !u.IsActive():
		s.events.Record(ctx, ports.SecurityEvent{Name: name, UserID: u.ID(), Email: email.String(), Reason: ports.ReasonInactiveAccount})
		return nil, nil
	}
	return u, nil
}

// renameField moves the field errors of err about field from to field
// to (the policy names "password"; a form may call it "new_password").
func renameField(err error, from, to string) error {
	var e *domain.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	c := *e
	c.Fields = make([]domain.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		if f.Field == from {
			f.Field = to
		}
		c.Fields[i] = f
	}
	return &c
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/adapters/clock"
	mailadapter "github.com/authd/authd/adapters/mail"
	"github.com/authd/authd/adapters/metrics"
	"github.com/authd/authd/app"
	"github.com/authd/authd/ports"
)

// outboxStatsEvery is how often the outbox is counted for
// authd_mail_queue_depth and authd_mail_oldest_pending_seconds: a query,
// never run at scrape time.
const outboxStatsEvery = 15 * time.Second

// newMailer builds the Mailer that mc names, nil when mail is off.
func newMailer(mc mailConfig) (ports.Mailer, error) {
	if !mc.On() {
		return nil, nil
	}
	r, err := mailadapter.NewRenderer(mc.Templates)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_MAIL_TEMPLATES: %w", err)
	}
	if mc.Transport == mailFile {
		f, err := mailadapter.NewFile(mc.Dir, mc.From, r)
		if err != nil {
			return nil, fmt.Errorf("AUTHD_MAIL_DIR: %w", err)
		}
		return f, nil
	}
	s, err := mailadapter.NewSMTP(mc.SMTP, mc.From, r)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_SMTP_URL: %w", err)
	}
	return s, nil
}

// startMail builds the Mailer and, when mail is on, starts the relay that
// delivers the outbox until ctx ends. done closes when the relay has
// stopped (at once when mail is off); a send under way when ctx ends is
// finished and recorded first, so shutdown does not turn it into a
// duplicate. The relay's errors are logged; they never carry a message's
// data (its links hold tokens).
func startMail(ctx context.Context, mc mailConfig, outbox ports.MailOutbox, m *metrics.Metrics, events ports.EventLog, logger *slog.Logger) (mailer ports.Mailer, done <-chan struct{}, err error) {
	stopped := make(chan struct{})
	m.MailOutbox(ctx, outboxStatsEvery, func(ctx context.Context) (int, time.Time, error) {
		return outbox.Stats(ctx, time.Now())
	})
	if mailer, err = newMailer(mc); err != nil || mailer == nil {
		close(stopped)
		return nil, stopped, err
	}
	relay, err := app.NewMailRelay(finishing{outbox}, finishingMailer{mailer}, clock.System{}, events, app.RelayConfig{
		Lease: mc.Lease, MaxAttempts: mc.MaxAttempts, BaseBackoff: mc.RetryBase, MaxBackoff: mc.RetryMax, Poll: mc.Poll,
		Observe: m.ObserveMail,
		OnError: func(err error) { logger.Warn("mail relay", "error", err.Error()) },
	})
	if err != nil {
		close(stopped)
		return nil, stopped, err
	}
	go func() {
		defer close(stopped)
		relay.Run(ctx)
	}()
	logger.Info("mail relay started", "transport", mc.Transport, "server", mailServer(mc))
	return mailer, stopped, nil
}

// mailServer names where mail goes, for the log: never the SMTP password.
func mailServer(mc mailConfig) string {
	if mc.Transport == mailFile {
		return mc.Dir
	}
	return mc.SMTP.String()
}

// finishingMailer sends on a context that shutdown does not cancel: a
// send under way completes (each SMTP step is bounded by the adapter's
// timeout) rather than being cut after the server may have taken it.
type finishingMailer struct{ ports.Mailer }

func (f finishingMailer) Send(ctx context.Context, m ports.Mail) error {
	return f.Mailer.Send(context.WithoutCancel(ctx), m)
}

// finishing records a delivery's outcome even when shutdown has begun, so
// a message sent just before is not sent again once its lease ends. Each
// call is bounded by its circuit's timeout.
type finishing struct{ ports.MailOutbox }

func (f finishing) MarkSent(ctx context.Context, id int64, now time.Time) error {
	return f.MailOutbox.MarkSent(context.WithoutCancel(ctx), id, now)
}

func (f finishing) Retry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return f.MailOutbox.Retry(context.WithoutCancel(ctx), id, next, lastErr)
}

func (f finishing) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	return f.MailOutbox.MarkFailed(context.WithoutCancel(ctx), id, now, lastErr)
}

// waitBackground waits up to timeout for the work behind answered
// requests.
func waitBackground(bg interface{ Wait(context.Context) error }, timeout time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := bg.Wait(ctx); err != nil {
		logger.Warn("mail requests still being prepared after the drain timeout; stopping anyway (their senders can ask again)")
	}
}

// waitMail waits up to timeout for the relay to stop.
func waitMail(done <-chan struct{}, timeout time.Duration, logger *slog.Logger) {
	select {
	case <-done:
	case <-time.After(timeout):
		logger.Warn("mail relay still sending after the drain timeout; stopping anyway (the message is sent again once its lease ends)")
	}
}

// warnAboutMail logs, once, that mail is off (production without
// AUTHD_SMTP_URL), and where development mail goes.
func warnAboutMail(cfg config, logger *slog.Logger) {
	switch cfg.Mail.Transport {
	case mailOff:
		logger.Warn("AUTHD_SMTP_URL is not set: mail is off, so email verification, password reset and email change answer 501; set AUTHD_SMTP_URL to turn them on")
	case mailFile:
		logger.Info("mail is written as .eml files, not sent (development; set AUTHD_SMTP_URL to send it)", "dir", cfg.Mail.Dir)
	}
}

// appMailConfig is the mail flows' part of the use cases' configuration.
// What goes wrong behind an answered request is logged without data (an
// error never carries a token).
func appMailConfig(mc mailConfig, logger *slog.Logger) app.MailConfig {
	c := app.MailConfig{
		AppURL: mc.AppURL, VerifyTTL: mc.VerifyTTL, ResetTTL: mc.ResetTTL,
		RequireVerified: mc.RequireVerified, EnumerationSafe: mc.EnumerationSafe,
		Cooldown: mc.Cooldown, DailyCap: mc.DailyCap,
		OnError: func(op string, err error) { logger.Warn("mail flow failed", "op", op, "error", err.Error()) },
	}
	// Zero means none here; the use cases read zero as their default.
	if c.Cooldown == 0 {
		c.Cooldown = app.NoMailLimit
	}
	if c.DailyCap == 0 {
		c.DailyCap = app.NoMailLimit
	}
	return c
}

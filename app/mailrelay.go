package app

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The outcomes RelayConfig.Observe is called with.
const (
	MailSent    = "sent"
	MailRetry   = "retry"
	MailFailure = "failed"
)

// RelayConfig tunes a MailRelay. Zero fields take the defaults.
type RelayConfig struct {
	// Batch is how many messages one RunOnce claims (default 10).
	Batch int
	// Lease is how long a claimed message is kept from other relays
	// (default 1m); it must outlast the sending of a batch.
	Lease time.Duration
	// MaxAttempts is how many temporary failures a message may have:
	// the one that reaches it fails the message for good (default 8).
	MaxAttempts int
	// BaseBackoff is the wait before the first retry; it doubles with
	// each failed attempt (default 30s) up to MaxBackoff (default 1h).
	// Up to 20% jitter is added to both.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Poll is how long Run waits after a batch that was not full
	// (default 2s).
	Poll time.Duration
	// Jitter returns a number in [0, 1) that scales the 20% jitter of a
	// backoff; nil uses a seeded random source. Tests pass a constant.
	Jitter func() float64
	// OnError, when set, hears the errors Run meets (storage errors of
	// Claim, MarkSent, Retry, MarkFailed); they do not stop the loop.
	OnError func(error)
	// Observe, when set, hears the outcome of each message: its template
	// and MailSent, MailRetry or MailFailure.
	Observe func(template, outcome string)
}

// MailRelay delivers the mail outbox: it claims due messages, sends them
// through the Mailer and records the outcome, retrying temporary failures
// with exponential backoff. Delivery is at least once (see
// ports.MailOutbox).
type MailRelay struct {
	outbox ports.MailOutbox
	mailer ports.Mailer
	clock  ports.Clock
	events ports.EventLog
	cfg    RelayConfig
}

// NewMailRelay returns a relay over the ports, with cfg's zero fields set
// to the defaults. It refuses nil ports and negative settings.
func NewMailRelay(outbox ports.MailOutbox, mailer ports.Mailer, clock ports.Clock, events ports.EventLog, cfg RelayConfig) (*MailRelay, error) {
	if outbox == nil || mailer == nil || clock == nil || events == nil {
		return nil, errors.New("app: NewMailRelay needs an outbox, a mailer, a clock and an event log")
	}
	if cfg.Batch < 0 || cfg.Lease < 0 || cfg.MaxAttempts < 0 || cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 || cfg.Poll < 0 {
		return nil, fmt.Errorf("app: negative mail relay setting: %+v", cfg)
	}
	setDefault(&cfg.Batch, 10)
	setDefault(&cfg.Lease, time.Minute)
	setDefault(&cfg.MaxAttempts, 8)
	setDefault(&cfg.BaseBackoff, 30*time.Second)
	setDefault(&cfg.MaxBackoff, time.Hour)
	setDefault(&cfg.Poll, 2*time.Second)
	if cfg.MaxBackoff < cfg.BaseBackoff {
		return nil, fmt.Errorf("app: mail relay MaxBackoff %v is below BaseBackoff %v", cfg.MaxBackoff, cfg.BaseBackoff)
	}
	if cfg.Jitter == nil {
		var mu sync.Mutex
		src := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		cfg.Jitter = func() float64 {
			mu.Lock()
			defer mu.Unlock()
			return src.Float64()
		}
	}
	return &MailRelay{outbox: outbox, mailer: mailer, clock: clock, events: events, cfg: cfg}, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Backoff is how long after a failed delivery a message that had
// attempts earlier failures is tried again: BaseBackoff * 2^attempts,
// at most MaxBackoff, plus up to 20% jitter.
func (r *MailRelay) Backoff(attempts int) time.Duration {
	d := r.cfg.BaseBackoff
	for i := 0; i < attempts && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	j := r.cfg.Jitter()
	if j < 0 || j >= 1 {
		j = 0
	}
	return d + time.Duration(float64(d)*0.2*j)
}

// RunOnce claims one batch of due messages and delivers each: a sent
// message is marked sent; one the mailer could not deliver now
// (EUNAVAILABLE) is retried after Backoff, or failed once it reaches
// MaxAttempts; one it refused for good (any other error) is failed at
// once. A message marked failed records mail.failed. It returns how many
// messages had each outcome and the storage errors, joined: a Claim
// error ends the run, a MarkSent, Retry or MarkFailed error does not
// (the message comes back once its lease ends). It stops early, leaving
// the rest leased, when ctx ends.
func (r *MailRelay) RunOnce(ctx context.Context) (sent, retried, failed int, err error) {
	sent, retried, failed, _, err = r.runOnce(ctx)
	return sent, retried, failed, err
}

func (r *MailRelay) runOnce(ctx context.Context) (sent, retried, failed, claimed int, err error) {
	msgs, err := r.outbox.Claim(ctx, r.clock.Now(), r.cfg.Batch, r.cfg.Lease)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("mail relay: claim: %w", err)
	}
	var errs []error
	for _, m := range msgs {
		if ctx.Err() != nil {
			break
		}
		outcome, err := r.deliver(ctx, m)
		switch outcome {
		case MailSent:
			sent++
		case MailRetry:
			retried++
		case MailFailure:
			failed++
		}
		if err != nil {
			errs = append(errs, err)
		}
		if r.cfg.Observe != nil {
			r.cfg.Observe(m.Mail.Template, outcome)
		}
	}
	return sent, retried, failed, len(msgs), errors.Join(errs...)
}

// deliver sends m and records the outcome in the outbox; the error is
// the outbox's, when it could not record it.
func (r *MailRelay) deliver(ctx context.Context, m ports.OutboxMail) (string, error) {
	sendErr := r.mailer.Send(ctx, m.Mail)
	now := r.clock.Now()
	if sendErr == nil {
		if err := r.outbox.MarkSent(ctx, m.ID, now); err != nil {
			return MailSent, fmt.Errorf("mail relay: mark message %d sent: %w", m.ID, err)
		}
		return MailSent, nil
	}
	// Only the mailer's error is kept: never the message's data.
	lastErr := ports.TruncateError(sendErr.Error())
	var reason ports.Reason
	if domain.ErrorCode(sendErr) == domain.EUNAVAILABLE {
		if m.Attempts+1 < r.cfg.MaxAttempts {
			if err := r.outbox.Retry(ctx, m.ID, now.Add(r.Backoff(m.Attempts)), lastErr); err != nil {
				return MailRetry, fmt.Errorf("mail relay: retry message %d: %w", m.ID, err)
			}
			return MailRetry, nil
		}
		reason = ports.ReasonMailGaveUp(m.Mail.Template, m.Attempts+1)
	} else {
		reason = ports.ReasonMailRejected(m.Mail.Template)
	}
	if err := r.outbox.MarkFailed(ctx, m.ID, now, lastErr); err != nil {
		// Not recorded: the message comes back and fails again.
		return MailFailure, fmt.Errorf("mail relay: mark message %d failed: %w", m.ID, err)
	}
	r.events.Record(ctx, ports.SecurityEvent{Name: ports.EventMailFailed, Email: m.Mail.To, Reason: reason})
	return MailFailure, nil
}

// Run calls RunOnce until ctx ends: again at once after a full batch,
// after Poll otherwise (and after an error). Errors go to OnError and do
// not stop it. It blocks; run it in its own goroutine.
func (r *MailRelay) Run(ctx context.Context) {
	for ctx.Err() == nil {
		_, _, _, claimed, err := r.runOnce(ctx)
		if err != nil && r.cfg.OnError != nil {
			r.cfg.OnError(err)
		}
		if err == nil && claimed >= r.cfg.Batch {
			continue
		}
		t := time.NewTimer(r.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

package breaker

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var (
	_ ports.EmailTokenRepository = (*EmailTokenRepository)(nil)
	_ ports.MailOutbox           = (*MailOutbox)(nil)
)

// SetEmailVerified calls the wrapped SetEmailVerified.
func (r *UserRepository) SetEmailVerified(ctx context.Context, id int64, at time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.SetEmailVerified(ctx, id, at)
	})
	return err
}

// ChangeEmail calls the wrapped ChangeEmail.
func (r *UserRepository) ChangeEmail(ctx context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.ChangeEmail(ctx, id, email, verifiedAt)
	})
	return err
}

// EmailTokenRepository runs every call of the wrapped repository as one
// hystrix command.
type EmailTokenRepository struct {
	next ports.EmailTokenRepository
	cmd  command
}

// EmailTokens wraps next in the hystrix command name (such as
// "db.email_tokens"), configured from cfg. It panics on an empty name or
// an invalid cfg.
func EmailTokens(next ports.EmailTokenRepository, name string, cfg Config) ports.EmailTokenRepository {
	return &EmailTokenRepository{next: next, cmd: newCommand(name, cfg)}
}

// Issue calls the wrapped Issue.
func (r *EmailTokenRepository) Issue(ctx context.Context, hash []byte, t ports.EmailToken, m ports.Mail, now time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.Issue(ctx, hash, t, m, now)
	})
	return err
}

// Consume calls the wrapped Consume.
func (r *EmailTokenRepository) Consume(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (ports.EmailToken, error) {
		return r.next.Consume(ctx, hash, purpose, now)
	})
}

// Lookup calls the wrapped Lookup.
func (r *EmailTokenRepository) Lookup(ctx context.Context, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (ports.EmailToken, error) {
		return r.next.Lookup(ctx, hash, purpose, now)
	})
}

// InvalidateAll calls the wrapped InvalidateAll.
func (r *EmailTokenRepository) InvalidateAll(ctx context.Context, userID int64, purpose ports.EmailTokenPurpose, now time.Time) error {
	_, err := do(ctx, r.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.next.InvalidateAll(ctx, userID, purpose, now)
	})
	return err
}

// MailOutbox runs every call of the wrapped outbox as one hystrix command.
type MailOutbox struct {
	next ports.MailOutbox
	cmd  command
}

// Outbox wraps next in the hystrix command name (such as
// "db.mail_outbox"), configured from cfg. It panics on an empty name or an
// invalid cfg.
func Outbox(next ports.MailOutbox, name string, cfg Config) ports.MailOutbox {
	return &MailOutbox{next: next, cmd: newCommand(name, cfg)}
}

// Enqueue calls the wrapped Enqueue.
func (o *MailOutbox) Enqueue(ctx context.Context, m ports.Mail, now time.Time) error {
	_, err := do(ctx, o.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.next.Enqueue(ctx, m, now)
	})
	return err
}

// Claim calls the wrapped Claim.
func (o *MailOutbox) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]ports.OutboxMail, error) {
	return do(ctx, o.cmd, func(ctx context.Context) ([]ports.OutboxMail, error) {
		return o.next.Claim(ctx, now, n, lease)
	})
}

// MarkSent calls the wrapped MarkSent.
func (o *MailOutbox) MarkSent(ctx context.Context, id int64, now time.Time) error {
	_, err := do(ctx, o.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.next.MarkSent(ctx, id, now)
	})
	return err
}

// Retry calls the wrapped Retry.
func (o *MailOutbox) Retry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	_, err := do(ctx, o.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.next.Retry(ctx, id, next, lastErr)
	})
	return err
}

// MarkFailed calls the wrapped MarkFailed.
func (o *MailOutbox) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	_, err := do(ctx, o.cmd, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, o.next.MarkFailed(ctx, id, now, lastErr)
	})
	return err
}

type outboxStats struct {
	pending int
	oldest  time.Time
}

// Stats calls the wrapped Stats.
func (o *MailOutbox) Stats(ctx context.Context, now time.Time) (int, time.Time, error) {
	res, err := do(ctx, o.cmd, func(ctx context.Context) (outboxStats, error) {
		n, oldest, err := o.next.Stats(ctx, now)
		return outboxStats{n, oldest}, err
	})
	return res.pending, res.oldest, err
}

// DeleteOld calls the wrapped DeleteOld.
func (o *MailOutbox) DeleteOld(ctx context.Context, before time.Time) (int, error) {
	return do(ctx, o.cmd, func(ctx context.Context) (int, error) { return o.next.DeleteOld(ctx, before) })
}

// DeleteExpired calls the wrapped DeleteExpired.
func (r *EmailTokenRepository) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	return do(ctx, r.cmd, func(ctx context.Context) (int, error) { return r.next.DeleteExpired(ctx, before) })
}

// EmailTokens wraps next in the circuit "db.email_tokens", configured from
// cfg. It is required: the email flows answer requests through it.
func (s *Set) EmailTokens(next ports.EmailTokenRepository, cfg Config) ports.EmailTokenRepository {
	r := &EmailTokenRepository{next: next}
	var c *Circuit
	c, r.cmd = s.add("db.email_tokens", cfg, true)
	// No stored token has an empty hash: an indexed read, "not found". A
	// probe only reads, so a readiness check never writes to the database.
	c.probe = func(ctx context.Context) { _, _ = r.Lookup(ctx, []byte{}, ports.PurposeVerifyEmail, time.Now()) }
	return r
}

// Outbox wraps next in the circuit "db.mail_outbox", configured from cfg.
// Only the background relay and notices use it, which a request does not
// wait for, so it counts neither for Ready nor for Watch; it is in
// Circuits, for metrics.
func (s *Set) Outbox(next ports.MailOutbox, cfg Config) ports.MailOutbox {
	o := &MailOutbox{next: next}
	_, o.cmd = s.add("db.mail_outbox", cfg, false)
	return o
}

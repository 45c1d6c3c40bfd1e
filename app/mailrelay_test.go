package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

type relayFixture struct {
	outbox   *mock.MockMailOutbox
	mailer   *mock.MockMailer
	clock    *mock.MockClock
	events   *mock.MockEventLog
	observed []string
	errs     []error
	relay    *MailRelay
}

// newRelay builds a relay over mocks with cfg; Jitter is zero unless cfg
// sets it, so backoffs are exact.
func newRelay(t *testing.T, cfg RelayConfig) *relayFixture {
	ctrl := gomock.NewController(t)
	f := &relayFixture{
		outbox: mock.NewMockMailOutbox(ctrl),
		mailer: mock.NewMockMailer(ctrl),
		clock:  mock.NewMockClock(ctrl),
		events: mock.NewMockEventLog(ctrl),
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func() float64 { return 0 }
	}
	cfg.Observe = func(template, outcome string) { f.observed = append(f.observed, template+":"+outcome) }
	cfg.OnError = func(err error) { f.errs = append(f.errs, err) }
	r, err := NewMailRelay(f.outbox, f.mailer, f.clock, f.events, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.relay = r
	return f
}

func outboxMail(id int64, template string, attempts int) ports.OutboxMail {
	return ports.OutboxMail{
		ID:       id,
		Mail:     ports.Mail{To: "jane@example.com", Template: template, Data: map[string]string{"link": "https://authd.example/verify?token=SECRETTOKEN"}},
		Attempts: attempts,
	}
}

func unavailable(msg string) error {
	return &domain.Error{Code: domain.EUNAVAILABLE, Message: msg}
}

func TestMailRelayDefaultsAndNilPorts(t *testing.T) {
	ctrl := gomock.NewController(t)
	outbox, mailer, clock, events := mock.NewMockMailOutbox(ctrl), mock.NewMockMailer(ctrl), mock.NewMockClock(ctrl), mock.NewMockEventLog(ctrl)
	r, err := NewMailRelay(outbox, mailer, clock, events, RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.cfg
	if c.Batch != 10 || c.Lease != time.Minute || c.MaxAttempts != 8 || c.BaseBackoff != 30*time.Second || c.MaxBackoff != time.Hour || c.Poll != 2*time.Second {
		t.Errorf("defaults = %+v", c)
	}
	// The default jitter stays within 20%.
	for range 100 {
		if d := r.Backoff(0); d < 30*time.Second || d > 36*time.Second {
			t.Fatalf("Backoff(0) = %v, want 30s..36s", d)
		}
	}
	for name, build := range map[string]func() (*MailRelay, error){
		"outbox":   func() (*MailRelay, error) { return NewMailRelay(nil, mailer, clock, events, RelayConfig{}) },
		"mailer":   func() (*MailRelay, error) { return NewMailRelay(outbox, nil, clock, events, RelayConfig{}) },
		"clock":    func() (*MailRelay, error) { return NewMailRelay(outbox, mailer, nil, events, RelayConfig{}) },
		"events":   func() (*MailRelay, error) { return NewMailRelay(outbox, mailer, clock, nil, RelayConfig{}) },
		"negative": func() (*MailRelay, error) { return NewMailRelay(outbox, mailer, clock, events, RelayConfig{Batch: -1}) },
		"max<base": func() (*MailRelay, error) {
			return NewMailRelay(outbox, mailer, clock, events, RelayConfig{BaseBackoff: time.Hour, MaxBackoff: time.Minute})
		},
	} {
		if r, err := build(); err == nil || r != nil {
			t.Errorf("%s: NewMailRelay = %v, %v; want an error", name, r, err)
		}
	}
}

func TestMailRelayBackoff(t *testing.T) {
	f := newRelay(t, RelayConfig{BaseBackoff: 30 * time.Second, MaxBackoff: 10 * time.Minute})
	for attempts, want := range map[int]time.Duration{
		0: 30 * time.Second, 1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute,
		5: 10 * time.Minute, 100: 10 * time.Minute,
	} {
		if got := f.relay.Backoff(attempts); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
	f = newRelay(t, RelayConfig{Jitter: func() float64 { return 0.5 }})
	if got, want := f.relay.Backoff(1), time.Minute+6*time.Second; got != want {
		t.Errorf("Backoff(1) with jitter 0.5 = %v, want %v", got, want)
	}
}

func TestMailRelaySent(t *testing.T) {
	f := newRelay(t, RelayConfig{Batch: 5, Lease: 2 * time.Minute})
	ctx := testCtx(t)
	m := outboxMail(7, ports.TemplateVerifyEmail, 0)
	later := now.Add(3 * time.Second)
	gomock.InOrder(
		f.clock.EXPECT().Now().Return(now),
		f.outbox.EXPECT().Claim(ctx, now, 5, 2*time.Minute).Return([]ports.OutboxMail{m}, nil),
		f.mailer.EXPECT().Send(ctx, m.Mail).Return(nil),
		f.clock.EXPECT().Now().Return(later),
		f.outbox.EXPECT().MarkSent(ctx, int64(7), later).Return(nil),
	)
	sent, retried, failed, err := f.relay.RunOnce(ctx)
	if sent != 1 || retried != 0 || failed != 0 || err != nil {
		t.Fatalf("RunOnce = %d, %d, %d, %v; want 1, 0, 0, nil", sent, retried, failed, err)
	}
	if got := strings.Join(f.observed, ","); got != "verify_email:sent" {
		t.Errorf("observed %q", got)
	}
}

func TestMailRelayRetryThenGiveUp(t *testing.T) {
	f := newRelay(t, RelayConfig{MaxAttempts: 3, BaseBackoff: 30 * time.Second})
	ctx := testCtx(t)
	first := outboxMail(1, ports.TemplateResetPassword, 0)
	second := outboxMail(2, ports.TemplateResetPassword, 1)
	last := outboxMail(3, ports.TemplateVerifyEmail, 2)
	sendErr := unavailable("smtp: 421 try again later")
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return([]ports.OutboxMail{first, second, last}, nil),
		f.mailer.EXPECT().Send(ctx, first.Mail).Return(sendErr),
		f.outbox.EXPECT().Retry(ctx, int64(1), now.Add(30*time.Second), sendErr.Error()).Return(nil),
		f.mailer.EXPECT().Send(ctx, second.Mail).Return(sendErr),
		f.outbox.EXPECT().Retry(ctx, int64(2), now.Add(time.Minute), sendErr.Error()).Return(nil),
		// attempts+1 reaches MaxAttempts: failed, not retried.
		f.mailer.EXPECT().Send(ctx, last.Mail).Return(sendErr),
		f.outbox.EXPECT().MarkFailed(ctx, int64(3), now, sendErr.Error()).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{
			Name: ports.EventMailFailed, Email: "jane@example.com",
			Reason: "gave up after 3 attempts: verify_email",
		}),
	)
	sent, retried, failed, err := f.relay.RunOnce(ctx)
	if sent != 0 || retried != 2 || failed != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %d, %d, %v; want 0, 2, 1, nil", sent, retried, failed, err)
	}
	if got := strings.Join(f.observed, ","); got != "reset_password:retry,reset_password:retry,verify_email:failed" {
		t.Errorf("observed %q", got)
	}
}

func TestMailRelayRejectedFailsAtOnce(t *testing.T) {
	f := newRelay(t, RelayConfig{})
	ctx := testCtx(t)
	m := outboxMail(4, ports.TemplateEmailChange, 0)
	sendErr := &domain.Error{Code: domain.EINVALID, Message: "smtp: 550 no such user"}
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return([]ports.OutboxMail{m}, nil),
		f.mailer.EXPECT().Send(ctx, m.Mail).Return(sendErr),
		f.outbox.EXPECT().MarkFailed(ctx, int64(4), now, sendErr.Error()).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{
			Name: ports.EventMailFailed, Email: "jane@example.com", Reason: "rejected: email_change",
		}),
	)
	sent, retried, failed, err := f.relay.RunOnce(ctx)
	if sent != 0 || retried != 0 || failed != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %d, %d, %v; want 0, 0, 1, nil", sent, retried, failed, err)
	}
	// A plain (non-domain) error is no more retryable.
	m2 := outboxMail(5, ports.TemplateEmailChanged, 0)
	plain := errors.New("template: no such template")
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return([]ports.OutboxMail{m2}, nil),
		f.mailer.EXPECT().Send(ctx, m2.Mail).Return(plain),
		f.outbox.EXPECT().MarkFailed(ctx, int64(5), now, plain.Error()).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{
			Name: ports.EventMailFailed, Email: "jane@example.com", Reason: "rejected: email_changed",
		}),
	)
	if _, _, failed, err := f.relay.RunOnce(ctx); failed != 1 || err != nil {
		t.Fatalf("RunOnce failed = %d, %v; want 1, nil", failed, err)
	}
}

// TestMailRelayStoresTruncatedError: the outbox gets the mailer's error
// through ports.TruncateError, and the event holds neither the error nor
// the message's data.
func TestMailRelayStoresTruncatedError(t *testing.T) {
	f := newRelay(t, RelayConfig{})
	ctx := testCtx(t)
	m := outboxMail(6, ports.TemplateVerifyEmail, 0)
	long := unavailable("smtp: 451 " + strings.Repeat("é", 400) + " token=SECRETTOKEN")
	want := ports.TruncateError(long.Error())
	if len(want) > ports.MaxOutboxErrorLen || want == long.Error() || strings.Contains(want, "SECRETTOKEN") {
		t.Fatalf("test error not long enough to be truncated: %d bytes", len(long.Error()))
	}
	var stored string
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return([]ports.OutboxMail{m}, nil)
	f.mailer.EXPECT().Send(ctx, m.Mail).Return(long)
	f.outbox.EXPECT().Retry(ctx, int64(6), now.Add(30*time.Second), gomock.Any()).
		DoAndReturn(func(_ context.Context, _ int64, _ time.Time, lastErr string) error {
			stored = lastErr
			return nil
		})
	if _, retried, _, err := f.relay.RunOnce(ctx); retried != 1 || err != nil {
		t.Fatalf("RunOnce retried = %d, %v", retried, err)
	}
	if stored != want {
		t.Errorf("stored error = %q (%d bytes), want the truncated error (%d bytes)", stored, len(stored), len(want))
	}
}

// TestMailRelayMarkSentFails: the storage error is reported, the other
// messages are still delivered and the message is not sent again in the
// same run.
func TestMailRelayMarkSentFails(t *testing.T) {
	f := newRelay(t, RelayConfig{})
	ctx := testCtx(t)
	a, b := outboxMail(1, ports.TemplateVerifyEmail, 0), outboxMail(2, ports.TemplatePasswordChanged, 0)
	storeErr := domain.Unavailable(errors.New("db down"))
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return([]ports.OutboxMail{a, b}, nil),
		f.mailer.EXPECT().Send(ctx, a.Mail).Return(nil).Times(1),
		f.outbox.EXPECT().MarkSent(ctx, int64(1), now).Return(storeErr),
		f.mailer.EXPECT().Send(ctx, b.Mail).Return(nil).Times(1),
		f.outbox.EXPECT().MarkSent(ctx, int64(2), now).Return(nil),
	)
	sent, retried, failed, err := f.relay.RunOnce(ctx)
	if sent != 2 || retried != 0 || failed != 0 {
		t.Errorf("RunOnce = %d, %d, %d; want 2, 0, 0", sent, retried, failed)
	}
	if !errors.Is(err, storeErr) {
		t.Errorf("err = %v, want the MarkSent error", err)
	}
}

func TestMailRelayClaimError(t *testing.T) {
	f := newRelay(t, RelayConfig{})
	ctx := testCtx(t)
	storeErr := domain.Unavailable(errors.New("db down"))
	f.clock.EXPECT().Now().Return(now)
	f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return(nil, storeErr)
	if sent, retried, failed, err := f.relay.RunOnce(ctx); sent+retried+failed != 0 || !errors.Is(err, storeErr) {
		t.Fatalf("RunOnce = %d, %d, %d, %v; want the Claim error", sent, retried, failed, err)
	}
}

// runBounded runs Run and fails the test when it has not returned
// within a few seconds.
func runBounded(t *testing.T, r *MailRelay, ctx context.Context) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s")
	}
}

// TestMailRelayRunFullBatchGoesAgain: after a full batch Run claims again
// at once (Poll is an hour, so waiting would time the test out); after a
// short one it waits, and it returns when ctx ends.
func TestMailRelayRunFullBatchGoesAgain(t *testing.T) {
	f := newRelay(t, RelayConfig{Batch: 2, Poll: time.Hour})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	a, b := outboxMail(1, ports.TemplateVerifyEmail, 0), outboxMail(2, ports.TemplateVerifyEmail, 0)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 2, time.Minute).Return([]ports.OutboxMail{a, b}, nil),
		f.mailer.EXPECT().Send(ctx, a.Mail).Return(nil),
		f.outbox.EXPECT().MarkSent(ctx, int64(1), now).Return(nil),
		f.mailer.EXPECT().Send(ctx, b.Mail).Return(nil),
		f.outbox.EXPECT().MarkSent(ctx, int64(2), now).Return(nil),
		f.outbox.EXPECT().Claim(ctx, now, 2, time.Minute).
			DoAndReturn(func(context.Context, time.Time, int, time.Duration) ([]ports.OutboxMail, error) {
				// A short batch: Run now waits Poll, until ctx ends.
				go func() { time.Sleep(20 * time.Millisecond); cancel() }()
				return nil, nil
			}),
	)
	runBounded(t, f.relay, ctx)
	if len(f.errs) != 0 {
		t.Errorf("errors reported: %v", f.errs)
	}
}

// TestMailRelayRunReportsClaimErrors: a Claim error goes to OnError and
// the loop goes on after Poll.
func TestMailRelayRunReportsClaimErrors(t *testing.T) {
	f := newRelay(t, RelayConfig{Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	storeErr := domain.Unavailable(errors.New("db down"))
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).Return(nil, storeErr).Times(2),
		f.outbox.EXPECT().Claim(ctx, now, 10, time.Minute).
			DoAndReturn(func(context.Context, time.Time, int, time.Duration) ([]ports.OutboxMail, error) {
				cancel()
				return nil, nil
			}),
	)
	runBounded(t, f.relay, ctx)
	if len(f.errs) != 2 || !errors.Is(f.errs[0], storeErr) || !errors.Is(f.errs[1], storeErr) {
		t.Errorf("OnError heard %v, want the Claim error twice", f.errs)
	}
}

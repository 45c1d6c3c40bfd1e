package metrics_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authd/authd/adapters/metrics"
	"github.com/authd/authd/ports"
)

// TestMailMetrics: every template and outcome starts at 0, outcomes are
// counted per template, an unknown template is "other"; the outbox
// gauges show the last successful count, absent before it, and the age
// of the oldest pending message.
func TestMailMetrics(t *testing.T) {
	m := metrics.New()
	reg := m.Registry()
	if family(t, reg, "authd_mail_sent_total") != nil || family(t, reg, "authd_mail_queue_depth") != nil {
		t.Fatal("mail metrics before mail was wired")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	oldest := time.Now().Add(-90 * time.Second)
	stats := make(chan struct{}, 1)
	m.MailOutbox(ctx, time.Hour, func(context.Context) (int, time.Time, error) {
		defer func() { stats <- struct{}{} }()
		if calls.Add(1) == 1 {
			return 3, oldest, nil
		}
		return 0, time.Time{}, errors.New("db down")
	})
	for _, tmpl := range ports.Templates {
		for _, o := range []string{"sent", "retry", "failed"} {
			if v := value(t, reg, "authd_mail_sent_total", "template", tmpl, "outcome", o); v != 0 {
				t.Errorf("%s/%s = %v at start", tmpl, o, v)
			}
		}
	}
	<-stats
	// The count is stored just after stats returns.
	for deadline := time.Now().Add(5 * time.Second); family(t, reg, "authd_mail_queue_depth") == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no authd_mail_queue_depth after the first count")
		}
	}
	if v := value(t, reg, "authd_mail_queue_depth"); v != 3 {
		t.Errorf("queue depth = %v, want 3", v)
	}
	if v := value(t, reg, "authd_mail_oldest_pending_seconds"); v < 90 || v > 100 {
		t.Errorf("oldest pending = %v s, want about 90", v)
	}

	m.ObserveMail(ports.TemplateResetPassword, "sent")
	m.ObserveMail(ports.TemplateResetPassword, "retry")
	m.ObserveMail(ports.TemplateResetPassword, "retry")
	m.ObserveMail("made_up", "failed")
	for _, c := range []struct {
		tmpl, outcome string
		want          float64
	}{
		{ports.TemplateResetPassword, "sent", 1},
		{ports.TemplateResetPassword, "retry", 2},
		{ports.TemplateVerifyEmail, "sent", 0},
		{"other", "failed", 1},
	} {
		if v := value(t, reg, "authd_mail_sent_total", "template", c.tmpl, "outcome", c.outcome); v != c.want {
			t.Errorf("%s/%s = %v, want %v", c.tmpl, c.outcome, v, c.want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "authd_mail") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestMailOutboxAbsentUntilCounted: a failing first count leaves the
// gauges absent rather than a misleading 0.
func TestMailOutboxAbsentUntilCounted(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	m.MailOutbox(ctx, time.Hour, func(context.Context) (int, time.Time, error) {
		defer close(done)
		return 0, time.Time{}, errors.New("db down")
	})
	<-done
	if family(t, m.Registry(), "authd_mail_queue_depth") != nil || family(t, m.Registry(), "authd_mail_oldest_pending_seconds") != nil {
		t.Error("outbox gauges present though no count succeeded")
	}
}

package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/ports"
)

// The outcomes of authd_mail_sent_total, as the mail relay reports them
// (app.MailSent, app.MailRetry, app.MailFailure).
var mailOutcomes = []string{"sent", "retry", "failed"}

// mailTemplate is template if it is one of ports.Templates, else "other":
// a row in the outbox could name anything, and labels stay bounded.
func mailTemplate(template string) string {
	for _, t := range ports.Templates {
		if t == template {
			return t
		}
	}
	return "other"
}

// mailMetrics holds authd_mail_sent_total, registered on first use of
// ObserveMail or MailOutbox so a Metrics without mail has none of it.
type mailMetrics struct {
	once sync.Once
	sent *prometheus.CounterVec
}

func (m *Metrics) mailInit() {
	m.mail.once.Do(func() {
		m.mail.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_mail_sent_total",
			Help: "Delivery attempts of the mail outbox by template and outcome: sent, retry (a temporary failure; tried again later), failed (given up: refused for good or out of attempts).",
		}, []string{"template", "outcome"})
		for _, t := range ports.Templates {
			for _, o := range mailOutcomes {
				m.mail.sent.WithLabelValues(t, o)
			}
		}
		m.reg.MustRegister(m.mail.sent)
	})
}

// ObserveMail counts one delivery attempt of the outbox relay: its
// template and outcome (sent, retry or failed). It fits
// app.RelayConfig.Observe.
func (m *Metrics) ObserveMail(template, outcome string) {
	m.mailInit()
	switch outcome {
	case "sent", "retry", "failed":
	default:
		outcome = "other"
	}
	m.mail.sent.WithLabelValues(mailTemplate(template), outcome).Inc()
}

// MailOutbox exports authd_mail_queue_depth (messages neither sent nor
// failed) and authd_mail_oldest_pending_seconds (the age of the oldest of
// them, 0 when none), and registers authd_mail_sent_total. Counting is a
// query, so like ActiveSessions it runs now and then every interval in
// the background until ctx ends; the age is computed at scrape time from
// the last count's oldest creation time, so it grows between counts. A
// failed count keeps the last values; both are absent until the first
// succeeds.
func (m *Metrics) MailOutbox(ctx context.Context, interval time.Duration, stats func(context.Context) (pending int, oldest time.Time, err error)) {
	m.mailInit()
	if interval <= 0 {
		interval = 15 * time.Second
	}
	c := &outboxCollector{
		depth: prometheus.NewDesc("authd_mail_queue_depth",
			"Messages in the mail outbox neither sent nor failed, counted in the background every "+interval.String()+".", nil, nil),
		age: prometheus.NewDesc("authd_mail_oldest_pending_seconds",
			"Age of the oldest message in the mail outbox neither sent nor failed; 0 when there is none.", nil, nil),
	}
	m.reg.MustRegister(c)
	every(ctx, interval, func(ctx context.Context) {
		if n, oldest, err := stats(ctx); err == nil {
			c.set(n, oldest)
		}
	})
}

type outboxCollector struct {
	depth, age *prometheus.Desc

	mu      sync.Mutex
	counted bool
	pending int
	oldest  time.Time
}

func (c *outboxCollector) set(n int, oldest time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counted, c.pending, c.oldest = true, n, oldest
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	counted, n, oldest := c.counted, c.pending, c.oldest
	c.mu.Unlock()
	if !counted {
		return
	}
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

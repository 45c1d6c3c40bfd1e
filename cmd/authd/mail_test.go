package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/ports"
)

// mailSink is an SMTP server on loopback that counts the messages each
// recipient received (a message counts once its DATA is accepted) and
// keeps each one's raw data. It can be stopped and started again on the
// same port.
type mailSink struct {
	addr string
	mu   sync.Mutex
	got  map[string]int
	// raw holds each recipient's messages in the order they arrived;
	// taken marks those a test has already read (see mailflow_test.go).
	raw   map[string][][]byte
	taken map[string][]bool
	srv   *smtp.Server
}

// newMailSink reserves a loopback port for a sink that is not serving yet.
func newMailSink(t *testing.T) *mailSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &mailSink{addr: addr, got: map[string]int{}, raw: map[string][][]byte{}, taken: map[string][]bool{}}
	t.Cleanup(s.stop)
	return s
}

// url is AUTHD_SMTP_URL for the sink: plain text, allowed to loopback.
func (s *mailSink) url() string { return "smtp://" + s.addr + "?tls=none" }

func (s *mailSink) start(t *testing.T) {
	t.Helper()
	srv := smtp.NewServer(smtpBackend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = silentLog{}
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", s.addr, err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(l)
}

func (s *mailSink) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// counts is a copy of the deliveries so far, by recipient.
func (s *mailSink) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

// waitFor waits until every one of rcpts received a message, then a
// little longer, so a duplicate has time to arrive, and fails the test
// unless each received exactly one and nobody else received anything.
func (s *mailSink) waitFor(t *testing.T, rcpts []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.counts()
		missing := 0
		for _, r := range rcpts {
			if got[r] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages not delivered after %v", missing, len(rcpts), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	got := s.counts()
	for _, r := range rcpts {
		if got[r] != 1 {
			t.Errorf("%s received %d messages, want exactly 1", r, got[r])
		}
	}
	if len(got) != len(rcpts) {
		t.Errorf("%d recipients received mail, want %d", len(got), len(rcpts))
	}
}

type smtpBackend struct{ s *mailSink }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: b.s}, nil
}

type sinkSession struct {
	s     *mailSink
	rcpts []string
}

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.rcpts = append(x.rcpts, to)
	return nil
}

func (x *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	for _, to := range x.rcpts {
		x.s.got[to]++
		x.s.raw[to] = append(x.s.raw[to], data)
		x.s.taken[to] = append(x.s.taken[to], false)
	}
	return nil
}
func (x *sinkSession) Reset()        { x.rcpts = nil }
func (x *sinkSession) Logout() error { return nil }

type silentLog struct{}

func (silentLog) Printf(string, ...any) {}
func (silentLog) Println(...any)        {}

// enqueue opens the database of dbURL (migrating it), enqueues n notices
// to prefix-0@example.com ... through the store's own outbox, as a flow
// would, and returns the recipients.
func enqueue(t *testing.T, dbURL, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	db, err := parseDatabaseURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := migrateUp(st, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	rcpts := make([]string, n)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("%s-%d@example.com", prefix, i)
		m := ports.Mail{To: rcpts[i], Template: ports.TemplatePasswordChanged, Data: map[string]string{"email": rcpts[i]}}
		if err := st.Outbox().Enqueue(ctx, m, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return rcpts
}

// fastRelay makes the relay poll and retry in milliseconds.
func fastRelay(vars map[string]string) map[string]string {
	all := map[string]string{
		"AUTHD_MAIL_POLL_INTERVAL": "20ms",
		"AUTHD_MAIL_RETRY_BASE":    "100ms",
		"AUTHD_MAIL_RETRY_MAX":     "300ms",
		"AUTHD_MAIL_MAX_ATTEMPTS":  "1000",
		"AUTHD_MAIL_DIR":           "",
	}
	for k, v := range vars {
		all[k] = v
	}
	return all
}

// metricValue reads one sample of the /metrics text; -1 when absent.
func metricValue(t *testing.T, c client, series string) float64 {
	t.Helper()
	r := c.do(http.MethodGet, "/metrics", "")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindSubmatch(r.body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitMetric(t *testing.T, c client, series string, ok func(float64) bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v := metricValue(t, c, series)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s = %v", what, series, v)
		}
	}
}

const (
	sentSeries  = `authd_mail_sent_total{outcome="sent",template="password_changed"}`
	retrySeries = `authd_mail_sent_total{outcome="retry",template="password_changed"}`
)

// TestMailOutboxSMTPDown: messages queued while the SMTP server is down
// are retried, /readyz stays 200 and requests are served meanwhile, the
// queue shows in the metrics, and once the server is back each message
// arrives exactly once. Through run() on each store.
func TestMailOutboxSMTPDown(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dbURL := newDB(t)
			rcpts := enqueue(t, dbURL, "down", 5)
			sink := newMailSink(t) // not serving: connections are refused
			in := start(t, fastRelay(map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_SMTP_URL": sink.url()}))

			waitMetric(t, in.client, retrySeries, func(v float64) bool { return v >= 5 }, "retries while SMTP is down")
			waitMetric(t, in.client, "authd_mail_queue_depth", func(v float64) bool { return v == 5 }, "queue depth while SMTP is down")
			waitMetric(t, in.client, "authd_mail_oldest_pending_seconds", func(v float64) bool { return v >= 0 }, "oldest pending age")
			if r := in.do(http.MethodGet, "/readyz", ""); r.status != http.StatusOK {
				t.Errorf("/readyz with SMTP down = %d %s, want 200", r.status, r.body)
			}
			if r := in.do(http.MethodPost, "/api/v1/auth/register", `{"email":"during@example.com","password":"kx7-Qm2z-long"}`); r.status != http.StatusCreated {
				t.Errorf("register with SMTP down = %d %s", r.status, r.body)
			}
			if sent := metricValue(t, in.client, sentSeries); sent != 0 {
				t.Errorf("sent = %v with SMTP down", sent)
			}

			// The registration's verification mail waited in the outbox too.
			rcpts = append(rcpts, "during@example.com")
			sink.start(t)
			sink.waitFor(t, rcpts, 20*time.Second)
			waitMetric(t, in.client, sentSeries, func(v float64) bool { return v == 5 }, "sent once SMTP is back")
			if strings.Contains(in.logs.String(), "down-0@example.com") {
				t.Error("a recipient address reached the log")
			}
		})
	}
}

// TestMailOutboxSurvivesKill: authd is SIGKILLed while it is sending a
// committed message (the SMTP server accepted the connection and never
// answered); after a restart with the server up, the message is sent, and
// once.
func TestMailOutboxSurvivesKill(t *testing.T) {
	bin := authdBinary(t)
	dir := t.TempDir()
	dbURL := filepath.Join(dir, "kill.db")
	rcpts := enqueue(t, dbURL, "killed", 1)

	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never greeted
		}
	}()
	vars := fastRelay(map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_MAIL_LEASE": "2s", "AUTHD_SHUTDOWN_DELAY": "0s"})
	vars["AUTHD_SMTP_URL"] = "smtp://" + hang.Addr().String() + "?tls=none"
	p := startBinary(t, bin, dir, vars)
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(20 * time.Second):
		t.Fatalf("authd never connected to the SMTP server:\n%s", p.logs.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait(t, 10*time.Second)

	sink := newMailSink(t)
	sink.start(t)
	vars["AUTHD_SMTP_URL"] = sink.url()
	startBinary(t, bin, dir, vars)
	sink.waitFor(t, rcpts, 20*time.Second)
}

// TestMailOutboxTwoInstances: two authd on one PostgreSQL database share
// 200 queued messages; each is delivered exactly once, and the two
// instances' sent counts add up to 200.
func TestMailOutboxTwoInstances(t *testing.T) {
	dbURL := pgtest.Start(t).NewDatabase(t)
	rcpts := enqueue(t, dbURL, "pair", 200)
	sink := newMailSink(t)
	sink.start(t)
	vars := fastRelay(map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_SMTP_URL": sink.url()})
	a, b := start(t, vars), start(t, vars)
	sink.waitFor(t, rcpts, 60*time.Second)
	sa, sb := metricValue(t, a.client, sentSeries), metricValue(t, b.client, sentSeries)
	if sa+sb != 200 {
		t.Errorf("instances sent %v + %v, want 200 together", sa, sb)
	}
	t.Logf("instance a sent %v, instance b %v", sa, sb)
}

// TestComposeMailConfig: deploy/compose.yaml's authd settings (with a real
// secret in place of authd.env's) start in production with mail on, through
// Mailpit on loopback, which production allows for plain SMTP.
func TestComposeMailConfig(t *testing.T) {
	vars := readDeployFiles(t).envValues()["compose.yaml"]
	if vars["AUTHD_SMTP_URL"] == "" {
		t.Fatalf("compose.yaml sets no AUTHD_SMTP_URL: %v", vars)
	}
	all := map[string]string{"AUTHD_JWT_SECRET": "compose-secret-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE"}
	for k, v := range vars {
		all[k] = strings.ReplaceAll(v, "${POSTGRES_PASSWORD}", "pw")
	}
	c, err := loadConfig(env(all))
	if err != nil {
		t.Fatalf("compose's settings: %v", err)
	}
	if c.Env != envProduction || c.Mail.Transport != mailSMTP || !c.Mail.SMTP.Loopback {
		t.Errorf("compose: env %q, mail %+v; want production with SMTP on loopback", c.Env, c.Mail)
	}
}

// TestProductionWithoutSMTPWarnsOnce: production without AUTHD_SMTP_URL
// starts, with mail off and exactly one warning about it.
func TestProductionWithoutSMTPWarnsOnce(t *testing.T) {
	in := start(t, map[string]string{
		"AUTHD_DATABASE_URL": sqliteURL(t),
		"AUTHD_ENV":          "production",
		"AUTHD_METRICS_ADDR": "127.0.0.1:0",
		"AUTHD_JWT_SECRET":   "prod-secret-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE",
		"AUTHD_MAIL_DIR":     "",
	})
	n := 0
	for _, line := range strings.Split(in.logs.String(), "\n") {
		if strings.Contains(line, "AUTHD_SMTP_URL") {
			n++
			if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "mail is off") {
				t.Errorf("log line %s", line)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d log lines mention AUTHD_SMTP_URL, want exactly one warning:\n%s", n, in.logs.String())
	}
}

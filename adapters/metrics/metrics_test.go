package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/authd/authd/adapters/metrics"
	"github.com/authd/authd/ports"
)

// family returns the gathered metric family name, or nil.
func family(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// value returns the value of the series of name whose labels include
// labels (alternating names and values), failing if there is none.
func value(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, ok := lookup(t, g, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func lookup(t *testing.T, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	mf := family(t, g, name)
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestRegistryContent(t *testing.T) {
	m := metrics.New()
	reg := m.Registry()
	if prometheus.DefaultRegisterer == prometheus.Registerer(reg) {
		t.Fatal("metrics use the global default registry")
	}
	// A second instance in the same process must not collide.
	_ = metrics.New()

	want := []string{
		"go_goroutines", "go_memstats_alloc_bytes",
		"authd_build_info",
		"authd_logins_total", "authd_registrations_total", "authd_refreshes_total",
		"authd_refresh_token_reuse_total", "authd_security_events_total",
	}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_resident_memory_bytes")
	}
	for _, name := range want {
		if family(t, reg, name) == nil {
			t.Errorf("%s is not registered", name)
		}
	}

	mf := family(t, reg, "authd_build_info")
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("authd_build_info: %v", mf)
	}
	labels := map[string]string{}
	for _, lp := range mf.GetMetric()[0].GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	if labels["version"] == "" || labels["goversion"] != runtime.Version() || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("authd_build_info = %v %v, want version, goversion=%s, value 1", labels, mf.GetMetric()[0], runtime.Version())
	}

	// Every outcome is there from the start, at 0.
	outcomes := map[string][]string{
		"authd_logins_total":        {"success", "failure", "rate_limited", "shed"},
		"authd_registrations_total": {"success", "invalid", "rate_limited", "unavailable"},
		"authd_refreshes_total":     {"success", "invalid", "rate_limited", "unavailable"},
	}
	for name, values := range outcomes {
		for _, o := range values {
			if v := value(t, reg, name, "outcome", o); v != 0 {
				t.Errorf("%s{outcome=%q} = %v at start, want 0", name, o, v)
			}
		}
		if n := len(family(t, reg, name).GetMetric()); n != len(values) {
			t.Errorf("%s has %d series at start, want %d", name, n, len(values))
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "authd_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// recorder is a ports.EventLog that keeps what it is handed.
type recorder struct {
	mu     sync.Mutex
	events []ports.SecurityEvent
}

func (r *recorder) Record(_ context.Context, e ports.SecurityEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func TestEventsMapping(t *testing.T) {
	m := metrics.New()
	reg := m.Registry()
	next := &recorder{}
	log := metrics.Events(next, m)
	sent := []ports.SecurityEvent{
		{Name: "user.registered", UserID: 1, Email: "a@example.com"},
		{Name: "user.registered", UserID: 2},
		{Name: "login.succeeded", UserID: 1, SessionID: "s1"},
		{Name: "login.failed", UserID: 1, Reason: "password mismatch"},
		{Name: "login.failed", UserID: 1, Reason: "password mismatch"},
		{Name: "login.failed", Reason: "unknown email"},
		{Name: "login.failed", UserID: 3, Reason: "inactive account"},
		{Name: "login.failed", Reason: "a reason from a newer app"},
		{Name: "token.refreshed", UserID: 1, SessionID: "s1"},
		{Name: "token.reuse_detected", UserID: 1, SessionID: "s1"},
		{Name: "session.revoked", UserID: 1, SessionID: "s1", Reason: "refresh token reuse"},
		{Name: "ratelimit.exceeded", Reason: "client request budget spent"},
		{Name: "breach_check.unavailable", Reason: "fail closed: false"},
		{Name: "something.new"},
	}
	ctx := context.Background()
	for _, e := range sent {
		log.Record(ctx, e)
	}
	if !slices.Equal(next.events, sent) {
		t.Errorf("forwarded %v, want %v", next.events, sent)
	}

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authd_registrations_total", []string{"outcome", "success"}, 2},
		{"authd_logins_total", []string{"outcome", "success"}, 1},
		{"authd_logins_total", []string{"outcome", "failure"}, 5},
		{"authd_logins_total", []string{"outcome", "rate_limited"}, 0},
		{"authd_refreshes_total", []string{"outcome", "success"}, 1},
		{"authd_refresh_token_reuse_total", nil, 1},
		{"authd_security_events_total", []string{"event", "login.failed"}, 5},
		{"authd_security_events_total", []string{"event", "session.revoked"}, 1},
		{"authd_security_events_total", []string{"event", "ratelimit.exceeded"}, 1},
		{"authd_security_events_total", []string{"event", "breach_check.unavailable"}, 1},
		{"authd_security_events_total", []string{"event", "token.reuse_detected"}, 1},
		{"authd_security_events_total", []string{"event", "other"}, 1},
	}
	for _, c := range checks {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := lookup(t, reg, "authd_security_events_total", "event", "something.new"); ok {
		t.Error("an unknown event name became a label value")
	}
}

func TestObserveHTTP(t *testing.T) {
	m := metrics.New()
	reg := m.Registry()
	m.ObserveHTTP("GET", "/api/v1/users/me", 200, 30*time.Millisecond)
	m.ObserveHTTP("GET", "/api/v1/users/me", 200, 2*time.Second)
	m.ObserveHTTP("GET", "/api/v1/users/me", 401, time.Millisecond)
	m.ObserveHTTP("BREW", "unmatched", 501, time.Millisecond)
	m.ObserveHTTP("PROPFIND", "unmatched", 501, time.Millisecond)

	if v := value(t, reg, "authd_http_requests_total", "method", "GET", "route", "/api/v1/users/me", "status", "200"); v != 2 {
		t.Errorf("requests{GET,/api/v1/users/me,200} = %v, want 2", v)
	}
	if v := value(t, reg, "authd_http_requests_total", "method", "other", "route", "unmatched", "status", "501"); v != 2 {
		t.Errorf("requests{other,unmatched,501} = %v, want 2 (methods outside the standard ones are folded)", v)
	}
	mf := family(t, reg, "authd_http_request_duration_seconds")
	if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("authd_http_request_duration_seconds: %v", mf)
	}
	if v := value(t, reg, "authd_http_request_duration_seconds", "method", "GET", "route", "/api/v1/users/me"); v != 3 {
		t.Errorf("duration sample count = %v, want 3", v)
	}

	// Outcomes no event reports come from the auth routes' statuses.
	for _, c := range []struct {
		route  string
		status int
		metric string
		want   string
	}{
		{metrics.RouteLogin, 429, "authd_logins_total", "rate_limited"},
		{metrics.RouteLogin, 503, "authd_logins_total", "shed"},
		{metrics.RouteRegister, 400, "authd_registrations_total", "invalid"},
		{metrics.RouteRegister, 422, "authd_registrations_total", "invalid"},
		{metrics.RouteRegister, 429, "authd_registrations_total", "rate_limited"},
		{metrics.RouteRegister, 503, "authd_registrations_total", "unavailable"},
		{metrics.RouteRefresh, 401, "authd_refreshes_total", "invalid"},
		{metrics.RouteRefresh, 400, "authd_refreshes_total", "invalid"},
		{metrics.RouteRefresh, 429, "authd_refreshes_total", "rate_limited"},
		{metrics.RouteRefresh, 503, "authd_refreshes_total", "unavailable"},
	} {
		before := value(t, reg, c.metric, "outcome", c.want)
		m.ObserveHTTP("POST", c.route, c.status, time.Millisecond)
		if got := value(t, reg, c.metric, "outcome", c.want) - before; got != 1 {
			t.Errorf("POST %s -> %d: %s{outcome=%q} rose by %v, want 1", c.route, c.status, c.metric, c.want, got)
		}
	}
	// Successes and credential failures are counted from events only, and
	// a 405 (wrong method) is no login attempt.
	before := value(t, reg, "authd_logins_total", "outcome", "shed")
	m.ObserveHTTP("POST", metrics.RouteLogin, 200, time.Millisecond)
	m.ObserveHTTP("POST", metrics.RouteLogin, 401, time.Millisecond)
	m.ObserveHTTP("POST", metrics.RouteLogin, 400, time.Millisecond)
	m.ObserveHTTP("POST", metrics.RouteLogin, 500, time.Millisecond)
	m.ObserveHTTP("GET", metrics.RouteLogin, 503, time.Millisecond)
	if v := value(t, reg, "authd_logins_total", "outcome", "success"); v != 0 {
		t.Errorf("a 200 on the login route counted as a success: %v", v)
	}
	if v := value(t, reg, "authd_logins_total", "outcome", "shed"); v != before {
		t.Errorf("a GET counted as a shed login")
	}
	if n := len(family(t, reg, "authd_logins_total").GetMetric()); n != 4 {
		t.Errorf("authd_logins_total has %d series, want the 4 outcomes", n)
	}
}

func TestBreakers(t *testing.T) {
	m := metrics.New()
	var open atomic.Bool
	m.Breakers(func(name string) bool { return name == "db.users" && open.Load() }, "db.users", "db.sessions")
	reg := m.Registry()
	for _, name := range []string{"db.users", "db.sessions"} {
		if v := value(t, reg, "authd_breaker_open", "command", name); v != 0 {
			t.Errorf("%s = %v while closed", name, v)
		}
	}
	open.Store(true)
	if v := value(t, reg, "authd_breaker_open", "command", "db.users"); v != 1 {
		t.Errorf("db.users = %v while open, want 1", v)
	}
	if v := value(t, reg, "authd_breaker_open", "command", "db.sessions"); v != 0 {
		t.Errorf("db.sessions = %v, want 0", v)
	}
}

func TestHashPool(t *testing.T) {
	m := metrics.New()
	var calls atomic.Int64
	m.HashPool(func() metrics.HashPoolStats {
		calls.Add(1)
		return metrics.HashPoolStats{Running: 4, Waiting: 7, WaitedTotal: 1500 * time.Millisecond}
	})
	reg := m.Registry()
	if v := value(t, reg, "authd_hash_queue_depth"); v != 7 {
		t.Errorf("authd_hash_queue_depth = %v, want 7", v)
	}
	if v := value(t, reg, "authd_hash_running"); v != 4 {
		t.Errorf("authd_hash_running = %v, want 4", v)
	}
	if v := value(t, reg, "authd_hash_wait_seconds_total"); v != 1.5 {
		t.Errorf("authd_hash_wait_seconds_total = %v, want 1.5", v)
	}
	if mf := family(t, reg, "authd_hash_wait_seconds_total"); mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("authd_hash_wait_seconds_total is a %v, want a counter", mf.GetType())
	}
	if calls.Load() == 0 {
		t.Error("stats was never called")
	}
}

func TestDBPool(t *testing.T) {
	pg := metrics.New()
	pg.DBPool("postgres", func() metrics.DBStats {
		return metrics.DBStats{Open: 5, InUse: 2, Idle: 3, Max: 10, Waits: 4, WaitTime: 2 * time.Second,
			Acquires: 100, AcquireTime: 3 * time.Second, CountsAcquires: true}
	})
	want := map[string]float64{
		"authd_db_connections_open": 5, "authd_db_connections_in_use": 2, "authd_db_connections_idle": 3,
		"authd_db_connections_max": 10, "authd_db_waits_total": 4, "authd_db_wait_seconds_total": 2,
		"authd_db_acquires_total": 100, "authd_db_acquire_seconds_total": 3,
	}
	for name, w := range want {
		if v := value(t, pg.Registry(), name, "driver", "postgres"); v != w {
			t.Errorf("%s = %v, want %v", name, v, w)
		}
	}

	lite := metrics.New()
	lite.DBPool("sqlite", func() metrics.DBStats {
		return metrics.DBStats{Open: 1, InUse: 1, Max: 8, Waits: 2, WaitTime: time.Second}
	})
	if v := value(t, lite.Registry(), "authd_db_connections_open", "driver", "sqlite"); v != 1 {
		t.Errorf("sqlite open = %v", v)
	}
	for _, name := range []string{"authd_db_acquires_total", "authd_db_acquire_seconds_total"} {
		if family(t, lite.Registry(), name) != nil {
			t.Errorf("%s is exported for a driver that does not count acquisitions", name)
		}
	}
}

func TestActiveSessions(t *testing.T) {
	m := metrics.New()
	reg := m.Registry()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		n       atomic.Int64
		fail    atomic.Bool
		calls   atomic.Int64
		release = make(chan struct{})
	)
	count := func(ctx context.Context) (int, error) {
		if calls.Add(1) == 1 {
			<-release // the first count is slow
		}
		if fail.Load() {
			return 0, errors.New("database unavailable")
		}
		return int(n.Load()), nil
	}
	n.Store(12)
	m.ActiveSessions(ctx, 10*time.Millisecond, count)

	// Absent, not 0, until a count has succeeded.
	if _, ok := lookup(t, reg, "authd_active_sessions"); ok {
		t.Error("authd_active_sessions is exported before the first count")
	}
	close(release)
	eventually(t, "the first count", func() bool { v, ok := lookup(t, reg, "authd_active_sessions"); return ok && v == 12 })

	n.Store(7)
	eventually(t, "a refresh", func() bool { return value(t, reg, "authd_active_sessions") == 7 })

	// A failing count keeps the last value.
	fail.Store(true)
	n.Store(99)
	failedFrom := calls.Load()
	eventually(t, "failed counts", func() bool { return calls.Load() > failedFrom+2 })
	if v := value(t, reg, "authd_active_sessions"); v != 7 {
		t.Errorf("after failed counts the gauge is %v, want the last good value 7", v)
	}

	// Cancelling the context stops the refresher.
	cancel()
	time.Sleep(30 * time.Millisecond)
	stoppedAt := calls.Load()
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != stoppedAt {
		t.Error("counts continue after the context ended")
	}
}

// TestActiveSessionsNotCountedOnScrape: scrapes read the cached value;
// only the background refresher queries.
func TestActiveSessionsNotCountedOnScrape(t *testing.T) {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	m.ActiveSessions(ctx, time.Hour, func(context.Context) (int, error) { calls.Add(1); return 3, nil })
	eventually(t, "the first count", func() bool { v, ok := lookup(t, m.Registry(), "authd_active_sessions"); return ok && v == 3 })
	for range 20 {
		value(t, m.Registry(), "authd_active_sessions")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("count ran %d times for 20 scrapes within one interval, want once", n)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	m := metrics.New()
	m.ObserveHTTP("POST", metrics.RouteLogin, 503, time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format 0.0.4", ct)
	}
	for _, want := range []string{
		"# TYPE authd_http_requests_total counter",
		`authd_http_requests_total{method="POST",route="/api/v1/auth/login",status="503"} 1`,
		`authd_logins_total{outcome="shed"} 1`,
		"# TYPE authd_http_request_duration_seconds histogram",
		"authd_build_info{",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the exposition lacks %q", want)
		}
	}
}

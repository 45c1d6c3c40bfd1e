package http_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
)

// TestMetricsEndpoint walks register, login and me, then reads /metrics:
// the text format, with each request counted under its route template and
// the outcomes the events and statuses report.
func TestMetricsEndpoint(t *testing.T) {
	h := newHarness(t)
	h.register("mo@example.com", "kx7-Qm2z-long")
	access := h.login("mo@example.com", "kx7-Qm2z-long")
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+access), http.StatusOK)
	wantStatus(t, h.post(loginPath, credsJSON("mo@example.com", "wrong-password-1")), http.StatusUnauthorized)
	wantStatus(t, h.post(loginPath, credsJSON("nobody@example.com", "wrong-password-1")), http.StatusUnauthorized)
	wantStatus(t, h.post(registerPath, credsJSON("mo@example.com", "kx7-Qm2z-long")), http.StatusBadRequest) // taken
	h.register("gone@example.com", "kx7-Qm2z-long")
	h.users.deactivate(t, "gone@example.com")
	wantStatus(t, h.post(loginPath, credsJSON("gone@example.com", "kx7-Qm2z-long")), http.StatusUnauthorized)

	r := h.get("/metrics")
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want text/plain; version=0.0.4", ct)
	}
	if r.header.Get("X-Request-ID") == "" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/metrics lacks the headers every response has: %v", r.header)
	}
	body := string(r.body)
	for _, want := range []string{
		"# TYPE authd_http_requests_total counter",
		`authd_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 2`,
		`authd_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"} 1`,
		`authd_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 3`,
		`authd_http_requests_total{method="GET",route="/api/v1/users/me",status="200"} 1`,
		"# TYPE authd_http_request_duration_seconds histogram",
		`authd_http_request_duration_seconds_bucket{method="GET",route="/api/v1/users/me",le="+Inf"} 1`,
		`authd_logins_total{outcome="success"} 1`,
		`authd_logins_total{outcome="wrong_password"} 1`,
		`authd_logins_total{outcome="unknown_account"} 1`,
		`authd_logins_total{outcome="inactive"} 1`,
		`authd_logins_total{outcome="shed"} 0`,
		`authd_registrations_total{outcome="success"} 2`,
		`authd_registrations_total{outcome="invalid"} 1`,
		`authd_refreshes_total{outcome="success"} 0`,
		"authd_refresh_token_reuse_total 0",
		`authd_security_events_total{event="login.failed"} 3`,
		"# TYPE authd_build_info gauge",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(body, "authd_"))
		}
	}
	if strings.Contains(body, "@example.com") {
		t.Error("/metrics shows an email address")
	}
	// Every failed login maps to a known outcome: "other" means app's
	// login.failed reasons and adapters/metrics disagree.
	if strings.Contains(body, `outcome="other"`) || strings.Contains(body, `event="other"`) {
		t.Errorf("an event did not map to a known outcome:\n%s", grepLines(body, "authd_"))
	}

	// The scrape itself is counted, under its route, and /metrics is GET
	// only.
	wantStatus(t, h.get("/metrics"), http.StatusOK)
	if !strings.Contains(string(h.get("/metrics").body), `authd_http_requests_total{method="GET",route="/metrics",status="200"} 2`) {
		t.Error("scrapes are not counted under route /metrics")
	}
	wantProblem(t, h.post("/metrics", ""), http.StatusMethodNotAllowed)
}

// TestMetricsRefreshOutcomes: a rotation, and a replay after the grace
// window, which the reuse counter and the refresh outcomes both show.
func TestMetricsRefreshOutcomes(t *testing.T) {
	h := newHarness(t)
	h.register("ref@example.com", "kx7-Qm2z-long")
	first := h.loginTokens("ref@example.com", "kx7-Qm2z-long")
	wantStatus(t, h.refresh(first.refresh), http.StatusOK)
	h.clock.advance(reuseGrace + time.Second)
	wantProblem(t, h.refresh(first.refresh), http.StatusUnauthorized)

	g := h.metrics.Registry()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authd_refreshes_total", []string{"outcome", "success"}, 1},
		{"authd_refreshes_total", []string{"outcome", "invalid"}, 1},
		{"authd_refresh_token_reuse_total", nil, 1},
		{"authd_security_events_total", []string{"event", "session.revoked"}, 1},
	} {
		if got := seriesValue(t, g, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestMetricsRateLimitedAndShedLogins: 429s and 503s on the login route
// are the rate_limited and shed outcomes.
func TestMetricsRateLimitedAndShedLogins(t *testing.T) {
	h := newHarness(t, withLimits(testLimits))
	for range testLimits.IPRequests {
		wantProblem(t, h.post(loginPath, credsJSON("rl@example.com", "wrong-password-1")), http.StatusUnauthorized)
	}
	wantRateLimited(t, h.post(loginPath, credsJSON("rl@example.com", "wrong-password-1")), 60)
	if got := seriesValue(t, h.metrics.Registry(), "authd_logins_total", "outcome", "rate_limited"); got != 1 {
		t.Errorf("rate_limited = %v, want 1", got)
	}

	h = newHarness(t)
	h.users.setErr(domain.Unavailable(errors.New("connection refused")))
	wantProblem(t, h.post(loginPath, credsJSON("shed@example.com", "kx7-Qm2z-long")), http.StatusServiceUnavailable)
	if got := seriesValue(t, h.metrics.Registry(), "authd_logins_total", "outcome", "shed"); got != 1 {
		t.Errorf("shed = %v, want 1", got)
	}
}

// TestMetricsCardinality sends 1,000 distinct unknown paths, many with
// email addresses in them, with odd methods and oversized bodies too: the
// series of authd_http_requests_total stay flat, and no label value is a
// path or an email.
func TestMetricsCardinality(t *testing.T) {
	h := newHarness(t, withCORS("https://app.example.com"))
	// Over a real connection, so bodies over the limit reach the server
	// and are refused before routing.
	base := h.listen(t)
	send := func(method, target, body string, headers ...string) {
		t.Helper()
		req := newRequest(method, target, body, headers...)
		u, err := url.Parse(base + target)
		if err != nil {
			t.Fatal(err)
		}
		req.URL, req.Host, req.RequestURI = u, u.Host, ""
		oversized := len(body) > httpapi.BodyLimit
		req.Close = oversized
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if oversized {
				return // the server may close before the client sent it all
			}
			t.Fatalf("%s %s: %v", method, target, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	g := h.metrics.Registry()

	// Every kind of request once, so the series they need exist.
	h.register("card@example.com", "kx7-Qm2z-long")
	h.login("card@example.com", "kx7-Qm2z-long")
	unknown := func(i int) {
		email := url.PathEscape(fmt.Sprintf("user%d@example.com", i))
		switch i % 10 {
		case 0:
			send(http.MethodGet, fmt.Sprintf("/users/%s", email), "")
		case 1:
			send(http.MethodPost, fmt.Sprintf("/api/v1/auth/login/%s", email), credsJSON("x@example.com", "y"))
		case 2:
			send(http.MethodGet, fmt.Sprintf("/api/v1/users/%d?email=%s", i, email), "")
		case 3:
			send("PROPFIND", fmt.Sprintf("/dav/%d", i), "")
		case 4:
			send(fmt.Sprintf("X-METHOD-%d", i), fmt.Sprintf("/odd/%d", i), "")
		case 5:
			send(http.MethodOptions, fmt.Sprintf("/preflight/%s", email), "",
				"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
		case 6:
			send(http.MethodPost, fmt.Sprintf("/big/%d", i), strings.Repeat("a", 70<<10))
		case 7:
			send(http.MethodDelete, fmt.Sprintf("/api/v1/users/me/%s", email), "")
		case 8:
			send(http.MethodHead, fmt.Sprintf("/head/%d/%s", i, email), "")
		default:
			send(http.MethodGet, fmt.Sprintf("/%d/%s/../%%2e%%2e/", i, email), "")
		}
	}
	for i := range 100 {
		unknown(i)
	}
	after100 := seriesCount(t, g, "authd_http_requests_total")
	for i := 100; i < 1000; i++ {
		unknown(i)
	}
	after1000 := seriesCount(t, g, "authd_http_requests_total")
	if after1000 != after100 {
		t.Errorf("authd_http_requests_total grew from %d to %d series over 900 more unknown paths", after100, after1000)
	}
	if after100 > 20 {
		t.Errorf("%d series after 100 unknown paths: a label is not bounded", after100)
	}
	if d := seriesCount(t, g, "authd_http_request_duration_seconds"); d > after1000 {
		t.Errorf("%d latency series for %d request series", d, after1000)
	}

	// Route labels are route templates (as Fiber registered them,
	// middleware prefixes included) or "unmatched".
	templates := map[string]bool{"unmatched": true}
	for _, r := range h.app.GetRoutes() {
		templates[r.Path] = true
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				if strings.Contains(v, "@") || strings.Contains(v, "example") || strings.Contains(v, "%40") {
					t.Errorf("%s has label %s=%q, which holds an email", mf.GetName(), lp.GetName(), v)
				}
				if lp.GetName() == "route" && !templates[v] {
					t.Errorf("%s has route=%q, which is not a route template", mf.GetName(), v)
				}
				if lp.GetName() == "method" && strings.HasPrefix(v, "X-METHOD") {
					t.Errorf("%s has method=%q: a client-chosen method became a label value", mf.GetName(), v)
				}
			}
		}
	}
}

// seriesCount is how many series the metric family name has.
func seriesCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// seriesValue is the value of the counter or gauge series of name whose
// labels include labels (name, value, ...); it fails t if there is none.
func seriesValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
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
			return metricValue(m)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestMetricsNotMountedWithoutHandler: without Config.Metrics (metrics on
// their own listener) the API has no /metrics route, and without Observe
// nothing is called.
func TestMetricsNotMountedWithoutHandler(t *testing.T) {
	h := newHarness(t)
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := httpapi.New(httpapi.Config{
		OpenAPI: docs.OpenAPI,
	}, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Test(httptest.NewRequest(http.MethodGet, "/metrics", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without Config.Metrics = %d, want 404", res.StatusCode)
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

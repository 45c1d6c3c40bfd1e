package http_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
)

// TestMetricsEndpoint walks register, login and me, then reads /metrics:
// the adapter reports each request once to Config.Observe, under its route
// template and status, and serves Config.Metrics at GET /metrics with the
// headers every response has. (What the real adapters/metrics makes of
// the observations and events is tested there, and end to end in
// cmd/authd.)
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
	if !strings.Contains(string(r.body), "fake_observations_total 8\n") {
		t.Errorf("/metrics does not serve Config.Metrics after 8 requests: %s", r.body)
	}
	for _, c := range []struct {
		o    observation
		want int
	}{
		{observation{"POST", registerPath, 201}, 2},
		{observation{"POST", registerPath, 400}, 1},
		{observation{"POST", loginPath, 200}, 1},
		{observation{"POST", loginPath, 401}, 3},
		{observation{"GET", mePath, 200}, 1},
		{observation{"GET", "/metrics", 200}, 1},
	} {
		if got := h.metrics.count(c.o); got != c.want {
			t.Errorf("Observe%v called %d times, want %d (all: %v)", c.o, got, c.want, h.metrics.observed())
		}
	}
	if n := len(h.metrics.observed()); n != 9 {
		t.Errorf("%d observations for 9 requests: %v", n, h.metrics.observed())
	}

	// The scrape itself is counted, under its route, and /metrics is GET
	// only.
	wantStatus(t, h.get("/metrics"), http.StatusOK)
	if got := h.metrics.count(observation{"GET", "/metrics", 200}); got != 2 {
		t.Errorf("scrapes observed under route /metrics %d times, want 2", got)
	}
	wantProblem(t, h.post("/metrics", ""), http.StatusMethodNotAllowed)
}

// TestMetricsRefreshOutcomes: a rotation, and a replay after the grace
// window, are observed as 200 and 401 on the refresh route, and the replay
// records the events adapters/metrics counts as reuse.
func TestMetricsRefreshOutcomes(t *testing.T) {
	h := newHarness(t)
	h.register("ref@example.com", "kx7-Qm2z-long")
	first := h.loginTokens("ref@example.com", "kx7-Qm2z-long")
	wantStatus(t, h.refresh(first.refresh), http.StatusOK)
	h.clock.advance(reuseGrace + time.Second)
	wantProblem(t, h.refresh(first.refresh), http.StatusUnauthorized)

	for _, o := range []observation{{"POST", refreshPath, 200}, {"POST", refreshPath, 401}} {
		if got := h.metrics.count(o); got != 1 {
			t.Errorf("Observe%v called %d times, want 1", o, got)
		}
	}
	names := h.events.names()
	for _, want := range []string{"token.reuse_detected", "session.revoked"} {
		if !slices.Contains(names, want) {
			t.Errorf("events %v lack %s", names, want)
		}
	}
}

// TestMetricsRateLimitedAndShedLogins: 429s and 503s on the login route
// are observed under the login route (adapters/metrics maps them to the
// rate_limited and shed outcomes).
func TestMetricsRateLimitedAndShedLogins(t *testing.T) {
	h := newHarness(t, withLimits(testLimits))
	for range testLimits.IPRequests {
		wantProblem(t, h.post(loginPath, credsJSON("rl@example.com", "wrong-password-1")), http.StatusUnauthorized)
	}
	wantRateLimited(t, h.post(loginPath, credsJSON("rl@example.com", "wrong-password-1")), 60)
	if got := h.metrics.count(observation{"POST", loginPath, 429}); got != 1 {
		t.Errorf("429 observed %d times, want 1", got)
	}

	h = newHarness(t)
	h.users.setErr(domain.Unavailable(errors.New("connection refused")))
	wantProblem(t, h.post(loginPath, credsJSON("shed@example.com", "kx7-Qm2z-long")), http.StatusServiceUnavailable)
	if got := h.metrics.count(observation{"POST", loginPath, 503}); got != 1 {
		t.Errorf("503 observed %d times, want 1", got)
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
	client := checkedClient(t, nil)
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
		res, err := client.Do(req)
		if err != nil {
			if oversized {
				return // the server may close before the client sent it all
			}
			t.Fatalf("%s %s: %v", method, target, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
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
	// series is the set of label combinations the observations would
	// create: the series count of authd_http_requests_total.
	series := func() map[observation]bool {
		m := map[observation]bool{}
		for _, o := range h.metrics.observed() {
			m[o] = true
		}
		return m
	}
	for i := range 100 {
		unknown(i)
	}
	after100 := len(series())
	for i := 100; i < 1000; i++ {
		unknown(i)
	}
	after1000 := len(series())
	if after1000 != after100 {
		t.Errorf("observed label sets grew from %d to %d over 900 more unknown paths", after100, after1000)
	}
	if after100 > 20 {
		t.Errorf("%d label sets after 100 unknown paths: a label is not bounded: %v", after100, series())
	}

	// Route labels are route templates (as Fiber registered them,
	// middleware prefixes included) or "unmatched". Methods are passed
	// through as sent; adapters/metrics folds the non-standard ones
	// (its TestObserveHTTP).
	templates := map[string]bool{"unmatched": true}
	for _, r := range h.app.GetRoutes() {
		templates[r.Path] = true
	}
	for o := range series() {
		if strings.Contains(o.route, "@") || strings.Contains(o.route, "example") || strings.Contains(o.route, "%40") {
			t.Errorf("observed route %q holds an email", o.route)
		}
		if !templates[o.route] {
			t.Errorf("observed route %q is not a route template", o.route)
		}
	}
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
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	res, err := f.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, req, &response{status: res.StatusCode, header: res.Header, body: body})
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

// TestRequestCounts: with Config.Requests, each request the app serves
// (whatever its status) is counted as started and, once its handler
// returned, completed.
func TestRequestCounts(t *testing.T) {
	h := newHarness(t)
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var counts httpapi.RequestCounts
	f, err := httpapi.New(httpapi.Config{
		OpenAPI:  docs.OpenAPI,
		Ready:    nil,
		Requests: &counts,
	}, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i, target := range []string{"/healthz", "/nowhere", mePath} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		res, err := f.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		checkResponse(t, req, &response{status: res.StatusCode, header: res.Header, body: body})
		if s, c := counts.Started.Load(), counts.Completed.Load(); s != int64(i+1) || c != int64(i+1) {
			t.Errorf("after %d requests: started %d, completed %d", i+1, s, c)
		}
	}
}

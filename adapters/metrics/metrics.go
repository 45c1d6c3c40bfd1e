// Package metrics exposes authd's Prometheus metrics. It owns one
// prometheus.Registry (never the global default, so two instances in one
// process, as in tests, never collide) and is fed from three sides:
//
//   - the HTTP adapter calls ObserveHTTP once per request, with the route
//     template, never the raw path;
//   - Events decorates the app's ports.EventLog and counts the security
//     events it records;
//   - cmd/authd hands it small functions over the other adapters (circuit
//     state, hashing-pool and database-pool statistics, a count of live
//     sessions), which run when Prometheus scrapes, or in the background
//     for the session count. This package imports no other adapter.
//
// Every label takes its values from a fixed set, so the number of series
// is bounded whatever clients send.
package metrics

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Routes of the API whose responses also count as outcomes; they are the
// paths of docs/openapi.yaml, which the HTTP adapter reports as templates.
const (
	RouteRegister = "/api/v1/auth/register"
	RouteLogin    = "/api/v1/auth/login"
	RouteRefresh  = "/api/v1/auth/refresh"
)

// Outcome label values.
const (
	OutcomeSuccess = "success"
	// OutcomeFailure is every refused login alike: unknown email, wrong
	// password and inactive account. /metrics may be readable by more
	// people than the audit log, and per-reason counts there would tell
	// an attacker which case a failure was (an account enumeration and,
	// for inactive accounts, a password oracle); the audit log keeps the
	// reason for operators.
	OutcomeFailure     = "failure"
	OutcomeRateLimited = "rate_limited"
	// OutcomeShed is a login answered 503: the hashing pool refused the
	// work (queue full or waited too long), or, rarely, a dependency was
	// unavailable; authd_breaker_open tells the two apart.
	OutcomeShed = "shed"
	// OutcomeInvalid is a registration or refresh refused for the request
	// itself: a password or email the policy rejects, an email already
	// registered (400, like a malformed body), an unknown, spent or
	// expired refresh token (reuse included).
	OutcomeInvalid     = "invalid"
	OutcomeUnavailable = "unavailable"
)

// statusOutcome is the outcome that the final status of a POST to an auth
// route reports, for the outcomes no event does: 429 is rate_limited and
// 503 shed (login) or unavailable; on register and refresh any other 4xx
// is invalid. Successes and the reasons a login failed come from events
// only, and the rest (a malformed login, a 500) are not outcomes:
// authd_http_requests_total has them.
func statusOutcome(route string, status int) (outcome string, ok bool) {
	switch {
	case status == http.StatusTooManyRequests:
		return OutcomeRateLimited, true
	case status == http.StatusServiceUnavailable && route == RouteLogin:
		return OutcomeShed, true
	case status == http.StatusServiceUnavailable:
		return OutcomeUnavailable, true
	case status >= 400 && status < 500 && route != RouteLogin:
		return OutcomeInvalid, true
	}
	return "", false
}

// Metrics is authd's registry and the collectors that the HTTP adapter and
// the event decorator update. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	logins        *prometheus.CounterVec
	registrations *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	reuse         prometheus.Counter
	events        *prometheus.CounterVec
	outcomes      map[string]*prometheus.CounterVec // route -> counter, for statusOutcome
	mail          mailMetrics
}

// New returns metrics registered in a registry of their own, together with
// the Go runtime and process collectors and authd_build_info.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_http_requests_total",
			Help: `HTTP requests by method, route template ("unmatched" when no route serves the path) and status.`,
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authd_http_request_duration_seconds",
			Help:    "Time from receiving a request to its response being ready, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_logins_total",
			Help: "Login attempts by outcome: success and failure (from the app's events; every refused login alike), rate_limited (429) and shed (503) from the login route's status.",
		}, []string{"outcome"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_registrations_total",
			Help: "Registrations by outcome: success (event user.registered), invalid (4xx: policy, email taken, malformed), rate_limited (429), unavailable (503).",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_refreshes_total",
			Help: "Refresh-token rotations by outcome: success (event token.refreshed), invalid (4xx: bad, spent or expired token, reuse included), rate_limited (429), unavailable (503).",
		}, []string{"outcome"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_token_reuse_total",
			Help: "Spent refresh tokens presented after the grace window (event token.reuse_detected); each revoked its session.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_security_events_total",
			Help: `Security events recorded by the app, by event name ("other" for a name this version does not know).`,
		}, []string{"event"}),
	}
	m.outcomes = map[string]*prometheus.CounterVec{RouteLogin: m.logins, RouteRegister: m.registrations, RouteRefresh: m.refreshes}

	// Every known label value starts at 0, so rate() and alerts work
	// before the first occurrence and dashboards list every outcome.
	for _, o := range []string{OutcomeSuccess, OutcomeFailure, OutcomeRateLimited, OutcomeShed} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{OutcomeSuccess, OutcomeInvalid, OutcomeRateLimited, OutcomeUnavailable} {
		m.registrations.WithLabelValues(o)
	}
	for _, o := range []string{OutcomeSuccess, OutcomeInvalid, OutcomeRateLimited, OutcomeUnavailable} {
		m.refreshes.WithLabelValues(o)
	}
	for name := range knownEvents {
		m.events.WithLabelValues(string(name))
	}

	version, goVersion := buildInfo()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "authd_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	build.Set(1)

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
		m.requests, m.duration, m.logins, m.registrations, m.refreshes, m.reuse, m.events,
	)
	return m
}

// buildInfo is the main module's version ("(devel)" for a plain go build
// or go run) and the Go version the binary was built with.
func buildInfo() (version, goVersion string) {
	version, goVersion = "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	return version, goVersion
}

// Registry is where the metrics live, for registering more collectors and
// for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats: the
// text format (text/plain; version=0.0.4) unless the scraper asks for
// another, gzipped when it accepts that.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector failing (a closed database pool, say) must not
		// hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		// Counts those failures as promhttp_metric_handler_errors_total.
		Registry: m.reg,
	})
}

// ObserveHTTP records one finished request: route must be a route
// template or "unmatched", never the raw path (the HTTP adapter's
// Config.Observe guarantees it). Methods outside the standard ones are
// counted as "other", so a client cannot create series at will.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	method = knownMethod(method)
	// Label values are kept for the registry's lifetime: never let one
	// alias a buffer the server reuses.
	route = strings.Clone(route)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
	if counter := m.outcomes[route]; counter != nil && method == http.MethodPost {
		if outcome, ok := statusOutcome(route, status); ok {
			counter.WithLabelValues(outcome).Inc()
		}
	}
}

// knownMethod returns method if it is a standard HTTP method, as a
// constant string, and "other" otherwise.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return "other"
}

// Breakers exports authd_breaker_open{command}: 1 while open(command)
// reports the command's circuit open, else 0, read at each scrape.
func (m *Metrics) Breakers(open func(command string) bool, commands ...string) {
	for _, name := range commands {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "authd_breaker_open",
			Help:        "1 while the circuit breaker of a database command is open (calls refused with 503), else 0.",
			ConstLabels: prometheus.Labels{"command": name},
		}, func() float64 { return boolFloat(open(name)) }))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// HashPoolStats is a snapshot of the bcrypt worker pool.
type HashPoolStats struct {
	// Running is how many hashes run now; Waiting how many requests
	// queue for a worker.
	Running, Waiting int
	// WaitedTotal is the time all requests together spent queueing.
	WaitedTotal time.Duration
}

// HashPool exports the hashing pool's queue depth, running workers and
// total queueing time, read from stats at each scrape (it must be cheap).
func (m *Metrics) HashPool(stats func() HashPoolStats) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_hash_queue_depth",
			Help: "Password hashes and comparisons waiting for a bcrypt worker.",
		}, func() float64 { return float64(stats().Waiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_hash_running",
			Help: "Password hashes and comparisons running now.",
		}, func() float64 { return float64(stats().Running) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "authd_hash_wait_seconds_total",
			Help: "Time requests together spent waiting for a bcrypt worker; its rate divided by the rate of hashing requests is the mean wait.",
		}, func() float64 { return stats().WaitedTotal.Seconds() }),
	)
}

// ActiveSessions exports authd_active_sessions, the number of live
// (neither expired nor revoked) sessions. Counting them is a database
// query, so it does not run at scrape time: count runs now and then every
// interval (30s if not positive), in the background until ctx ends, each
// run bounded by the interval, and the gauge shows the last successful
// count. A failed count keeps the previous value; the database's trouble
// shows in authd_breaker_open and /readyz. Until the first count
// succeeds, the gauge is absent rather than a misleading 0.
//
// A count is used rather than a gauge kept from login and logout events
// because sessions also end by expiring, which no event reports, and every
// instance would only see its own logins.
func (m *Metrics) ActiveSessions(ctx context.Context, interval time.Duration, count func(context.Context) (int, error)) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	c := &sessionCount{desc: prometheus.NewDesc("authd_active_sessions",
		"Live sessions (neither expired nor revoked) in the database, counted in the background every "+interval.String()+".", nil, nil)}
	c.value.Store(math.Float64bits(math.NaN()))
	m.reg.MustRegister(c)
	every(ctx, interval, func(ctx context.Context) {
		if n, err := count(ctx); err == nil {
			c.value.Store(math.Float64bits(float64(n)))
		}
	})
}

// every runs refresh now and then every interval, in the background until
// ctx ends, each run bounded by the interval: the background counts
// behind gauges that must not query at scrape time.
func every(ctx context.Context, interval time.Duration, refresh func(context.Context)) {
	run := func() {
		cctx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		refresh(cctx)
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			run()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sessionCount is the cached count; NaN until the first success.
type sessionCount struct {
	desc  *prometheus.Desc
	value atomic.Uint64 // float64 bits
}

func (c *sessionCount) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sessionCount) Collect(ch chan<- prometheus.Metric) {
	v := math.Float64frombits(c.value.Load())
	if math.IsNaN(v) {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
}

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// metricsAddr returns the address of the "serving metrics" log record,
// which run writes before "listening".
func metricsAddr(t *testing.T, in *instance) string {
	t.Helper()
	for _, line := range strings.Split(in.logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
			return rec.Addr
		}
	}
	t.Fatalf("no \"serving metrics\" record:\n%s", in.logs.String())
	return ""
}

// TestMetricsListener: with AUTHD_METRICS_ADDR, /metrics is served on
// that listener, fed by the real wiring (requests, events, hashing pool,
// circuits, database pool, sessions), and not on the API's port.
func TestMetricsListener(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			in := start(t, map[string]string{
				"AUTHD_DATABASE_URL": newDB(t),
				"AUTHD_METRICS_ADDR": "127.0.0.1:0",
			})
			scrape := client{t: t, base: "http://" + metricsAddr(t, in), notAPI: true}
			if scrape.base == in.base {
				t.Fatalf("metrics and API share %s", in.base)
			}

			creds := `{"email":"metrics@example.com","password":"kx7-Qm2z-long"}`
			if r := in.do(http.MethodPost, "/api/v1/auth/register", creds); r.status != http.StatusCreated {
				t.Fatalf("register: %d %s", r.status, r.body)
			}
			if r := in.do(http.MethodPost, "/api/v1/auth/login", creds); r.status != http.StatusOK {
				t.Fatalf("login: %d %s", r.status, r.body)
			}

			if r := in.do(http.MethodGet, "/metrics", ""); r.status != http.StatusNotFound {
				t.Errorf("GET /metrics on the API port = %d, want 404 when AUTHD_METRICS_ADDR is set", r.status)
			}

			r := scrape.do(http.MethodGet, "/metrics", "")
			if r.status != http.StatusOK {
				t.Fatalf("GET /metrics on the metrics port = %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type = %q", ct)
			}
			body := string(r.body)
			for _, want := range []string{
				`authd_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1`,
				`authd_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
				`authd_logins_total{outcome="success"} 1`,
				`authd_registrations_total{outcome="success"} 1`,
				`authd_breaker_open{command="db.users`,
				`authd_breaker_open{command="db.sessions`,
				"authd_hash_queue_depth 0",
				"authd_hash_running ",
				"authd_hash_wait_seconds_total ",
				`authd_db_connections_open{driver="` + name + `"}`,
				`authd_db_waits_total{driver="` + name + `"}`,
				"authd_build_info{",
				"process_resident_memory_bytes ",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
			if name == "postgres" && !strings.Contains(body, `authd_db_acquires_total{driver="postgres"}`) {
				t.Error("metrics lack the PostgreSQL pool's acquisitions")
			}
			// The first session count runs at start-up; it may not have
			// finished before this scrape only on a very slow machine.
			if !strings.Contains(body, "# TYPE authd_active_sessions gauge") {
				t.Log("authd_active_sessions not counted yet")
			}

			if r := scrape.do(http.MethodGet, "/api/v1/users/me", ""); r.status != http.StatusNotFound {
				t.Errorf("the metrics port answers the API: %d", r.status)
			}
			if r := scrape.do(http.MethodPost, "/metrics", ""); r.status != http.StatusMethodNotAllowed {
				t.Errorf("POST /metrics on the metrics port = %d, want 405", r.status)
			}
		})
	}
}

// TestMetricsOnMainPortByDefault: without AUTHD_METRICS_ADDR, /metrics is
// on the API's port and nothing else listens.
func TestMetricsOnMainPortByDefault(t *testing.T) {
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t)})
	r := in.do(http.MethodGet, "/metrics", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "authd_build_info{") {
		t.Fatalf("GET /metrics = %d: %.200s", r.status, r.body)
	}
	if strings.Contains(in.logs.String(), `"msg":"serving metrics"`) {
		t.Error("a metrics listener started without AUTHD_METRICS_ADDR")
	}
}

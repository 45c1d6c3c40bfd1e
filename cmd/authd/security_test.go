package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/docs/openapitest"
)

// These tests attack the running wiring the way issue 12 did, with an
// HTTP client and nothing else.

// metricsWithoutNoise is the /metrics text reduced to authd's own series
// that do not measure time or resources (those differ from run to run
// whatever was sent: durations, pool and runtime figures, and the mail
// outbox gauges, which a background count every 15 s sets from wherever
// the relay had got to).
func metricsWithoutNoise(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	noise := regexp.MustCompile(`^authd_(http_request_duration_seconds|hash_|db_|active_sessions|build_info|breaker_open|mail_queue_depth|mail_oldest_pending_seconds)`)
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		// Scrapes are counted too, and a caller may poll.
		if strings.HasPrefix(line, "authd_") && !noise.MatchString(line) && !strings.Contains(line, `route="/metrics"`) {
			keep = append(keep, line)
		}
	}
	sort.Strings(keep)
	return strings.Join(keep, "\n")
}

// TestMetricsRevealNoLoginFailureReason: every kind of failed login, on an
// otherwise identical instance, leaves the same /metrics text. Before,
// authd_logins_total told an anonymous scraper whether an email exists
// and, for a deactivated account, whether the password was right.
func TestMetricsRevealNoLoginFailureReason(t *testing.T) {
	t.Parallel()
	const password = "the right password, surely"
	failures := map[string]string{
		"unknown email":                  `{"email":"nobody@example.com","password":"a guess"}`,
		"wrong password":                 `{"email":"active@example.com","password":"a guess"}`,
		"inactive, right password":       `{"email":"inactive@example.com","password":"` + password + `"}`,
		"inactive, wrong password":       `{"email":"inactive@example.com","password":"a guess"}`,
		"malformed email":                `{"email":"not an address","password":"a guess"}`,
		"wrong password, different case": `{"email":"ACTIVE@example.com","password":"a guess"}`,
	}
	texts := map[string]string{}
	for reason, body := range failures {
		path := sqliteURL(t)
		in := start(t, map[string]string{"AUTHD_DATABASE_URL": path, "AUTHD_MAIL_POLL_INTERVAL": "20ms"})
		for _, email := range []string{"active@example.com", "inactive@example.com"} {
			if r := in.do("POST", "/api/v1/auth/register", `{"email":"`+email+`","password":"`+password+`"}`); r.status != 201 {
				t.Fatalf("register: %d %s", r.status, r.body)
			}
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE users SET is_active = 0 WHERE email = 'inactive@example.com'`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		expectProblem(t, in.do("POST", "/api/v1/auth/login", body), 401, "Invalid credentials")
		// The two registrations' verification mails go out in the
		// background; compare once both have, or the texts differ by
		// where the relay was (it failed one CI run in four that way).
		const sent = `authd_mail_sent_total{outcome="sent",template="verify_email"} 2`
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(metricsWithoutNoise(t, in.base), sent); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the verification mails were not sent:\n%s", reason, metricsWithoutNoise(t, in.base))
			}
		}
		texts[reason] = metricsWithoutNoise(t, in.base)
		in.stop(t)
	}
	var reasons []string
	for r := range texts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for i, a := range reasons {
		for _, b := range reasons[i+1:] {
			if texts[a] != texts[b] {
				t.Errorf("/metrics after %q differs from after %q:\n--- %s\n%s\n--- %s\n%s", a, b, a, texts[a], b, texts[b])
			}
		}
	}
	if !strings.Contains(texts[reasons[0]], `authd_logins_total{outcome="failure"} 1`) {
		t.Errorf("the failure is not counted at all:\n%s", texts[reasons[0]])
	}
}

// TestAccountCapThroughTheWiring: 150 guesses from 150 addresses in
// distinct /48s (behind a trusted proxy) get at most 100 password checks
// between them; afterwards the right password without a device token is
// refused, and the owner's device still logs in. On both stores: on
// PostgreSQL the counters are shared rows.
func TestAccountCapThroughTheWiring(t *testing.T) {
	for name, db := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := start(t, map[string]string{
				"AUTHD_DATABASE_URL":           db(t),
				"AUTHD_TRUSTED_PROXIES":        "127.0.0.1",
				"AUTHD_RATE_LIMIT_IP_REQUESTS": "1000",
			})
			const right = `{"email":"owner@example.com","password":"my own long password"}`
			if r := in.do("POST", "/api/v1/auth/register", right); r.status != 201 {
				t.Fatalf("register: %d %s", r.status, r.body)
			}
			r := in.do("POST", "/api/v1/auth/login", right, "X-Forwarded-For", "198.51.100.1")
			device := str(t, r.json(t), "device_token")

			var mu sync.Mutex
			counts := map[int]int{}
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := range 150 {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					xff := fmt.Sprintf("2001:db8:%x::7", i+1)
					r := in.do("POST", "/api/v1/auth/login", `{"email":"owner@example.com","password":"guess `+fmt.Sprint(i)+`"}`, "X-Forwarded-For", xff)
					mu.Lock()
					counts[r.status]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if counts[401] != 100 || counts[429] != 50 || len(counts) != 2 {
				t.Errorf("150 guesses from 150 /48s: %v, want exactly 100 checked (401) and 50 refused (429)", counts)
			}
			expectRateLimited(t, in.do("POST", "/api/v1/auth/login", right, "X-Forwarded-For", "192.0.2.55"), 24*3600)
			withDevice := `{"email":"owner@example.com","password":"my own long password","device_token":"` + device + `"}`
			if r := in.do("POST", "/api/v1/auth/login", withDevice, "X-Forwarded-For", "198.51.100.1"); r.status != 200 {
				t.Fatalf("the owner's device after the cap: %d %s", r.status, r.body)
			}
			if !strings.Contains(in.logs.String(), `"event":"account.locked"`) {
				t.Error("no account.locked event")
			}
		})
	}
}

// TestClientBudgetUnderParallelGuesses: 30 parallel guesses from one
// address with a budget of 10 get at most 10 answers that checked a
// password (401), the rest 429.
func TestClientBudgetUnderParallelGuesses(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_RATE_LIMIT_IP_REQUESTS": "10"})
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := in.do("POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":"v%d@example.com","password":"guess"}`, i))
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[401] != 10 || counts[429] != 20 {
		t.Errorf("30 parallel guesses, budget 10: %v, want 10 × 401 and 20 × 429", counts)
	}
}

// TestProductionHardening: in production every response carries HSTS,
// /metrics is only on its own listener, and AUTHD_DOCS=false removes the
// documentation; a body without a media type is refused everywhere.
func TestProductionHardening(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{
		"AUTHD_DATABASE_URL": sqliteURL(t),
		"AUTHD_ENV":          "production",
		"AUTHD_JWT_SECRET":   testSecret,
		"AUTHD_METRICS_ADDR": "127.0.0.1:0",
		"AUTHD_DOCS":         "false",
	})
	for _, path := range []string{"/healthz", "/nope"} {
		if r := in.do("GET", path, ""); r.header.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Errorf("GET %s: Strict-Transport-Security %q", path, r.header.Get("Strict-Transport-Security"))
		}
	}
	for _, path := range []string{"/docs", "/openapi.yaml", "/metrics"} {
		expectProblem(t, in.do("GET", path, ""), 404, "")
	}
	req, err := http.NewRequest("POST", in.base+"/api/v1/auth/register", strings.NewReader(`{"email":"x@example.com","password":"long enough password"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := openapitest.Client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Errorf("a body without Content-Type: %d, want 415", res.StatusCode)
	}

	dev := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t)})
	if r := dev.do("GET", "/healthz", ""); r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("development sends HSTS: %q", r.header.Get("Strict-Transport-Security"))
	}
}

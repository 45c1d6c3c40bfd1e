package main

import (
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/adapters/postgres/pgtest"
)

// These tests drive the abuse defences (rate limits, breached-password
// check, rehash on login) through the real run() wiring on loopback.

// expectRateLimited checks a 429 problem whose Retry-After is a whole
// number of seconds in 1..maxWait, and returns it.
func expectRateLimited(t *testing.T, r response, maxWait int) int {
	t.Helper()
	expectProblem(t, r, 429, "")
	ra := r.header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < 1 || n > maxWait {
		t.Errorf("Retry-After %q, want whole seconds in 1..%d", ra, maxWait)
	}
	return n
}

// logRecords parses the JSON log lines that run wrote.
func logRecords(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

func sqliteURL(t *testing.T) string { return filepath.Join(t.TempDir(), "authd.db") }

// TestRateLimitDefaults: with no AUTHD_RATE_LIMIT_* set, one client gets
// 60 register/login/refresh requests a minute, whatever their outcome; the
// 61st is 429 with Retry-After. Probes are not budgeted.
func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t)})
	const password = "sixty requests a minute"
	var statuses []int
	for i := 0; i < 20; i++ {
		email := fmt.Sprintf("user%02d@example.com", i)
		statuses = append(statuses,
			in.do("POST", "/api/v1/auth/register", `{"email":"`+email+`","password":"`+password+`"}`).status,
			// Every login is on a different account, so no account
			// budget is involved: only the client's.
			in.do("POST", "/api/v1/auth/login", `{"email":"`+email+`","password":"not the password"}`).status,
			in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"not-a-refresh-token"}`).status,
		)
	}
	for i, s := range statuses {
		if s == 429 {
			t.Fatalf("request %d of 60 was rate limited: %v", i+1, statuses)
		}
	}
	if statuses[0] != 201 || statuses[1] != 401 || statuses[2] != 401 {
		t.Errorf("first register/login/refresh: %v", statuses[:3])
	}
	expectRateLimited(t, in.do("POST", "/api/v1/auth/login", `{"email":"user00@example.com","password":"`+password+`"}`), 60)
	expectRateLimited(t, in.do("POST", "/api/v1/auth/register", `{"email":"late@example.com","password":"`+password+`"}`), 60)
	expectRateLimited(t, in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"not-a-refresh-token"}`), 60)
	if r := in.do("GET", "/healthz", ""); r.status != 200 {
		t.Errorf("healthz while rate limited: %d %s", r.status, r.body)
	}
	if r := in.do("GET", "/readyz", ""); r.status != 200 {
		t.Errorf("readyz while rate limited: %d %s", r.status, r.body)
	}

	// The event is recorded once per window, not once per refusal.
	n := 0
	for _, rec := range logRecords(t, in.logs) {
		if rec["event"] == "ratelimit.exceeded" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d ratelimit.exceeded events, want 1", n)
	}
}

// TestRateLimitOff: AUTHD_RATE_LIMIT=off counts nothing, neither the
// client's requests nor failures on one account.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_RATE_LIMIT": "off"})
	const creds = `{"email":"unlimited@example.com","password":"no limits at all here"}`
	if r := in.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	for i := 0; i < 100; i++ {
		var r response
		if i%2 == 0 {
			r = in.do("POST", "/api/v1/auth/login", `{"email":"unlimited@example.com","password":"a wrong guess"}`)
		} else {
			r = in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"not-a-refresh-token"}`)
		}
		if r.status != 401 {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := in.do("POST", "/api/v1/auth/login", creds); r.status != 200 {
		t.Errorf("login after 50 failures with limits off: %d %s", r.status, r.body)
	}
}

// TestRateLimitOffWarnsInProduction: turning the limits off is logged at
// start-up, as a warning in production.
func TestRateLimitOffWarnsInProduction(t *testing.T) {
	t.Parallel()
	find := func(in *instance) map[string]any {
		for _, rec := range logRecords(t, in.logs) {
			if msg, _ := rec["msg"].(string); strings.Contains(msg, "AUTHD_RATE_LIMIT=off") {
				return rec
			}
		}
		return nil
	}
	prod := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:0", "AUTHD_RATE_LIMIT": "off"})
	if rec := find(prod); rec == nil || rec["level"] != "WARN" {
		t.Errorf("production with limits off: log record %v, want a WARN naming AUTHD_RATE_LIMIT=off\n%s", rec, prod.logs)
	}
	dev := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_RATE_LIMIT": "off"})
	if rec := find(dev); rec == nil || rec["level"] != "INFO" {
		t.Errorf("development with limits off: log record %v, want INFO", rec)
	}
	on := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:0"})
	if rec := find(on); rec != nil {
		t.Errorf("limits on, yet logged %v", rec)
	}
}

// TestAccountThrottling: failures on one account throttle only the clients
// that failed there. Clients are told apart by X-Forwarded-For, which is
// believed because the peer (127.0.0.1) is a trusted proxy.
func TestAccountThrottling(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{
		"AUTHD_DATABASE_URL":           sqliteURL(t),
		"AUTHD_RATE_LIMIT_IP_REQUESTS": "1000",
		"AUTHD_TRUSTED_PROXIES":        "127.0.0.1/32",
	})
	const (
		right    = `{"email":"alice@example.com","password":"wonderland rabbit hole"}`
		wrong    = `{"email":"alice@example.com","password":"a guess from the attacker"}`
		attacker = "203.0.113.1"
		victim   = "203.0.113.2"
	)
	if r := in.do("POST", "/api/v1/auth/register", right); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	for i := 0; i < 10; i++ {
		expectProblem(t, in.do("POST", "/api/v1/auth/login", wrong, "X-Forwarded-For", attacker), 401, "Invalid credentials")
	}
	// Throttled: refused without a password check, even the right one.
	expectRateLimited(t, in.do("POST", "/api/v1/auth/login", wrong, "X-Forwarded-For", attacker), 900)
	expectRateLimited(t, in.do("POST", "/api/v1/auth/login", right, "X-Forwarded-For", attacker), 900)
	// Entries left of the first untrusted hop are the client's own words:
	// prepending an address does not make the attacker someone else.
	expectRateLimited(t, in.do("POST", "/api/v1/auth/login", wrong, "X-Forwarded-For", "198.51.100.7, "+attacker), 900)
	// The account is not locked: a client that has not failed on it still
	// gets its password checked, and the case of the email does not matter.
	expectProblem(t, in.do("POST", "/api/v1/auth/login", `{"email":"ALICE@example.com","password":"another guess entirely"}`, "X-Forwarded-For", "203.0.113.3"), 401, "Invalid credentials")
	if r := in.do("POST", "/api/v1/auth/login", right, "X-Forwarded-For", victim); r.status != 200 {
		t.Fatalf("victim locked out: %d %s", r.status, r.body)
	}
	// The success reset the account: the attacker is back to 401s.
	expectProblem(t, in.do("POST", "/api/v1/auth/login", wrong, "X-Forwarded-For", attacker), 401, "Invalid credentials")
	if !strings.Contains(in.logs.String(), `"event":"ratelimit.exceeded"`) {
		t.Error("no ratelimit.exceeded event in the log")
	}
}

// TestForwardedForIgnoredWithoutTrustedProxies: with no trusted proxies an
// X-Forwarded-For header is just a header; every request below counts
// against 127.0.0.1, for the client budget and the account budget alike.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_RATE_LIMIT_IP_REQUESTS": "12"})
	const right = `{"email":"carol@example.com","password":"singing in the rain"}`
	if r := in.do("POST", "/api/v1/auth/register", right, "X-Forwarded-For", "198.51.100.1"); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	for i := 0; i < 10; i++ {
		r := in.do("POST", "/api/v1/auth/login", `{"email":"carol@example.com","password":"wrong guess number x"}`, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 10+i))
		expectProblem(t, r, 401, "Invalid credentials")
	}
	// Were the header believed, this would be a fresh client with the
	// right password (200); it is 127.0.0.1, which failed on the account.
	expectRateLimited(t, in.do("POST", "/api/v1/auth/login", right, "X-Forwarded-For", "198.51.100.200"), 900)
	// That was the 12th request of 127.0.0.1's budget of 12; a refresh,
	// which no account budget touches, from yet another "address" is 429.
	r := in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"not-a-refresh-token"}`, "X-Forwarded-For", "198.51.100.202")
	expectRateLimited(t, r, 60)
	if d, _ := r.json(t)["detail"].(string); d == "" {
		t.Errorf("429 without detail: %s", r.body)
	}
}

// TestRateLimitSharedAcrossInstances: on PostgreSQL the counters live in
// the database, so two instances enforce one budget.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Start(t).NewDatabase(t)
	vars := map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_RATE_LIMIT_IP_REQUESTS": "10"}
	a, b := start(t, vars), start(t, vars)
	const refresh = `{"refresh_token":"not-a-refresh-token"}`
	for i := 0; i < 5; i++ {
		for name, in := range map[string]*instance{"a": a, "b": b} {
			if r := in.do("POST", "/api/v1/auth/refresh", refresh); r.status != 401 {
				t.Fatalf("request %d to %s: %d %s", i+1, name, r.status, r.body)
			}
		}
	}
	expectRateLimited(t, b.do("POST", "/api/v1/auth/refresh", refresh), 60)
	expectRateLimited(t, a.do("POST", "/api/v1/auth/login", `{"email":"dave@example.com","password":"eleventh hour knock"}`), 60)
}

// TestRehashOnLogin: raising AUTHD_BCRYPT_COST upgrades a stored hash the
// next time its user logs in.
func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	path := sqliteURL(t)
	const creds = `{"email":"erin@example.com","password":"slow and steady wins"}`
	first := start(t, map[string]string{"AUTHD_DATABASE_URL": path, "AUTHD_BCRYPT_COST": "4"})
	if r := first.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	first.stop(t)

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := func() string {
		t.Helper()
		var h string
		if err := db.QueryRow(`SELECT password_hash FROM users WHERE email = 'erin@example.com'`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	old := stored()
	if !strings.HasPrefix(old, "$2a$04$") {
		t.Fatalf("hash at registration %.7s..., want cost 4", old)
	}

	second := start(t, map[string]string{"AUTHD_DATABASE_URL": path, "AUTHD_BCRYPT_COST": "5"})
	if r := second.do("POST", "/api/v1/auth/login", creds); r.status != 200 {
		t.Fatalf("login with the old hash: %d %s", r.status, r.body)
	}
	upgraded := stored()
	if !strings.HasPrefix(upgraded, "$2a$05$") {
		t.Fatalf("hash after login %.7s..., want cost 5", upgraded)
	}
	if r := second.do("POST", "/api/v1/auth/login", creds); r.status != 200 {
		t.Fatalf("login with the new hash: %d %s", r.status, r.body)
	}
	if stored() != upgraded {
		t.Error("a hash already at the configured cost was rewritten")
	}
	expectProblem(t, second.do("POST", "/api/v1/auth/login", `{"email":"erin@example.com","password":"slow and steady loses"}`), 401, "Invalid credentials")
	if stored() != upgraded {
		t.Error("a failed login changed the hash")
	}
}

// rangeServer is a Pwned Passwords range API serving a fixed corpus of
// SHA-1 hashes (upper-case hex) with their counts, plus padding.
type rangeServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newRangeServer(t *testing.T, corpus map[string]int) *rangeServer {
	rs := &rangeServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.seen = append(rs.seen, r.Clone(r.Context()))
		rs.mu.Unlock()
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if !ok || r.Method != http.MethodGet || len(prefix) != 5 {
			http.NotFound(w, r)
			return
		}
		for hash, count := range corpus {
			if strings.HasPrefix(hash, prefix) {
				fmt.Fprintf(w, "%s:%d\r\n", hash[5:], count)
			}
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("F", 35)) // padding
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rangeServer) requests() []*http.Request {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]*http.Request(nil), rs.seen...)
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestBreachCheck registers against a local range API: a breached
// password is refused, a clean one accepted, and only 5-character hash
// prefixes leave the process. With the API gone, registration proceeds by
// default and is 503 when AUTHD_BREACH_CHECK_FAIL_CLOSED=true.
//
// Each run() names its own breach-check circuit (adapters/breaker.Set),
// so nothing carries over from another test. The steps run in order in
// this one test; the few failures at the end stay far below the circuit's
// 20-request volume threshold, and the outage assertions hold whether or
// not the circuit is open (either way the check cannot answer).
func TestBreachCheck(t *testing.T) {
	const (
		breached = "velvet thunder umbrella"
		clean    = "quiet harbour lantern"
	)
	// The clean password's hash is served as a zero-count padding entry:
	// listed, but not breached.
	rs := newRangeServer(t, map[string]int{sha1Hex(breached): 12345, sha1Hex(clean): 0})
	vars := func(failClosed string) map[string]string {
		return map[string]string{
			"AUTHD_DATABASE_URL":             sqliteURL(t),
			"AUTHD_BREACH_CHECK":             "true",
			"AUTHD_BREACH_CHECK_URL":         rs.URL + "/range/",
			"AUTHD_BREACH_CHECK_TIMEOUT":     "5s",
			"AUTHD_BREACH_CHECK_FAIL_CLOSED": failClosed,
		}
	}
	open, closed := start(t, vars("false")), start(t, vars("true"))
	register := func(in *instance, email, password string) response {
		return in.do("POST", "/api/v1/auth/register", `{"email":"`+email+`","password":"`+password+`"}`)
	}

	// Range API up.
	r := register(open, "frank@example.com", breached)
	expectProblem(t, r, 422, "")
	errs, _ := r.json(t)["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "password") || !strings.Contains(fmt.Sprint(errs[0]), "breach") {
		t.Errorf("breached password: want one password error naming the breach: %s", r.body)
	}
	if r := register(open, "frank@example.com", clean); r.status != 201 {
		t.Fatalf("clean password: %d %s", r.status, r.body)
	}
	if r := register(closed, "grace@example.com", clean); r.status != 201 {
		t.Fatalf("clean password, fail closed, API up: %d %s", r.status, r.body)
	}
	expectProblem(t, register(closed, "grace2@example.com", breached), 422, "")

	want := map[string]bool{sha1Hex(breached)[:5]: true, sha1Hex(clean)[:5]: true}
	prefixOnly := regexp.MustCompile(`^/range/[0-9A-F]{5}$`)
	seen := rs.requests()
	if len(seen) != 4 {
		t.Errorf("range API got %d requests, want 4", len(seen))
	}
	for _, req := range seen {
		uri := req.URL.RequestURI()
		if !prefixOnly.MatchString(uri) || !want[strings.TrimPrefix(uri, "/range/")] {
			t.Errorf("range request %q: want /range/ and a 5-character prefix of a registered password's SHA-1", uri)
		}
		dump := fmt.Sprint(req.Header, req.URL)
		for _, secret := range []string{breached, clean, sha1Hex(breached)[5:], sha1Hex(clean)[5:]} {
			if strings.Contains(strings.ToUpper(dump), strings.ToUpper(secret)) {
				t.Errorf("range request %q carries more than the prefix", uri)
			}
		}
	}

	// Range API gone.
	rs.Close()
	if r := register(open, "heidi@example.com", "while the oracle sleeps"); r.status != 201 {
		t.Errorf("fail open: %d %s", r.status, r.body)
	}
	r = register(closed, "ivan@example.com", "while the oracle sleeps")
	expectProblem(t, r, 503, "")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("503 Retry-After %q", r.header.Get("Retry-After"))
	}
	if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), "range") {
		t.Errorf("503 leaks internals: %s", r.body)
	}
	// Refused, so not created: the email is still free.
	if r := closed.do("POST", "/api/v1/auth/login", `{"email":"ivan@example.com","password":"while the oracle sleeps"}`); r.status != 401 {
		t.Errorf("login after a fail-closed refusal: %d %s", r.status, r.body)
	}
	for name, in := range map[string]*instance{"fail open": open, "fail closed": closed} {
		if !strings.Contains(in.logs.String(), `"event":"breach_check.unavailable"`) {
			t.Errorf("%s: no breach_check.unavailable event in the log", name)
		}
		for _, secret := range []string{breached, clean, sha1Hex(breached), sha1Hex(clean)} {
			if strings.Contains(in.logs.String(), secret) {
				t.Errorf("%s: log contains %q", name, secret)
			}
		}
	}
}

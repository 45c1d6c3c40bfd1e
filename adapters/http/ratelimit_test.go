package http_test

// Rate limits through the HTTP API: the per-client budget of register,
// login and refresh, the routes it does not cover, which client a request
// is charged to behind (un)trusted proxies, and account throttling.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/porttest"
)

// rateLimitedDetail is what every 429 says.
const rateLimitedDetail = "Too many attempts; try again later"

// TestFakeRateLimitsContract runs the port's contract over the harness's
// fake, so the rate-limit tests below rest on a store that behaves like
// the real ones.
func TestFakeRateLimitsContract(t *testing.T) {
	porttest.TestRateLimitStore(t, func(*testing.T) ports.RateLimitStore { return newFakeRateLimits() })
}

// wantRateLimited checks r is a 429 problem with the rate-limit detail,
// not cacheable, whose Retry-After is a whole number of seconds in
// [1, max]. It returns the Retry-After.
func wantRateLimited(t *testing.T, r *response, max int) int {
	t.Helper()
	p := wantProblem(t, r, http.StatusTooManyRequests)
	if p["detail"] != rateLimitedDetail {
		t.Errorf("detail = %v, want %q", p["detail"], rateLimitedDetail)
	}
	if _, ok := p["errors"]; ok {
		t.Errorf("a 429 has an errors member: %s", r.body)
	}
	ra := r.header.Get("Retry-After")
	n, err := strconv.Atoi(ra)
	if err != nil || n < 1 || n > max || strconv.Itoa(n) != ra {
		t.Errorf("Retry-After = %q, want an integer number of seconds in [1, %d]", ra, max)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q on a 429, want no-store", got)
	}
	return n
}

// accessLines parses the harness's access log.
func (h *harness) accessLines() []map[string]any {
	h.t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace([]byte(h.logs.String())), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			h.t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		lines = append(lines, m)
	}
	return lines
}

// accessLine returns the access line of the response r.
func (h *harness) accessLine(r *response) map[string]any {
	h.t.Helper()
	id := r.header.Get("X-Request-ID")
	for _, l := range h.accessLines() {
		if l["request_id"] == id {
			return l
		}
	}
	h.t.Fatalf("no access line for request %s:\n%s", id, h.logs)
	return nil
}

// wantClientIP checks the access line of r attributes it to ip.
func (h *harness) wantClientIP(r *response, ip string) {
	h.t.Helper()
	if got := h.accessLine(r)["client_ip"]; got != ip {
		h.t.Errorf("access line of the %d: client_ip = %v, want %s", r.status, got, ip)
	}
}

// touches is how often the repositories and the hasher were used.
func (h *harness) touches() [4]int64 {
	return [4]int64{h.users.reads.Load() + h.users.creates.Load(), h.sessions.calls.Load(), h.hasher.hashes.Load(), h.hasher.compares.Load()}
}

// budgeted are the operations that spend the client's budget, each with a
// body for its i-th request; none of them succeeds twice from nothing, but
// every request spends budget whatever its outcome.
var budgeted = []struct {
	name, path string
	body       func(t *testing.T, i int) string
}{
	{"register", registerPath, func(_ *testing.T, i int) string {
		return credsJSON(fmt.Sprintf("user%d@example.com", i), "kx7-Qm2z-long")
	}},
	{"login", loginPath, func(*testing.T, int) string { return credsJSON("nobody@example.com", "wrong horse!") }},
	{"refresh", refreshPath, func(t *testing.T, _ int) string { return refreshJSON(randomRefreshToken(t)) }},
}

// TestRateLimitPerClient spends the budget (3 a minute) of the app.Test
// peer, 0.0.0.0, which is not a trusted proxy here: the 4th request is a
// 429 that reaches neither storage nor the hasher, whatever
// X-Forwarded-For says, until the window closes.
func TestRateLimitPerClient(t *testing.T) {
	for _, op := range budgeted {
		t.Run(op.name, func(t *testing.T) {
			h := newHarness(t, withLimits(testLimits), withTrustedProxies("10.0.0.0/8"))
			for i := range testLimits.IPRequests {
				r := h.post(op.path, op.body(t, i))
				if r.status == http.StatusTooManyRequests || r.status >= 500 {
					t.Fatalf("request %d within the budget: %v", i+1, r)
				}
			}
			before := h.touches()
			r := h.post(op.path, op.body(t, 100))
			if ra := wantRateLimited(t, r, 60); ra != 60 {
				t.Errorf("Retry-After = %d, want 60 (the window opened a minute before, by the fake clock)", ra)
			}
			h.wantClientIP(r, "0.0.0.0")

			// A forwarded address from an untrusted peer is the client's
			// own claim: it neither helps nor is logged.
			for _, xff := range []string{"198.51.100.1", "10.0.0.5", "198.51.100.2, 10.0.0.5"} {
				r = h.post(op.path, op.body(t, 101), "X-Forwarded-For", xff)
				wantRateLimited(t, r, 60)
				h.wantClientIP(r, "0.0.0.0")
			}
			if after := h.touches(); after != before {
				t.Errorf("refused requests used storage or the hasher: %v before, %v after", before, after)
			}
			for _, k := range h.limits.hitKeys() {
				if strings.HasPrefix(k, "ip:") && k != "ip:0.0.0.0" || strings.Contains(k, "198.51.100.") || strings.Contains(k, "10.0.0.5") {
					t.Errorf("charged to %q, want the client 0.0.0.0 only", k)
				}
			}
			// One security event per exhausted window, not per refusal.
			if n := countOf(h.events.names(), "ratelimit.exceeded"); n != 1 {
				t.Errorf("%d ratelimit.exceeded events, want 1: %v", n, h.events.names())
			}

			// The window closes: a new budget.
			h.clock.advance(testLimits.IPWindow)
			r = h.post(op.path, op.body(t, 102))
			if r.status == http.StatusTooManyRequests {
				t.Errorf("after the window: %v", r)
			}
		})
	}
}

func countOf(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// TestRateLimitCoversOnlyCredentialOperations exhausts a client's budget
// and checks the operations that take no password or token to check (and
// the probes) still answer; logout and logout/all spend the budget too.
func TestRateLimitCoversOnlyCredentialOperations(t *testing.T) {
	h := newHarness(t, withLimits(testLimits))
	h.register("ivy@example.com", "kx7-Qm2z-long")
	first := h.loginTokens("ivy@example.com", "kx7-Qm2z-long")
	r := h.refresh(first.refresh)
	tok, _ := wantTokenResponse(t, r)
	wantRateLimited(t, h.post(loginPath, credsJSON("ivy@example.com", "kx7-Qm2z-long")), 60)
	// A refused refresh does not look at its token: it is not spent.
	wantRateLimited(t, h.refresh(tok.refresh), 60)
	spent := len(h.limits.hitKeys())

	for range 2 * testLimits.IPRequests {
		wantStatus(t, h.get(mePath, "Authorization", "Bearer "+tok.access), http.StatusOK)
		wantStatus(t, h.get("/healthz"), http.StatusOK)
		wantStatus(t, h.get("/readyz"), http.StatusOK)
		wantStatus(t, h.get("/openapi.yaml"), http.StatusOK)
	}
	wantRateLimited(t, h.logout(randomRefreshToken(t)), 60)
	wantRateLimited(t, h.post(logoutAllPath, "", "Authorization", "Bearer "+tok.access), 60)
	spent += 2
	if n := len(h.limits.hitKeys()); n != spent {
		t.Errorf("the rate limit store was hit %d more times by operations outside the budget", n-spent)
	}
	// The budget is still spent ...
	wantRateLimited(t, h.refresh(tok.refresh), 60)
	// ... until the window closes; the refused refreshes left the token
	// as it was, so it rotates now (well after the reuse grace window).
	h.clock.advance(testLimits.IPWindow)
	next, _ := wantTokenResponse(t, h.refresh(tok.refresh))
	wantNoContent(t, h.post(logoutAllPath, "", "Authorization", "Bearer "+next.access))
	wantNoContent(t, h.logout(next.refresh))
}

// TestRateLimitBehindTrustedProxy trusts the app.Test peer (0.0.0.0), so
// X-Forwarded-For names the client: each forwarded client has its own
// budget, and prepending a spoofed hop does not escape one.
func TestRateLimitBehindTrustedProxy(t *testing.T) {
	h := newHarness(t, withLimits(testLimits), withTrustedProxies("0.0.0.0/32"))
	login := func(xff string) *response {
		t.Helper()
		if xff == "" {
			return h.post(loginPath, credsJSON("nobody@example.com", "wrong horse!"))
		}
		return h.post(loginPath, credsJSON("nobody@example.com", "wrong horse!"), "X-Forwarded-For", xff)
	}
	const a, b = "198.51.100.1", "2001:db8::b"
	for range testLimits.IPRequests {
		wantStatus(t, login(a), http.StatusUnauthorized)
	}
	r := login(a)
	wantRateLimited(t, r, 60)
	h.wantClientIP(r, a)
	// The client writes the left of the chain; the proxy appends the
	// address it saw on the right, which is what counts.
	r = login("203.0.113.99, " + a)
	wantRateLimited(t, r, 60)
	h.wantClientIP(r, a)

	// Another forwarded client, and the proxy itself, are unaffected.
	r = login(b)
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, b)
	r = login(a + ", " + b) // a spoofed a on the left; b is the client
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, b)
	r = login("")
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, "0.0.0.0")

	keys := map[string]int{}
	for _, k := range h.limits.hitKeys() {
		if strings.HasPrefix(k, "ip:") {
			keys[k]++
		}
	}
	// An IPv6 client is counted as its /64, and its /48 too.
	want := map[string]int{"ip:" + a: 5, "ip:2001:db8::/64": 2, "ip:2001:db8::/48": 2, "ip:0.0.0.0": 1}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("budget hits by client = %v, want %v", keys, want)
	}
}

// TestRateLimitStoreDown checks an unreachable limit store is a 503 with
// Retry-After, not a free pass and not a 500, and that nothing runs.
func TestRateLimitStoreDown(t *testing.T) {
	h := newHarness(t, withLimits(testLimits))
	h.limits.setErr(domain.Unavailable(errors.New("rate_limits: connection refused")))
	for _, op := range budgeted {
		r := h.post(op.path, op.body(t, 0))
		wantProblem(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", op.name)
		}
	}
	h.wantUntouched(t)
}

// TestRateLimitsOff checks the harness default: no limits, nothing counted.
func TestRateLimitsOff(t *testing.T) {
	h := newHarness(t)
	for range 2 * testLimits.IPRequests {
		wantStatus(t, h.post(loginPath, credsJSON("nobody@example.com", "wrong horse!")), http.StatusUnauthorized)
	}
	if keys := h.limits.hitKeys(); len(keys) != 0 {
		t.Errorf("limits off, yet the store was hit: %v", keys)
	}
}

// TestAccountThrottling: after 10 failed logins on one account, the client
// that failed gets 429 without a password check, while a client that has
// not failed there still has its password checked, and the real user's
// correct password gets in and clears the account.
func TestAccountThrottling(t *testing.T) {
	limits := testLimits
	limits.IPRequests = 1000 // the per-client budget is not under test here
	h := newHarness(t, withLimits(limits), withTrustedProxies("0.0.0.0/32"))
	const (
		email    = "victim@example.com"
		password = "correct horse battery"
		attacker = "203.0.113.66"
		other    = "198.51.100.30"
		owner    = "198.51.100.20"
	)
	h.register(email, password)
	login := func(client, pw string) *response {
		t.Helper()
		return h.post(loginPath, credsJSON(email, pw), "X-Forwarded-For", client)
	}

	for i := range limits.AccountFailures {
		wantStatus(t, login(attacker, fmt.Sprintf("guess-%02d!", i)), http.StatusUnauthorized)
	}
	compares := h.hasher.compares.Load()

	// The attacker is refused without a password check, even with the
	// right password, so guessing on is useless and costs no bcrypt work.
	for _, pw := range []string{"guess-99!", password} {
		r := login(attacker, pw)
		if ra := wantRateLimited(t, r, int(limits.AccountWindow/time.Second)); ra != int(limits.AccountWindow/time.Second) {
			t.Errorf("Retry-After = %d, want %d (until the attacker's failures expire)", ra, int(limits.AccountWindow/time.Second))
		}
		h.wantClientIP(r, attacker)
	}
	if n := h.hasher.compares.Load() - compares; n != 0 {
		t.Errorf("throttled attempts ran %d password comparisons, want none", n)
	}
	// The email is compared normalized: another spelling is the same
	// account.
	r := h.post(loginPath, credsJSON("Victim@Example.COM", "guess-x!"), "X-Forwarded-For", attacker)
	wantRateLimited(t, r, 900)

	// A client that has not failed on the account gets its password
	// checked: a wrong one is a 401 (and from then on a 429) ...
	wantStatus(t, login(other, "guess-from-elsewhere"), http.StatusUnauthorized)
	if n := h.hasher.compares.Load() - compares; n != 1 {
		t.Errorf("a fresh client's attempt ran %d comparisons, want 1", n)
	}
	wantRateLimited(t, login(other, password), 900)

	// ... and the owner's correct password works, and clears the
	// account's failures.
	wantTokenResponse(t, login(owner, password))
	wantStatus(t, login(attacker, "guess-100!"), http.StatusUnauthorized)

	// Other accounts were never throttled.
	h.register("bystander@example.com", password)
	wantTokenResponse(t, h.post(loginPath, credsJSON("bystander@example.com", password), "X-Forwarded-For", attacker))
	if !slices.Contains(h.events.names(), "ratelimit.exceeded") {
		t.Errorf("no ratelimit.exceeded security event: %v", h.events.names())
	}
}

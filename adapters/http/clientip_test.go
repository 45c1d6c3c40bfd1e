package http_test

// identifyClient end to end, over real TCP connections: app.Test always
// presents the peer 0.0.0.0 (Fiber's test connection reports
// net.IPv4zero, a 16-byte IPv4-mapped net.IP), so the real peer address
// is exercised here on loopback listeners.

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sendTo sends a request to base (a URL from h.listen or h.serve) over a
// fresh connection and validates the response against the document. Each
// value of xff is sent as its own X-Forwarded-For header line.
func (h *harness) sendTo(base, method, path, body string, xff ...string) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("reading body: %v", err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: b}
	checkResponse(h.t, req, r)
	return r
}

func badLogin(h *harness, base string, xff ...string) *response {
	h.t.Helper()
	return h.sendTo(base, http.MethodPost, loginPath, credsJSON("nobody@example.com", "wrong horse!"), xff...)
}

// TestIdentifyClientTrustedLoopback trusts the loopback peer, as behind a
// reverse proxy on the same host: X-Forwarded-For names the client, in
// the access log and for the budget.
func TestIdentifyClientTrustedLoopback(t *testing.T) {
	h := newHarness(t, withLimits(testLimits), withTrustedProxies("127.0.0.0/8"))
	base := h.listen(t)

	r := badLogin(h, base, "203.0.113.7")
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, "203.0.113.7")

	// No header: the proxy itself is the client.
	r = badLogin(h, base)
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, "127.0.0.1")

	// Two header lines are one list, in order; trusted hops (127.0.0.5)
	// are skipped.
	r = badLogin(h, base, "198.51.100.1", "203.0.113.8, 127.0.0.5")
	wantStatus(t, r, http.StatusUnauthorized)
	h.wantClientIP(r, "203.0.113.8")

	// 203.0.113.7 spends its own budget, not the proxy's.
	for range testLimits.IPRequests - 1 {
		wantStatus(t, badLogin(h, base, "203.0.113.7"), http.StatusUnauthorized)
	}
	r = badLogin(h, base, "203.0.113.7")
	wantRateLimited(t, r, 60)
	h.wantClientIP(r, "203.0.113.7")
	wantStatus(t, badLogin(h, base), http.StatusUnauthorized)
	wantStatus(t, badLogin(h, base, "203.0.113.8"), http.StatusUnauthorized)
}

// TestIdentifyClientUntrustedPeer: the loopback peer is not a trusted
// proxy (or none is configured), so X-Forwarded-For is ignored: rotating
// it does not buy a new budget, and the log shows the real peer.
func TestIdentifyClientUntrustedPeer(t *testing.T) {
	for name, opts := range map[string][]option{
		"other proxies trusted": {withLimits(testLimits), withTrustedProxies("10.0.0.0/8", "::1/128")},
		"no proxies trusted":    {withLimits(testLimits)},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opts...)
			base := h.listen(t)
			for _, xff := range []string{"203.0.113.1", "203.0.113.2", "10.0.0.9"} {
				r := badLogin(h, base, xff)
				wantStatus(t, r, http.StatusUnauthorized)
				h.wantClientIP(r, "127.0.0.1")
			}
			r := badLogin(h, base, "203.0.113.4")
			wantRateLimited(t, r, 60)
			h.wantClientIP(r, "127.0.0.1")
		})
	}
}

// TestIdentifyClientIPv6Loopback runs the trusted and untrusted cases over
// [::1], where the loopback listener is available.
func TestIdentifyClientIPv6Loopback(t *testing.T) {
	for _, tc := range []struct {
		trusted, xff, want string
	}{
		{"::1/128", "2001:db8::5", "2001:db8::5"},
		{"::1/128", "[2001:db8::6]:443, ::1", "2001:db8::6"},
		{"fd00::/8", "2001:db8::5", "::1"},
	} {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		h := newHarness(t, withTrustedProxies(tc.trusted))
		base := h.serve(t, ln)
		r := badLogin(h, base, tc.xff)
		wantStatus(t, r, http.StatusUnauthorized)
		h.wantClientIP(r, tc.want)
	}
}

// TestIdentifyClientAppTest pins what app.Test presents, which the other
// tests in this package rely on: the peer 0.0.0.0, trusted by
// 0.0.0.0/32 although it arrives as an IPv4-mapped address.
func TestIdentifyClientAppTest(t *testing.T) {
	h := newHarness(t)
	r := h.get("/healthz", "X-Forwarded-For", "203.0.113.7")
	h.wantClientIP(r, "0.0.0.0")

	h = newHarness(t, withTrustedProxies("0.0.0.0/32"))
	r = h.get("/healthz", "X-Forwarded-For", "203.0.113.7")
	h.wantClientIP(r, "203.0.113.7")
	req := newRequest(http.MethodGet, "/healthz", "")
	req.Header.Add("X-Forwarded-For", "203.0.113.9")
	req.Header.Add("X-Forwarded-For", "203.0.113.10")
	h.wantClientIP(h.do(req), "203.0.113.10")
}

// TestUntrustedForwardedWarnsOnce: X-Forwarded-For from a peer that is not
// a trusted proxy is ignored, and production logs one warning for it (not
// one per request); a request without the header, or a harness without
// the setting, logs none.
func TestUntrustedForwardedWarnsOnce(t *testing.T) {
	const warning = "X-Forwarded-For arrived from a peer that is not a trusted proxy"
	h := newHarness(t, withForwardedWarning(), withTrustedProxies("10.0.0.0/8"))
	h.get("/healthz")
	if strings.Contains(h.logs.String(), warning) {
		t.Fatal("warned without an X-Forwarded-For header")
	}
	for range 5 {
		h.get("/healthz", "X-Forwarded-For", "203.0.113.9")
	}
	if n := strings.Count(h.logs.String(), warning); n != 1 {
		t.Fatalf("%d warnings after 5 forwarded requests, want 1; log:\n%s", n, h.logs.String())
	}
	quiet := newHarness(t)
	quiet.get("/healthz", "X-Forwarded-For", "203.0.113.9")
	if strings.Contains(quiet.logs.String(), warning) {
		t.Fatal("warned without WarnUntrustedForwarded")
	}
}

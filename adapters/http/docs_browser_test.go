package http_test

// The browser test: headless Chromium opens /docs on a real server and
// must render the operations from /openapi.yaml under the page's CSP.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// docsScreenshot is the screenshot kept in the repository; the test
// rewrites it when AUTHD_UPDATE_SCREENSHOT=1.
const docsScreenshot = "../../docs/docs-screenshot.png"

// findChromium returns the Chromium binary, skipping the test when there
// is none, unless AUTHD_REQUIRE_CHROMIUM=1 (as in .ci/run).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const hint = "headless Chromium not found (Debian: apt-get install -y chromium)"
	if os.Getenv("AUTHD_REQUIRE_CHROMIUM") == "1" {
		t.Fatalf("%s, and AUTHD_REQUIRE_CHROMIUM=1", hint)
	}
	t.Skipf("browser test skipped: %s; set AUTHD_REQUIRE_CHROMIUM=1 to make this a failure", hint)
	return ""
}

// runChromium runs headless Chromium on url with extra flags and returns
// its stdout and stderr.
func runChromium(t *testing.T, chromium, url string, extra ...string) (stdout, stderr []byte) {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still be writing to
	// the profile when it exits, and a failed removal is no test failure.
	profile, err := os.MkdirTemp("", "authd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + profile, "--virtual-time-budget=10000",
	}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", chromium, strings.Join(extra, " "), err, tail(errOut.String(), 4000))
	}
	return out.Bytes(), errOut.Bytes()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func TestDocsInBrowser(t *testing.T) {
	chromium := findChromium(t)
	h := newHarness(t)
	// Chromium talks to a proxy that validates every response it relays
	// against docs/openapi.yaml.
	base := checkingProxy(t, h.listen(t))

	dom, stderr := runChromium(t, chromium, base+"/docs", "--dump-dom")
	page := string(dom)
	if !strings.Contains(page, `class="swagger-ui"`) {
		t.Fatalf("Swagger UI did not render:\n%s\nstderr:\n%s", tail(page, 4000), tail(string(stderr), 4000))
	}
	// Each operation is listed, with its path and summary.
	for _, op := range []struct{ method, path, summary string }{
		{"post", registerPath, "Register a new user"},
		{"post", loginPath, "Exchange credentials for an access token and a refresh token"},
		{"post", refreshPath, "Rotate a refresh token for new tokens"},
		{"post", logoutPath, "End the session of a refresh token"},
		{"post", logoutAllPath, "End every session of the authenticated user"},
		{"get", mePath, "Get the authenticated user"},
		{"get", "/docs", "Interactive API documentation"},
	} {
		if !strings.Contains(page, `data-path="`+op.path+`"`) {
			t.Errorf("%s %s is not listed", strings.ToUpper(op.method), op.path)
		}
		if !strings.Contains(page, op.summary) {
			t.Errorf("the summary %q is not shown", op.summary)
		}
	}
	if !strings.Contains(page, `<option value="/">`) {
		t.Errorf(`"Try it out" does not default to this server (no "/" server option)`)
	}
	for _, line := range strings.Split(string(stderr), "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") {
			t.Errorf("Chromium reports a CSP violation: %s", line)
		}
	}

	// What the browser asked for: the page, its files and the document,
	// each answered with a documented status.
	seen := h.browserRequests()
	for _, want := range []string{"GET /docs 200", "GET /docs/:asset 200", "GET /openapi.yaml 200"} {
		if !seen[want] {
			t.Errorf("the browser made no request answered %q; access log: %v", want, seen)
		}
	}
	for line := range seen {
		if f := strings.Fields(line); len(f) == 3 && f[2] >= "400" {
			t.Errorf("the browser got %s", line)
		}
	}

	shot := filepath.Join(t.TempDir(), "docs.png")
	runChromium(t, chromium, base+"/docs", "--hide-scrollbars", "--window-size=1280,1600", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10<<10 {
		t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
	}
	if os.Getenv("AUTHD_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile(docsScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", docsScreenshot, len(png))
	}
}

// browserRequests lists the requests in the access log as "METHOD route
// status", and records each status for the OpenAPI check (the proxy the
// browser talks to validates each response; this records the route
// templates for checkObservedStatuses).
func (h *harness) browserRequests() map[string]bool {
	h.t.Helper()
	out := map[string]bool{}
	for _, l := range h.accessLines() {
		if l["msg"] != "request" {
			continue
		}
		method, _ := l["method"].(string)
		route, _ := l["route"].(string)
		status, _ := l["status"].(json.Number)
		out[method+" "+route+" "+status.String()] = true
		if n, err := status.Int64(); err == nil && method != http.MethodHead && route != "unmatched" {
			observe(method, fiberParam.ReplaceAllString(route, "{$1}"), int(n))
		}
	}
	return out
}

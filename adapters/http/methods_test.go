package http_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnknownMethods: a method Fiber does not know is answered by authd,
// not by Fiber's plain-text 400: a problem with the request id and the
// security headers, an access line, and one bounded metrics label. On a
// known path it is a 405 with Allow; elsewhere a 501.
func TestUnknownMethods(t *testing.T) {
	h := newHarness(t, withHSTS())
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PROPFIND", "/api/v1/users/me", http.StatusMethodNotAllowed, "DELETE, GET, HEAD"},
		{"BREW", "/api/v1/auth/login", http.StatusMethodNotAllowed, "POST"},
		{"PROPFIND", "/webdav/x", http.StatusNotImplemented, ""},
		{"X-ANYTHING-AT-ALL", "/", http.StatusNotImplemented, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := h.do(newRequest(tt.method, tt.path, ""))
			wantProblem(t, r, tt.status)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if len(r.header.Get("X-Request-ID")) == 0 {
				t.Error("no X-Request-ID")
			}
			for _, hdr := range []string{"X-Content-Type-Options", "Content-Security-Policy", "Strict-Transport-Security"} {
				if r.header.Get(hdr) == "" {
					t.Errorf("no %s", hdr)
				}
			}
			if !strings.Contains(h.logs.String(), `"request_id":"`+r.header.Get("X-Request-ID")+`"`) {
				t.Errorf("no access line for the request; log:\n%s", h.logs.String())
			}
		})
	}
	for _, o := range h.metrics.observed() {
		if o.method != "OTHER" {
			t.Errorf("observed method %q, want OTHER for every unknown method", o.method)
		}
		if o.route != "unmatched" {
			t.Errorf("observed route %q, want unmatched", o.route)
		}
	}
	if !strings.Contains(h.logs.String(), `"method":"OTHER"`) || strings.Contains(h.logs.String(), "PROPFIND") {
		t.Errorf("the access log should name unknown methods OTHER, never echo them:\n%s", h.logs.String())
	}
}

// TestHSTS: Strict-Transport-Security only when configured (production),
// on success and error responses alike.
func TestHSTS(t *testing.T) {
	on := newHarness(t, withHSTS())
	for _, r := range []*response{on.get("/healthz"), on.get("/nope"), on.post(registerPath, "{")} {
		if got := r.header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("%d: Strict-Transport-Security = %q", r.status, got)
		}
	}
	off := newHarness(t)
	if got := off.get("/healthz").header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("without HSTS: Strict-Transport-Security = %q", got)
	}
}

// TestDocsOff: with NoDocs, /docs, its assets and /openapi.yaml are 404s;
// the API is unaffected.
func TestDocsOff(t *testing.T) {
	h := newHarness(t, withoutDocs())
	for _, p := range []string{"/docs", "/docs/swagger-ui.css", "/openapi.yaml"} {
		wantProblem(t, h.get(p), http.StatusNotFound)
	}
	wantStatus(t, h.get("/healthz"), http.StatusOK)
	on := newHarness(t)
	wantStatus(t, on.get("/openapi.yaml"), http.StatusOK)
	wantStatus(t, on.get("/docs"), http.StatusOK)
}

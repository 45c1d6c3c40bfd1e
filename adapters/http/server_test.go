package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports/mock"
)

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	h.setNotReady(map[string]string{"database": "unavailable"}) // liveness does not care
	r := h.get("/healthz")
	wantStatus(t, r, http.StatusOK)
	if mediaType(r) != "application/json" {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
	if string(r.body) != `{"status":"ok"}` {
		t.Errorf("body = %s, want {\"status\":\"ok\"}", r.body)
	}
}

func TestReadyz(t *testing.T) {
	h := newHarness(t)
	r := h.get("/readyz")
	wantStatus(t, r, http.StatusOK)
	var ok struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(r.body, &ok); err != nil || ok.Status != "ready" || ok.Checks["database"] != "ok" {
		t.Errorf("ready body = %s, want status ready and checks.database ok", r.body)
	}

	if ok.Checks["migrations"] != "ok" {
		t.Errorf("ready body = %s, want checks.migrations ok", r.body)
	}

	h.setNotReady(map[string]string{"database": "unavailable", "migrations": "unknown"})
	r = h.get("/readyz")
	p := wantProblem(t, r, http.StatusServiceUnavailable)
	checks, _ := p["checks"].(map[string]any)
	if checks["database"] != "unavailable" || checks["migrations"] != "unknown" {
		t.Errorf("checks = %#v, want database: unavailable", p["checks"])
	}
	if p["detail"] != "Not ready: database unavailable, migrations unknown" {
		t.Errorf("detail = %q", p["detail"])
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	h.setNotReady(map[string]string{"database": "ok", "migrations": "pending"})
	r = h.get("/readyz")
	p = wantProblem(t, r, http.StatusServiceUnavailable)
	if checks, _ := p["checks"].(map[string]any); checks["migrations"] != "pending" || checks["database"] != "ok" {
		t.Errorf("checks = %#v, want migrations: pending", p["checks"])
	}
	if p["detail"] != "Not ready: migrations pending" {
		t.Errorf("detail = %q", p["detail"])
	}

	h.setNotReady(nil)
	wantStatus(t, h.get("/readyz"), http.StatusOK)
}

// TestReadyzBoundsTheCheck checks the readiness check gets a deadline, so
// a hung database cannot hang the probe.
func TestReadyzBoundsTheCheck(t *testing.T) {
	h := newHarness(t)
	var deadline time.Duration
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := httpapi.New(httpapi.Config{
		OpenAPI: docs.OpenAPI,
		Ready: []httpapi.Check{{Name: "database", Run: func(ctx context.Context) (string, bool) {
			d, ok := ctx.Deadline()
			if ok {
				deadline = time.Until(d)
			}
			return "unavailable", false
		}}, {Name: "migrations", Run: func(context.Context) (string, bool) { return "unknown", false }}},
	}, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.app = f
	r := h.get("/readyz")
	wantProblem(t, r, http.StatusServiceUnavailable)
	if deadline <= 0 || deadline > 5*time.Second {
		t.Errorf("readiness deadline %v, want a few seconds at most", deadline)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	h := newHarness(t)
	r := h.get("/openapi.yaml")
	wantStatus(t, r, http.StatusOK)
	if mt := mediaType(r); mt != "application/yaml" && mt != "application/x-yaml" && mt != "text/yaml" {
		t.Errorf("Content-Type = %q, want a YAML type", r.header.Get("Content-Type"))
	}
	if !bytes.Equal(r.body, docs.OpenAPI) {
		t.Errorf("body (%d bytes) is not the embedded document (%d bytes)", len(r.body), len(docs.OpenAPI))
	}
}

func TestNotFound(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/nope", "/api/v1/users", "/API/v1/users/me", "/api/v2/users/me", "/openapi.json"} {
		r := h.get(path)
		p := wantProblem(t, r, http.StatusNotFound)
		if strings.Contains(p["detail"].(string), path) {
			t.Errorf("%s: 404 detail echoes the path: %q", path, p["detail"])
		}
	}
	r := h.post("/api/v1/auth/nope", credsJSON("a@b.co", "kx7-Qm2z"))
	wantProblem(t, r, http.StatusNotFound)
	h.wantUntouched(t)
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t)
	tests := []struct{ method, path, allow string }{
		{http.MethodGet, registerPath, "POST"},
		{http.MethodPut, registerPath, "POST"},
		{http.MethodGet, loginPath, "POST"},
		{http.MethodDelete, loginPath, "POST"},
		{http.MethodGet, refreshPath, "POST"},
		{http.MethodPut, refreshPath, "POST"},
		{http.MethodGet, logoutPath, "POST"},
		{http.MethodDelete, logoutPath, "POST"},
		{http.MethodGet, logoutAllPath, "POST"},
		{http.MethodDelete, logoutAllPath, "POST"},
		{http.MethodPost, mePath, "DELETE, GET, HEAD"},
		{http.MethodPut, mePath, "DELETE, GET, HEAD"},
		{http.MethodPost, mePath + "/sessions", "GET, HEAD"},
		{http.MethodPost, mePath + "/sessions/abc", "DELETE"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
		{http.MethodPut, "/openapi.yaml", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := h.do(newRequest(tt.method, tt.path, ""))
			wantProblem(t, r, http.StatusMethodNotAllowed)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

// TestInternalErrorIsOpaque checks an error that is not a domain error
// becomes a generic 500 with none of its text in the body.
func TestInternalErrorIsOpaque(t *testing.T) {
	ctrl := gomock.NewController(t)
	repo := mock.NewMockUserRepository(ctrl)
	repo.EXPECT().ByEmail(gomock.Any(), gomock.Any()).Return(nil, errors.New("pq: syntax error at SELECT"))
	repo.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil, errors.New("pq: syntax error at SELECT"))
	h := newHarness(t, withUsers(repo))

	for _, r := range []*response{
		h.post(loginPath, credsJSON("mia@example.com", "correct horse")),
		h.post(registerPath, credsJSON("mia@example.com", "correct horse")),
	} {
		wantProblem(t, r, http.StatusInternalServerError)
		for _, leak := range []string{"syntax", "SELECT", "pq:"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("500 body leaks %q: %s", leak, r.body)
			}
		}
		if r.header.Get("Retry-After") != "" {
			t.Errorf("500 carries Retry-After: %q", r.header.Get("Retry-After"))
		}
	}
	if !strings.Contains(h.logs.String(), "syntax error at SELECT") {
		t.Errorf("the cause is not in the log for operators:\n%s", h.logs)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	ctrl := gomock.NewController(t)
	repo := mock.NewMockUserRepository(ctrl)
	repo.EXPECT().ByEmail(gomock.Any(), gomock.Any()).DoAndReturn(func(context.Context, domain.Email) (*domain.User, error) {
		panic("repository exploded: nil map in users.go")
	})
	h := newHarness(t, withUsers(repo))

	r := h.post(loginPath, credsJSON("ned@example.com", "correct horse"))
	wantProblem(t, r, http.StatusInternalServerError)
	for _, leak := range []string{"exploded", "goroutine", "users.go", ".go:", "panic"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("500 body leaks %q: %s", leak, r.body)
		}
	}
	// The server keeps serving.
	wantStatus(t, h.get("/healthz"), http.StatusOK)
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	h := newHarness(t)
	valid := []string{"abc-123.DEF_4", "a", strings.Repeat("x", 64)}
	invalid := []string{
		strings.Repeat("x", 65),
		"has space",
		`has"quote`,
		"has'quote",
		"tab\there",
		"line\u2028sep",
		"nel\u0085",
		"percent%0Aescaped",
		"semi;colon",
		"<script>",
		"ünïcode",
	}
	requests := []struct {
		name string
		send func(id string) *response
	}{
		{"healthz", func(id string) *response { return h.get("/healthz", "X-Request-ID", id) }},
		{"404", func(id string) *response { return h.get("/nope", "X-Request-ID", id) }},
		{"405", func(id string) *response { return h.get(registerPath, "X-Request-ID", id) }},
		{"401", func(id string) *response { return h.get(mePath, "X-Request-ID", id) }},
		{"400", func(id string) *response { return h.post(loginPath, "[]", "X-Request-ID", id) }},
	}
	for _, rq := range requests {
		for _, id := range valid {
			r := rq.send(id)
			if got := r.header.Get("X-Request-ID"); got != id {
				t.Errorf("%s: X-Request-ID %q came back as %q", rq.name, id, got)
			}
			if r.status >= 400 {
				wantProblem(t, r, r.status) // checks request_id == header
			}
		}
		for _, id := range invalid {
			r := rq.send(id)
			got := r.header.Get("X-Request-ID")
			if !generatedID.MatchString(got) {
				t.Errorf("%s: invalid X-Request-ID %q replaced by %q, want a generated id", rq.name, id, got)
			}
			if r.status >= 400 {
				wantProblem(t, r, r.status)
			}
		}
		a, b := rq.send(""), rq.send("")
		ida, idb := a.header.Get("X-Request-ID"), b.header.Get("X-Request-ID")
		if !generatedID.MatchString(ida) || ida == idb {
			t.Errorf("%s: generated ids %q and %q, want two distinct ids", rq.name, ida, idb)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	for _, r := range []*response{h.get("/healthz"), h.get("/nope"), h.get(mePath)} {
		for k, v := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%d response: %s = %q, want %q", r.status, k, got, v)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	const allowed = "https://app.example.com"
	h := newHarness(t, withCORS(allowed))

	preflight := func(origin, path string) *response {
		return h.do(newRequest(http.MethodOptions, path, "",
			"Origin", origin,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type,authorization"))
	}

	t.Run("allowed preflight", func(t *testing.T) {
		for _, path := range []string{loginPath, registerPath, refreshPath, logoutPath, logoutAllPath, mePath} {
			r := preflight(allowed, path)
			if r.status != http.StatusNoContent && r.status != http.StatusOK {
				t.Errorf("%s: preflight status %d", path, r.status)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != allowed {
				t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", path, got, allowed)
			}
			if got := r.header.Get("Access-Control-Allow-Credentials"); strings.EqualFold(got, "true") {
				t.Errorf("%s: Access-Control-Allow-Credentials = %q; credentials must never be allowed", path, got)
			}
			methods := r.header.Get("Access-Control-Allow-Methods")
			if !strings.Contains(methods, "POST") {
				t.Errorf("%s: Access-Control-Allow-Methods = %q, want POST in it", path, methods)
			}
			hdrs := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
			if !strings.Contains(hdrs, "authorization") || !strings.Contains(hdrs, "content-type") {
				t.Errorf("%s: Access-Control-Allow-Headers = %q", path, hdrs)
			}
			if r.header.Get("X-Request-ID") == "" {
				t.Errorf("%s: preflight without X-Request-ID", path)
			}
		}
	})

	// The DELETE endpoints (a session, the account) are callable from an
	// allowed origin too.
	t.Run("DELETE preflight", func(t *testing.T) {
		for _, path := range []string{mePath, mePath + "/sessions/abc"} {
			r := h.do(newRequest(http.MethodOptions, path, "", "Origin", allowed,
				"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization,content-type"))
			if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "DELETE") {
				t.Errorf("%s: Access-Control-Allow-Methods = %q, want DELETE in it", path, r.header.Get("Access-Control-Allow-Methods"))
			}
		}
	})

	t.Run("allowed simple request", func(t *testing.T) {
		h.register("olga@example.com", "correct horse")
		r := h.post(loginPath, credsJSON("olga@example.com", "correct horse"), "Origin", allowed)
		wantStatus(t, r, http.StatusOK)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, allowed)
		}
		if got := r.header.Get("Access-Control-Allow-Credentials"); strings.EqualFold(got, "true") {
			t.Errorf("Access-Control-Allow-Credentials = %q", got)
		}
		if exp := strings.ToLower(r.header.Get("Access-Control-Expose-Headers")); !strings.Contains(exp, "x-request-id") {
			t.Errorf("Access-Control-Expose-Headers = %q, want X-Request-ID exposed", exp)
		}
	})

	t.Run("disallowed origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example.com", "http://app.example.com", "https://app.example.com.evil.test", "null"} {
			for _, r := range []*response{
				preflight(origin, loginPath),
				h.get("/healthz", "Origin", origin),
			} {
				if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("origin %s: Access-Control-Allow-Origin = %q, want none", origin, got)
				}
				if got := r.header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Errorf("origin %s: Access-Control-Allow-Credentials = %q, want none", origin, got)
				}
			}
		}
	})

	t.Run("no origins configured", func(t *testing.T) {
		h := newHarness(t)
		r := h.get("/healthz", "Origin", allowed)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q without configured origins", got)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	h := newHarness(t)
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ready := []httpapi.Check{{Name: "database", Run: func(context.Context) (string, bool) { return "ok", true }}}
	logger := slog.New(slog.DiscardHandler)
	bad := map[string]func() error{
		"nil service": func() error { _, err := httpapi.New(httpapi.Config{Ready: ready}, nil, logger); return err },
		"nil logger":  func() error { _, err := httpapi.New(httpapi.Config{Ready: ready}, svc, nil); return err },
		"nil check": func() error {
			_, err := httpapi.New(httpapi.Config{Ready: []httpapi.Check{{Name: "database"}}}, svc, logger)
			return err
		},
		"unnamed check": func() error {
			_, err := httpapi.New(httpapi.Config{Ready: []httpapi.Check{{Run: ready[0].Run}}}, svc, logger)
			return err
		},
		"duplicate check": func() error {
			_, err := httpapi.New(httpapi.Config{Ready: append(ready, ready...)}, svc, logger)
			return err
		},
		"blank origin": func() error {
			_, err := httpapi.New(httpapi.Config{Ready: ready, CORSOrigins: []string{" "}}, svc, logger)
			return err
		},
	}
	for name, f := range bad {
		if f() == nil {
			t.Errorf("%s: New returned no error", name)
		}
	}
}

// TestRequestDeadlineReachesStorage checks that a storage call that never
// answers ends, at the request deadline, as a 503 (not a hang, not a 401).
func TestRequestDeadlineReachesStorage(t *testing.T) {
	ctrl := gomock.NewController(t)
	repo := mock.NewMockUserRepository(ctrl)
	var sawDeadline bool
	repo.EXPECT().ByEmail(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, _ domain.Email) (*domain.User, error) {
		_, sawDeadline = ctx.Deadline()
		<-ctx.Done()
		return nil, domain.Unavailable(ctx.Err())
	})
	h := newHarness(t, withUsers(repo), withRequestTimeout(50*time.Millisecond))
	start := time.Now()
	r := h.post(loginPath, `{"email":"slow@example.com","password":"whatever1"}`, "Content-Type", "application/json")
	wantProblem(t, r, http.StatusServiceUnavailable)
	if !sawDeadline {
		t.Error("the repository's context had no deadline")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestUnknownDomainCode: an error code the status table lacks is a 500
// with the generic detail (never status 0 or the error's own message), and
// the access line says which code it was.
func TestUnknownDomainCode(t *testing.T) {
	h := newHarness(t)
	h.users.setErr(&domain.Error{Code: "made_up", Message: "internal words that must not leak"})
	r := h.post(registerPath, credsJSON("code@example.com", "kx7-Qm2z-long"))
	p := wantProblem(t, r, http.StatusInternalServerError)
	if d, _ := p["detail"].(string); strings.Contains(d, "internal words") {
		t.Errorf("detail leaks the error's message: %q", d)
	}
	if !strings.Contains(h.logs.String(), `no status for domain error code \"made_up\"`) {
		t.Errorf("the access log does not name the unknown code:\n%s", h.logs.String())
	}
}

package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/docs/openapitest"
)

// recorder collects Errorf calls instead of failing the test.
type recorder struct {
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// fakeAuthd answers GET /healthz and unknown paths the way the test case
// says, so the transport sees both documented and undocumented responses.
func fakeAuthd(t *testing.T, status int, contentType, body string, extra ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "self-test-1")
		w.Header().Set("Content-Type", contentType)
		for i := 0; i+1 < len(extra); i += 2 {
			w.Header().Set(extra[i], extra[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const notFoundProblem = `{"type":"https://github.com/authd/authd/blob/main/docs/errors.md#not_found","title":"Not Found","status":404,"detail":"No resource exists at this path","code":"not_found","request_id":"self-test-1"}`

// TestTransportCatchesUndocumentedResponses: responses the document does
// not describe fail the test that got them, and the responses it does
// describe pass.
func TestTransportCatchesUndocumentedResponses(t *testing.T) {
	for _, tc := range []struct {
		name, path        string
		status            int
		contentType, body string
		extra             []string
		wantErr           string // "" when the response is documented
	}{
		{name: "documented 200", path: "/healthz", status: 200, contentType: "application/json", body: `{"status":"ok"}`},
		{name: "documented 404", path: "/nowhere", status: 404, contentType: "application/problem+json", body: notFoundProblem},
		{name: "undocumented status", path: "/healthz", status: http.StatusTeapot, contentType: "application/json", body: `{"status":"ok"}`, wantErr: "status not documented"},
		{name: "undocumented status on an unknown path", path: "/nowhere", status: 200, contentType: "application/json", body: `{}`, wantErr: "status not documented"},
		{name: "schema mismatch: wrong value", path: "/healthz", status: 200, contentType: "application/json", body: `{"status":"fine"}`, wantErr: "does not match"},
		{name: "schema mismatch: extra member", path: "/healthz", status: 200, contentType: "application/json", body: `{"status":"ok","debug":true}`, wantErr: "does not match"},
		{name: "schema mismatch: problem without status", path: "/nowhere", status: 404, contentType: "application/problem+json", body: strings.Replace(notFoundProblem, `"status":404,`, "", 1), wantErr: "does not match"},
		{name: "schema mismatch: problem with an unlisted code", path: "/nowhere", status: 404, contentType: "application/problem+json", body: strings.ReplaceAll(notFoundProblem, "not_found", "no_such_code"), wantErr: "does not match"},
		{name: "schema mismatch: problem without a code", path: "/nowhere", status: 404, contentType: "application/problem+json", body: strings.Replace(notFoundProblem, `"code":"not_found",`, "", 1), wantErr: "does not match"},
		{name: "schema mismatch: problem with about:blank", path: "/nowhere", status: 404, contentType: "application/problem+json", body: strings.Replace(notFoundProblem, "https://github.com/authd/authd/blob/main/docs/errors.md#not_found", "about:blank", 1), wantErr: "does not match"},
		{name: "wrong content type", path: "/healthz", status: 200, contentType: "text/plain", body: `ok`, wantErr: "does not match"},
		{name: "undocumented header", path: "/healthz", status: 200, contentType: "application/json", body: `{"status":"ok"}`, extra: []string{"X-Debug", "1"}, wantErr: "does not describe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := fakeAuthd(t, tc.status, tc.contentType, tc.body, tc.extra...)
			rec := &recorder{}
			res, err := openapitest.Client(rec, nil).Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || string(body) != tc.body {
				t.Errorf("the caller got body %q (%v), want the server's %q", body, err, tc.body)
			}
			got := strings.Join(rec.errors, "\n")
			switch {
			case tc.wantErr == "" && got != "":
				t.Errorf("a documented response was rejected:\n%s", got)
			case tc.wantErr != "" && !strings.Contains(got, tc.wantErr):
				t.Errorf("want an error containing %q, got:\n%s", tc.wantErr, got)
			}
		})
	}
}

// TestCommonHeadersAreDescribed: the headers Check accepts on every
// response are the ones the document's description says every response
// may carry.
func TestCommonHeadersAreDescribed(t *testing.T) {
	s, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", s.Doc.OpenAPI)
	}
	for _, h := range openapitest.CommonHeaders {
		if !strings.Contains(s.Doc.Info.Description, "`"+h) {
			t.Errorf("info.description does not mention the %s header", h)
		}
	}
}

// TestAdminSpec: the admin document loads, and a Transport pointed at it
// checks against it rather than the public one: the admin list is
// documented there, and an admin response with an undocumented status
// fails.
func TestAdminSpec(t *testing.T) {
	spec, err := openapitest.LoadAdmin()
	if err != nil {
		t.Fatal(err)
	}
	page := `{"users":[{"id":1,"email":"a@example.com","email_verified":false,"is_active":true,"created_at":"2026-01-01T00:00:00Z"}],"next_cursor":"1"}`
	for _, tc := range []struct {
		status  int
		body    string
		wantErr bool
	}{{200, page, false}, {200, `{"users":[{"id":"1"}]}`, true}, {418, page, true}} {
		url := fakeAuthd(t, tc.status, "application/json", tc.body)
		rec := &recorder{}
		client := &http.Client{Transport: &openapitest.Transport{T: rec, Spec: spec}}
		res, err := client.Get(url + "/admin/v1/users")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := len(rec.errors) > 0; got != tc.wantErr {
			t.Errorf("%d %s: errors %q, want errors: %v", tc.status, tc.body, rec.errors, tc.wantErr)
		}
	}
}

package http_test

// Every response a test in this package receives is validated against
// docs/openapi.yaml by docs/openapitest: its status must be documented for
// the operation, its documented headers present and valid, and its body
// of a documented media type matching the schema. A header the document
// does not describe fails the test too. In-process requests go through
// checkResponse, requests over a socket through checkedClient.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/docs/openapitest"
)

// loadSpec returns the document, failing t if it does not load or is not
// a valid OpenAPI document (examples included).
func loadSpec(t testing.TB) *openapitest.Spec {
	t.Helper()
	s, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkResponse validates r, the response to req, against the document
// and records its status for checkObservedStatuses. It reports with
// t.Errorf, so it may run on any goroutine.
func checkResponse(t testing.TB, req *http.Request, r *response) {
	t.Helper()
	observe(req.Method, validateResponse(t, req, r), r.status)
	observeProblem(r)
}

// validateResponse is checkResponse without the record. It returns the
// documented path template req matched, or its path when none did.
func validateResponse(t testing.TB, req *http.Request, r *response) string {
	t.Helper()
	return openapitest.Check(t, req, r.status, r.header, r.body)
}

// checkingProxy serves a reverse proxy to target (a harness's listen
// URL) whose responses are validated like checkedClient's, for clients
// that are not Go code: the browser test points Chromium at it.
func checkingProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = checkedClient(t, nil).Transport
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// checkedClient is an http.Client for requests to a harness served on a
// real listener: each response is validated and recorded like
// checkResponse's.
func checkedClient(t testing.TB, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &openapitest.Transport{T: t, Base: base, Observe: func(req *http.Request, template string, status int) {
		observe(req.Method, template, status)
	}}}
}

// TestResponseValidationCatchesDrift makes sure the validation is not
// vacuous: responses that differ from the document fail it.
func TestResponseValidationCatchesDrift(t *testing.T) {
	h := newHarness(t)
	h.register("val@example.com", "correct horse")
	tokens := h.post(loginPath, credsJSON("val@example.com", "correct horse"))
	me := h.get(mePath, "Authorization", "Bearer "+h.login("val@example.com", "correct horse"))
	wantStatus(t, me, http.StatusOK)
	health := h.get("/healthz")
	notFound := h.get("/nowhere")

	withBody := func(r *response, body string) *response {
		return &response{status: r.status, header: r.header.Clone(), body: []byte(body)}
	}
	withHeader := func(r *response, name, value string) *response {
		c := withBody(r, string(r.body))
		if value == "" {
			c.header.Del(name)
		} else {
			c.header.Set(name, value)
		}
		return c
	}
	withStatus := func(r *response, status int) *response {
		c := withBody(r, string(r.body))
		c.status = status
		return c
	}
	userWith := func(extra string) string {
		return strings.Replace(string(me.body), "{", "{"+extra+",", 1)
	}
	for name, tc := range map[string]struct {
		req *http.Request
		r   *response
	}{
		"extra field on User":     {newRequest(http.MethodGet, mePath, ""), withBody(me, userWith(`"password_hash":"x"`))},
		"missing field on User":   {newRequest(http.MethodGet, mePath, ""), withBody(me, `{"id":1,"email":"a@b.co","is_active":true}`)},
		"wrong type on User":      {newRequest(http.MethodGet, mePath, ""), withBody(me, strings.Replace(string(me.body), "true", `"yes"`, 1))},
		"extra field on Token":    {newRequest(http.MethodPost, loginPath, ""), withBody(tokens, strings.Replace(string(tokens.body), "{", `{"scope":"all",`, 1))},
		"wrong token_type":        {newRequest(http.MethodPost, loginPath, ""), withBody(tokens, strings.Replace(string(tokens.body), `"bearer"`, `"mac"`, 1))},
		"undocumented status":     {newRequest(http.MethodGet, "/healthz", ""), withStatus(health, http.StatusTeapot)},
		"undocumented header":     {newRequest(http.MethodGet, "/healthz", ""), withHeader(health, "X-Debug", "1")},
		"missing X-Request-ID":    {newRequest(http.MethodGet, "/healthz", ""), withHeader(health, "X-Request-ID", "")},
		"wrong media type":        {newRequest(http.MethodGet, "/healthz", ""), withHeader(health, "Content-Type", "text/plain")},
		"extra member on problem": {newRequest(http.MethodGet, "/nowhere", ""), withBody(notFound, strings.Replace(string(notFound.body), "{", `{"stack":"x",`, 1))},
		"404 as plain text":       {newRequest(http.MethodGet, "/nowhere", ""), withHeader(notFound, "Content-Type", "text/plain")},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			validateResponse(rec, tc.req, tc.r)
			if len(rec.errors) == 0 {
				t.Errorf("validation accepted %s", tc.r)
			}
		})
	}
	// And the originals pass.
	for _, tc := range []struct {
		req *http.Request
		r   *response
	}{
		{newRequest(http.MethodGet, mePath, ""), me},
		{newRequest(http.MethodPost, loginPath, ""), tokens},
		{newRequest(http.MethodGet, "/healthz", ""), health},
		{newRequest(http.MethodGet, "/nowhere", ""), notFound},
	} {
		validateResponse(t, tc.req, tc.r)
	}
}

// recordingTB collects Errorf calls instead of failing the test.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Helper() {}

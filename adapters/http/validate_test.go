package http_test

// Every response a test in this package receives is validated against
// docs/openapi.yaml with kin-openapi's openapi3filter: its status must be
// documented for the operation, its documented headers present and valid,
// and its body of a documented media type matching the schema. A header
// the document does not describe fails the test too.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/authd/authd/docs"
)

func init() {
	// The /docs page. The scripts, styles and icons under /docs/ are
	// documented without a schema, so their bodies are not decoded.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// transportHeaders belong to the connection or the message framing rather
// than to the API, and may appear on any response.
var transportHeaders = []string{"Connection", "Content-Length", "Date", "Keep-Alive", "Transfer-Encoding"}

// commonHeaders may appear on any response (the CORS ones when CORS is
// configured). The document describes them once, in info.description,
// rather than on every response; TestOpenAPIDescribesCommonHeaders checks
// that it names each of them.
var commonHeaders = []string{
	"Content-Type",
	"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy",
	"Cache-Control", "Pragma", "Vary",
	"Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age",
}

// openAPISpec is docs/openapi.yaml, loaded and validated.
type openAPISpec struct {
	doc    *openapi3.T
	routes []specRoute
	// notFound stands for any undocumented path: its only response is
	// components.responses.NotFound.
	notFound *openapi3.Operation
}

// specRoute is a documented path as a pattern over request paths.
type specRoute struct {
	template string
	re       *regexp.Regexp
	params   []string
	item     *openapi3.PathItem
}

var (
	specOnce sync.Once
	spec     *openAPISpec
	specErr  error
)

// loadSpec returns the document, failing t if it does not load or is not
// a valid OpenAPI document (examples included).
func loadSpec(t testing.TB) *openAPISpec {
	t.Helper()
	specOnce.Do(func() { spec, specErr = newSpec() })
	if specErr != nil {
		t.Fatalf("docs/openapi.yaml: %v", specErr)
	}
	return spec
}

var templateParam = regexp.MustCompile(`\{([^/{}]+)\}`)

func newSpec() (*openAPISpec, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("loading: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating: %w", err)
	}
	s := &openAPISpec{doc: doc}
	for template, item := range doc.Paths.Map() {
		r := specRoute{template: template, item: item}
		pattern := "^"
		rest := template
		for _, m := range templateParam.FindAllStringSubmatchIndex(template, -1) {
			start := len(template) - len(rest)
			pattern += regexp.QuoteMeta(template[start:m[0]]) + "([^/]+)"
			r.params = append(r.params, template[m[2]:m[3]])
			rest = template[m[1]:]
		}
		r.re = regexp.MustCompile(pattern + regexp.QuoteMeta(rest) + "$")
		s.routes = append(s.routes, r)
	}
	// Literal paths before templated ones, as Fiber routes them here.
	sort.Slice(s.routes, func(i, j int) bool {
		return len(s.routes[i].params) < len(s.routes[j].params) ||
			len(s.routes[i].params) == len(s.routes[j].params) && s.routes[i].template < s.routes[j].template
	})
	notFound := doc.Components.Responses["NotFound"]
	if notFound == nil {
		return nil, fmt.Errorf("no components.responses.NotFound")
	}
	s.notFound = openapi3.NewOperation()
	s.notFound.Responses = openapi3.NewResponses(openapi3.WithStatus(http.StatusNotFound, notFound))
	return s, nil
}

// match finds the documented path of a request path. As the document
// says, one trailing slash is ignored.
func (s *openAPISpec) match(path string) (*specRoute, map[string]string) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	for i := range s.routes {
		r := &s.routes[i]
		m := r.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		params := map[string]string{}
		for j, name := range r.params {
			params[name] = m[j+1]
		}
		return r, params
	}
	return nil, nil
}

// checkResponse validates r, the response to req, against the document
// and records its status for checkObservedStatuses. It reports with
// t.Errorf, so it may run on any goroutine.
func checkResponse(t testing.TB, req *http.Request, r *response) {
	t.Helper()
	observe(req.Method, validateResponse(t, req, r), r.status)
}

// validateResponse is checkResponse without the record. It returns the
// documented path template req matched, or its path when none did.
func validateResponse(t testing.TB, req *http.Request, r *response) string {
	t.Helper()
	s := loadSpec(t)
	method := req.Method
	route, params := s.match(req.URL.Path)
	if route == nil {
		// Not an operation: every method gets the 404 problem.
		s.validate(t, req, r, "/*", nil, s.notFound)
		return req.URL.Path
	}
	switch {
	case method == http.MethodHead:
		// Fiber answers HEAD for every GET; the headers are GET's.
		method = http.MethodGet
	case method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" && r.status == http.StatusNoContent:
		// A CORS preflight, answered by the CORS middleware: not an
		// operation, no body, and the headers every response has.
		checkHeaders(t, req, r, openapi3.Headers{"X-Request-ID": nil})
		if len(r.body) > 0 {
			t.Errorf("%s %s -> 204 with a body: %q", req.Method, req.URL.Path, r.body)
		}
		return route.template
	}
	if op := route.item.GetOperation(method); op != nil {
		s.validate(t, req, r, route.template, params, op)
		return route.template
	}
	// A method the path does not support (a 405): the response must be
	// one every operation of the path documents.
	for _, op := range route.item.Operations() {
		s.validate(t, req, r, route.template, params, op)
	}
	return route.template
}

func (s *openAPISpec) validate(t testing.TB, req *http.Request, r *response, template string, params map[string]string, op *openapi3.Operation) {
	t.Helper()
	where := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.Path, r.status)
	ref := op.Responses.Status(r.status)
	if ref == nil {
		t.Errorf("%s: status not documented for %s %s (docs/openapi.yaml)", where, req.Method, template)
		return
	}
	checkHeaders(t, req, r, ref.Value.Headers)
	if req.Method == http.MethodHead {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route: &routers.Route{
				Spec:      s.doc,
				Path:      template,
				PathItem:  s.doc.Paths.Value(template),
				Method:    req.Method,
				Operation: op,
			},
		},
		Status: r.status,
		Header: r.header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(bytes.Clone(r.body))
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s: the response does not match docs/openapi.yaml: %s\nheaders: %v\nbody: %s", where, clip(err.Error(), 4000), r.header, clip(string(r.body), 2048))
	}
	if len(r.body) > 0 && ref.Value.Content == nil {
		t.Errorf("%s: a body where the document describes none: %q", where, r.body)
	}
}

// clip shortens s to its first n bytes: kin-openapi's errors quote the
// whole value, which for /openapi.yaml is the whole document.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkHeaders fails t for each header of r that is neither documented
// for the response nor a transport or common header.
func checkHeaders(t testing.TB, req *http.Request, r *response, documented openapi3.Headers) {
	t.Helper()
	var extra []string
	for name := range r.header {
		known := slices.ContainsFunc(transportHeaders, func(h string) bool { return strings.EqualFold(h, name) }) ||
			slices.ContainsFunc(commonHeaders, func(h string) bool { return strings.EqualFold(h, name) })
		for d := range documented {
			known = known || strings.EqualFold(d, name)
		}
		if !known {
			extra = append(extra, name+": "+r.header.Get(name))
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		t.Errorf("%s %s -> %d: headers docs/openapi.yaml does not describe: %v", req.Method, req.URL.Path, r.status, extra)
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	s := loadSpec(t)
	if s.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", s.doc.OpenAPI)
	}
}

// TestOpenAPIDescribesCommonHeaders: the headers checkHeaders accepts on
// every response are the ones the document's description says every
// response may carry.
func TestOpenAPIDescribesCommonHeaders(t *testing.T) {
	s := loadSpec(t)
	for _, h := range commonHeaders {
		if !strings.Contains(s.doc.Info.Description, "`"+h) {
			t.Errorf("info.description does not mention the %s header", h)
		}
	}
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

// Package openapitest checks HTTP responses from authd against
// docs/openapi.yaml, the document the binary serves. It is for tests only:
// the import test allows no package but _test.go files to import it.
//
// Every test that talks HTTP to authd, in process (Fiber's app.Test) or over
// a socket to run() or the built binary, sends its responses through Check,
// usually by way of Transport. A response the document does not describe
// fails the test that received it: a status not documented for the
// operation, a missing or undocumented header, a media type the response
// does not list, or a body that does not match its schema.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

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

// TB is the part of testing.TB the checks use; Errorf may be called from
// any goroutine (a transport's), so nothing here calls Fatal.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// TransportHeaders belong to the connection or the message framing rather
// than to the API, and may appear on any response.
var TransportHeaders = []string{"Connection", "Content-Length", "Date", "Keep-Alive", "Transfer-Encoding"}

// CommonHeaders may appear on any response (the CORS ones when CORS is
// configured). The document describes them once, in info.description,
// rather than on every response; a test checks that it names each.
var CommonHeaders = []string{
	"Content-Type",
	"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy", "Strict-Transport-Security",
	"Cache-Control", "Pragma", "Vary",
	"Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age",
}

// Spec is docs/openapi.yaml, loaded and validated.
type Spec struct {
	Doc    *openapi3.T
	routes []route
	// unrouted stands for any undocumented path: a 404, or one of the
	// errors the server raises before routing (413, 431).
	unrouted *openapi3.Operation
}

// route is a documented path as a pattern over request paths.
type route struct {
	template string
	re       *regexp.Regexp
	params   []string
	item     *openapi3.PathItem
}

// beforeRouting are the component responses the server may send for any
// request, documented path or not, because it raises them before routing.
var beforeRouting = map[int]string{
	http.StatusNotFound:                    "NotFound",
	http.StatusRequestEntityTooLarge:       "PayloadTooLarge",
	http.StatusRequestHeaderFieldsTooLarge: "RequestHeaderFieldsTooLarge",
	http.StatusNotImplemented:              "NotImplemented",
}

// loaded is a document parsed once per test binary.
type loaded struct {
	once sync.Once
	spec *Spec
	err  error
}

func (l *loaded) get(data []byte) (*Spec, error) {
	l.once.Do(func() { l.spec, l.err = Parse(data) })
	return l.spec, l.err
}

var public, admin loaded

// Load returns the document, loaded once per test binary. It fails when
// the document does not load or is not valid OpenAPI 3.1 (examples
// included).
func Load() (*Spec, error) { return public.get(docs.OpenAPI) }

// LoadAdmin returns docs/admin-openapi.yaml, the admin listener's
// document, loaded and validated like Load's.
func LoadAdmin() (*Spec, error) { return admin.get(docs.AdminOpenAPI) }

var templateParam = regexp.MustCompile(`\{([^/{}]+)\}`)

// Parse loads an OpenAPI document; Load is Parse of docs/openapi.yaml.
func Parse(data []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: loading: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("docs/openapi.yaml: openapi = %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: validating: %w", err)
	}
	s := &Spec{Doc: doc}
	for template, item := range doc.Paths.Map() {
		r := route{template: template, item: item}
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
	// Literal paths before templated ones, as Fiber routes them.
	sort.Slice(s.routes, func(i, j int) bool {
		return len(s.routes[i].params) < len(s.routes[j].params) ||
			len(s.routes[i].params) == len(s.routes[j].params) && s.routes[i].template < s.routes[j].template
	})
	var opts []openapi3.NewResponsesOption
	for status, name := range beforeRouting {
		ref := doc.Components.Responses[name]
		if ref == nil {
			return nil, fmt.Errorf("docs/openapi.yaml: no components.responses.%s", name)
		}
		opts = append(opts, openapi3.WithStatus(status, ref))
	}
	s.unrouted = openapi3.NewOperation()
	s.unrouted.Responses = openapi3.NewResponses(opts...)
	return s, nil
}

// match finds the documented path of a request path. As the document
// says, one trailing slash is ignored.
func (s *Spec) match(path string) (*route, map[string]string) {
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

// Check validates the response (status, header, body) to req against the
// document, reporting each mismatch with t.Errorf. It returns the
// documented path template req matched, or req's path when none did.
func Check(t TB, req *http.Request, status int, header http.Header, body []byte) string {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Errorf("%v", err)
		return req.URL.Path
	}
	return s.Check(t, req, status, header, body)
}

// Check is the package's Check against s.
func (s *Spec) Check(t TB, req *http.Request, status int, header http.Header, body []byte) string {
	t.Helper()
	r := &response{status: status, header: header, body: body}
	method := req.Method
	if method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" && status == http.StatusNoContent {
		// A CORS preflight, answered by the CORS middleware on any path
		// before routing: not an operation, no body, and the headers
		// every response has.
		checkHeaders(t, req, r, openapi3.Headers{"X-Request-ID": nil})
		if len(body) > 0 {
			t.Errorf("%s %s -> 204 with a body: %q", req.Method, req.URL.Path, body)
		}
		return req.URL.Path
	}
	rt, params := s.match(req.URL.Path)
	if rt == nil {
		// Not an operation: every method gets the 404 problem.
		s.validate(t, req, r, "/*", nil, s.unrouted)
		return req.URL.Path
	}
	if method == http.MethodHead {
		// Fiber answers HEAD for every GET; the headers are GET's.
		method = http.MethodGet
	}
	if op := rt.item.GetOperation(method); op != nil {
		s.validate(t, req, r, rt.template, params, op)
		return rt.template
	}
	// A method the path does not support (a 405): the response must be
	// one every operation of the path documents.
	for _, op := range rt.item.Operations() {
		s.validate(t, req, r, rt.template, params, op)
	}
	return rt.template
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *Spec) validate(t TB, req *http.Request, r *response, template string, params map[string]string, op *openapi3.Operation) {
	t.Helper()
	where := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.Path, r.status)
	ref := op.Responses.Status(r.status)
	if ref == nil {
		t.Errorf("%s: status not documented for %s %s (docs/openapi.yaml)\nbody: %s", where, req.Method, template, clip(string(r.body), 512))
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
				Spec:      s.Doc,
				Path:      template,
				PathItem:  s.Doc.Paths.Value(template),
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
func checkHeaders(t TB, req *http.Request, r *response, documented openapi3.Headers) {
	t.Helper()
	var extra []string
	for name := range r.header {
		known := slices.ContainsFunc(TransportHeaders, func(h string) bool { return strings.EqualFold(h, name) }) ||
			slices.ContainsFunc(CommonHeaders, func(h string) bool { return strings.EqualFold(h, name) })
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

// Transport is an http.RoundTripper that checks every response it returns
// with Check, failing T. It reads the whole body first and hands the
// caller an equivalent in-memory one; a body that cannot be read is the
// round trip's error, as it would be the caller's. Use it for requests to
// authd only: other servers a test talks to are not described by the
// document.
type Transport struct {
	T    TB
	Base http.RoundTripper // http.DefaultTransport when nil
	// Spec is the document responses are checked against; nil means
	// docs/openapi.yaml (Load). LoadAdmin's for the admin listener.
	Spec *Spec
	// Observe, when set, is called with the request, the documented path
	// template it matched (or its path) and the status, after the check.
	Observe func(req *http.Request, template string, status int)
}

// RoundTrip implements http.RoundTripper.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var template string
	if tr.Spec != nil {
		template = tr.Spec.Check(tr.T, req, res.StatusCode, res.Header, body)
	} else {
		template = Check(tr.T, req, res.StatusCode, res.Header, body)
	}
	if tr.Observe != nil {
		tr.Observe(req, template, res.StatusCode)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// Client returns an http.Client whose responses are checked (see
// Transport); base is its underlying transport, http.DefaultTransport when
// nil.
func Client(t TB, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{T: t, Base: base}}
}

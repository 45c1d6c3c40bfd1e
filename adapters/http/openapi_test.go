package http_test

// Drift tests between docs/openapi.yaml and the Fiber app: the documented
// operations must be exactly the registered routes, and every status the
// tests in this package observe for an operation must be documented for it.

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/docs"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkObservedStatuses(); err != nil {
			fmt.Fprintf(os.Stderr, "--- FAIL: observed statuses vs docs/openapi.yaml\n%v\nFAIL\n", err)
			code = 1
		}
		if err := checkObservedCodes(); err != nil {
			fmt.Fprintf(os.Stderr, "--- FAIL: observed problem codes vs docs/errors.md\n%v\nFAIL\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// observed records every (method, path) -> status a test in this package
// received, so TestMain can check them against the document after all
// tests ran.
var observed = struct {
	sync.Mutex
	m map[string]map[int]bool
}{m: map[string]map[int]bool{}}

func observe(method, path string, status int) {
	observed.Lock()
	defer observed.Unlock()
	k := method + " " + path
	if observed.m[k] == nil {
		observed.m[k] = map[int]bool{}
	}
	observed.m[k][status] = true
}

// docOperations maps "METHOD /path" to the set of documented response
// status codes.
type docOperations map[string]map[int]bool

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// parseOperations reads the operations and their response codes from the
// OpenAPI document.
func parseOperations(doc []byte) (docOperations, error) {
	var d struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("parsing the OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		return nil, fmt.Errorf("openapi = %q, want 3.x", d.OpenAPI)
	}
	if len(d.Paths) == 0 {
		return nil, fmt.Errorf("the document has no paths")
	}
	ops := docOperations{}
	for path, item := range d.Paths {
		for key, node := range item {
			if !slices.Contains(httpMethods, key) {
				continue // parameters, summary, description, servers
			}
			var op struct {
				Responses map[string]yaml.Node `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", key, path, err)
			}
			codes := map[int]bool{}
			for code := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					return nil, fmt.Errorf("%s %s: response %q is not a status code", key, path, code)
				}
				codes[n] = true
			}
			ops[strings.ToUpper(key)+" "+path] = codes
		}
	}
	return ops, nil
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// registeredOperations lists the app's routes as "METHOD /path", with Fiber
// parameters (:id) written the OpenAPI way ({id}). HEAD routes Fiber adds
// for every GET, and middleware-only entries, are left out.
func registeredOperations(t *testing.T) map[string]bool {
	t.Helper()
	h := newHarness(t, withCORS("https://app.example.com"))
	out := map[string]bool{}
	for _, r := range h.app.GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		out[r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	return out
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	ops, err := parseOperations(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	routes := registeredOperations(t)
	for op := range ops {
		if !routes[op] {
			t.Errorf("documented but not served: %s", op)
		}
	}
	for r := range routes {
		if _, ok := ops[r]; !ok {
			t.Errorf("served but not documented: %s", r)
		}
	}
	if len(routes) < 9 {
		t.Errorf("only %d routes registered: %v", len(routes), routes)
	}
}

// expectedStatuses is what the tests in this package observe for each
// operation, and 431 and 408, which fasthttp sends for any path when the
// headers overflow its read buffer (TestHeadersTooLarge) or the request
// does not arrive within the read timeout (TestEveryProblemCodeIsProduced);
// the document must list at least these.
var expectedStatuses = map[string][]int{
	"POST /api/v1/auth/register":            {201, 202, 400, 405, 408, 413, 415, 422, 429, 431, 500, 503},
	"POST /api/v1/auth/login":               {200, 400, 401, 403, 405, 408, 413, 415, 422, 429, 431, 500, 503},
	"POST /api/v1/auth/refresh":             {200, 400, 401, 405, 408, 413, 415, 422, 429, 431, 500, 503},
	"POST /api/v1/auth/logout":              {204, 400, 405, 408, 413, 415, 422, 429, 431, 503},
	"POST /api/v1/auth/logout/all":          {204, 401, 405, 408, 429, 431, 503},
	"GET /api/v1/users/me":                  {200, 401, 405, 408, 431, 503},
	"DELETE /api/v1/users/me":               {204, 401, 403, 408, 422},
	"GET /api/v1/users/me/sessions":         {200, 401, 408},
	"DELETE /api/v1/users/me/sessions/{id}": {204, 404, 408},
	"POST /api/v1/users/me/password":        {204, 401, 403, 415, 422},
	"POST /api/v1/users/me/email":           {202, 400, 401, 403, 422, 429, 501},
	"POST /api/v1/auth/email/verify":        {200, 400, 422, 501},
	"POST /api/v1/auth/email/verification":  {202, 422, 501},
	"POST /api/v1/auth/password/forgot":     {202, 400, 415, 422, 501},
	"POST /api/v1/auth/password/reset":      {204, 422, 501},
	"GET /healthz":                          {200, 405, 408, 431},
	"GET /readyz":                           {200, 405, 408, 431, 503},
	"GET /openapi.yaml":                     {200, 405, 408, 431},
	"GET /.well-known/jwks.json":            {200, 405, 408, 431},
	"GET /docs":                             {200, 304, 405, 408, 431},
	"GET /docs/{asset}":                     {200, 304, 404, 405, 408, 431},
	"GET /metrics":                          {200, 404, 405, 408, 431},
}

func TestOpenAPIDocumentsObservedStatuses(t *testing.T) {
	ops, err := parseOperations(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	for op, codes := range expectedStatuses {
		documented, ok := ops[op]
		if !ok {
			t.Errorf("%s is not documented", op)
			continue
		}
		for _, c := range codes {
			if !documented[c] {
				t.Errorf("%s: status %d is returned but not documented (documented: %v)", op, c, sortedCodes(documented))
			}
		}
	}
	if len(expectedStatuses) != len(ops) {
		t.Errorf("expectedStatuses covers %d operations, the document has %d", len(expectedStatuses), len(ops))
	}
}

// checkObservedStatuses compares what tests actually received with the
// document. A status on a documented path with an undocumented method
// (a 405) must be documented by every operation of that path. Requests to
// undocumented paths (404s) and HEAD/OPTIONS are not operations.
func checkObservedStatuses() error {
	ops, err := parseOperations(docs.OpenAPI)
	if err != nil {
		return err
	}
	paths := map[string][]string{}
	for op := range ops {
		_, path, _ := strings.Cut(op, " ")
		paths[path] = append(paths[path], op)
	}
	observed.Lock()
	defer observed.Unlock()
	var problems []string
	for k, statuses := range observed.m {
		method, path, _ := strings.Cut(k, " ")
		if method == http.MethodHead || method == http.MethodOptions {
			continue
		}
		targets := []string{k}
		if _, ok := ops[k]; !ok {
			targets = paths[path]
		}
		for _, op := range targets {
			for s := range statuses {
				if !ops[op][s] {
					problems = append(problems, fmt.Sprintf("%s answered %d (seen via %s), not documented for %s", path, s, k, op))
				}
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func sortedCodes(m map[int]bool) []int {
	var out []int
	for c := range m {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

// TestOpenAPIProblemExamples checks every problem+json example in the
// document looks like what the implementation sends: an RFC 9457 object
// whose integer status equals the response code, whose title is that
// code's reason phrase, and whose request_id is a string.
func TestOpenAPIProblemExamples(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(v any) any {
		for range 10 {
			m, ok := v.(map[string]any)
			if !ok {
				return v
			}
			ref, ok := m["$ref"].(string)
			if !ok {
				return v
			}
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cm, _ := cur.(map[string]any)
				cur = cm[part]
			}
			if cur == nil {
				t.Fatalf("dangling $ref %s", ref)
			}
			v = cur
		}
		t.Fatal("$ref loop")
		return nil
	}
	asMap := func(v any) map[string]any { m, _ := resolve(v).(map[string]any); return m }

	checked := 0
	for path, item := range asMap(doc["paths"]) {
		for method, op := range asMap(item) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			for code, resp := range asMap(asMap(op)["responses"]) {
				status, _ := strconv.Atoi(code)
				media := asMap(asMap(asMap(resp)["content"])["application/problem+json"])
				if media == nil {
					if status >= 400 {
						t.Errorf("%s %s %s: an error response without application/problem+json", method, path, code)
					}
					continue
				}
				for name, ex := range asMap(media["examples"]) {
					v := asMap(asMap(ex)["value"])
					where := fmt.Sprintf("%s %s %s example %s", method, path, code, name)
					if v == nil {
						t.Errorf("%s: no value", where)
						continue
					}
					if got, ok := v["status"].(int); !ok || got != status {
						t.Errorf("%s: status = %#v, want the integer %d (RFC 9457; the implementation sends it)", where, v["status"], status)
					}
					if v["title"] != http.StatusText(status) {
						t.Errorf("%s: title = %#v, want %q as sent", where, v["title"], http.StatusText(status))
					}
					code, _ := v["code"].(string)
					if !slices.Contains(httpapi.ProblemCodes(), code) {
						t.Errorf("%s: code = %#v, want one of httpapi.ProblemCodes()", where, v["code"])
					}
					if v["type"] != problemTypeBase+code {
						t.Errorf("%s: type = %#v, want %q", where, v["type"], problemTypeBase+code)
					}
					if _, ok := v["request_id"].(string); !ok {
						t.Errorf("%s: no request_id", where)
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no problem examples found")
	}
}

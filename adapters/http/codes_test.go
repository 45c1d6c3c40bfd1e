package http_test

// The problem codes: the list in the code (httpapi.ProblemCodes), the
// published ones (docs/errors.md and the OpenAPI document's enums), and
// what the server actually sends must be the same set.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/authd/authd/app"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
)

// errorsDoc is the page that lists the codes, read from the repository.
const errorsDoc = "../../docs/errors.md"

// codeRow is one row of the table in docs/errors.md: the anchor, which the
// type URI's fragment points at, and the code must agree.
var codeRow = regexp.MustCompile("^\\| <a id=\"([a-z0-9_]+)\"></a>`([a-z0-9_]+)` \\| ([0-9]{3}) \\|")

// documentedCodes returns the code -> status table of docs/errors.md.
func documentedCodes(t testing.TB) map[string]int {
	t.Helper()
	b, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := parseCodeTable(b)
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

func parseCodeTable(b []byte) (map[string]int, error) {
	codes := map[string]int{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "| <a id=") {
			continue
		}
		m := codeRow.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("docs/errors.md: a code row not of the form | <a id=\"code\"></a>`code` | status |: %s", line)
		}
		if m[1] != m[2] {
			return nil, fmt.Errorf("docs/errors.md: anchor %q on the row of %q", m[1], m[2])
		}
		if _, dup := codes[m[2]]; dup {
			return nil, fmt.Errorf("docs/errors.md: %q is listed twice", m[2])
		}
		codes[m[2]], _ = strconv.Atoi(m[3])
	}
	if len(codes) == 0 {
		return nil, errors.New("docs/errors.md: no code rows found")
	}
	return codes, nil
}

// openAPIEnums returns the ProblemCode enum and FieldError's code enum.
func openAPIEnums(t *testing.T) (problem, field []string) {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas struct {
				ProblemCode struct {
					Enum []string `yaml:"enum"`
				} `yaml:"ProblemCode"`
				FieldError struct {
					Properties struct {
						Code struct {
							Enum []string `yaml:"enum"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"FieldError"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	problem = doc.Components.Schemas.ProblemCode.Enum
	field = doc.Components.Schemas.FieldError.Properties.Code.Enum
	if len(problem) == 0 || len(field) == 0 {
		t.Fatal("the OpenAPI document has no ProblemCode enum or no FieldError code enum")
	}
	return problem, field
}

// sameSet reports, both ways, what one list has that the other lacks.
func sameSet(t *testing.T, gotName string, got []string, wantName string, want []string) {
	t.Helper()
	for _, c := range got {
		if !slices.Contains(want, c) {
			t.Errorf("%q is in %s but not in %s", c, gotName, wantName)
		}
	}
	for _, c := range want {
		if !slices.Contains(got, c) {
			t.Errorf("%q is in %s but not in %s", c, wantName, gotName)
		}
	}
}

// TestProblemCodesArePublished: httpapi.ProblemCodes, docs/errors.md and
// the OpenAPI ProblemCode enum list the same codes, each once; the codes
// a field error can carry are ProblemCodes that docs/errors.md gives
// status 422.
func TestProblemCodesArePublished(t *testing.T) {
	codes := httpapi.ProblemCodes()
	if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Errorf("ProblemCodes() = %q, want sorted and unique", codes)
	}
	for _, r := range domain.Reasons {
		if !slices.Contains(codes, r) {
			t.Errorf("domain reason %q is not in ProblemCodes()", r)
		}
	}
	documented := documentedCodes(t)
	sameSet(t, "httpapi.ProblemCodes()", codes, "docs/errors.md", slices.Collect(maps.Keys(documented)))
	problemEnum, fieldEnum := openAPIEnums(t)
	if len(slices.Compact(slices.Clone(problemEnum))) != len(problemEnum) {
		t.Errorf("the ProblemCode enum repeats a code: %q", problemEnum)
	}
	sameSet(t, "httpapi.ProblemCodes()", codes, "the OpenAPI ProblemCode enum", problemEnum)
	for _, c := range fieldEnum {
		if s, ok := documented[c]; !ok || s != http.StatusUnprocessableEntity {
			t.Errorf("field error code %q: docs/errors.md gives status %d, want 422", c, s)
		}
	}
}

// TestParseCodeTableCatchesMistakes keeps the check above from passing
// vacuously on a page it cannot read.
func TestParseCodeTableCatchesMistakes(t *testing.T) {
	for name, page := range map[string]string{
		"no rows":          "# Errors\n\nnothing here\n",
		"anchor mismatch":  "| <a id=\"email_taken\"></a>`invalid_email` | 400 | x |\n",
		"listed twice":     "| <a id=\"x\"></a>`x` | 400 | a |\n| <a id=\"x\"></a>`x` | 400 | b |\n",
		"malformed status": "| <a id=\"x\"></a>`x` | 4xx | a |\n",
	} {
		if _, err := parseCodeTable([]byte(page)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	got, err := parseCodeTable([]byte("| <a id=\"x_1\"></a>`x_1` | 418 | a |\n"))
	if err != nil || len(got) != 1 || got["x_1"] != 418 {
		t.Errorf("a good row: %v, %v", got, err)
	}
}

// observedCodes records every problem code, top-level and per field, the
// tests in this package received, with the status it came with.
var observedCodes = struct {
	sync.Mutex
	m map[string]map[int]bool
}{m: map[string]map[int]bool{}}

// observeProblem records r's codes if r is a problem document.
func observeProblem(r *response) {
	if mediaType(r) != "application/problem+json" {
		return
	}
	var p struct {
		Code   string `json:"code"`
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(r.body, &p) != nil {
		return // the document check has already failed the test
	}
	observedCodes.Lock()
	defer observedCodes.Unlock()
	add := func(code string) {
		if observedCodes.m[code] == nil {
			observedCodes.m[code] = map[int]bool{}
		}
		observedCodes.m[code][r.status] = true
	}
	add(p.Code)
	for _, e := range p.Errors {
		add(e.Code)
	}
}

// checkObservedCodes: every code a test received came with the status
// docs/errors.md gives it (a code it does not list at all has already
// failed the OpenAPI check).
func checkObservedCodes() error {
	b, err := os.ReadFile(errorsDoc)
	if err != nil {
		return err
	}
	documented, err := parseCodeTable(b)
	if err != nil {
		return err
	}
	observedCodes.Lock()
	defer observedCodes.Unlock()
	var problems []string
	for code, statuses := range observedCodes.m {
		for s := range statuses {
			if want, ok := documented[code]; !ok || s != want {
				problems = append(problems, fmt.Sprintf("code %q came with status %d; docs/errors.md says %d", code, s, want))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// withReadTimeout sets httpapi.Config.ReadTimeout.
func withReadTimeout(d time.Duration) option {
	return func(c *harnessConfig) { c.readTimeout = d }
}

// rawExchange writes raw to a new connection to addr, half-closes
// nothing, and reads one response, which it validates like checkResponse.
func rawExchange(t *testing.T, addr, method, path, raw string) *response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: body}
	checkResponse(t, req, r)
	return r
}

// TestEveryProblemCodeIsProduced sends, through the real Fiber app, one
// request for each code in httpapi.ProblemCodes and checks the code, its
// status and the field codes; a code listed but produced by no case here
// fails the test, and so does a case for a code that is not listed.
func TestEveryProblemCodeIsProduced(t *testing.T) {
	const good = "tulip quartz harbor"
	register := func(email, password string) func(h *harness) *response {
		return func(h *harness) *response { return h.post(registerPath, credsJSON(email, password)) }
	}
	tests := []struct {
		code   string
		status int
		fields []string // the codes in errors, for a 422
		opts   []option
		send   func(h *harness) *response
	}{
		{code: "malformed_json", status: 400, send: func(h *harness) *response { return h.post(registerPath, `{"email":`) }},
		{code: "duplicate_field", status: 400, send: func(h *harness) *response {
			return h.post(registerPath, `{"email":"a@example.com","email":"b@example.com","password":"tulip quartz harbor"}`)
		}},
		{code: "field_not_string", status: 400, send: func(h *harness) *response {
			return h.post(registerPath, `{"email":"a@example.com","password":12345678}`)
		}},
		{code: "email_taken", status: 400, send: func(h *harness) *response {
			h.register("taken@example.com", good)
			return h.post(registerPath, credsJSON("Taken@Example.com", good))
		}},
		{code: "bad_request", status: 400, send: func(h *harness) *response {
			addr := strings.TrimPrefix(h.listen(h.t), "http://")
			return rawExchange(h.t, addr, http.MethodPost, loginPath,
				"POST "+loginPath+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: twelve\r\n\r\n{}")
		}},
		{code: "admin_token_required", status: 401, send: func(h *harness) *response {
			return adminReq(h, http.MethodGet, "/admin/v1/users", "Authorization", "Bearer not-the-key")
		}},
		{code: "invalid_parameter", status: 422, fields: []string{"invalid_parameter"}, send: func(h *harness) *response {
			return adminReq(h, http.MethodGet, "/admin/v1/users?limit=0")
		}},
		{code: "invalid_credentials", status: 401, send: func(h *harness) *response { return h.post(loginPath, credsJSON("nobody@example.com", good)) }},
		{code: "token_required", status: 401, send: func(h *harness) *response { return h.get(mePath) }},
		{code: "invalid_token", status: 401, send: func(h *harness) *response { return h.get(mePath, "Authorization", "Bearer not-a-token") }},
		{code: "invalid_refresh_token", status: 401, send: func(h *harness) *response { return h.refresh(strings.Repeat("A", 43)) }},
		{code: "not_found", status: 404, send: func(h *harness) *response { return h.get("/nowhere") }},
		{code: "wrong_password", status: 403, send: func(h *harness) *response {
			h.register("wp@example.com", good)
			access := h.login("wp@example.com", good)
			return h.do(newRequest(http.MethodDelete, mePath, `{"password":"not the password"}`, "Authorization", "Bearer "+access, "Content-Type", "application/json"))
		}},
		{code: "email_not_verified", status: 403, opts: []option{withMail(app.MailConfig{AppURL: "https://app.example", RequireVerified: true})}, send: func(h *harness) *response {
			h.register("unverified@example.com", good)
			return h.post(loginPath, credsJSON("unverified@example.com", good))
		}},
		{code: "invalid_email_token", status: 422, fields: []string{"invalid_email_token"}, opts: []option{withMail(app.MailConfig{AppURL: "https://app.example"})}, send: func(h *harness) *response {
			return h.post("/api/v1/auth/email/verify", `{"token":"not-a-token"}`)
		}},
		{code: "mail_disabled", status: 501, send: func(h *harness) *response {
			return h.post("/api/v1/auth/password/forgot", `{"email":"a@example.com"}`)
		}},
		{code: "method_not_allowed", status: 405, send: func(h *harness) *response { return h.do(newRequest(http.MethodDelete, "/healthz", "")) }},
		{code: "request_timeout", status: 408, opts: []option{withReadTimeout(200 * time.Millisecond)}, send: func(h *harness) *response {
			addr := strings.TrimPrefix(h.listen(h.t), "http://")
			// The body is announced but never finishes arriving.
			return rawExchange(h.t, addr, http.MethodPost, loginPath,
				"POST "+loginPath+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":")
		}},
		{code: "payload_too_large", status: 413, send: func(h *harness) *response {
			addr := strings.TrimPrefix(h.listen(h.t), "http://")
			return rawPost(h.t, addr, registerPath, paddedBody(h.t, "big@example.com", httpapi.BodyLimit+1), false)
		}},
		{code: "unsupported_media_type", status: 415, send: func(h *harness) *response {
			return h.post(registerPath, credsJSON("a@example.com", good), "Content-Type", "text/plain")
		}},
		{code: "unsupported_content_encoding", status: 415, send: func(h *harness) *response {
			return h.post(registerPath, credsJSON("a@example.com", good), "Content-Encoding", "gzip")
		}},
		{code: "validation_failed", status: 422, fields: []string{"invalid_email", "password_too_short"}, send: register("nope", "short")},
		{code: "field_required", status: 422, fields: []string{"field_required"}, send: func(h *harness) *response { return h.post(registerPath, `{"email":"a@example.com"}`) }},
		{code: "field_not_utf8", status: 422, fields: []string{"field_not_utf8"}, send: func(h *harness) *response {
			return h.post(registerPath, `{"email":"a\ud800@example.com","password":"tulip quartz harbor"}`)
		}},
		{code: "invalid_email", status: 422, fields: []string{"invalid_email"}, send: register("John <john@example.com>", good)},
		{code: "email_too_long", status: 422, fields: []string{"email_too_long"}, send: register(strings.Repeat("x", 65)+"@example.com", good)},
		{code: "email_not_ascii", status: 422, fields: []string{"email_not_ascii"}, send: register("jöhn@example.com", good)},
		{code: "password_not_utf8", status: 422, fields: []string{"password_not_utf8"}, send: func(h *harness) *response {
			return h.post(registerPath, `{"email":"a@example.com","password":"tulip quartz \udc00harbor"}`)
		}},
		{code: "password_too_long", status: 422, fields: []string{"password_too_long"}, send: register("a@example.com", strings.Repeat("tulip ", 13))},
		{code: "password_too_short", status: 422, fields: []string{"password_too_short"}, send: register("a@example.com", "kx7-Qm2")},
		{code: "password_too_common", status: 422, fields: []string{"password_too_common"}, send: register("a@example.com", "password123")},
		{code: "password_repeated", status: 422, fields: []string{"password_repeated"}, send: register("a@example.com", "xyzxyzxyz!k#")},
		{code: "password_sequential", status: 422, fields: []string{"password_sequential"}, send: register("a@example.com", "abcdef!k")},
		{code: "password_contains_email", status: 422, fields: []string{"password_contains_email"}, send: register("alice@example.com", "alice-rocks-2024")},
		{code: "password_breached", status: 422, fields: []string{"password_breached"}, opts: []option{withBreaches(newFakeBreaches(good))}, send: register("a@example.com", good)},
		{code: "rate_limited", status: 429, opts: []option{withLimits(testLimits)}, send: func(h *harness) *response {
			for range testLimits.IPRequests {
				h.post(loginPath, credsJSON("nobody@example.com", good))
			}
			return h.post(loginPath, credsJSON("nobody@example.com", good))
		}},
		{code: "headers_too_large", status: 431, send: func(h *harness) *response {
			addr := strings.TrimPrefix(h.listen(h.t), "http://")
			return rawRequest(h.t, addr, loginPath, "X-Padding: "+strings.Repeat("p", 16<<10)+"\r\n", credsJSON("a@example.com", good), false)
		}},
		{code: "internal", status: 500, send: func(h *harness) *response {
			h.users.setErr(errors.New("driver: something nobody expected"))
			return h.post(loginPath, credsJSON("a@example.com", good))
		}},
		{code: "not_implemented", status: 501, send: func(h *harness) *response { return h.do(newRequest("PROPFIND", "/webdav/x", "")) }},
		{code: "unavailable", status: 503, send: func(h *harness) *response {
			h.users.setErr(domain.Unavailable(errors.New("connection refused")))
			return h.post(loginPath, credsJSON("a@example.com", good))
		}},
		{code: "not_ready", status: 503, send: func(h *harness) *response {
			h.setNotReady(map[string]string{"database": "unavailable", "migrations": "unknown"})
			return h.get("/readyz")
		}},
	}
	var covered []string
	for _, tt := range tests {
		covered = append(covered, tt.code)
		t.Run(tt.code, func(t *testing.T) {
			h := newHarness(t, tt.opts...)
			r := tt.send(h)
			p := wantProblem(t, r, tt.status)
			wantCode(t, p, tt.code)
			if tt.status == http.StatusUnprocessableEntity {
				wantFieldCodes(t, p, tt.fields...)
			} else if _, ok := p["errors"]; ok {
				t.Errorf("a %d problem with errors: %v", tt.status, p["errors"])
			}
		})
	}
	sameSet(t, "this test's cases", covered, "httpapi.ProblemCodes()", httpapi.ProblemCodes())
}

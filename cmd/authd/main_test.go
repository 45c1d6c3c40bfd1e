package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/docs/openapitest"
	"github.com/authd/authd/ports/migration"

	xbcrypt "golang.org/x/crypto/bcrypt"
)

// syncBuffer collects what run writes to stdout, safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listenAddr waits for the "listening" log record and returns its address.
func listenAddr(t *testing.T, logs interface{ String() string }, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("authd exited before listening: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("authd did not start listening:\n%s", logs.String())
	return ""
}

type client struct {
	t    *testing.T
	base string
	// notAPI marks a listener docs/openapi.yaml does not describe (the
	// separate metrics listener, a plain Prometheus endpoint); its
	// responses are not checked against the document.
	notAPI bool
	// spec, when set, is the document responses are checked against
	// instead of docs/openapi.yaml (the admin listener's).
	spec *openapitest.Spec
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (c client) do(method, path, body string, header ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// Every response from authd's API is checked against
	// docs/openapi.yaml.
	hc := openapitest.Client(c.t, nil)
	if c.spec != nil {
		hc = &http.Client{Transport: &openapitest.Transport{T: c.t, Spec: c.spec}}
	}
	if c.notAPI {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// str returns m[key] as a string. A missing member or another type fails
// t, instead of panicking (which would end every test in the package).
func str(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("%q = %#v, want a string (in %v)", key, m[key], m)
	}
	return v
}

// num is str for JSON numbers.
func num(t testing.TB, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q = %#v, want a number (in %v)", key, m[key], m)
	}
	return v
}

// expectProblem checks an RFC 9457 error response.
func expectProblem(t *testing.T, r response, status int, detail string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	m := r.json(t)
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := m[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, r.body)
		}
	}
	if m["status"] != float64(status) {
		t.Errorf("problem status %v, want %d", m["status"], status)
	}
	if detail != "" && m["detail"] != detail {
		t.Errorf("detail %q, want %q", m["detail"], detail)
	}
}

func TestMain(m *testing.M) { pgtest.Main(m) }

// stores returns the database URL of a fresh, empty database in each store.
func stores(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "authd.db") },
		"postgres": func(t *testing.T) string { return pgtest.Start(t).NewDatabase(t) },
	}
}

// instance is authd's run() serving in the background.
type instance struct {
	client
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs authd with the test defaults plus vars, and waits until it
// listens.
func start(t *testing.T, vars map[string]string) *instance {
	t.Helper()
	in := launch(t, vars, nil)
	in.client = client{t: t, base: "http://" + listenAddr(t, in.logs, in.done)}
	return in
}

// launch runs authd with the test defaults plus vars once gate is closed
// (at once when gate is nil), without waiting for it to listen. A variable
// set to "" in vars is unset.
func launch(t *testing.T, vars map[string]string, gate <-chan struct{}) *instance {
	t.Helper()
	all := map[string]string{
		"AUTHD_ADDR":        "127.0.0.1:0",
		"AUTHD_BCRYPT_COST": "4",
		"AUTHD_JWT_SECRET":  "e2e-secret-that-is-at-least-32-bytes-long",
		// The drain delay is tested on its own; elsewhere it only slows
		// every test's shutdown.
		"AUTHD_SHUTDOWN_DELAY": "0s",
	}
	// Development writes mail into ./mail by default: not into the source
	// tree. (Production has no file mailer.)
	if !strings.EqualFold(vars["AUTHD_ENV"], envProduction) {
		all["AUTHD_MAIL_DIR"] = t.TempDir()
	}
	for k, v := range vars {
		all[k] = v
	}
	in := &instance{logs: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() {
		if gate != nil {
			<-gate
		}
		in.done <- run(ctx, nil, env(all), in.logs, io.Discard)
	}()
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop shuts the instance down and fails the test if run reported an error.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("run did not return after cancel")
	}
}

// TestEndToEnd runs the real wiring on :0 against each store and walks
// register -> login -> me plus the error cases of the API contract.
func TestEndToEnd(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testEndToEnd(t, newDB(t))
		})
	}
}

func testEndToEnd(t *testing.T, dbURL string) {
	const password = "correct horse battery"
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": dbURL})
	c, logs := in.client, in.logs

	// Register, normalizing the email.
	r := c.do("POST", "/api/v1/auth/register", `{"email":"  Alice@Example.COM ","password":"`+password+`"}`)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	user := r.json(t)
	if user["email"] != "alice@example.com" || user["is_active"] != true || user["id"] == nil {
		t.Errorf("register body %s", r.body)
	}
	created, err := time.Parse(time.RFC3339, str(t, user, "created_at"))
	if err != nil || created.Location() != time.UTC || time.Since(created) > time.Minute {
		t.Errorf("created_at %v: %v", user["created_at"], err)
	}
	if len(user) != 5 || user["email_verified"] != false {
		t.Errorf("user object: want id, email, email_verified (false), is_active, created_at: %s", r.body)
	}

	// Duplicate, compared case-insensitively.
	expectProblem(t, c.do("POST", "/api/v1/auth/register", `{"email":"ALICE@example.com","password":"another password"}`), 400, "Email already registered")

	// Validation and malformed bodies; none of them may create a user.
	r = c.do("POST", "/api/v1/auth/register", `{"email":"bob@","password":"short"}`)
	expectProblem(t, r, 422, "")
	if errs, _ := r.json(t)["errors"].([]any); len(errs) != 2 {
		t.Errorf("want field errors for email and password: %s", r.body)
	}
	long := strings.Repeat("x", 73)
	expectProblem(t, c.do("POST", "/api/v1/auth/register", `{"email":"bob@example.com","password":"`+long+`"}`), 422, "")
	for _, body := range []string{
		`{"email":"bob@example.com","password":"12345678"`,
		`{"email":"bob@example.com","password":"12345678"} trailing`,
		`{"email":"bob@example.com","password":12345678}`,
		`{"email":["bob@example.com"],"password":"12345678"}`,
		`[{"email":"bob@example.com","password":"12345678"}]`,
		` `,
	} {
		expectProblem(t, c.do("POST", "/api/v1/auth/register", body), 400, "")
	}
	expectProblem(t, c.do("POST", "/api/v1/auth/login", `{"email":"bob@example.com","password":"12345678"}`), 401, "Invalid credentials")

	// Login.
	r = c.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+password+`"}`)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	tok := r.json(t)
	if tok["token_type"] != "bearer" || tok["expires_in"] != float64(86400) || !strings.HasPrefix(str(t, tok, "access_token"), "eyJ") {
		t.Errorf("login body %s", r.body)
	}
	access := str(t, tok, "access_token")
	refresh, _ := tok["refresh_token"].(string)
	if len(refresh) < 43 || tok["refresh_expires_in"] != float64(30*24*3600) {
		t.Errorf("login refresh fields: %s", r.body)
	}
	device := str(t, tok, "device_token")
	// A login that presents it keeps the device (and never logs it).
	if r := c.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+password+`","device_token":"`+device+`"}`); r.status != 200 {
		t.Fatalf("login with a device token: %d %s", r.status, r.body)
	}

	// Wrong password and unknown email look the same.
	wrong := c.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"wrong password"}`)
	unknown := c.do("POST", "/api/v1/auth/login", `{"email":"nobody@example.com","password":"wrong password"}`)
	expectProblem(t, wrong, 401, "Invalid credentials")
	expectProblem(t, unknown, 401, "Invalid credentials")
	w, u := wrong.json(t), unknown.json(t)
	delete(w, "request_id")
	delete(u, "request_id")
	if fmt.Sprint(w) != fmt.Sprint(u) {
		t.Errorf("wrong password %v and unknown email %v differ", w, u)
	}

	// Current user.
	r = c.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access)
	if r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if me := r.json(t); me["id"] != user["id"] || me["email"] != "alice@example.com" || me["created_at"] != user["created_at"] {
		t.Errorf("me %s, registered %v", r.body, user)
	}
	tampered := access[:len(access)-2] + "AA"
	for _, h := range []string{"", "Bearer", "Basic YWxpY2U6cGFzcw==", "Bearer not.a.jwt", "Bearer " + tampered} {
		r := c.do("GET", "/api/v1/users/me", "", "Authorization", h)
		expectProblem(t, r, 401, "")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: WWW-Authenticate %q", h, r.header.Get("WWW-Authenticate"))
		}
	}

	// Probes, docs, and errors for unknown routes and methods.
	if r := c.do("GET", "/healthz", ""); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("healthz %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/readyz", ""); r.status != 200 {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/openapi.yaml", ""); r.status != 200 || !bytes.HasPrefix(r.body, []byte("openapi: 3.1")) {
		t.Errorf("openapi %d %.40s", r.status, r.body)
	}
	expectProblem(t, c.do("GET", "/nope", ""), 404, "")
	expectProblem(t, c.do("PUT", "/api/v1/users/me", ""), 405, "")
	// A method Fiber does not know is authd's problem too, not Fiber's
	// plain-text 400: 405 with Allow on a known path, 501 elsewhere.
	r = c.do("PROPFIND", "/api/v1/users/me", "")
	expectProblem(t, r, 405, "")
	if r.header.Get("Allow") != "DELETE, GET, HEAD" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("PROPFIND: Allow %q, nosniff %q", r.header.Get("Allow"), r.header.Get("X-Content-Type-Options"))
	}
	expectProblem(t, c.do("PROPFIND", "/webdav", ""), 501, "")

	// Request ids are echoed when safe and generated otherwise.
	if r := c.do("GET", "/healthz", "", "X-Request-ID", "trace-42"); r.header.Get("X-Request-ID") != "trace-42" {
		t.Errorf("request id %q", r.header.Get("X-Request-ID"))
	}
	if r := c.do("GET", "/healthz", "", "X-Request-ID", "bad id <script>"); r.header.Get("X-Request-ID") == "" || strings.Contains(r.header.Get("X-Request-ID"), "script") {
		t.Errorf("request id %q", r.header.Get("X-Request-ID"))
	}

	// Refresh rotates; a retry inside the grace window gets the same
	// successor; logout ends the session's access at once.
	r = c.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	rotated := r.json(t)
	next, _ := rotated["refresh_token"].(string)
	if next == "" || next == refresh || rotated["access_token"] == access || rotated["token_type"] != "bearer" {
		t.Errorf("refresh body %s", r.body)
	}
	if rem, _ := rotated["refresh_expires_in"].(float64); rem > 30*24*3600 || rem < 30*24*3600-60 {
		t.Errorf("refresh_expires_in %v", rotated["refresh_expires_in"])
	}
	if again := c.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh+`"}`); again.status != 200 || again.json(t)["refresh_token"] != next {
		t.Errorf("retry within grace: %d %s", again.status, again.body)
	}
	newAccess := str(t, rotated, "access_token")
	if r := c.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+newAccess); r.status != 200 {
		t.Errorf("me with refreshed token: %d", r.status)
	}
	expectProblem(t, c.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+access+`"}`), 401, "Invalid refresh token")
	expectProblem(t, c.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+next), 401, "")
	if r := c.do("POST", "/api/v1/auth/logout", `{"refresh_token":"`+next+`"}`); r.status != 204 || len(r.body) != 0 {
		t.Errorf("logout: %d %q", r.status, r.body)
	}
	expectProblem(t, c.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+newAccess), 401, "")
	expectProblem(t, c.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+next+`"}`), 401, "Invalid refresh token")
	if r := c.do("POST", "/api/v1/auth/logout", `{"refresh_token":"`+next+`"}`); r.status != 204 {
		t.Errorf("second logout: %d", r.status)
	}

	// Logout everywhere ends every session of the user.
	var accesses []string
	for i := 0; i < 2; i++ {
		r := c.do("POST", "/api/v1/auth/login", `{"email":"alice@example.com","password":"`+password+`"}`)
		accesses = append(accesses, str(t, r.json(t), "access_token"))
	}
	if r := c.do("POST", "/api/v1/auth/logout/all", "", "Authorization", "Bearer "+accesses[0]); r.status != 204 {
		t.Errorf("logout/all: %d %s", r.status, r.body)
	}
	for _, a := range accesses {
		expectProblem(t, c.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+a), 401, "")
	}

	in.stop(t)

	// No secret reached the log.
	out := logs.String()
	sig := access[strings.LastIndexByte(access, '.')+1:]
	for _, secret := range []string{password, "wrong password", access, sig, refresh, next, newAccess, device, device[strings.LastIndexByte(device, '.')+1:], "e2e-secret-that-is-at-least-32-bytes-long", "$2a$", "YWxpY2U6cGFzcw=="} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
	if !strings.Contains(out, `"route":"/api/v1/users/me"`) || !strings.Contains(out, `"user_id":`) {
		t.Errorf("access log lacks route or user id:\n%s", out)
	}
	// The audit trail names accounts by masked email only.
	for _, email := range []string{"alice@example.com", "Alice@Example.COM"} {
		if strings.Contains(out, email) {
			t.Errorf("log contains the email %q", email)
		}
	}
	if !strings.Contains(out, `"email":"a***@example.com"`) {
		t.Errorf("audit trail lacks the masked email a***@example.com:\n%s", out)
	}
}

func TestMigrateCommand(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMigrateCommand(t, newDB(t))
		})
	}
}

func testMigrateCommand(t *testing.T, dbURL string) {
	vars := map[string]string{"AUTHD_DATABASE_URL": dbURL}
	step := func(want string, args ...string) {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"migrate"}, args...), env(vars), &out, io.Discard); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("migrate %v printed %q, want %q", args, out.String(), want)
		}
	}
	cfg, err := parseDatabaseURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	files := sqlite.MigrationFiles()
	if cfg.Driver == "postgres" {
		files = postgres.MigrationFiles()
	}
	latest, err := migration.Latest(files)
	if err != nil || latest < 2 {
		t.Fatalf("latest migration %d: %v", latest, err)
	}
	v := func(n int) string {
		if n == 0 {
			return "version: none"
		}
		return fmt.Sprintf("version: %d (clean)", n)
	}
	step("version: none", "version")
	step(v(latest), "up")
	step(v(latest), "up")
	step(v(latest-1), "down")
	step(v(latest-2), "down")
	step(v(latest), "up")
	step("version: none", "down", strconv.Itoa(latest))
	step(v(latest), "up")
	step("version: none", "down", strconv.Itoa(latest+5))
	for _, bad := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "-1"}, {"frobnicate"}} {
		if err := run(context.Background(), bad, env(vars), io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestReadinessWaitsForMigrations starts authd without auto-migration on
// an empty database: /readyz must say migrations are pending until
// `authd migrate up` runs, and requests meanwhile are 503, not 500 or 401.
func TestReadinessWaitsForMigrations(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dbURL := newDB(t)
			in := start(t, map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_AUTO_MIGRATE": "false"})
			r := in.do("GET", "/readyz", "")
			expectProblem(t, r, 503, "Not ready: migrations pending")
			if checks, _ := r.json(t)["checks"].(map[string]any); checks["database"] != "ok" || checks["migrations"] != "pending" {
				t.Errorf("checks %s", r.body)
			}
			r = in.do("POST", "/api/v1/auth/register", `{"email":"early@example.com","password":"first light at dawn"}`)
			expectProblem(t, r, 503, "")
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if err := run(context.Background(), []string{"migrate", "up"}, env(map[string]string{"AUTHD_DATABASE_URL": dbURL}), io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			if r := in.do("GET", "/readyz", ""); r.status != 200 {
				t.Fatalf("after migrate up: %d %s", r.status, r.body)
			}
			if r := in.do("POST", "/api/v1/auth/register", `{"email":"early@example.com","password":"first light at dawn"}`); r.status != 201 {
				t.Fatalf("register after migrate: %d %s", r.status, r.body)
			}
		})
	}
}

// TestPostgresOutage takes the database away under a running authd: every
// request that needs it is a 503 with Retry-After (never 401 or 500),
// /readyz says the database is unavailable, /healthz stays 200, and all of
// it recovers by itself when the database comes back.
func TestPostgresOutage(t *testing.T) {
	pg := pgtest.New(t)
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": pg.NewDatabase(t), "AUTHD_REQUEST_TIMEOUT": "3s", "AUTHD_DATABASE_CONNECT_TIMEOUT": "1s"})
	const creds = `{"email":"outage@example.com","password":"while the db sleeps"}`
	if r := in.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	token := str(t, in.do("POST", "/api/v1/auth/login", creds).json(t), "access_token")

	if err := pg.Pause(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []response{
		in.do("POST", "/api/v1/auth/login", creds),
		in.do("POST", "/api/v1/auth/register", `{"email":"new@example.com","password":"while the db sleeps"}`),
		in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+token),
	} {
		expectProblem(t, r, 503, "")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %s", r.body)
		}
		if strings.Contains(string(r.body), "127.0.0.1") || strings.Contains(string(r.body), "dial") {
			t.Errorf("internal detail leaked: %s", r.body)
		}
	}
	r := in.do("GET", "/readyz", "")
	expectProblem(t, r, 503, "")
	if checks, _ := r.json(t)["checks"].(map[string]any); checks["database"] != "unavailable" {
		t.Errorf("readyz during outage: %s", r.body)
	}
	if r := in.do("GET", "/healthz", ""); r.status != 200 {
		t.Errorf("healthz during outage: %d", r.status)
	}

	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for in.do("GET", "/readyz", "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready again after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+token); r.status != 200 {
		t.Errorf("me after recovery: %d %s", r.status, r.body)
	}
}

// TestRefreshAcrossInstances runs two authd processes on one PostgreSQL
// database: concurrent refreshes of one token sent to both yield a single
// successor, and replaying the spent token after the grace window revokes
// the session on both.
func TestRefreshAcrossInstances(t *testing.T) {
	dbURL := pgtest.Start(t).NewDatabase(t)
	vars := map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_REFRESH_REUSE_GRACE": "1s"}
	a, b := start(t, vars), start(t, vars)
	const creds = `{"email":"twotabs@example.com","password":"two tabs password"}`
	if r := a.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	login := b.do("POST", "/api/v1/auth/login", creds)
	refresh := str(t, login.json(t), "refresh_token")

	const n = 10
	got := make([]response, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := a
			if i%2 == 1 {
				in = b
			}
			got[i] = in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
		}(i)
	}
	wg.Wait()
	successors := map[string]bool{}
	for _, r := range got {
		if r.status != 200 {
			t.Fatalf("concurrent refresh: %d %s", r.status, r.body)
		}
		successors[str(t, r.json(t), "refresh_token")] = true
	}
	if len(successors) != 1 {
		t.Fatalf("%d different successors, want 1", len(successors))
	}
	var next string
	for s := range successors {
		next = s
	}
	access := str(t, got[0].json(t), "access_token")
	if r := b.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access); r.status != 200 {
		t.Fatalf("me on the other instance: %d", r.status)
	}

	time.Sleep(1100 * time.Millisecond) // past the grace window
	expectProblem(t, b.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh+`"}`), 401, "Invalid refresh token")
	expectProblem(t, a.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+next+`"}`), 401, "Invalid refresh token")
	expectProblem(t, a.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access), 401, "")
	if !strings.Contains(b.logs.String(), `"event":"token.reuse_detected"`) {
		t.Error("no token.reuse_detected security event in the log")
	}
	if strings.Contains(b.logs.String(), refresh) || strings.Contains(a.logs.String(), next) {
		t.Error("a refresh token reached the log")
	}
}

// TestSessionSweep shows ended sessions are deleted from the database by
// the periodic sweep, so the table does not grow without bound.
func TestSessionSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sweep.db")
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": path, "AUTHD_SESSION_SWEEP_INTERVAL": "50ms"})
	const creds = `{"email":"sweep@example.com","password":"brooms and dustpans"}`
	in.do("POST", "/api/v1/auth/register", creds)
	var refresh []string
	for i := 0; i < 5; i++ {
		refresh = append(refresh, str(t, in.do("POST", "/api/v1/auth/login", creds).json(t), "refresh_token"))
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(table string) int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("sessions"); n != 5 {
		t.Fatalf("%d sessions, want 5", n)
	}
	for _, r := range refresh[:3] {
		in.do("POST", "/api/v1/auth/logout", `{"refresh_token":"`+r+`"}`)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count("sessions") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left, want the 2 live ones", count("sessions"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count("refresh_tokens"); n != 2 {
		t.Errorf("%d refresh tokens left, want 2", n)
	}
	if r := in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh[4]+`"}`); r.status != 200 {
		t.Errorf("live session after sweep: %d", r.status)
	}
}

func TestStartupRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), nil, env(map[string]string{"AUTHD_ENV": "production"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTHD_JWT_SECRET") {
		t.Fatalf("err = %v", err)
	}
}

// TestBinary builds cmd/authd, runs it as a user would, and stops it with
// SIGTERM: the process must serve, then exit 0 after a graceful shutdown.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "authd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AUTHD_ADDR=127.0.0.1:0", "AUTHD_BCRYPT_COST=4")
	logs := &syncBuffer{}
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	c := client{t: t, base: "http://" + listenAddr(t, logs, done)}

	if r := c.do("POST", "/api/v1/auth/register", `{"email":"bin@example.com","password":"binary password"}`); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := c.do("POST", "/api/v1/auth/login", `{"email":"bin@example.com","password":"binary password"}`); r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if _, err := os.Stat(filepath.Join(dir, "authd.db")); err != nil {
		t.Errorf("default database file: %v", err)
	}
	testOperatorBinary(t, bin, dir, c)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in log:\n%s", logs.String())
	}
}

// TestLoginTimingMedians checks that a login reveals nothing by its
// duration: unknown email, inactive account and wrong password must take
// about as long, because each pays one bcrypt comparison at the configured
// cost. The rule (docs/security.md says the same): 25 interleaved rounds
// of the three cases (interleaved so drift in the machine's load hits all
// three alike), the median of each, and the slowest median at most 1.2
// times the fastest, in at least one of up to three attempts.
func TestLoginTimingMedians(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	path := filepath.Join(t.TempDir(), "timing.db")
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": path, "AUTHD_BCRYPT_COST": "8", "AUTHD_RATE_LIMIT": "off"})
	for _, email := range []string{"active@example.com", "inactive@example.com", "cheap@example.com"} {
		if r := in.do("POST", "/api/v1/auth/register", `{"email":"`+email+`","password":"the right password"}`); r.status != 201 {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE users SET is_active = 0 WHERE email = 'inactive@example.com'`); err != nil {
		t.Fatal(err)
	}
	// An account whose hash was made at a lower cost (4) than the one now
	// configured (8), as after raising AUTHD_BCRYPT_COST: checking it is
	// 16 times cheaper, which must not show.
	cheap, err := xbcrypt.GenerateFromPassword([]byte("the right password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE users SET password_hash = ? WHERE email = 'cheap@example.com'`, string(cheap)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"unknown email":  `{"email":"nobody@example.com","password":"the wrong password"}`,
		"wrong password": `{"email":"active@example.com","password":"the wrong password"}`,
		"inactive":       `{"email":"inactive@example.com","password":"the right password"}`,
		"cheaper hash":   `{"email":"cheap@example.com","password":"the wrong password"}`,
	}
	names := []string{"unknown email", "wrong password", "inactive", "cheaper hash"}
	median := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	// measure returns the fastest and slowest of the three medians.
	measure := func() (lo, hi time.Duration) {
		samples := map[string][]time.Duration{}
		const rounds = 25
		for i := 0; i < rounds; i++ {
			for _, name := range names {
				start := time.Now()
				r := in.do("POST", "/api/v1/auth/login", cases[name])
				samples[name] = append(samples[name], time.Since(start))
				if r.status != 401 {
					t.Fatalf("%s: %d %s", name, r.status, r.body)
				}
			}
		}
		lo = time.Duration(1 << 62)
		for _, name := range names {
			m := median(samples[name])
			t.Logf("median %-14s %v", name, m)
			lo, hi = min(lo, m), max(hi, m)
		}
		return lo, hi
	}
	// Other processes on a shared machine (CI runs packages in parallel)
	// only add noise, which can only push the medians apart: a real
	// difference shows in every attempt, so one clean attempt of three is
	// enough.
	for attempt := 1; ; attempt++ {
		lo, hi := measure()
		if float64(hi) <= 1.2*float64(lo) {
			t.Logf("attempt %d: slowest/fastest median = %.2f", attempt, float64(hi)/float64(lo))
			return
		}
		if attempt == 3 {
			t.Fatalf("login medians differ by more than 20%% in 3 attempts: fastest %v, slowest %v", lo, hi)
		}
		t.Logf("attempt %d: medians %v..%v differ by more than 20%%; measuring again", attempt, lo, hi)
	}
}

// cancelOnListening cancels the moment run logs that it is listening.
type cancelOnListening struct {
	syncBuffer
	cancel context.CancelFunc
}

func (w *cancelOnListening) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"msg":"listening"`)) {
		w.cancel()
	}
	return w.syncBuffer.Write(p)
}

// TestStopRightAfterListening cancels run the moment it reports
// listening, before the serving goroutine may have registered its
// listener: run must still return promptly (fasthttp's Shutdown alone
// returns at once when no listener is registered yet, and Serve would
// then run for ever).
func TestStopRightAfterListening(t *testing.T) {
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		logs := &cancelOnListening{cancel: cancel}
		done := make(chan error, 1)
		vars := map[string]string{
			"AUTHD_ADDR":           "127.0.0.1:0",
			"AUTHD_DATABASE_URL":   filepath.Join(t.TempDir(), "stop.db"),
			"AUTHD_BCRYPT_COST":    "4",
			"AUTHD_SHUTDOWN_DELAY": "0s",
			"AUTHD_MAIL_DIR":       t.TempDir(),
		}
		go func() { done <- run(ctx, nil, env(vars), logs, io.Discard) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: run: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: run did not return after cancel", i)
		}
	}
}

// testOperatorBinary runs `authd users` as its own process beside the
// running server, on the same SQLite file: exit codes scripts can trust,
// one-line errors, JSON that parses, and a deactivation the server honours
// on its next request.
func testOperatorBinary(t *testing.T, bin, dir string, c client) {
	t.Helper()
	cli := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, append([]string{"users"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "AUTHD_BCRYPT_COST=4")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	code, out, _ := cli("show", "bin@example.com", "--json")
	var shown map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown["email"] != "bin@example.com" || shown["live_sessions"] != float64(1) {
		t.Errorf("users show --json: exit %d, %q", code, out)
	}
	code, out, stderr := cli("show", "nobody@example.com")
	if code != 1 || out != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "no user") {
		t.Errorf("unknown user: exit %d, stdout %q, stderr %q; want 1 and one line", code, out, stderr)
	}
	if code, _, _ := cli("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := cli("delete", "bin@example.com"); code != 2 {
		t.Errorf("delete without --yes: exit %d, want 2", code)
	}
	if code, out, _ := cli("deactivate", "bin@example.com"); code != 0 || !strings.Contains(out, "inactive") {
		t.Errorf("deactivate: exit %d, %q", code, out)
	}
	if r := c.do("POST", "/api/v1/auth/login", `{"email":"bin@example.com","password":"binary password"}`); r.status != 401 {
		t.Errorf("login after the CLI deactivated the user: %d, want 401", r.status)
	}
	if code, _, _ := cli("activate", "bin@example.com"); code != 0 {
		t.Errorf("activate: exit %d", code)
	}
}

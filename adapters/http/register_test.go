package http_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/domain"
)

func TestRegisterCreatesUser(t *testing.T) {
	h := newHarness(t)
	// A clock in another zone: the response must still be UTC.
	h.clock.now = t0.In(time.FixedZone("UTC+1", 3600))

	r := h.post(registerPath, credsJSON("  Alice@Example.COM ", "correct horse"))
	wantStatus(t, r, http.StatusCreated)
	if mt := mediaType(r); mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.header.Get("Content-Type"))
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	body := decodeObject(t, r)
	if len(body) != 5 {
		t.Errorf("body has members %v, want exactly id, email, email_verified, is_active, created_at", keys(body))
	}
	if body["email_verified"] != false {
		t.Errorf("email_verified = %v, want false for a new account", body["email_verified"])
	}
	if id, ok := body["id"].(json.Number); !ok || id.String() != "1" {
		t.Errorf("id = %#v, want the integer 1", body["id"])
	}
	if body["email"] != "alice@example.com" {
		t.Errorf("email = %v, want the normalized alice@example.com", body["email"])
	}
	if body["is_active"] != true {
		t.Errorf("is_active = %#v, want true", body["is_active"])
	}
	if body["created_at"] != "2026-01-01T00:00:00Z" {
		t.Errorf("created_at = %#v, want 2026-01-01T00:00:00Z", body["created_at"])
	}
	if _, err := time.Parse(time.RFC3339, body["created_at"].(string)); err != nil {
		t.Errorf("created_at is not RFC 3339: %v", err)
	}
	for _, secret := range []string{"correct horse", fakeHash("correct horse"), "password", "hash"} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("register response contains %q: %s", secret, r.body)
		}
	}
	if h.users.count() != 1 {
		t.Errorf("store holds %d users, want 1", h.users.count())
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestRegisterDuplicateEmail(t *testing.T) {
	h := newHarness(t)
	h.register("bob@example.com", "kx7-Qm2z")
	// The same address in another case is the same account.
	r := h.post(registerPath, credsJSON("BOB@example.com", "other-password"))
	p := wantProblem(t, r, http.StatusBadRequest)
	if p["detail"] != "Email already registered" {
		t.Errorf("detail = %v, want Email already registered", p["detail"])
	}
	if _, ok := p["errors"]; ok {
		t.Errorf("a conflict has no field errors: %s", r.body)
	}
}

func TestRegisterValidation(t *testing.T) {
	tests := []struct {
		name, body string
		fields     []string
	}{
		{"invalid email", credsJSON("not-an-email", "kx7-Qm2z"), []string{"email"}},
		{"email with display name", credsJSON("Bob <bob@example.com>", "kx7-Qm2z"), []string{"email"}},
		{"short password", credsJSON("a@b.co", "1234567"), []string{"password"}},
		{"73-byte password", credsJSON("a@b.co", strings.Repeat("p", 73)), []string{"password"}},
		{"73-byte multibyte password", credsJSON("a@b.co", strings.Repeat("é", 36)+"x"), []string{"password"}},
		{"both invalid", credsJSON("nope", "short"), []string{"email", "password"}},
		{"empty strings", credsJSON("", ""), []string{"email", "password"}},
		{"missing password", `{"email":"a@b.co"}`, []string{"password"}},
		{"missing email", `{"password":"kx7-Qm2z"}`, []string{"email"}},
		{"missing both", `{}`, []string{"email", "password"}},
		{"missing both, unknown present", `{"username":"a@b.co"}`, []string{"email", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.post(registerPath, tt.body)
			p := wantProblem(t, r, http.StatusUnprocessableEntity)
			wantFields(t, p, tt.fields...)
			detail := p["detail"].(string)
			for _, f := range tt.fields {
				if !strings.Contains(strings.ToLower(detail), f) {
					t.Errorf("detail %q does not mention %s", detail, f)
				}
			}
			if n := h.users.creates.Load() + h.users.reads.Load(); n != 0 {
				t.Errorf("repository called %d times for an invalid request", n)
			}
			if n := h.hasher.hashes.Load(); n != 1 {
				t.Errorf("hasher called %d times, want only app.New's dummy hash", n-1)
			}
		})
	}
}

func TestRegisterPasswordBoundaries(t *testing.T) {
	h := newHarness(t)
	maxLen := "The quick brown fox jumps over the lazy dog; pack my box with 5 dozen!!?"
	if len(maxLen) != domain.MaxPasswordBytes {
		t.Fatalf("fixture is %d bytes, want %d", len(maxLen), domain.MaxPasswordBytes)
	}
	h.register("max@example.com", maxLen)
	h.register("min@example.com", "kx7-Qm2z")
	h.register("unicode@example.com", "пароль12") // 8 code points, 14 bytes
}

// TestMalformedBodies sends bodies that are not one well-formed JSON object
// with string members: each must be a 400 problem, and nothing may reach
// the repository or the hasher.
func TestMalformedBodies(t *testing.T) {
	bodies := []struct{ name, body string }{
		{"malformed JSON", `{"email":"a@b.co","password":"kx7-Qm2z"`},
		{"not JSON at all", `email=a@b.co&password=12345678`},
		{"trailing garbage", `{"email":"a@b.co","password":"kx7-Qm2z"} x`},
		{"second JSON value", `{"email":"a@b.co","password":"kx7-Qm2z"}{"email":"c@d.co","password":"kx7-Qm2z"}`},
		{"second JSON scalar", `{"email":"a@b.co","password":"kx7-Qm2z"} 1`},
		{"number for email", `{"email":12345678,"password":"kx7-Qm2z"}`},
		{"number for password", `{"email":"a@b.co","password":12345678}`},
		{"null for password", `{"email":"a@b.co","password":null}`},
		{"boolean for password", `{"email":"a@b.co","password":true}`},
		{"nested object for email", `{"email":{"address":"a@b.co"},"password":"kx7-Qm2z"}`},
		{"array for email", `{"email":["a@b.co"],"password":"kx7-Qm2z"}`},
		{"null body", `null`},
		{"boolean body", `true`},
		{"number body", `42`},
		{"whitespace-only body", " \n\t\r "},
		{"array body", `[{"email":"a@b.co","password":"kx7-Qm2z"}]`},
		{"string body", `"{\"email\":\"a@b.co\",\"password\":\"12345678\"}"`},
		{"duplicate keys", `{"email":"a@b.co","password":"wrong-one","password":"kx7-Qm2z"}`},
		{"duplicate ignored keys", `{"x":1,"x":2,"email":"a@b.co","password":"kx7-Qm2z"}`},
		{"bad escape", `{"email":"a@b.co","password":"\x"}`},
		{"trailing comma", `{"email":"a@b.co","password":"kx7-Qm2z",}`},
		{"single quotes", `{'email':'a@b.co','password':'12345678'}`},
	}
	for _, path := range []string{registerPath, loginPath} {
		for _, tt := range bodies {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				r := h.post(path, tt.body)
				wantProblem(t, r, http.StatusBadRequest)
				h.wantUntouched(t)
			})
		}
		t.Run(path+"/empty body", func(t *testing.T) {
			h := newHarness(t)
			r := h.do(newRequest(http.MethodPost, path, "", "Content-Type", "application/json"))
			wantProblem(t, r, http.StatusBadRequest)
			h.wantUntouched(t)
		})
	}
}

// wantUntouched fails unless the request reached neither the repositories
// nor the hasher (beyond app.New's dummy hash).
func (h *harness) wantUntouched(t *testing.T) {
	t.Helper()
	if n := h.sessions.calls.Load(); n != 0 {
		t.Errorf("session store called %d times", n)
	}
	if n := h.users.creates.Load(); n != 0 {
		t.Errorf("repository Create called %d times", n)
	}
	if n := h.users.reads.Load(); n != 0 {
		t.Errorf("repository read %d times", n)
	}
	if n := h.hasher.hashes.Load(); n != 1 {
		t.Errorf("hasher called %d extra times", n-1)
	}
	if n := h.users.count(); n != 0 {
		t.Errorf("store holds %d users, want none", n)
	}
}

// TestPasswordNotUTF8 sends passwords that encoding/json would quietly
// turn into U+FFFD (invalid bytes, unpaired surrogate escapes): each is a
// 422 naming the password, and nothing is written. Paired surrogates (an
// escaped emoji) are text and pass.
func TestPasswordNotUTF8(t *testing.T) {
	for name, literal := range map[string]string{
		"invalid byte":           "\"kqzv-Wm7p\xff\"",
		"truncated sequence":     "\"kqzv-Wm7p\xe2\x82\"",
		"lone high surrogate":    `"kqzv-Wm7p\ud800"`,
		"lone low surrogate":     `"kqzv-Wm7p\udc00"`,
		"high then letter":       `"kqzv-Wm7p\ud83dx"`,
		"reversed pair":          `"kqzv-Wm7p\ude00\ud83d"`,
		"high at the end":        `"kqzv-Wm7p\uD83D"`,
		"high then other escape": `"kqzv-Wm7p\ud83d\n"`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			body := `{"email":"utf@example.com","password":` + literal + `}`
			p := wantProblem(t, h.post(registerPath, body), http.StatusUnprocessableEntity)
			if !strings.Contains(fmt.Sprint(p["errors"]), "password") {
				t.Errorf("errors do not name the password: %v", p["errors"])
			}
			h.wantUntouched(t)
		})
	}
	t.Run("escaped emoji is text", func(t *testing.T) {
		h := newHarness(t)
		wantStatus(t, h.post(registerPath, `{"email":"emoji@example.com","password":"kqzv-Wm7p \ud83d\ude00 \\u00e9"}`), http.StatusCreated)
	})
	t.Run("email", func(t *testing.T) {
		h := newHarness(t)
		p := wantProblem(t, h.post(registerPath, "{\"email\":\"a\xff@b.co\",\"password\":\"kqzv-Wm7p\"}"), http.StatusUnprocessableEntity)
		if !strings.Contains(fmt.Sprint(p["errors"]), "email") {
			t.Errorf("errors do not name the email: %v", p["errors"])
		}
		h.wantUntouched(t)
	})
}

func TestRegisterIgnoresUnknownFields(t *testing.T) {
	h := newHarness(t)
	r := h.post(registerPath, `{"email":"a@b.co","password":"kx7-Qm2z","is_active":false,"id":99,"role":"admin","extra":{"x":[1,null]}}`)
	wantStatus(t, r, http.StatusCreated)
	body := decodeObject(t, r)
	if body["is_active"] != true || body["id"].(json.Number).String() != "1" {
		t.Errorf("unknown fields leaked into the user: %s", r.body)
	}
}

func TestRegisterContentType(t *testing.T) {
	valid := credsJSON("a@b.co", "kx7-Qm2z")
	tests := []struct {
		contentType string
		status      int
	}{
		{"text/plain", http.StatusUnsupportedMediaType},
		{"text/plain; charset=utf-8", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType}, // and a body that is not multipart
		{"application/xml", http.StatusUnsupportedMediaType},
		{"not a media type", http.StatusUnsupportedMediaType},
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"Application/JSON", http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			h := newHarness(t)
			r := h.post(registerPath, valid, "Content-Type", tt.contentType)
			if tt.status == http.StatusUnsupportedMediaType {
				wantProblem(t, r, tt.status)
				h.wantUntouched(t)
				return
			}
			wantStatus(t, r, tt.status)
		})
	}
	// A body with no media type is what a hostile page can send
	// cross-site without a CORS preflight: refused, nothing written.
	for _, path := range []string{registerPath, loginPath} {
		t.Run("no Content-Type "+path, func(t *testing.T) {
			h := newHarness(t)
			req := newRequest(http.MethodPost, path, valid, "Content-Type", "")
			if req.Header.Get("Content-Type") != "" {
				t.Fatal("request still has a Content-Type")
			}
			wantProblem(t, h.do(req), http.StatusUnsupportedMediaType)
			h.wantUntouched(t)
		})
	}
	t.Run("+json suffix", func(t *testing.T) {
		h := newHarness(t)
		wantProblem(t, h.post(registerPath, valid, "Content-Type", "application/merge-patch+json"), http.StatusUnsupportedMediaType)
		h.wantUntouched(t)
	})
	t.Run("well-formed multipart", func(t *testing.T) {
		h := newHarness(t)
		body := "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n" +
			"--x\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n12345678\r\n--x--\r\n"
		wantProblem(t, h.post(registerPath, body, "Content-Type", "multipart/form-data; boundary=x"), http.StatusUnsupportedMediaType)
		h.wantUntouched(t)
	})
	t.Run("login text/plain", func(t *testing.T) {
		h := newHarness(t)
		wantProblem(t, h.post(loginPath, valid, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType)
		h.wantUntouched(t)
	})
}

// paddedBody returns a valid register body of exactly n bytes, padded with
// an ignored member.
func paddedBody(t *testing.T, email string, n int) string {
	t.Helper()
	head := `{"email":"` + email + `","password":"kx7-Qm2z","pad":"`
	tail := `"}`
	if n < len(head)+len(tail) {
		t.Fatalf("paddedBody: %d is too small", n)
	}
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestRegisterBodyAtLimitIsAccepted(t *testing.T) {
	h := newHarness(t)
	r := h.post(registerPath, paddedBody(t, "big@example.com", httpapi.BodyLimit))
	wantStatus(t, r, http.StatusCreated)
}

// TestBodyTooLarge needs a real listener: fasthttp enforces the body limit
// while reading the connection, and app.Test reports that as an error
// instead of returning the 413 the server wrote.
func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.listen(t), "http://")

	paths := []string{registerPath, loginPath, refreshPath, logoutPath}
	for _, path := range paths {
		t.Run(path+"/one byte over", func(t *testing.T) {
			body := paddedBody(t, "big@example.com", httpapi.BodyLimit+1)
			r := rawPost(t, addr, path, body, false)
			p := wantProblem(t, r, http.StatusRequestEntityTooLarge)
			if got := r.header.Get("X-Request-ID"); got != "big-body-1" {
				t.Errorf("X-Request-ID = %q, want the client's big-body-1", got)
			}
			if !strings.Contains(p["detail"].(string), "64 KiB") {
				t.Errorf("detail = %q, want it to state the limit", p["detail"])
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
		})
		t.Run(path+"/chunked", func(t *testing.T) {
			body := paddedBody(t, "big@example.com", 4*httpapi.BodyLimit)
			r := rawPost(t, addr, path, body, true)
			wantProblem(t, r, http.StatusRequestEntityTooLarge)
		})
	}
	if n := h.users.creates.Load() + h.users.reads.Load() + h.sessions.calls.Load(); n != 0 {
		t.Errorf("repositories called %d times for oversized bodies", n)
	}
	if n, want := strings.Count(h.logs.String(), `"status":413`), 2*len(paths); n != want {
		t.Errorf("access log has %d lines for the %d 413s:\n%s", n, want, h.logs)
	}
}

// rawPost sends a JSON POST over a plain TCP connection and reads the
// response while the body is still being written. The server answers 413
// and closes without reading the rest, so the write may fail; net/http's
// client would then sometimes report the write error instead of the
// response, which is why this does not use it.
func rawPost(t *testing.T, addr, path, body string, chunked bool) *response {
	t.Helper()
	return rawRequest(t, addr, path, "X-Request-ID: big-body-1\r\n", body, chunked)
}

// rawRequest is rawPost with extra header lines. It validates the
// response against the document too.
func rawRequest(t *testing.T, addr, path, headers, body string, chunked bool) *response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	head := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" + headers
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		if !chunked {
			_, _ = io.WriteString(conn, body)
			return
		}
		for rest := body; rest != ""; {
			n := min(len(rest), 8<<10)
			if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", n, rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		_, _ = io.WriteString(conn, "0\r\n\r\n")
	}()

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, nil)
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("POST %s: reading the response: %v", path, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("POST %s: reading the body: %v", path, err)
	}
	conn.Close()
	<-written
	r := &response{status: res.StatusCode, header: res.Header, body: b}
	checkResponse(t, req, r)
	return r
}

// listen serves the app on a real loopback listener and returns its base URL.
func (h *harness) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return h.serve(t, ln)
}

// serve serves the app on ln until the test ends and returns its base URL.
func (h *harness) serve(t *testing.T, ln net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.app.Listener(ln) }()
	t.Cleanup(func() {
		if err := h.app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("listener: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCompressedBodiesAreRefused checks the 64 KiB limit cannot be
// sidestepped with a content coding: a compressed body is never inflated
// (a few KiB of gzip can expand to many MiB, and gzip inside gzip to GiB).
func TestCompressedBodiesAreRefused(t *testing.T) {
	small := credsJSON("zip@example.com", "kx7-Qm2z")
	// Over a MiB of JSON once inflated, about 1 KiB on the wire.
	bomb := `{"email":"zip@example.com","password":"kx7-Qm2z","pad":"` + strings.Repeat(" ", 1<<20) + `"}`
	tests := []struct{ name, encoding, body string }{
		{"gzip", "gzip", gzipped(t, small)},
		{"gzip bomb", "gzip", gzipped(t, bomb)},
		{"gzip inside gzip", "gzip, gzip", gzipped(t, gzipped(t, bomb))},
		{"deflate", "deflate", small},
		{"br", "br", small},
		{"unknown coding", "x-custom", small},
	}
	for _, path := range []string{registerPath, loginPath} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				if len(tt.body) > httpapi.BodyLimit {
					t.Fatalf("test body is %d bytes on the wire", len(tt.body))
				}
				r := h.post(path, tt.body, "Content-Encoding", tt.encoding)
				wantProblem(t, r, http.StatusUnsupportedMediaType)
				if got := r.header.Get("Accept-Encoding"); got != "identity" {
					t.Errorf("Accept-Encoding = %q, want identity (RFC 9110 §15.5.16)", got)
				}
				h.wantUntouched(t)
			})
		}
	}
	t.Run("gzip hidden behind a second header line", func(t *testing.T) {
		h := newHarness(t)
		req := newRequest(http.MethodPost, registerPath, gzipped(t, bomb))
		req.Header.Add("Content-Encoding", "identity")
		req.Header.Add("Content-Encoding", "gzip")
		r := h.do(req)
		if r.status != http.StatusBadRequest && r.status != http.StatusUnsupportedMediaType {
			t.Fatalf("status = %d, want 400 or 415: %s", r.status, r.body)
		}
		wantProblem(t, r, r.status)
		h.wantUntouched(t)
	})
	t.Run("identity", func(t *testing.T) {
		h := newHarness(t)
		wantStatus(t, h.post(registerPath, small, "Content-Encoding", "identity"), http.StatusCreated)
	})
}

// TestHeadersTooLarge checks the other error fasthttp raises before
// routing is a problem with a request id and an access line too.
func TestHeadersTooLarge(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.listen(t), "http://")
	r := rawRequest(t, addr, loginPath, "X-Padding: "+strings.Repeat("p", 16<<10)+"\r\n", credsJSON("a@b.co", "kx7-Qm2z"), false)
	wantProblem(t, r, http.StatusRequestHeaderFieldsTooLarge)
	if !generatedID.MatchString(r.header.Get("X-Request-ID")) {
		t.Errorf("X-Request-ID = %q, want a generated id", r.header.Get("X-Request-ID"))
	}
	if strings.Contains(string(r.body), "pppp") {
		t.Errorf("the problem echoes the header: %s", r.body)
	}
	if n := strings.Count(h.logs.String(), `"status":431`); n != 1 {
		t.Errorf("%d access lines for the 431, want 1:\n%s", n, h.logs)
	}
	h.wantUntouched(t)
}

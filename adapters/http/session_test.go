package http_test

// Sessions through the HTTP API: refresh-token rotation, the reuse grace
// window, reuse detection, logout and logout from all devices.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

// wantTokenResponse checks r is a 200 token response with exactly the
// login fields, not cacheable, and returns its tokens and
// refresh_expires_in.
func wantTokenResponse(t *testing.T, r *response) (tokenPair, int64) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	if mt := mediaType(r); mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.header.Get("Content-Type"))
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := r.header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	body := decodeObject(t, r)
	got := keys(body)
	slices.Sort(got)
	// A login adds a device token (when the service issues them); a
	// refresh never does.
	want := []string{"access_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type"}
	if _, ok := body["device_token"]; ok {
		want = []string{"access_token", "device_token", "expires_in", "refresh_expires_in", "refresh_token", "token_type"}
	}
	if !slices.Equal(got, want) {
		t.Errorf("body has members %v, want exactly %v", got, want)
	}
	if body["token_type"] != "bearer" {
		t.Errorf("token_type = %#v, want bearer", body["token_type"])
	}
	n, ok := body["refresh_expires_in"].(json.Number)
	if !ok {
		t.Fatalf("refresh_expires_in = %#v, want an integer", body["refresh_expires_in"])
	}
	secs, err := n.Int64()
	if err != nil {
		t.Fatalf("refresh_expires_in = %v, want an integer", n)
	}
	// The access token lives 24 hours, but never past its session.
	if n, ok := body["expires_in"].(json.Number); !ok || n.String() != fmt.Sprint(min(86400, secs)) {
		t.Errorf("expires_in = %#v, want the integer %d (24 h, capped at the session's %d s)", body["expires_in"], min(86400, secs), secs)
	}
	p := tokensOf(t, r)
	wantOpaqueRefreshToken(t, p.refresh, p.access)
	return p, secs
}

// wantInvalidRefreshToken checks r is the one 401 for a refused refresh
// token and returns its body without the request id.
func wantInvalidRefreshToken(t *testing.T, r *response) string {
	t.Helper()
	p := wantProblem(t, r, http.StatusUnauthorized)
	if p["detail"] != "Invalid refresh token" {
		t.Errorf("detail = %v, want Invalid refresh token", p["detail"])
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	return withoutRequestID(t, r)
}

// wantNoContent checks r is an empty 204.
func wantNoContent(t *testing.T, r *response) {
	t.Helper()
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
}

// randomRefreshToken is well-formed but was never issued.
func randomRefreshToken(t *testing.T) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b[:])
}

func TestLoginRefreshExpiresInFollowsSessionTTL(t *testing.T) {
	h := newHarness(t, withSessionTTL(2*time.Hour))
	h.register("tess@example.com", "correct horse")
	_, secs := wantTokenResponse(t, h.post(loginPath, credsJSON("tess@example.com", "correct horse")))
	if secs != 7200 {
		t.Errorf("refresh_expires_in = %d, want the configured 7200", secs)
	}
	// wantTokenResponse checked expires_in is 7200 too: the access token
	// ends with its session, not 24 hours later.
}

// TestRefreshRotates follows one session through a refresh and a later
// replay of the spent token, which must end the whole session.
func TestRefreshRotates(t *testing.T) {
	h := newHarness(t)
	h.register("uma@example.com", "correct horse")
	first := h.loginTokens("uma@example.com", "correct horse")
	sid := h.sessionOf(first.access)

	h.clock.advance(time.Minute)
	second, secs := wantTokenResponse(t, h.refresh(first.refresh))
	if second.access == first.access || second.refresh == first.refresh {
		t.Fatalf("refresh returned an old token: %+v after %+v", second, first)
	}
	if want := int64((sessionTTL - time.Minute) / time.Second); secs != want {
		t.Errorf("refresh_expires_in = %d, want %d: refreshing never extends the session", secs, want)
	}
	if got := h.sessionOf(second.access); got != sid {
		t.Errorf("the new access token is for session %q, want the same session %q", got, sid)
	}
	r := h.get(mePath, "Authorization", "Bearer "+second.access)
	wantStatus(t, r, http.StatusOK)
	if id := decodeObject(t, r)["id"]; id != json.Number("1") {
		t.Errorf("me id = %v, want 1", id)
	}
	if got := h.events.names(); !slices.Equal(got, []string{"user.registered", "login.succeeded", "token.refreshed"}) {
		t.Errorf("a normal refresh recorded events %v, want no alarm", got)
	}

	// A replay after the grace window is taken as theft.
	h.clock.advance(reuseGrace + time.Second)
	wantInvalidRefreshToken(t, h.refresh(first.refresh))
	if got := h.events.names(); !slices.Contains(got, "token.reuse_detected") || !slices.Contains(got, "session.revoked") {
		t.Errorf("events = %v, want token.reuse_detected and session.revoked", got)
	}
	if !strings.Contains(h.security.String(), `"event":"token.reuse_detected"`) {
		t.Errorf("no token.reuse_detected line in the security log:\n%s", h.security)
	}
	if h.sessions.live(sid, h.clock.Now()) {
		t.Error("the session is still live after reuse")
	}
	// The newest token, and every access token of the session, die with it.
	wantInvalidRefreshToken(t, h.refresh(second.refresh))
	wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+second.access), true)
	wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+first.access), true)
}

// TestRefreshRetryWithinGrace checks a token presented again inside the
// grace window (two tabs, a retried request) gets the same successor.
func TestRefreshRetryWithinGrace(t *testing.T) {
	h := newHarness(t)
	h.register("vic@example.com", "correct horse")
	first := h.loginTokens("vic@example.com", "correct horse")

	a, _ := wantTokenResponse(t, h.refresh(first.refresh))
	h.clock.advance(reuseGrace / 2)
	b, _ := wantTokenResponse(t, h.refresh(first.refresh))
	if a.refresh != b.refresh {
		t.Fatalf("two refreshes within the grace window got %q and %q, want the same refresh token", a.refresh, b.refresh)
	}
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+b.access), http.StatusOK)
	if got := h.events.names(); !slices.Equal(got, []string{"user.registered", "login.succeeded", "token.refreshed", "token.refreshed"}) {
		t.Errorf("a retry within the grace window recorded %v, want no alarm", got)
	}

	// The successor is the session's one current token: refreshing it
	// works, and a retry of the first token then follows the chain.
	c, _ := wantTokenResponse(t, h.refresh(a.refresh))
	d, _ := wantTokenResponse(t, h.refresh(first.refresh))
	if d.refresh != c.refresh {
		t.Errorf("a retry after the successor was refreshed got %q, want the current %q", d.refresh, c.refresh)
	}
}

// TestRefreshConcurrent presents one token from many goroutines at once:
// all succeed with one successor, so the session neither forks nor ends.
func TestRefreshConcurrent(t *testing.T) {
	h := newHarness(t)
	h.register("wes@example.com", "correct horse")
	first := h.loginTokens("wes@example.com", "correct horse")

	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []string
		errs    []string
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.app.Test(newRequest(http.MethodPost, refreshPath, refreshJSON(first.refresh)), -1)
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			checkResponse(t, newRequest(http.MethodPost, refreshPath, ""), &response{status: res.StatusCode, header: res.Header, body: body})
			var tok struct {
				RefreshToken string `json:"refresh_token"`
			}
			mu.Lock()
			defer mu.Unlock()
			if res.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil {
				errs = append(errs, strconv.Itoa(res.StatusCode)+" "+string(body))
				return
			}
			results = append(results, tok.RefreshToken)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent refreshes failed: %v", len(errs), n, errs)
	}
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent refreshes got different tokens: %v", results)
		}
	}
	wantTokenResponse(t, h.refresh(results[0]))
}

func TestRefreshRejectsInvalidTokens(t *testing.T) {
	h := newHarness(t)
	h.register("xia@example.com", "correct horse")
	p := h.loginTokens("xia@example.com", "correct horse")

	cases := []struct{ name, token string }{
		{"empty string", ""},
		{"malformed", "not-a-refresh-token"},
		{"right length, not base64url", strings.Repeat("!", len(p.refresh))},
		{"one character longer", p.refresh + "A"},
		{"one character shorter", p.refresh[:len(p.refresh)-1]},
		{"well-formed but unknown", randomRefreshToken(t)},
		{"the access token", p.access},
		{"with surrounding space", " " + p.refresh + " "},
	}
	var first string
	for _, c := range cases {
		body := wantInvalidRefreshToken(t, h.refresh(c.token))
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s: body %s differs from %s", c.name, body, first)
		}
	}
	// None of that disturbed the session.
	wantTokenResponse(t, h.refresh(p.refresh))
}

func TestRefreshAfterSessionOrUserEnds(t *testing.T) {
	t.Run("session expired", func(t *testing.T) {
		h := newHarness(t, withSessionTTL(time.Hour))
		h.register("yan@example.com", "correct horse")
		p := h.loginTokens("yan@example.com", "correct horse")
		h.clock.advance(time.Hour)
		wantInvalidRefreshToken(t, h.refresh(p.refresh))
		wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+p.access), true)
	})
	t.Run("user inactive", func(t *testing.T) {
		h := newHarness(t)
		h.register("yan@example.com", "correct horse")
		p := h.loginTokens("yan@example.com", "correct horse")
		h.users.deactivate(t, "yan@example.com")
		wantInvalidRefreshToken(t, h.refresh(p.refresh))
	})
	t.Run("user gone", func(t *testing.T) {
		h := newHarness(t)
		u := h.register("yan@example.com", "correct horse")
		p := h.loginTokens("yan@example.com", "correct horse")
		id, _ := u["id"].(json.Number).Int64()
		h.users.remove(id)
		wantInvalidRefreshToken(t, h.refresh(p.refresh))
	})
}

// TestTokensAreNotInterchangeable checks a refresh token is not accepted
// where an access token is expected, and the other way round.
func TestTokensAreNotInterchangeable(t *testing.T) {
	h := newHarness(t)
	h.register("zed@example.com", "correct horse")
	p := h.loginTokens("zed@example.com", "correct horse")

	wantInvalidRefreshToken(t, h.refresh(p.access))
	wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+p.refresh), true)
	wantUnauthorizedToken(t, h.post(logoutAllPath, "", "Authorization", "Bearer "+p.refresh), true)
	// Logging out with the access token is a no-op, not a logout.
	wantNoContent(t, h.logout(p.access))
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+p.access), http.StatusOK)
	wantTokenResponse(t, h.refresh(p.refresh))
}

// TestRefreshTokenBodyErrors checks the request-body rules for the two
// endpoints that take {"refresh_token"}: nothing reaches storage.
func TestRefreshTokenBodyErrors(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		fields     []string
	}{
		{"missing field", `{}`, http.StatusUnprocessableEntity, []string{"refresh_token"}},
		{"other field only", `{"token":"abc"}`, http.StatusUnprocessableEntity, []string{"refresh_token"}},
		{"number", `{"refresh_token":12345}`, http.StatusBadRequest, nil},
		{"null", `{"refresh_token":null}`, http.StatusBadRequest, nil},
		{"array", `{"refresh_token":["x"]}`, http.StatusBadRequest, nil},
		{"malformed JSON", `{"refresh_token":"x"`, http.StatusBadRequest, nil},
		{"trailing data", `{"refresh_token":"x"} {}`, http.StatusBadRequest, nil},
		{"array body", `[{"refresh_token":"x"}]`, http.StatusBadRequest, nil},
		{"string body", `"x"`, http.StatusBadRequest, nil},
		{"duplicate key", `{"refresh_token":"x","refresh_token":"y"}`, http.StatusBadRequest, nil},
	}
	for _, path := range []string{refreshPath, logoutPath} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				p := wantProblem(t, h.post(path, tt.body), tt.status)
				if tt.fields != nil {
					wantFields(t, p, tt.fields...)
				}
				h.wantUntouched(t)
			})
		}
		t.Run(path+"/empty body", func(t *testing.T) {
			h := newHarness(t)
			wantProblem(t, h.do(newRequest(http.MethodPost, path, "", "Content-Type", "application/json")), http.StatusBadRequest)
			h.wantUntouched(t)
		})
		t.Run(path+"/text/plain", func(t *testing.T) {
			h := newHarness(t)
			wantProblem(t, h.post(path, refreshJSON(randomRefreshToken(t)), "Content-Type", "text/plain"), http.StatusUnsupportedMediaType)
			h.wantUntouched(t)
		})
		t.Run(path+"/gzip", func(t *testing.T) {
			h := newHarness(t)
			wantProblem(t, h.post(path, gzipped(t, refreshJSON(randomRefreshToken(t))), "Content-Encoding", "gzip"), http.StatusUnsupportedMediaType)
			h.wantUntouched(t)
		})
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	h.register("abe@example.com", "correct horse")
	p := h.loginTokens("abe@example.com", "correct horse")
	other := h.loginTokens("abe@example.com", "correct horse") // another device

	r := h.logout(p.refresh)
	wantNoContent(t, r)
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := h.events.names(); !slices.Equal(got, []string{"user.registered", "login.succeeded", "login.succeeded", "session.revoked"}) {
		t.Errorf("events = %v, want one session.revoked after the registration and logins", got)
	}
	// The session ends at once: its refresh and access tokens are refused.
	wantInvalidRefreshToken(t, h.refresh(p.refresh))
	wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+p.access), true)
	// Logging out again is not an error and records nothing new.
	wantNoContent(t, h.logout(p.refresh))
	if n := len(h.events.names()); n != 4 {
		t.Errorf("a repeated logout recorded events: %v", h.events.names())
	}
	// The other device's session is untouched.
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+other.access), http.StatusOK)
	wantTokenResponse(t, h.refresh(other.refresh))
}

func TestLogoutUnknownTokens(t *testing.T) {
	h := newHarness(t)
	h.register("bea@example.com", "correct horse")
	p := h.loginTokens("bea@example.com", "correct horse")
	for _, tok := range []string{"", "garbage", strings.Repeat("!", len(p.refresh)), randomRefreshToken(t)} {
		wantNoContent(t, h.logout(tok))
	}
	if got := h.events.names(); !slices.Equal(got, []string{"user.registered", "login.succeeded"}) {
		t.Errorf("logouts with unknown tokens recorded %v", got)
	}
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+p.access), http.StatusOK)
}

// TestLogoutNoContentOnTheWire reads the raw response: a 204 has no body
// (and no Content-Length claiming one), whatever Fiber put in its buffer.
func TestLogoutNoContentOnTheWire(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.listen(t), "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := refreshJSON(randomRefreshToken(t))
	req := "POST " + logoutPath + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 204 ")) {
		t.Fatalf("response:\n%s", raw)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResponse(t, newRequest(http.MethodPost, logoutPath, ""), &response{status: res.StatusCode, header: res.Header})
	if len(rest) != 0 {
		t.Errorf("204 followed by %d bytes: %q", len(rest), rest)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if name, value, _ := strings.Cut(line, ":"); strings.EqualFold(name, "Content-Length") && strings.TrimSpace(value) != "0" {
			t.Errorf("204 with %s", line)
		}
	}
}

func TestLogoutAll(t *testing.T) {
	h := newHarness(t)
	h.register("cal@example.com", "correct horse")
	h.register("dee@example.com", "correct horse")
	laptop := h.loginTokens("cal@example.com", "correct horse")
	phone := h.loginTokens("cal@example.com", "correct horse")
	someoneElse := h.loginTokens("dee@example.com", "correct horse")

	r := h.post(logoutAllPath, "", "Authorization", "Bearer "+phone.access)
	wantNoContent(t, r)
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	for name, p := range map[string]tokenPair{"laptop": laptop, "phone": phone} {
		if h.sessions.live(h.sessionOf(p.access), h.clock.Now()) {
			t.Errorf("%s: session still live", name)
		}
		wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+p.access), true)
		wantInvalidRefreshToken(t, h.refresh(p.refresh))
	}
	// The token used is dead too, so repeating the call is a 401.
	wantUnauthorizedToken(t, h.post(logoutAllPath, "", "Authorization", "Bearer "+phone.access), true)
	// Another user's session is not affected.
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+someoneElse.access), http.StatusOK)
	wantTokenResponse(t, h.refresh(someoneElse.refresh))

	var revoked []ports.SecurityEvent
	h.events.mu.Lock()
	for _, e := range h.events.events {
		if e.Name == "session.revoked" {
			revoked = append(revoked, e)
		}
	}
	h.events.mu.Unlock()
	if len(revoked) != 1 || revoked[0].UserID != 1 {
		t.Errorf("session.revoked events %+v, want one for user 1", revoked)
	}
}

func TestLogoutAllRejectsBadTokens(t *testing.T) {
	h := newHarness(t)
	h.register("eli@example.com", "correct horse")
	p := h.loginTokens("eli@example.com", "correct horse")
	expired, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: h.sessionOf(p.access)}, t0.Add(-tokenTTL), time.Time{})

	tests := []struct {
		name, authorization string
		invalidToken        bool
	}{
		{"missing header", "", false},
		{"Basic scheme", "Basic ZWxpOnBhc3M=", false},
		{"bare token", p.access, false},
		{"malformed token", "Bearer not-a-jwt", true},
		{"refresh token", "Bearer " + p.refresh, true},
		{"expired token", "Bearer " + expired.Token, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantUnauthorizedToken(t, h.post(logoutAllPath, "", "Authorization", tt.authorization), tt.invalidToken)
		})
	}
	if !h.sessions.live(h.sessionOf(p.access), h.clock.Now()) {
		t.Error("a refused logout/all ended the session")
	}
	if got := h.events.names(); !slices.Equal(got, []string{"user.registered", "login.succeeded"}) {
		t.Errorf("refused logout/all calls recorded %v", got)
	}
}

// TestSessionStorageDown checks a session store outage is a 503 with
// Retry-After on every operation that touches it, never a 401, and that
// its cause stays out of the body.
func TestSessionStorageDown(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	down := domain.Unavailable(cause)
	user := domain.RehydrateUser(1, "fay@example.com", fakeHash("correct horse"), true, t0)

	tests := []struct {
		name   string
		expect func(m *mock.MockSessionRepository)
		send   func(h *harness) *response
	}{
		{"login", func(m *mock.MockSessionRepository) {
			m.EXPECT().RevokeBeyond(gomock.Any(), int64(1), 99, gomock.Any()).Return(0, nil)
			m.EXPECT().Create(gomock.Any(), gomock.Any(), gomock.Any()).Return(down)
		}, func(h *harness) *response {
			h.register("fay@example.com", "correct horse")
			return h.post(loginPath, credsJSON("fay@example.com", "correct horse"))
		}},
		{"login, making room for the session", func(m *mock.MockSessionRepository) {
			m.EXPECT().RevokeBeyond(gomock.Any(), int64(1), 99, gomock.Any()).Return(0, down)
		}, func(h *harness) *response {
			h.register("fay@example.com", "correct horse")
			return h.post(loginPath, credsJSON("fay@example.com", "correct horse"))
		}},
		{"refresh", func(m *mock.MockSessionRepository) {
			m.EXPECT().Rotate(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).Return(ports.RefreshTokenState{}, false, down)
		}, func(h *harness) *response { return h.refresh(randomRefreshToken(t)) }},
		{"refresh revoking for reuse", func(m *mock.MockSessionRepository) {
			s := domain.RehydrateSession("s1", 1, t0, t0.Add(time.Hour), time.Time{})
			m.EXPECT().Rotate(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).Return(ports.RefreshTokenState{Session: s, SpentAt: t0.Add(-time.Minute)}, false, nil)
			m.EXPECT().Revoke(gomock.Any(), "s1", t0).Return(down)
		}, func(h *harness) *response { return h.refresh(randomRefreshToken(t)) }},
		{"logout", func(m *mock.MockSessionRepository) {
			m.EXPECT().Token(gomock.Any(), gomock.Any()).Return(ports.RefreshTokenState{}, down)
		}, func(h *harness) *response { return h.logout(randomRefreshToken(t)) }},
		{"logout revoking", func(m *mock.MockSessionRepository) {
			s := domain.RehydrateSession("s1", 1, t0, t0.Add(time.Hour), time.Time{})
			m.EXPECT().Token(gomock.Any(), gomock.Any()).Return(ports.RefreshTokenState{Session: s}, nil)
			m.EXPECT().Revoke(gomock.Any(), "s1", t0).Return(down)
		}, func(h *harness) *response { return h.logout(randomRefreshToken(t)) }},
		{"me", func(m *mock.MockSessionRepository) {
			m.EXPECT().ActiveUser(gomock.Any(), "s1", int64(1), t0).Return(nil, down)
		}, func(h *harness) *response {
			tok, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: "s1"}, t0, time.Time{})
			return h.get(mePath, "Authorization", "Bearer "+tok.Token)
		}},
		{"logout/all authenticating", func(m *mock.MockSessionRepository) {
			m.EXPECT().ActiveUser(gomock.Any(), "s1", int64(1), t0).Return(nil, down)
		}, func(h *harness) *response {
			tok, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: "s1"}, t0, time.Time{})
			return h.post(logoutAllPath, "", "Authorization", "Bearer "+tok.Token)
		}},
		{"logout/all revoking", func(m *mock.MockSessionRepository) {
			m.EXPECT().ActiveUser(gomock.Any(), "s1", int64(1), t0).Return(user, nil)
			m.EXPECT().RevokeAll(gomock.Any(), int64(1), t0).Return(0, down)
		}, func(h *harness) *response {
			tok, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: "s1"}, t0, time.Time{})
			return h.post(logoutAllPath, "", "Authorization", "Bearer "+tok.Token)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mock.NewMockSessionRepository(gomock.NewController(t))
			tt.expect(m)
			h := newHarness(t, withSessions(m))
			r := tt.send(h)
			p := wantProblem(t, r, http.StatusServiceUnavailable)
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if p["detail"] != "Service temporarily unavailable" {
				t.Errorf("detail = %v", p["detail"])
			}
			if c := r.header.Get("WWW-Authenticate"); c != "" {
				t.Errorf("an outage is not an authentication failure, but WWW-Authenticate = %q", c)
			}
			if strings.Contains(string(r.body), "10.0.0.7") || strings.Contains(string(r.body), "refused") {
				t.Errorf("body leaks the cause: %s", r.body)
			}
			if log := h.logs.String(); !strings.Contains(log, "connection refused") {
				t.Errorf("the access log lacks the cause:\n%s", log)
			}
		})
	}
}

// TestRefreshInternalErrorIsOpaque checks a session store error that is
// not a domain error is a generic 500.
func TestRefreshInternalErrorIsOpaque(t *testing.T) {
	m := mock.NewMockSessionRepository(gomock.NewController(t))
	m.EXPECT().Rotate(gomock.Any(), gomock.Any(), gomock.Any(), gomock.Any()).Return(ports.RefreshTokenState{}, false, errors.New("pq: syntax error at UPDATE refresh_tokens"))
	h := newHarness(t, withSessions(m))
	r := h.refresh(randomRefreshToken(t))
	wantProblem(t, r, http.StatusInternalServerError)
	if strings.Contains(string(r.body), "refresh_tokens") || strings.Contains(string(r.body), "pq:") {
		t.Errorf("500 body leaks the cause: %s", r.body)
	}
}

package http_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

// TestAccessLog runs register, login, me, a failed login, a 503, and the
// refresh and logout flows (including a detected reuse) through an app
// whose logger writes JSON to a buffer, then checks neither the access log
// nor the security event log holds a secret, and the access log has
// exactly one well-formed access line per request.
func TestAccessLog(t *testing.T) {
	h := newHarness(t)
	const (
		email    = "pat@example.com"
		password = "Tr0ub4dor&3-unique-in-the-log"
	)

	type sent struct {
		r      *response
		method string
		route  string
		userID bool
	}
	var reqs []sent

	r := h.post(registerPath, credsJSON(email, password))
	wantStatus(t, r, http.StatusCreated)
	created := decodeObject(t, r)
	reqs = append(reqs, sent{r, http.MethodPost, registerPath, true})

	r = h.post(loginPath, credsJSON(email, password), "X-Request-ID", "login-ok-1")
	wantStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login body %s", r.body)
	}
	reqs = append(reqs, sent{r, http.MethodPost, loginPath, true})

	authz := "Bearer " + tok.AccessToken
	r = h.get(mePath, "Authorization", authz)
	wantStatus(t, r, http.StatusOK)
	reqs = append(reqs, sent{r, http.MethodGet, mePath, true})

	r = h.post(loginPath, credsJSON(email, password+"-wrong"))
	wantStatus(t, r, http.StatusUnauthorized)
	reqs = append(reqs, sent{r, http.MethodPost, loginPath, false})

	h.users.setErr(domain.Unavailable(errors.New("dial tcp: connection refused")))
	r = h.get(mePath, "Authorization", authz)
	wantStatus(t, r, http.StatusServiceUnavailable)
	reqs = append(reqs, sent{r, http.MethodGet, mePath, false})
	h.users.setErr(nil)

	// The refresh and logout flows: rotation, a retry within the grace
	// window, a replay after it (reuse), logout and logout from all devices.
	r = h.refresh(tok.RefreshToken)
	wantStatus(t, r, http.StatusOK)
	rotated := tokensOf(t, r)
	reqs = append(reqs, sent{r, http.MethodPost, refreshPath, true})

	r = h.refresh(tok.RefreshToken)
	wantStatus(t, r, http.StatusOK)
	reqs = append(reqs, sent{r, http.MethodPost, refreshPath, true})

	h.clock.advance(reuseGrace + time.Second)
	r = h.refresh(tok.RefreshToken)
	wantStatus(t, r, http.StatusUnauthorized)
	reqs = append(reqs, sent{r, http.MethodPost, refreshPath, false})

	r = h.logout(rotated.refresh)
	wantStatus(t, r, http.StatusNoContent)
	reqs = append(reqs, sent{r, http.MethodPost, logoutPath, false})

	r = h.post(loginPath, credsJSON(email, password))
	wantStatus(t, r, http.StatusOK)
	second := tokensOf(t, r)
	reqs = append(reqs, sent{r, http.MethodPost, loginPath, true})

	r = h.logout(second.refresh)
	wantStatus(t, r, http.StatusNoContent)
	reqs = append(reqs, sent{r, http.MethodPost, logoutPath, false})

	r = h.post(loginPath, credsJSON(email, password))
	wantStatus(t, r, http.StatusOK)
	third := tokensOf(t, r)
	reqs = append(reqs, sent{r, http.MethodPost, loginPath, true})

	r = h.post(logoutAllPath, "", "Authorization", "Bearer "+third.access)
	wantStatus(t, r, http.StatusNoContent)
	reqs = append(reqs, sent{r, http.MethodPost, logoutAllPath, false})

	log := h.logs.String()
	security := h.security.String()
	secrets := map[string]string{
		"password":             password,
		"wrong password":       password + "-wrong",
		"access token":         tok.AccessToken,
		"Authorization header": authz,
		"password hash":        fakeHash(password),
	}
	for i, p := range []tokenPair{{tok.AccessToken, tok.RefreshToken}, rotated, second, third} {
		n := strconv.Itoa(i)
		secrets["access token "+n] = p.access
		secrets["refresh token "+n] = p.refresh
		hash, _ := h.sessionTokens.Hash(p.refresh)
		secrets["refresh token hash "+n] = hex.EncodeToString(hash)
		secrets["refresh token hash (base64url) "+n] = b64.EncodeToString(hash)
		// A log could leak a fragment of a token; look for a prefix too.
		secrets["refresh token prefix "+n] = p.refresh[:16]
	}
	if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
		secrets["token signature"] = parts[2]
		secrets["token payload"] = parts[1]
	} else {
		t.Fatalf("token %q is not three parts", tok.AccessToken)
	}
	for what, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log contains the %s %q", what, s)
		}
		if strings.Contains(security, s) {
			t.Errorf("the security event log contains the %s %q", what, s)
		}
	}
	// Security events carry the request id the access log and the
	// response header have.
	if !strings.Contains(security, `"event":"login.succeeded","request_id":"login-ok-1","client_ip":"0.0.0.0"`) {
		t.Errorf("no login.succeeded event with the login's request id and client address:\n%s", security)
	}
	// The replay after the grace window was reported to operators.
	if !strings.Contains(security, `"event":"token.reuse_detected"`) {
		t.Errorf("the security event log has no token.reuse_detected line:\n%s", security)
	}
	if n := strings.Count(security, `"event":"token.reuse_detected"`); n != 1 {
		t.Errorf("%d token.reuse_detected lines, want 1:\n%s", n, security)
	}
	// The hash is hex after a fixed prefix; a log could also leak a
	// fragment, so look for its digest part alone too.
	if digest := strings.TrimPrefix(fakeHash(password), "$fake$"); strings.Contains(log, digest[:16]) {
		t.Error("the log contains part of the password hash")
	}

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace([]byte(log)), []byte("\n")) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		lines = append(lines, m)
	}
	if len(lines) != len(reqs) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(reqs), log)
	}
	for i, want := range reqs {
		line := lines[i]
		if line["msg"] != "request" {
			t.Errorf("line %d: msg = %v, want request", i, line["msg"])
		}
		id, _ := line["request_id"].(string)
		if id == "" {
			t.Errorf("line %d: no request_id", i)
		}
		if got := want.r.header.Get("X-Request-ID"); got != id {
			t.Errorf("line %d: request_id %q, response header %q", i, id, got)
		}
		if n, ok := line["status"].(json.Number); !ok || n.String() != strconv.Itoa(want.r.status) {
			t.Errorf("line %d: status = %#v, want %d", i, line["status"], want.r.status)
		}
		if line["method"] != want.method {
			t.Errorf("line %d: method = %v, want %s", i, line["method"], want.method)
		}
		if line["route"] != want.route {
			t.Errorf("line %d: route = %v, want the template %s", i, line["route"], want.route)
		}
		if _, ok := line["duration_ms"].(json.Number); !ok {
			t.Errorf("line %d: duration_ms = %#v, want a number", i, line["duration_ms"])
		}
		uid, hasUID := line["user_id"].(json.Number)
		if hasUID != want.userID {
			t.Errorf("line %d (%s %s): user_id present = %v, want %v", i, want.method, want.route, hasUID, want.userID)
		}
		if hasUID && uid.String() != created["id"].(json.Number).String() {
			t.Errorf("line %d: user_id = %v, want %v", i, uid, created["id"])
		}
	}
	if lines[2]["user_id"] == nil {
		t.Error("the me request's line has no user_id")
	}
	if lines[4]["level"] != "ERROR" || !strings.Contains(lines[4]["error"].(string), "connection refused") {
		t.Errorf("the 503 line should be an ERROR carrying the cause: %v", lines[4])
	}
	if lines[3]["level"] != "INFO" || lines[3]["error"] != nil {
		t.Errorf("a failed login is not a server error: %v", lines[3])
	}
}

// TestAccessLogRouteTemplates checks unmatched paths are not logged
// verbatim (which would let clients create unbounded label values).
func TestAccessLogRouteTemplates(t *testing.T) {
	h := newHarness(t)
	h.get("/no/such/path/123")
	h.get(registerPath)
	log := h.logs.String()
	if strings.Contains(log, "/no/such/path") {
		t.Errorf("an unmatched path was logged verbatim:\n%s", log)
	}
	if n := strings.Count(log, `"msg":"request"`); n != 2 {
		t.Errorf("%d access lines for 2 requests:\n%s", n, log)
	}
}

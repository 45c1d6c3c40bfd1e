package http_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

func TestLoginIssuesToken(t *testing.T) {
	h := newHarness(t)
	h.register("carol@example.com", "correct horse")

	// The email is compared after normalization.
	r := h.post(loginPath, credsJSON(" CAROL@example.com", "correct horse"))
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
	if len(body) != 5 {
		t.Errorf("body has members %v, want exactly access_token, token_type, expires_in, refresh_token, refresh_expires_in", keys(body))
	}
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("access_token = %#v, want a token", body["access_token"])
	}
	if body["token_type"] != "bearer" {
		t.Errorf("token_type = %#v, want bearer", body["token_type"])
	}
	if n, ok := body["expires_in"].(json.Number); !ok || n.String() != "86400" {
		t.Errorf("expires_in = %#v, want the integer 86400", body["expires_in"])
	}
	refresh, _ := body["refresh_token"].(string)
	wantOpaqueRefreshToken(t, refresh, tok)
	if n, ok := body["refresh_expires_in"].(json.Number); !ok || n.String() != "2592000" {
		t.Errorf("refresh_expires_in = %#v, want the integer 2592000 (30 days)", body["refresh_expires_in"])
	}
	// The token is the one the issuer signed for this user, within the
	// session the refresh token belongs to.
	claims, err := h.tokens.Verify(tok, t0)
	if err != nil || claims.UserID != 1 || claims.SessionID == "" {
		t.Fatalf("token verifies to %+v, %v; want user 1 and a session", claims, err)
	}
	hash, _ := h.sessionTokens.Hash(refresh)
	st, err := h.sessions.Token(t.Context(), hash)
	if err != nil || st.Session.ID() != claims.SessionID || !st.SpentAt.IsZero() {
		t.Errorf("refresh token's stored state %+v, %v; want the unspent token of session %s", st, err, claims.SessionID)
	}
}

// wantOpaqueRefreshToken checks a refresh token is an opaque string of at
// least 256 bits, not a JWT and not the access token.
func wantOpaqueRefreshToken(t *testing.T, refresh, access string) {
	t.Helper()
	if len(refresh) < 43 {
		t.Errorf("refresh_token = %q, want an opaque token of at least 256 bits", refresh)
	}
	if strings.Contains(refresh, ".") || refresh == access {
		t.Errorf("refresh_token = %q looks like a JWT or the access token", refresh)
	}
}

// TestLoginFailuresAreIndistinguishable checks unknown email, wrong password
// and inactive account produce the same 401, byte for byte apart from the
// request id.
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	h := newHarness(t)
	h.register("dave@example.com", "correct horse")
	h.register("erin@example.com", "correct horse")
	h.users.deactivate(t, "erin@example.com")

	cases := []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", "correct horse"},
		{"wrong password", "dave@example.com", "wrong horse!"},
		{"inactive account", "erin@example.com", "correct horse"},
		{"unparseable email", "not an email", "correct horse"},
		{"empty password", "dave@example.com", ""},
	}
	var first string
	for _, c := range cases {
		r := h.post(loginPath, credsJSON(c.email, c.password))
		p := wantProblem(t, r, http.StatusUnauthorized)
		if p["detail"] != "Invalid credentials" {
			t.Errorf("%s: detail = %v, want Invalid credentials", c.name, p["detail"])
		}
		body := withoutRequestID(t, r)
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s: body %s differs from %s", c.name, body, first)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", c.name, r.header.Get("Cache-Control"))
		}
	}
}

func TestLoginMissingField(t *testing.T) {
	h := newHarness(t)
	r := h.post(loginPath, `{"email":"a@b.co"}`)
	p := wantProblem(t, r, http.StatusUnprocessableEntity)
	wantFields(t, p, "password")
	h.wantUntouched(t)
}

// TestLoginStorageDown checks a repository outage is a 503 with
// Retry-After, never a 401, and that its cause stays out of the body.
func TestLoginStorageDown(t *testing.T) {
	ctrl := gomock.NewController(t)
	repo := mock.NewMockUserRepository(ctrl)
	cause := errors.New("dial tcp: connection refused SELECT * FROM users")
	repo.EXPECT().ByEmail(gomock.Any(), gomock.Any()).Return(nil, domain.Unavailable(cause))
	h := newHarness(t, withUsers(repo))

	r := h.post(loginPath, credsJSON("frank@example.com", "correct horse"))
	p := wantProblem(t, r, http.StatusServiceUnavailable)
	if got := r.header.Get("Retry-After"); got == "" {
		t.Error("503 without Retry-After")
	}
	if p["detail"] != "Service temporarily unavailable" {
		t.Errorf("detail = %v", p["detail"])
	}
	for _, leak := range []string{"dial", "refused", "SELECT", "users"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("body leaks %q: %s", leak, r.body)
		}
	}
	// Operators still get the cause, tied to the request id.
	log := h.logs.String()
	if !strings.Contains(log, "connection refused") || !strings.Contains(log, r.header.Get("X-Request-ID")) {
		t.Errorf("access log lacks the cause or request id:\n%s", log)
	}
}

func TestRegisterStorageDown(t *testing.T) {
	h := newHarness(t)
	h.users.setErr(domain.Unavailable(errors.New("database is locked")))
	r := h.post(registerPath, credsJSON("gina@example.com", "correct horse"))
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if strings.Contains(string(r.body), "locked") {
		t.Errorf("body leaks the cause: %s", r.body)
	}
}

func TestMe(t *testing.T) {
	h := newHarness(t)
	created := h.register("hana@example.com", "correct horse")
	tok := h.login("hana@example.com", "correct horse")

	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		r := h.get(mePath, "Authorization", scheme+" "+tok)
		wantStatus(t, r, http.StatusOK)
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		body := decodeObject(t, r)
		if len(body) != 5 {
			t.Errorf("body has members %v, want exactly id, email, email_verified, is_active, created_at", keys(body))
		}
		for _, k := range []string{"id", "email", "email_verified", "is_active", "created_at"} {
			if body[k] != created[k] {
				t.Errorf("%s: %s = %v, want %v as at registration", scheme, k, body[k], created[k])
			}
		}
	}
}

func TestMeRejectsBadTokens(t *testing.T) {
	h := newHarness(t)
	h.register("ivan@example.com", "correct horse")
	tok := h.login("ivan@example.com", "correct horse")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not three parts", tok)
	}
	flip := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	sid := h.sessionOf(tok)
	forged, _ := h.tokens.Issue(ports.AccessSubject{UserID: 3, SessionID: sid}, t0, time.Time{})            // signed for a user that does not exist
	noSession, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: ""}, t0, time.Time{})          // no sid claim
	unknownSession, _ := h.tokens.Issue(ports.AccessSubject{UserID: 1, SessionID: "nope"}, t0, time.Time{}) // a session that does not exist
	h.register("ivy@example.com", "correct horse")                                                          // user 2
	othersSession, _ := h.tokens.Issue(ports.AccessSubject{UserID: 2, SessionID: sid}, t0, time.Time{})     // user 2 in ivan's session

	tests := []struct {
		name, authorization string
		invalidToken        bool // an RFC 6750 error="invalid_token" challenge
	}{
		{"missing header", "", false},
		{"Basic scheme", "Basic aXZhbjpwYXNz", false},
		{"Bearer without token", "Bearer", false},
		{"Bearer with blank token", "Bearer    ", false},
		{"bare token", tok, false},
		{"token with inner space", "Bearer " + parts[0] + " " + parts[1], false},
		{"malformed token", "Bearer not-a-jwt", true},
		{"tampered payload", "Bearer " + parts[0] + "." + flip(parts[1]) + "." + parts[2], true},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + flip(parts[2]), true},
		{"no signature", "Bearer " + parts[0] + "." + parts[1] + ".", true},
		{"unknown user", "Bearer " + forged.Token, true},
		{"no session", "Bearer " + noSession.Token, true},
		{"unknown session", "Bearer " + unknownSession.Token, true},
		{"another user's session", "Bearer " + othersSession.Token, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(mePath, "Authorization", tt.authorization)
			wantUnauthorizedToken(t, r, tt.invalidToken)
		})
	}

	t.Run("expired", func(t *testing.T) {
		h.clock.advance(tokenTTL)
		defer h.clock.advance(-tokenTTL)
		wantUnauthorizedToken(t, h.get(mePath, "Authorization", "Bearer "+tok), true)
	})
	t.Run("still valid a second before expiry", func(t *testing.T) {
		h.clock.advance(tokenTTL - time.Second)
		defer h.clock.advance(-tokenTTL + time.Second)
		wantStatus(t, h.get(mePath, "Authorization", "Bearer "+tok), http.StatusOK)
	})
}

func wantUnauthorizedToken(t *testing.T, r *response, invalidToken bool) {
	t.Helper()
	wantProblem(t, r, http.StatusUnauthorized)
	challenge := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(challenge, "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", challenge)
	}
	if got := strings.Contains(challenge, `error="invalid_token"`); got != invalidToken {
		t.Errorf("WWW-Authenticate = %q; invalid_token present = %v, want %v", challenge, got, invalidToken)
	}
}

func TestMeUserGoneOrInactive(t *testing.T) {
	h := newHarness(t)
	gone := h.register("judy@example.com", "correct horse")
	goneTok := h.login("judy@example.com", "correct horse")
	h.register("kim@example.com", "correct horse")
	inactiveTok := h.login("kim@example.com", "correct horse")

	id, _ := gone["id"].(json.Number).Int64()
	h.users.remove(id)
	h.users.deactivate(t, "kim@example.com")

	a := h.get(mePath, "Authorization", "Bearer "+goneTok)
	wantUnauthorizedToken(t, a, true)
	b := h.get(mePath, "Authorization", "Bearer "+inactiveTok)
	wantUnauthorizedToken(t, b, true)
	if withoutRequestID(t, a) != withoutRequestID(t, b) {
		t.Errorf("gone and inactive users answer differently: %s vs %s", a.body, b.body)
	}
}

func TestMeStorageDown(t *testing.T) {
	h := newHarness(t)
	h.register("leo@example.com", "correct horse")
	tok := h.login("leo@example.com", "correct horse")
	h.users.setErr(domain.Unavailable(errors.New("dial tcp 10.0.0.5:5432: i/o timeout")))

	r := h.get(mePath, "Authorization", "Bearer "+tok)
	wantProblem(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if c := r.header.Get("WWW-Authenticate"); c != "" {
		t.Errorf("an outage is not an authentication failure, but WWW-Authenticate = %q", c)
	}
	if strings.Contains(string(r.body), "10.0.0.5") {
		t.Errorf("body leaks the cause: %s", r.body)
	}
}

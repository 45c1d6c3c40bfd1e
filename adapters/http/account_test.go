package http_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// sessionsOf lists the caller's sessions, failing unless 200.
func (h *harness) sessionsOf(access string) []map[string]any {
	h.t.Helper()
	r := h.get(mePath+"/sessions", "Authorization", "Bearer "+access)
	wantStatus(h.t, r, http.StatusOK)
	var body struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		h.t.Fatalf("sessions body %s: %v", r.body, err)
	}
	return body.Sessions
}

func (h *harness) loginWithAgent(email, password, agent string) tokenPair {
	h.t.Helper()
	r := h.post(loginPath, credsJSON(email, password), "User-Agent", agent)
	wantStatus(h.t, r, http.StatusOK)
	return tokensOf(h.t, r)
}

// TestOwnSessions: two logins from two user agents are two entries, the
// asking one marked current; ending the other revokes its tokens at once;
// another user's session id is the same 404 as a missing one.
func TestOwnSessions(t *testing.T) {
	h := newHarness(t)
	h.register("sam@example.com", "kx7-Qm2z-long")
	phone := h.loginWithAgent("sam@example.com", "kx7-Qm2z-long", "Phone/1.0")
	laptop := h.loginWithAgent("sam@example.com", "kx7-Qm2z-long", "Laptop/2.0")

	list := h.sessionsOf(laptop.access)
	if len(list) != 2 {
		t.Fatalf("%d sessions, want 2: %v", len(list), list)
	}
	var phoneID string
	for _, s := range list {
		switch s["user_agent"] {
		case "Laptop/2.0":
			if s["current"] != true {
				t.Errorf("the asking session is not current: %v", s)
			}
		case "Phone/1.0":
			if s["current"] != false {
				t.Errorf("the other session is current: %v", s)
			}
			phoneID, _ = s["id"].(string)
		default:
			t.Errorf("unexpected session %v", s)
		}
		if s["client_ip"] == "" || s["created_at"] == "" || s["last_used_at"] == "" {
			t.Errorf("session without its metadata: %v", s)
		}
	}

	// Another user cannot end Sam's phone, and cannot tell it exists.
	h.register("eve@example.com", "kx7-Qm2z-long")
	eve := h.login("eve@example.com", "kx7-Qm2z-long")
	other := h.do(newRequest(http.MethodDelete, mePath+"/sessions/"+phoneID, "", "Authorization", "Bearer "+eve))
	missing := h.do(newRequest(http.MethodDelete, mePath+"/sessions/"+strings.Repeat("0", len(phoneID)), "", "Authorization", "Bearer "+eve))
	wantProblem(t, other, http.StatusNotFound)
	wantProblem(t, missing, http.StatusNotFound)
	if a, b := withoutRequestID(t, other), withoutRequestID(t, missing); a != b {
		t.Errorf("another user's session and a missing one differ:\n%s\n%s", a, b)
	}
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+phone.access), http.StatusOK)

	// Sam ends the phone's session: its access and refresh tokens stop at
	// once; the laptop is unaffected.
	r := h.do(newRequest(http.MethodDelete, mePath+"/sessions/"+phoneID, "", "Authorization", "Bearer "+laptop.access))
	wantNoContent(t, r)
	wantProblem(t, h.get(mePath, "Authorization", "Bearer "+phone.access), http.StatusUnauthorized)
	wantInvalidRefreshToken(t, h.refresh(phone.refresh))
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+laptop.access), http.StatusOK)
	if list := h.sessionsOf(laptop.access); len(list) != 1 {
		t.Errorf("%d sessions after ending one, want 1", len(list))
	}
	// Ending it again is the same 404.
	wantProblem(t, h.do(newRequest(http.MethodDelete, mePath+"/sessions/"+phoneID, "", "Authorization", "Bearer "+laptop.access)), http.StatusNotFound)
	// Without a token: 401 with a challenge.
	r = h.get(mePath + "/sessions")
	wantProblem(t, r, http.StatusUnauthorized)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

// TestDeleteMe: the current password is required (403 otherwise, nothing
// deleted); then the account and its sessions are gone and the email can
// register again.
func TestDeleteMe(t *testing.T) {
	h := newHarness(t)
	h.register("del@example.com", "kx7-Qm2z-long")
	p := h.loginTokens("del@example.com", "kx7-Qm2z-long")
	auth := []string{"Authorization", "Bearer " + p.access, "Content-Type", "application/json"}

	wantProblem(t, h.do(newRequest(http.MethodDelete, mePath, `{"password":"not it at all"}`, auth...)), http.StatusForbidden)
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+p.access), http.StatusOK)
	wantProblem(t, h.do(newRequest(http.MethodDelete, mePath, `{}`, auth...)), http.StatusUnprocessableEntity)
	wantProblem(t, h.do(newRequest(http.MethodDelete, mePath, `{"password":"kx7-Qm2z-long"}`, "Content-Type", "application/json")), http.StatusUnauthorized)
	if h.users.count() != 1 {
		t.Fatalf("%d users after refused deletions, want 1", h.users.count())
	}

	wantNoContent(t, h.do(newRequest(http.MethodDelete, mePath, `{"password":"kx7-Qm2z-long"}`, auth...)))
	if h.users.count() != 0 {
		t.Fatalf("%d users after deletion, want 0", h.users.count())
	}
	wantProblem(t, h.get(mePath, "Authorization", "Bearer "+p.access), http.StatusUnauthorized)
	wantInvalidRefreshToken(t, h.refresh(p.refresh))
	wantProblem(t, h.post(loginPath, credsJSON("del@example.com", "kx7-Qm2z-long")), http.StatusUnauthorized)
	h.register("del@example.com", "another-Pass-9")
	if !strings.Contains(h.security.String(), `"event":"user.deleted"`) {
		t.Errorf("no user.deleted event:\n%s", h.security.String())
	}
}

package main

import (
	"strings"
	"testing"
)

// TestOwnSessionsOnBothStores: two logins from two user agents are two
// entries with the asking one current; ending the other refuses its
// tokens at once; another user's session id is the same 404 as a missing
// one; deleting the account frees the email. Through run() on each store.
func TestOwnSessionsOnBothStores(t *testing.T) {
	for name, db := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := start(t, map[string]string{"AUTHD_DATABASE_URL": db(t)})
			const sam = `{"email":"sam@example.com","password":"sam's long password"}`
			const eve = `{"email":"eve@example.com","password":"eve's long password"}`
			for _, c := range []string{sam, eve} {
				if r := in.do("POST", "/api/v1/auth/register", c); r.status != 201 {
					t.Fatalf("register: %d %s", r.status, r.body)
				}
			}
			phone := in.do("POST", "/api/v1/auth/login", sam, "User-Agent", "Phone/1.0").json(t)
			laptop := in.do("POST", "/api/v1/auth/login", sam, "User-Agent", "Laptop/2.0").json(t)
			eveAccess := str(t, in.do("POST", "/api/v1/auth/login", eve).json(t), "access_token")
			lap := "Bearer " + str(t, laptop, "access_token")

			r := in.do("GET", "/api/v1/users/me/sessions", "", "Authorization", lap)
			list, _ := r.json(t)["sessions"].([]any)
			if r.status != 200 || len(list) != 2 {
				t.Fatalf("sessions: %d %s", r.status, r.body)
			}
			var phoneID string
			for _, e := range list {
				s := e.(map[string]any)
				switch s["user_agent"] {
				case "Laptop/2.0":
					if s["current"] != true {
						t.Errorf("asking session not current: %v", s)
					}
				case "Phone/1.0":
					if s["current"] != false {
						t.Errorf("other session current: %v", s)
					}
					phoneID, _ = s["id"].(string)
				default:
					t.Errorf("unexpected session %v", s)
				}
			}
			other := in.do("DELETE", "/api/v1/users/me/sessions/"+phoneID, "", "Authorization", "Bearer "+eveAccess)
			missing := in.do("DELETE", "/api/v1/users/me/sessions/"+strings.Repeat("f", len(phoneID)), "", "Authorization", "Bearer "+eveAccess)
			expectProblem(t, other, 404, "Session not found")
			expectProblem(t, missing, 404, "Session not found")
			if r := in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+str(t, phone, "access_token")); r.status != 200 {
				t.Fatalf("another user ended Sam's phone: %d", r.status)
			}
			if r := in.do("DELETE", "/api/v1/users/me/sessions/"+phoneID, "", "Authorization", lap); r.status != 204 {
				t.Fatalf("end own session: %d %s", r.status, r.body)
			}
			expectProblem(t, in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+str(t, phone, "access_token")), 401, "")
			expectProblem(t, in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+str(t, phone, "refresh_token")+`"}`), 401, "Invalid refresh token")

			// Delete the account: wrong password 403, right one 204, and
			// the email registers again.
			expectProblem(t, in.do("DELETE", "/api/v1/users/me", `{"password":"not it"}`, "Authorization", lap), 403, "")
			if r := in.do("DELETE", "/api/v1/users/me", `{"password":"sam's long password"}`, "Authorization", lap); r.status != 204 {
				t.Fatalf("delete me: %d %s", r.status, r.body)
			}
			expectProblem(t, in.do("GET", "/api/v1/users/me", "", "Authorization", lap), 401, "")
			if r := in.do("POST", "/api/v1/auth/register", sam); r.status != 201 {
				t.Errorf("register again after deletion: %d %s", r.status, r.body)
			}
		})
	}
}

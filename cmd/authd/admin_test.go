package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authd/authd/docs/openapitest"
)

// testAdminKey is AUTHD_ADMIN_TOKEN in these tests.
const testAdminKey = "e2e-admin-key-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE"

// adminClient is a client of the admin listener, found by its "serving
// admin" log record; its responses are checked against
// docs/admin-openapi.yaml.
func adminClient(t *testing.T, in *instance) client {
	t.Helper()
	spec, err := openapitest.LoadAdmin()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(in.logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving admin" {
			return client{t: t, base: "http://" + rec.Addr, spec: spec}
		}
	}
	t.Fatalf("no \"serving admin\" record:\n%s", in.logs.String())
	return client{}
}

// TestAdminAPI walks the admin API through the real wiring on each store:
// a user registered and logged in on the public port is listed, shown,
// deactivated (its token and login refused at once), activated, signed
// out and deleted (its email free again), and the admin paths are not on
// the public port.
func TestAdminAPI(t *testing.T) {
	for name, newDB := range stores(t) {
		t.Run(name, func(t *testing.T) { testAdminAPI(t, newDB(t)) })
	}
}

func testAdminAPI(t *testing.T, dbURL string) {
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": dbURL, "AUTHD_ADMIN_ADDR": "127.0.0.1:0", "AUTHD_ADMIN_TOKEN": testAdminKey})
	adm := adminClient(t, in)
	const creds = `{"email":"ops@example.com","password":"kx7-Qm2z-long"}`
	key := []string{"Authorization", "Bearer " + testAdminKey}
	if adm.base == in.base {
		t.Fatalf("admin and API share %s", in.base)
	}
	r := in.do(http.MethodPost, "/api/v1/auth/register", creds)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	id := int64(num(t, r.json(t), "id"))
	in.do(http.MethodPost, "/api/v1/auth/register", `{"email":"other@example.com","password":"kx7-Qm2z-long"}`)
	r = in.do(http.MethodPost, "/api/v1/auth/login", creds)
	access := str(t, r.json(t), "access_token")
	bearer := []string{"Authorization", "Bearer " + access}

	if r := adm.do(http.MethodGet, "/admin/v1/users", ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="authd-admin"` {
		t.Errorf("no key: %d %v", r.status, r.header)
	}
	if r := adm.do(http.MethodGet, "/admin/v1/users", "", "Authorization", "Bearer "+testAdminKey+"x"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", r.status)
	}
	r = adm.do(http.MethodGet, "/admin/v1/users?email_prefix=OPS&limit=5", "", key...)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"ops@example.com"`) || strings.Contains(string(r.body), "other@") {
		t.Errorf("list: %d %s", r.status, r.body)
	}
	user := fmt.Sprintf("/admin/v1/users/%d", id)
	r = adm.do(http.MethodGet, user, "", key...)
	if m := r.json(t); r.status != http.StatusOK || num(t, m, "live_sessions") != 1 || m["last_login"] == nil {
		t.Errorf("show: %d %s", r.status, r.body)
	}

	if r := adm.do(http.MethodPost, user+"/deactivate", "", key...); r.status != http.StatusOK || r.json(t)["is_active"] != false {
		t.Errorf("deactivate: %d %s", r.status, r.body)
	}
	if r := in.do(http.MethodGet, "/api/v1/users/me", "", bearer...); r.status != http.StatusUnauthorized {
		t.Errorf("the old token after deactivation: %d", r.status)
	}
	if r := in.do(http.MethodPost, "/api/v1/auth/login", creds); r.status != http.StatusUnauthorized {
		t.Errorf("login while inactive: %d", r.status)
	}
	if r := adm.do(http.MethodPost, user+"/activate", "", key...); r.status != http.StatusOK || r.json(t)["is_active"] != true {
		t.Errorf("activate: %d %s", r.status, r.body)
	}
	access = str(t, in.do(http.MethodPost, "/api/v1/auth/login", creds).json(t), "access_token")
	if r := adm.do(http.MethodPost, user+"/revoke-sessions", "", key...); r.status != http.StatusOK || string(r.body) != `{"revoked":1}` {
		t.Errorf("revoke-sessions: %d %s", r.status, r.body)
	}
	if r := in.do(http.MethodGet, "/api/v1/users/me", "", "Authorization", "Bearer "+access); r.status != http.StatusUnauthorized {
		t.Errorf("a token after revoke-sessions: %d", r.status)
	}

	if r := adm.do(http.MethodDelete, user, "", key...); r.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := adm.do(http.MethodGet, user, "", key...); r.status != http.StatusNotFound {
		t.Errorf("show after delete: %d", r.status)
	}
	if r := in.do(http.MethodPost, "/api/v1/auth/register", creds); r.status != http.StatusCreated {
		t.Errorf("register again after delete: %d %s", r.status, r.body)
	}
	for _, p := range []string{"/admin/v1/users", user, "/admin/v1/openapi.yaml"} {
		if r := in.do(http.MethodGet, p, "", key...); r.status != http.StatusNotFound {
			t.Errorf("GET %s on the public port = %d, want 404", p, r.status)
		}
	}
	for _, event := range []string{"user.deactivated", "user.activated", "user.deleted"} {
		if !strings.Contains(in.logs.String(), `"event":"`+event+`"`) || !strings.Contains(in.logs.String(), `"actor":"admin_api"`) {
			t.Errorf("no %s event with actor admin_api in the log", event)
		}
	}
	if strings.Contains(in.logs.String(), testAdminKey) {
		t.Error("the admin key is in the log")
	}
}

// TestAdminAPIOffByDefault: no admin listener without AUTHD_ADMIN_ADDR.
func TestAdminAPIOffByDefault(t *testing.T) {
	in := start(t, map[string]string{"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_ADMIN_TOKEN": testAdminKey})
	if r := in.do(http.MethodGet, "/admin/v1/users", "", "Authorization", "Bearer "+testAdminKey); r.status != http.StatusNotFound {
		t.Errorf("GET /admin/v1/users = %d, want 404", r.status)
	}
	if strings.Contains(in.logs.String(), `"serving admin"`) {
		t.Error("an admin listener started without AUTHD_ADMIN_ADDR")
	}
}

func TestStartupRefusesAdminWithoutKey(t *testing.T) {
	err := run(context.Background(), nil, env(map[string]string{
		"AUTHD_DATABASE_URL": sqliteURL(t), "AUTHD_JWT_SECRET": "e2e-secret-that-is-at-least-32-bytes-long",
		"AUTHD_ADMIN_ADDR": "127.0.0.1:0",
	}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTHD_ADMIN_TOKEN") {
		t.Fatalf("err = %v, want one naming AUTHD_ADMIN_TOKEN", err)
	}
}

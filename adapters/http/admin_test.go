package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/docs/openapitest"
)

// adminKey is the admin API's bearer key in these tests.
const adminKey = "admin-key-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE"

// adminDo sends req to an admin app built over h's fakes (a second
// app.Service on the same ports, as cmd/authd builds both from one) and
// validates the response against docs/admin-openapi.yaml. A header
// "Authorization: -" sends none; none given sends the right key.
func adminDo(h *harness, req *http.Request) *response {
	h.t.Helper()
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := httpapi.NewAdmin(httpapi.AdminConfig{Token: []byte(adminKey), OpenAPI: docs.AdminOpenAPI}, svc, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		h.t.Fatal(err)
	}
	switch req.Header.Get("Authorization") {
	case "":
		req.Header.Set("Authorization", "Bearer "+adminKey)
	case "-":
		req.Header.Del("Authorization")
	}
	res, err := f.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: body}
	spec, err := openapitest.LoadAdmin()
	if err != nil {
		h.t.Fatal(err)
	}
	spec.Check(h.t, req, r.status, r.header, r.body)
	observeProblem(r)
	return r
}

func adminReq(h *harness, method, path string, headers ...string) *response {
	h.t.Helper()
	return adminDo(h, newRequest(method, path, "", headers...))
}

func userPath(id any, action string) string {
	p := fmt.Sprintf("/admin/v1/users/%v", id)
	if action != "" {
		p += "/" + action
	}
	return p
}

// registerID registers email and returns its id.
func registerID(h *harness, email string) int64 {
	h.t.Helper()
	u := h.register(email, "tulip quartz harbor")
	n, err := u["id"].(json.Number).Int64()
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestAdminRefusesWithoutTheKey: no key, a wrong key (shorter, longer, of
// the same length, another scheme) get the same 401 problem with the
// admin challenge, and nothing is read or written.
func TestAdminRefusesWithoutTheKey(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	reads, writes, events := h.users.reads.Load(), h.users.creates.Load(), len(h.events.names())
	wrongSameLength := strings.Repeat("x", len(adminKey))
	var bodies []string
	for _, auth := range []string{"-", "Bearer wrong", "Bearer " + adminKey + "x", "Bearer " + wrongSameLength, "Basic " + adminKey, "Bearer"} {
		for _, call := range []struct{ method, path string }{
			{http.MethodGet, "/admin/v1/users"}, {http.MethodGet, userPath(id, "")},
			{http.MethodPost, userPath(id, "deactivate")}, {http.MethodPost, userPath(id, "activate")},
			{http.MethodPost, userPath(id, "revoke-sessions")}, {http.MethodDelete, userPath(id, "")},
			{http.MethodGet, "/admin/v1/openapi.yaml"},
		} {
			r := adminReq(h, call.method, call.path, "Authorization", auth)
			p := wantProblem(t, r, http.StatusUnauthorized)
			wantCode(t, p, "admin_token_required")
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="authd-admin"` {
				t.Errorf("%s %s with %q: WWW-Authenticate = %q", call.method, call.path, auth, got)
			}
			bodies = append(bodies, withoutRequestID(t, r))
		}
	}
	if distinct := slices.Compact(slices.Clone(bodies)); len(distinct) != 1 {
		t.Errorf("the refusals differ: %q", distinct)
	}
	if h.users.reads.Load() != reads || h.users.creates.Load() != writes {
		t.Errorf("a refused request touched the store: reads %d -> %d, writes %d -> %d", reads, h.users.reads.Load(), writes, h.users.creates.Load())
	}
	if n := len(h.events.names()); n != events {
		t.Errorf("refused requests recorded events: %q", h.events.names())
	}
	if strings.Contains(h.logs.String(), adminKey) {
		t.Error("the access log carries the admin key")
	}
}

func TestAdminListUsersPaginates(t *testing.T) {
	h := newHarness(t)
	var want []string
	for i := range 5 {
		e := fmt.Sprintf("user%d@example.com", i)
		registerID(h, e)
		want = append(want, e)
	}
	registerID(h, "other@example.org")
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := adminReq(h, http.MethodGet, "/admin/v1/users?email_prefix=USER&limit=2"+after)
		wantStatus(t, r, http.StatusOK)
		var page struct {
			Users []struct {
				ID    int64  `json:"id"`
				Email string `json:"email"`
			} `json:"users"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Users {
			got = append(got, u.Email)
		}
		if page.NextCursor == nil {
			if len(page.Users) == 2 {
				t.Errorf("a full page without next_cursor")
			}
			break
		}
		if len(page.Users) != 2 || *page.NextCursor != fmt.Sprint(page.Users[1].ID) {
			t.Fatalf("page %s: next_cursor %q, want the last id of a full page", r.body, *page.NextCursor)
		}
		after = "&after=" + *page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	r := adminReq(h, http.MethodGet, "/admin/v1/users")
	if n := strings.Count(string(r.body), `"email"`); n != 6 || strings.Contains(string(r.body), "next_cursor") {
		t.Errorf("default page: %s", r.body)
	}
}

func TestAdminListUsersRefusesBadParameters(t *testing.T) {
	h := newHarness(t)
	for query, fields := range map[string][]string{
		"limit=0":                    {"limit"},
		"limit=1001":                 {"limit"},
		"limit=ten":                  {"limit"},
		"after=-1":                   {"after"},
		"after=x&limit=-5":           {"after", "limit"},
		"after=99999999999999999999": {"after"},
	} {
		r := adminReq(h, http.MethodGet, "/admin/v1/users?"+query)
		p := wantProblem(t, r, http.StatusUnprocessableEntity)
		wantFields(t, p, fields...)
		codes := slices.Repeat([]string{"invalid_parameter"}, len(fields))
		wantFieldCodes(t, p, codes...)
		if len(fields) == 1 {
			wantCode(t, p, "invalid_parameter")
		} else {
			wantCode(t, p, "validation_failed")
		}
	}
	wantStatus(t, adminReq(h, http.MethodGet, "/admin/v1/users?limit=1000"), http.StatusOK)
}

func TestAdminShowUser(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	r := adminReq(h, http.MethodGet, userPath(id, ""))
	wantStatus(t, r, http.StatusOK)
	u := decodeObject(t, r)
	if u["email"] != "alice@example.com" || u["live_sessions"] != json.Number("0") || u["last_login"] != nil {
		t.Errorf("before login: %s", r.body)
	}
	h.login("alice@example.com", "tulip quartz harbor")
	h.clock.advance(60e9)
	h.login("alice@example.com", "tulip quartz harbor")
	u = decodeObject(t, adminReq(h, http.MethodGet, userPath(id, "")))
	if u["live_sessions"] != json.Number("2") || u["last_login"] != "2026-01-01T00:01:00Z" {
		t.Errorf("after two logins: %v", u)
	}
}

// TestAdminUnknownUser: every per-user endpoint answers 404 not_found for
// an unknown id and for one that is not a positive integer.
func TestAdminUnknownUser(t *testing.T) {
	h := newHarness(t)
	registerID(h, "alice@example.com")
	for _, id := range []string{"999", "0", "-1", "abc", "alice@example.com", "1.0", "99999999999999999999"} {
		for _, call := range []struct{ method, action string }{
			{http.MethodGet, ""}, {http.MethodDelete, ""}, {http.MethodPost, "deactivate"},
			{http.MethodPost, "activate"}, {http.MethodPost, "revoke-sessions"},
		} {
			r := adminReq(h, call.method, userPath(id, call.action))
			wantCode(t, wantProblem(t, r, http.StatusNotFound), "not_found")
		}
	}
	if h.users.count() != 1 {
		t.Error("a 404 changed the store")
	}
}

// TestAdminDeactivateEndsAccessAtOnce: the user's access token is refused
// on the public app right after the deactivation, login is refused until
// activation, and the events name the admin API.
func TestAdminDeactivateEndsAccessAtOnce(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	tokens := h.loginTokens("alice@example.com", "tulip quartz harbor")
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+tokens.access), http.StatusOK)

	r := adminReq(h, http.MethodPost, userPath(id, "deactivate"))
	wantStatus(t, r, http.StatusOK)
	if u := decodeObject(t, r); u["is_active"] != false || u["id"] != json.Number(fmt.Sprint(id)) {
		t.Errorf("deactivate answered %s", r.body)
	}
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+tokens.access), http.StatusUnauthorized)
	wantStatus(t, h.refresh(tokens.refresh), http.StatusUnauthorized)
	wantStatus(t, h.post(loginPath, credsJSON("alice@example.com", "tulip quartz harbor")), http.StatusUnauthorized)

	r = adminReq(h, http.MethodPost, userPath(id, "activate"))
	if u := decodeObject(t, r); r.status != http.StatusOK || u["is_active"] != true {
		t.Errorf("activate answered %v", r)
	}
	h.login("alice@example.com", "tulip quartz harbor")
	wantEvents(t, h, "user.deactivated", "user.activated")
}

// wantEvents checks that each named event was recorded with actor admin_api.
func wantEvents(t *testing.T, h *harness, names ...string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(h.security.String()), "\n") {
		var e struct{ Event, Actor string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(names, e.Event); i >= 0 {
			if e.Actor != "admin_api" {
				t.Errorf("event %s has actor %q, want admin_api", e.Event, e.Actor)
			}
			names = slices.Delete(names, i, i+1)
		}
	}
	if len(names) > 0 {
		t.Errorf("events not recorded: %q (log: %s)", names, h.security.String())
	}
}

func TestAdminRevokeSessions(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	a := h.login("alice@example.com", "tulip quartz harbor")
	b := h.login("alice@example.com", "tulip quartz harbor")
	r := adminReq(h, http.MethodPost, userPath(id, "revoke-sessions"))
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"revoked":2}` {
		t.Errorf("body %s, want {\"revoked\":2}", r.body)
	}
	for _, tok := range []string{a, b} {
		wantStatus(t, h.get(mePath, "Authorization", "Bearer "+tok), http.StatusUnauthorized)
	}
	h.login("alice@example.com", "tulip quartz harbor") // still active
	if r := adminReq(h, http.MethodPost, userPath(id, "revoke-sessions")); string(r.body) != `{"revoked":1}` {
		t.Errorf("second revoke: %s", r.body)
	}
	wantEvents(t, h, "session.revoked")
}

func TestAdminDeleteUser(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	access := h.login("alice@example.com", "tulip quartz harbor")
	r := adminReq(h, http.MethodDelete, userPath(id, ""))
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %q", r.body)
	}
	wantStatus(t, h.get(mePath, "Authorization", "Bearer "+access), http.StatusUnauthorized)
	wantCode(t, wantProblem(t, adminReq(h, http.MethodGet, userPath(id, "")), http.StatusNotFound), "not_found")
	h.register("alice@example.com", "tulip quartz harbor")
	wantEvents(t, h, "user.deleted")
}

// TestAdminRoutesAreNotOnThePublicApp: the public app has no /admin
// path, with or without the key.
func TestAdminRoutesAreNotOnThePublicApp(t *testing.T) {
	h := newHarness(t)
	id := registerID(h, "alice@example.com")
	for _, req := range []*http.Request{
		newRequest(http.MethodGet, "/admin/v1/users", "", "Authorization", "Bearer "+adminKey),
		newRequest(http.MethodGet, userPath(id, ""), "", "Authorization", "Bearer "+adminKey),
		newRequest(http.MethodPost, userPath(id, "deactivate"), "", "Authorization", "Bearer "+adminKey),
		newRequest(http.MethodGet, "/admin/v1/openapi.yaml", ""),
	} {
		wantCode(t, wantProblem(t, h.do(req), http.StatusNotFound), "not_found")
	}
	h.login("alice@example.com", "tulip quartz harbor")
}

func TestAdminServesItsOwnDocument(t *testing.T) {
	h := newHarness(t)
	r := adminReq(h, http.MethodGet, "/admin/v1/openapi.yaml")
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != string(docs.AdminOpenAPI) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /admin/v1/openapi.yaml: %s ...", r.header)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Request-ID") == "" {
		t.Errorf("the shared headers are missing: %v", r.header)
	}
}

func TestNewAdminRefusesAnEmptyKey(t *testing.T) {
	h := newHarness(t)
	svc, _ := app.New(h.ports, h.cfg)
	if _, err := httpapi.NewAdmin(httpapi.AdminConfig{}, svc, slog.Default()); err == nil {
		t.Error("NewAdmin with no key: no error")
	}
}

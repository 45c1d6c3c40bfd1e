package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cli runs `authd users args...` against the instance's database, as an
// operator would while the server runs, and returns stdout, stderr and the
// error run returned.
func cli(t *testing.T, vars map[string]string, args ...string) (string, string, error) {
	t.Helper()
	all := map[string]string{"AUTHD_BCRYPT_COST": "4", "AUTHD_JWT_SECRET": "e2e-secret-that-is-at-least-32-bytes-long"}
	for k, v := range vars {
		all[k] = v
	}
	var out, errb bytes.Buffer
	err := run(t.Context(), append([]string{"users"}, args...), env(all), &out, &errb)
	return out.String(), errb.String(), err
}

// TestOperatorCLI drives every `authd users` command on each store while a
// server runs on the same database: deactivation refuses the user's
// existing access token and logins on the server's next request,
// activation restores them, deletion frees the email, and every action is
// an audit event with actor cli.
func TestOperatorCLI(t *testing.T) {
	for name, db := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"AUTHD_DATABASE_URL": db(t)}
			in := start(t, vars)
			const creds = `{"email":"ops@example.com","password":"operator's target"}`
			for i := range 3 {
				body := fmt.Sprintf(`{"email":"user%d@example.com","password":"operator's target"}`, i)
				if r := in.do("POST", "/api/v1/auth/register", body); r.status != 201 {
					t.Fatalf("register: %d %s", r.status, r.body)
				}
			}
			if r := in.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
				t.Fatalf("register: %d %s", r.status, r.body)
			}
			access := str(t, in.do("POST", "/api/v1/auth/login", creds).json(t), "access_token")

			// list: a page, the cursor, the filter; --json parses.
			out, _, err := cli(t, vars, "list", "--limit", "2", "--json")
			var page struct {
				Users      []map[string]any `json:"users"`
				NextCursor string           `json:"next_cursor"`
			}
			if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Users) != 2 || page.NextCursor == "" {
				t.Fatalf("list --limit 2 --json: %v %q", err, out)
			}
			out, _, err = cli(t, vars, "list", "--after", page.NextCursor, "--limit", "10")
			if err != nil || strings.Count(out, "@example.com") != 2 || strings.Contains(out, "(more") {
				t.Errorf("second page: %v\n%s", err, out)
			}
			if out, _, err = cli(t, vars, "list", "--email-like", "OPS*"); err != nil || !strings.Contains(out, "ops@example.com") || strings.Contains(out, "user0") {
				t.Errorf("--email-like OPS*: %v\n%s", err, out)
			}

			// The token's session is in the server's session cache now
			// (two lookups: a miss, then a hit).
			for range 2 {
				if st := me(in, access); st != 200 {
					t.Fatalf("/users/me before deactivate: %d", st)
				}
			}
			// deactivate: the running server refuses the token and the
			// password at once, though its session was cached: the CLI
			// writes through connections of its own.
			out, stderr, err := cli(t, vars, "deactivate", "ops@example.com", "--json")
			var u map[string]any
			if err != nil || json.Unmarshal([]byte(out), &u) != nil || u["is_active"] != false {
				t.Fatalf("deactivate: %v %q", err, out)
			}
			if !strings.Contains(stderr, `"event":"user.deactivated"`) || !strings.Contains(stderr, `"actor":"cli"`) {
				t.Errorf("no audit event with actor cli on stderr: %s", stderr)
			}
			expectProblem(t, in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access), 401, "")
			expectProblem(t, in.do("POST", "/api/v1/auth/login", creds), 401, "Invalid credentials")

			// activate: logins work again (the old sessions stay ended).
			id := fmt.Sprint(u["id"])
			if _, _, err := cli(t, vars, "activate", id); err != nil {
				t.Fatal(err)
			}
			access = str(t, in.do("POST", "/api/v1/auth/login", creds).json(t), "access_token")
			expectProblem(t, in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access+"x"), 401, "")

			// show, revoke-sessions.
			if out, _, err := cli(t, vars, "show", "ops@example.com"); err != nil || !strings.Contains(out, "live sessions: 1") {
				t.Errorf("show: %v\n%s", err, out)
			}
			if out, _, err := cli(t, vars, "revoke-sessions", "ops@example.com"); err != nil || !strings.Contains(out, "ended 1 sessions") {
				t.Errorf("revoke-sessions: %v\n%s", err, out)
			}
			expectProblem(t, in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+access), 401, "")

			// delete: refused without --yes, then the email registers again.
			if _, _, err := cli(t, vars, "delete", "ops@example.com"); !errors.As(err, new(usageError)) {
				t.Errorf("delete without --yes: %v, want a usage error", err)
			}
			if _, _, err := cli(t, vars, "delete", "ops@example.com", "--yes"); err != nil {
				t.Fatal(err)
			}
			expectProblem(t, in.do("POST", "/api/v1/auth/login", creds), 401, "Invalid credentials")
			if r := in.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
				t.Errorf("register after delete: %d %s", r.status, r.body)
			}

			// Unknown users and bad command lines: one-line errors.
			for _, args := range [][]string{{"show", "nobody@example.com"}, {"deactivate", "999999"}, {"delete", "0", "--yes"}} {
				_, _, err := cli(t, vars, args...)
				if err == nil || errors.As(err, new(usageError)) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "no user") {
					t.Errorf("%v: %v, want a one-line 'no user' error", args, err)
				}
			}
			for _, args := range [][]string{{}, {"frobnicate", "x"}, {"show"}, {"list", "--limit", "0"}, {"list", "--yes"}, {"show", "a", "b"}, {"list", "--limit"}} {
				if _, _, err := cli(t, vars, args...); !errors.As(err, new(usageError)) {
					t.Errorf("%v: %v, want a usage error", args, err)
				}
			}
		})
	}
}

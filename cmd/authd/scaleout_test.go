package main

// Several authd instances on one PostgreSQL database behave as one
// service. (Refresh rotation and reuse detection across instances:
// TestRefreshAcrossInstances; shared rate limits:
// TestRateLimitSharedAcrossInstances.)

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/ports/migration"
)

// TestInstancesShareUsersAndKeys: two instances with one Ed25519 key: a
// user registered through one logs in through the other, and each accepts
// the other's access tokens.
func TestInstancesShareUsersAndKeys(t *testing.T) {
	vars := asymmetricVars(pgtest.Start(t).NewDatabase(t), mustKey(t, "Ed25519"))
	a, b := start(t, vars), start(t, vars)
	if a.base == b.base {
		t.Fatalf("both instances on %s", a.base)
	}

	const creds = `{"email":"scale@example.com","password":"a long enough password"}`
	if r := a.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register through a: %d %s", r.status, r.body)
	}
	expectProblem(t, b.do("POST", "/api/v1/auth/register", creds), 400, "Email already registered")
	fromB := str(t, logIn(t, b, "scale@example.com"), "access_token")
	fromA := str(t, logIn(t, a, "scale@example.com"), "access_token")
	for name, status := range map[string]int{
		"b's token at a": me(a, fromB),
		"a's token at b": me(b, fromA),
		"b's token at b": me(b, fromB),
	} {
		if status != 200 {
			t.Errorf("%s: %d", name, status)
		}
	}
	if ka, kb := jwksKIDs(t, a), jwksKIDs(t, b); len(ka) != 1 || strings.Join(ka, ",") != strings.Join(kb, ",") {
		t.Errorf("key sets differ: a %v, b %v", ka, kb)
	}

	// Logging out everywhere through a ends b's tokens at b at once.
	if r := a.do("POST", "/api/v1/auth/logout/all", "", "Authorization", "Bearer "+fromB); r.status != 204 {
		t.Fatalf("logout/all through a: %d %s", r.status, r.body)
	}
	for name, status := range map[string]int{"b's token at b": me(b, fromB), "a's token at b": me(b, fromA)} {
		if status != 401 {
			t.Errorf("after logout/all, %s: %d, want 401", name, status)
		}
	}
}

// TestConcurrentStartMigratesOnce starts two instances at the same moment
// on an empty database (AUTHD_AUTO_MIGRATE defaults to true): both come up
// without errors, exactly one of them applies the migrations, and the
// schema ends at the latest version. Repeated on fresh databases, since a
// race does not show every time.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	pg := pgtest.Start(t)
	latest, err := migration.Latest(postgres.MigrationFiles())
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, "Ed25519")
	for round := range 3 {
		dbURL := pg.NewDatabase(t)
		gate := make(chan struct{})
		vars := asymmetricVars(dbURL, key)
		ins := []*instance{launch(t, vars, gate), launch(t, vars, gate)}
		close(gate)
		for _, in := range ins {
			in.client = client{t: t, base: "http://" + listenAddr(t, in.logs, in.done)}
		}

		applied, upToDate := 0, 0
		for i, in := range ins {
			if r := in.do("GET", "/readyz", ""); r.status != 200 {
				t.Errorf("round %d, instance %d: readyz %d %s", round, i, r.status, r.body)
			}
			for _, line := range strings.Split(strings.TrimSpace(in.logs.String()), "\n") {
				var rec struct {
					Level, Msg string
					Version    int
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("round %d, instance %d: log line %q: %v", round, i, line, err)
					continue
				}
				switch {
				case rec.Level == "ERROR" || rec.Level == "WARN":
					t.Errorf("round %d, instance %d: %s", round, i, line)
				case rec.Msg == "migrations applied":
					applied++
					if rec.Version != latest {
						t.Errorf("round %d: migrated to %d, want %d", round, rec.Version, latest)
					}
				case rec.Msg == "schema up to date":
					upToDate++
				}
			}
		}
		if applied != 1 || upToDate != 1 {
			t.Errorf("round %d: %d instances applied migrations and %d found the schema up to date; want 1 and 1", round, applied, upToDate)
		}

		st, err := openStore(t.Context(), databaseConfig{Driver: "postgres", URL: dbURL, ConnectTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		v, dirty, err := st.SchemaVersion(t.Context())
		st.Close()
		if err != nil || v != latest || dirty {
			t.Errorf("round %d: schema version %d (dirty %v, %v), want %d clean", round, v, dirty, err, latest)
		}

		// The two are one service from the first request on.
		signUp(t, ins[0], "first@example.com")
		if r := ins[1].do("POST", "/api/v1/auth/login", `{"email":"first@example.com","password":"a long enough password"}`); r.status != 200 {
			t.Errorf("round %d: login through the other instance: %d %s", round, r.status, r.body)
		}
		for _, in := range ins {
			in.stop(t)
		}
	}
}

// TestLogoutAcrossInstancesWithCache: b has the session cached (its
// /users/me was answered twice); logging out through a ends the access
// token at b on b's very next request, through PostgreSQL's NOTIFY.
func TestLogoutAcrossInstancesWithCache(t *testing.T) {
	vars := asymmetricVars(pgtest.Start(t).NewDatabase(t), mustKey(t, "Ed25519"))
	vars["AUTHD_RATE_LIMIT"] = "off" // 50 sign-ups from one address
	a, b := start(t, vars), start(t, vars)
	for i := range 50 {
		email := fmt.Sprintf("cached%d@example.com", i)
		tok := signUp(t, a, email)
		access := str(t, tok, "access_token")
		for range 2 {
			if st := me(b, access); st != 200 {
				t.Fatalf("before logout: b answered %d", st)
			}
		}
		if r := a.do("POST", "/api/v1/auth/logout", `{"refresh_token":"`+str(t, tok, "refresh_token")+`"}`); r.status != 204 {
			t.Fatalf("logout through a: %d %s", r.status, r.body)
		}
		if st := me(b, access); st != 401 {
			t.Fatalf("round %d: logged out through a, b's next /users/me answered %d, want 401", i, st)
		}
	}
	// b answered from its cache (the second /users/me of each round), so
	// the 401s above are the cache's invalidation at work, not its absence.
	if hits := metricValue(t, b.client, "authd_session_cache_hits_total"); hits < 50 {
		t.Errorf("b's session cache hits = %v, want at least 50", hits)
	}
}

package http_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
)

// TestReadyzComposesChecks: every check runs in order, an empty state is
// left out, and one check not ok makes the whole answer 503; the drain
// check turns it for good.
func TestReadyzComposesChecks(t *testing.T) {
	h := newHarness(t)
	svc, err := app.New(h.ports, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	check := func(name, state string) httpapi.Check {
		return httpapi.Check{Name: name, Run: func(context.Context) (string, bool) {
			order = append(order, name)
			return state, state == "ok"
		}}
	}
	drain := &httpapi.Draining{}
	f, err := httpapi.New(httpapi.Config{
		OpenAPI: docs.OpenAPI,
		Ready:   []httpapi.Check{check("database", "ok"), check("migrations", "ok"), check("circuit", "ok"), {Name: "shutdown", Run: drain.Check}},
	}, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.app = f

	r := h.get("/readyz")
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"checks":{"circuit":"ok","database":"ok","migrations":"ok"},"status":"ready"}` {
		t.Errorf("ready body = %s", r.body)
	}
	if strings.Join(order, " ") != "database migrations circuit" {
		t.Errorf("checks ran as %v", order)
	}

	drain.Start()
	p := wantProblem(t, h.get("/readyz"), http.StatusServiceUnavailable)
	got, _ := json.Marshal(p["checks"])
	if string(got) != `{"circuit":"ok","database":"ok","migrations":"ok","shutdown":"draining"}` {
		t.Errorf("draining checks = %s", got)
	}
	if p["detail"] != "Not ready: shutdown draining" {
		t.Errorf("detail = %q", p["detail"])
	}
}

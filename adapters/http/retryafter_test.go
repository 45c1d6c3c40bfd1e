package http_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

// unavailableFor is an EUNAVAILABLE refusal that knows when there will be
// room, as the bcrypt pool's are.
func unavailableFor(d time.Duration) error {
	e := domain.Unavailable(errors.New("bcrypt: predicted wait for a hashing worker exceeds the maximum"))
	e.RetryAfter = d
	return e
}

// TestRetryAfterFromError: a 503 whose error carries its own wait tells
// the client that wait, in whole seconds rounded up and at least 1; one
// without keeps the default of 5 s.
func TestRetryAfterFromError(t *testing.T) {
	h := newHarness(t)
	h.register("rita@example.com", "correct horse")
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"no wait of its own", domain.Unavailable(errors.New("bcrypt: hashing queue is full")), "5"},
		{"under a second", unavailableFor(50 * time.Millisecond), "1"},
		{"whole seconds", unavailableFor(2 * time.Second), "2"},
		{"rounded up", unavailableFor(11*time.Second + 600*time.Millisecond), "12"},
		{"longer than the default", unavailableFor(30 * time.Second), "30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.hasher.setErr(c.err)
			defer h.hasher.setErr(nil)
			for path, email := range map[string]string{registerPath: "sam@example.com", loginPath: "rita@example.com"} {
				r := h.post(path, credsJSON(email, "correct horse"))
				p := wantProblem(t, r, http.StatusServiceUnavailable)
				if got := r.header.Get("Retry-After"); got != c.want {
					t.Errorf("%s: Retry-After = %q, want %q", path, got, c.want)
				}
				if p["code"] != domain.ReasonUnavailable {
					t.Errorf("%s: code = %v, want %q", path, p["code"], domain.ReasonUnavailable)
				}
			}
		})
	}
	// The hasher works again: nothing stuck.
	h.login("rita@example.com", "correct horse")
}

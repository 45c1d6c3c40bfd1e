package http

import (
	"context"
	"errors"
	"sync/atomic"
)

// Check is one named readiness check of /readyz.
type Check struct {
	// Name is the check's key in the "checks" object ("database",
	// "circuit", ...).
	Name string
	// Run reports the state ("ok", or a word saying what is wrong, such as
	// "unavailable" or "pending") and whether it lets the instance take
	// traffic. An empty state leaves the check out of the answer; it must
	// then be ok.
	Run func(ctx context.Context) (state string, ok bool)
}

// readiness runs every check in order and composes /readyz's checks and
// verdict: ready when every check is ok.
func readiness(ctx context.Context, checks []Check) (map[string]string, bool) {
	states := make(map[string]string, len(checks))
	ready := true
	for _, c := range checks {
		state, ok := c.Run(ctx)
		if state != "" {
			states[c.Name] = state
		}
		ready = ready && ok
	}
	return states, ready
}

func validChecks(checks []Check) error {
	seen := make(map[string]bool, len(checks))
	for _, c := range checks {
		if c.Name == "" || c.Run == nil || seen[c.Name] {
			return errors.New("http: a readiness check needs a unique name and a function")
		}
		seen[c.Name] = true
	}
	return nil
}

// Draining is the "shutdown" readiness check: absent until Start, then
// "draining" and not ready, so load balancers stop sending new requests
// while in-flight ones finish.
type Draining struct{ on atomic.Bool }

// Start turns the check to "draining" for good.
func (d *Draining) Start() { d.on.Store(true) }

// Check is the Check.Run of "shutdown".
func (d *Draining) Check(context.Context) (string, bool) {
	if d.on.Load() {
		return "draining", false
	}
	return "", true
}

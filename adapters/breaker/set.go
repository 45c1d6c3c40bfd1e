package breaker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/authd/authd/ports"
)

// Hystrix keeps circuits and its logger per process, while tests run
// several service instances in one process. These two make that safe.
var (
	sets          atomic.Int64
	installLogger sync.Once
)

// Set names and tracks the circuits of one service instance. Its
// decorators work like Users, Sessions, RateLimits and Breaches, but name
// the hystrix commands themselves: "db.users", "db.sessions",
// "db.rate_limits" and "hibp" for the first Set of the process, with ".N"
// appended for the Nth after it, so that one instance's outage cannot open
// another's circuit. Every circuit is reachable through its handle, never
// by name.
type Set struct {
	suffix string

	mu       sync.Mutex
	circuits []*Circuit
}

// NewSet returns an empty Set. The first call in the process installs
// logger (nil: slog.Default()) as hystrix's one logger (see SlogLogger);
// later calls leave it, since hystrix's logger is an unsynchronised global.
func NewSet(logger *slog.Logger) *Set {
	installLogger.Do(func() { hystrix.SetLogger(SlogLogger{Logger: logger}) })
	s := &Set{}
	if n := sets.Add(1); n > 1 {
		s.suffix = fmt.Sprintf(".%d", n)
	}
	return s
}

// Circuit is the handle of one hystrix command of a Set.
type Circuit struct {
	name string
	// required circuits are dependencies the service cannot work without:
	// they count for readiness and are watched.
	required bool
	probe    func(ctx context.Context)
}

// Name is the hystrix command name, as metrics and logs show it.
func (c *Circuit) Name() string { return c.name }

// Open reports whether the circuit refuses calls now (see the package
// function Open).
func (c *Circuit) Open() bool { return Open(c.name) }

// Probe makes one cheap read through the circuit's own decorator, whose
// "not found" counts as success. Once the sleep window has passed, that
// read is hystrix's trial call: it closes the circuit when the dependency
// answers, even while no traffic arrives. It is a no-op for a circuit
// without a cheap read (the breach checker).
func (c *Circuit) Probe(ctx context.Context) {
	if c.probe != nil {
		c.probe(ctx)
	}
}

// add configures the command base+suffix from cfg and records its handle.
func (s *Set) add(base string, cfg Config, required bool) (*Circuit, command) {
	c := &Circuit{name: base + s.suffix, required: required}
	cmd := newCommand(c.name, cfg)
	s.mu.Lock()
	s.circuits = append(s.circuits, c)
	s.mu.Unlock()
	return c, cmd
}

// Circuits returns the handles of every circuit made so far, in order.
func (s *Set) Circuits() []*Circuit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Circuit(nil), s.circuits...)
}

func (s *Set) required() []*Circuit {
	var req []*Circuit
	for _, c := range s.Circuits() {
		if c.required {
			req = append(req, c)
		}
	}
	return req
}

// Users wraps next in the circuit "db.users", configured from cfg; it
// panics on an invalid cfg (see Config.Validate).
func (s *Set) Users(next ports.UserRepository, cfg Config) ports.UserRepository {
	r := &UserRepository{next: next}
	var c *Circuit
	c, r.cmd = s.add("db.users", cfg, true)
	c.probe = func(ctx context.Context) { _, _ = r.ByID(ctx, 0) }
	return r
}

// Sessions wraps next in the circuit "db.sessions", configured from cfg.
func (s *Set) Sessions(next ports.SessionRepository, cfg Config) ports.SessionRepository {
	r := &SessionRepository{next: next}
	var c *Circuit
	c, r.cmd = s.add("db.sessions", cfg, true)
	c.probe = func(ctx context.Context) { _, _ = r.ActiveUser(ctx, "readiness-probe", 0, time.Now()) }
	return r
}

// RateLimits wraps next in the circuit "db.rate_limits", configured from
// cfg. Wrap only a store that can fail (a database): an in-memory one
// cannot, and would only gain a concurrency limit.
func (s *Set) RateLimits(next ports.RateLimitStore, cfg Config) ports.RateLimitStore {
	r := &RateLimitStore{next: next}
	var c *Circuit
	c, r.cmd = s.add("db.rate_limits", cfg, true)
	c.probe = func(ctx context.Context) { _, _, _ = r.Count(ctx, "readiness-probe", time.Now()) }
	return r
}

// Breaches wraps next in the circuit "hibp", configured from cfg. The
// breach checker is optional to the service (app decides what its
// outage means), so this circuit counts neither for Ready nor for Watch;
// it is in Circuits, for metrics.
func (s *Set) Breaches(next ports.BreachChecker, cfg Config) ports.BreachChecker {
	b := &BreachChecker{next: next}
	_, b.cmd = s.add("hibp", cfg, false)
	return b
}

// Ready is the "circuit" readiness check: "open" while a required circuit
// stays open after one probe through it, else "ok". The probe matters: a
// load balancer that stops sending traffic because of this very answer
// would otherwise leave the circuit no call to close on.
func (s *Set) Ready(ctx context.Context) (string, bool) {
	for _, c := range s.required() {
		if !c.Open() {
			continue
		}
		c.Probe(ctx)
		if c.Open() {
			return "open", false
		}
	}
	return "ok", true
}

// Watch logs each state change of the required circuits, as the package
// function Watch does, until ctx ends.
func (s *Set) Watch(ctx context.Context, every time.Duration, logger *slog.Logger) *Watcher {
	var names []string
	for _, c := range s.required() {
		names = append(names, c.name)
	}
	return Watch(ctx, names, every, logger)
}

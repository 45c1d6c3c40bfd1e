package breaker

import (
	"context"
	"log/slog"
	"time"

	"github.com/afex/hystrix-go/hystrix"
)

// Open reports whether the circuit of command name is open, that is,
// whether calls are being refused. It is false for a name no one has
// configured, and does not create a circuit for it.
//
// An open circuit closes only when a probe call, let through after the
// sleep window, succeeds. A readiness check that reports "not ready"
// while Open is true must not also stop the traffic that would make that
// probe, or it stays not ready for good: have it call the dependency
// through the decorator (a cheap query), or use Open for reporting only.
func Open(name string) bool {
	if _, ok := hystrix.GetCircuitSettings()[name]; !ok {
		return false
	}
	cb, _, err := hystrix.GetCircuit(name)
	return err == nil && cb.IsOpen()
}

// Watcher polls circuits and logs each change of state once.
type Watcher struct {
	names  []string
	logger *slog.Logger
	open   map[string]bool
	done   chan struct{}
}

// Watch polls the circuits of names now and then at each interval of
// every (a second if not positive) until ctx ends, and logs each change as
// one record to logger (nil: slog.Default()) with event "breaker.state",
// command and state "open" (at WARN) or "closed" (at INFO). Circuits are
// taken to start closed, so one already open at the first poll is logged
// then. Polling goes through Open, which may itself notice that a
// circuit's error rate opens it; that is what the next call would do
// anyway.
func Watch(ctx context.Context, names []string, every time.Duration, logger *slog.Logger) *Watcher {
	if every <= 0 {
		every = time.Second
	}
	if logger == nil {
		logger = slog.Default()
	}
	w := &Watcher{
		names:  append([]string(nil), names...),
		logger: logger,
		open:   make(map[string]bool, len(names)),
		done:   make(chan struct{}),
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			w.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Wait returns once the watcher has stopped, after its context ended.
func (w *Watcher) Wait() { <-w.done }

func (w *Watcher) poll(ctx context.Context) {
	for _, name := range w.names {
		open := Open(name)
		if open == w.open[name] {
			continue
		}
		w.open[name] = open
		state, level := "closed", slog.LevelInfo
		if open {
			state, level = "open", slog.LevelWarn
		}
		w.logger.LogAttrs(context.WithoutCancel(ctx), level, "circuit breaker "+state,
			slog.String("event", "breaker.state"),
			slog.String("command", name),
			slog.String("state", state))
	}
}

package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/breaker"
	"github.com/authd/authd/adapters/metrics"
)

// sessionCountEvery is how often the live sessions are counted for
// authd_active_sessions: a COUNT over the sessions table (kept small by
// the sweep), never run at scrape time.
const sessionCountEvery = 30 * time.Second

// newMetrics builds the registry and hands it a view of the adapters it
// may not import: the hashing pool, the circuits, the database pool
// (labelled driver), and the live-session count, which runs in the
// background until ctx ends.
func newMetrics(ctx context.Context, st store, driver string, hasher *bcrypt.Hasher, circuits []*breaker.Circuit) *metrics.Metrics {
	m := metrics.New()
	m.HashPool(func() metrics.HashPoolStats {
		s := hasher.Stats()
		return metrics.HashPoolStats{Running: s.Running, Waiting: s.Waiting, WaitedTotal: s.WaitedTotal}
	})
	for _, c := range circuits {
		m.Breakers(func(string) bool { return c.Open() }, c.Name())
	}
	m.DBPool(driver, st.PoolStats)
	m.ActiveSessions(ctx, sessionCountEvery, func(ctx context.Context) (int, error) {
		return st.LiveSessions(ctx, time.Now())
	})
	return m
}

// metricsServer serves GET /metrics alone, on AUTHD_METRICS_ADDR.
type metricsServer struct {
	srv    *http.Server
	ln     net.Listener
	served chan error
}

// serveMetrics starts serving h at /metrics on ln.
func serveMetrics(ln net.Listener, h http.Handler) *metricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	ms := &metricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		ln:     ln,
		served: make(chan error, 1),
	}
	go func() {
		err := ms.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ms.served <- err
	}()
	return ms
}

// shutdown lets in-flight scrapes finish within timeout, then closes.
func (ms *metricsServer) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := ms.srv.Shutdown(ctx)
	return errors.Join(err, <-ms.served)
}

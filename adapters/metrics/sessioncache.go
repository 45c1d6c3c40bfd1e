package metrics

import "github.com/prometheus/client_golang/prometheus"

// SessionCacheStats are the session cache's counts, as
// adapters/sessioncache reports them.
type SessionCacheStats struct {
	Hits, Misses, Bypasses uint64
	Entries                int
}

// SessionCache exports the session cache's counts, read from stats at
// scrape time.
func (m *Metrics) SessionCache(stats func() SessionCacheStats) {
	counter := func(name, help string, v func(SessionCacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	m.reg.MustRegister(
		counter("authd_session_cache_hits_total",
			"Authenticated requests whose session check was answered from memory.",
			func(s SessionCacheStats) uint64 { return s.Hits }),
		counter("authd_session_cache_misses_total",
			"Authenticated requests whose session check asked the database because the cache had no live entry.",
			func(s SessionCacheStats) uint64 { return s.Misses }),
		counter("authd_session_cache_bypasses_total",
			"Authenticated requests whose session check asked the database because the cache could not be trusted (PostgreSQL listener down, SQLite change check failed).",
			func(s SessionCacheStats) uint64 { return s.Bypasses }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_session_cache_entries",
			Help: "Sessions held in the session cache.",
		}, func() float64 { return float64(stats().Entries) }),
	)
}

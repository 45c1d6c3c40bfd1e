package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/ports"
)

// DBStats is a snapshot of a database connection pool, as the store
// adapters report it.
type DBStats = ports.PoolStats

// DBPool exports the database pool's state, with the constant label
// driver ("postgres", "sqlite"), read from stats once per scrape.
func (m *Metrics) DBPool(driver string, stats func() DBStats) {
	labels := prometheus.Labels{"driver": driver}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, labels) }
	m.reg.MustRegister(&dbCollector{
		stats:       stats,
		open:        d("authd_db_connections_open", "Database connections open, in use or idle."),
		inUse:       d("authd_db_connections_in_use", "Database connections in use."),
		idle:        d("authd_db_connections_idle", "Database connections idle in the pool."),
		max:         d("authd_db_connections_max", "The pool's bound on open database connections."),
		waits:       d("authd_db_waits_total", "Connection acquisitions that found no idle connection and waited."),
		waitTime:    d("authd_db_wait_seconds_total", "Time acquisitions spent waiting for a connection, together."),
		acquires:    d("authd_db_acquires_total", "Connection acquisitions (PostgreSQL only)."),
		acquireTime: d("authd_db_acquire_seconds_total", "Time connection acquisitions took, together (PostgreSQL only)."),
	})
}

// dbCollector takes one snapshot per scrape, so the gauges agree.
type dbCollector struct {
	stats                                                          func() DBStats
	open, inUse, idle, max, waits, waitTime, acquires, acquireTime *prometheus.Desc
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.max, c.waits, c.waitTime, c.acquires, c.acquireTime} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.open, s.Open)
	gauge(c.inUse, s.InUse)
	gauge(c.idle, s.Idle)
	gauge(c.max, s.Max)
	counter(c.waits, float64(s.Waits))
	counter(c.waitTime, s.WaitTime.Seconds())
	if s.CountsAcquires {
		counter(c.acquires, float64(s.Acquires))
		counter(c.acquireTime, s.AcquireTime.Seconds())
	}
}

package main

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"
)

// server reads the listeners, the environment and the HTTP timeouts.
func (e *envReader) server(c *config) {
	c.Addr = e.str("AUTHD_ADDR", ":8080")
	c.Env = strings.ToLower(e.str("AUTHD_ENV", envDevelopment))
	if c.Env != envDevelopment && c.Env != envProduction {
		e.bad("AUTHD_ENV", "%q is neither development nor production", c.Env)
	}
	c.metrics(e)
	c.Docs = e.boolean("AUTHD_DOCS", true)
	c.ReadTimeout = e.dur("AUTHD_READ_TIMEOUT", 10*time.Second)
	c.WriteTimeout = e.dur("AUTHD_WRITE_TIMEOUT", 10*time.Second)
	c.IdleTimeout = e.dur("AUTHD_IDLE_TIMEOUT", 60*time.Second)
	c.ShutdownTimeout = e.dur("AUTHD_SHUTDOWN_TIMEOUT", 15*time.Second)
	c.ShutdownDelay = e.durOrZero("AUTHD_SHUTDOWN_DELAY", time.Second)
	c.RequestTimeout = e.dur("AUTHD_REQUEST_TIMEOUT", 10*time.Second)
	c.TrustedProxies = e.trustedProxies("AUTHD_TRUSTED_PROXIES")
}

// metrics reads where /metrics is served. Production keeps it off the
// API's listener: what it counts is for operators, not for every client.
func (c *config) metrics(e *envReader) {
	c.MetricsPublic = e.boolean("AUTHD_METRICS_PUBLIC", false)
	c.MetricsAddr = e.str("AUTHD_METRICS_ADDR", "")
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			e.bad("AUTHD_METRICS_ADDR", "%q is not a listen address such as :9090 or 127.0.0.1:9090", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr && port != "0" {
			e.bad("AUTHD_METRICS_ADDR", "%q is AUTHD_ADDR; leave it unset to serve /metrics on the main port", c.MetricsAddr)
		}
	}
	if c.Env == envProduction && c.MetricsAddr == "" && !c.MetricsPublic {
		e.bad("AUTHD_METRICS_ADDR", "is required in production, so /metrics is not on the public API listener (such as 127.0.0.1:9090 or :9090 behind a firewall); set AUTHD_METRICS_PUBLIC=true to serve it on AUTHD_ADDR anyway")
	}
}

// trustedProxies reads CIDRs and single addresses, comma-separated.
func (e *envReader) trustedProxies(name string) []netip.Prefix {
	var prefixes []netip.Prefix
	for _, p := range e.list(name) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				e.bad(name, "%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", p)
				continue
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
			// Peers are compared unmapped, so ::ffff:10.0.0.0/104 means 10.0.0.0/8.
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		if prefix.Bits() == 0 {
			e.bad(name, "%q trusts every address, so any client could forge X-Forwarded-For; list your proxies' addresses", p)
			continue
		}
		prefixes = append(prefixes, prefix.Masked())
	}
	return prefixes
}

// logging reads the log level and the browser origins allowed by CORS.
func (e *envReader) logging(c *config) {
	switch lvl := strings.ToLower(e.str("AUTHD_LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		e.bad("AUTHD_LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	}
	for _, o := range e.list("AUTHD_CORS_ORIGINS") {
		if o != "*" && !(strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://")) {
			e.bad("AUTHD_CORS_ORIGINS", "%q is not an origin such as https://app.example.com or *", o)
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, strings.TrimRight(o, "/"))
	}
}

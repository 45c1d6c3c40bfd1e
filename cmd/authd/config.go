package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/adapters/breaker"
	"github.com/authd/authd/adapters/jwt"
)

// config is every setting, read from the environment in one place. Each
// adapter constructor is handed only the fields it needs.
type config struct {
	Addr        string
	MetricsAddr string // GET /metrics on its own listener; "" serves it on Addr
	// AdminAddr is the admin API's own listener; "" leaves it off.
	// AdminToken is its bearer key (AUTHD_ADMIN_TOKEN).
	AdminAddr   string
	AdminToken  []byte
	Env         string
	Database    databaseConfig
	AutoMigrate bool
	// JWTSecret is the HS256 key: it signs when JWTSigningKey is unset,
	// and only verifies otherwise. Nil when neither set nor generated.
	JWTSecret       []byte
	JWTSecretRandom bool // generated at start-up (development only)
	// JWTSigningKey, from AUTHD_JWT_SIGNING_KEY, signs with Ed25519 or
	// ECDSA P-256; the zero Key means HS256 with JWTSecret.
	JWTSigningKey jwt.Key
	// JWTVerificationKeys, from AUTHD_JWT_VERIFICATION_KEYS, only verify.
	JWTVerificationKeys []jwt.Key
	JWTIssuer           string
	JWTAudience         string
	AccessTokenTTL      time.Duration
	BcryptCost          int
	HashWorkers         int
	HashQueue           int
	HashMaxWait         time.Duration
	HashRefusalHold     time.Duration
	MinPasswordLen      int
	LogLevel            slog.Level
	CORSOrigins         []string
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	IdleTimeout         time.Duration
	ShutdownTimeout     time.Duration
	ShutdownDelay       time.Duration
	RequestTimeout      time.Duration
	RefreshTokenTTL     time.Duration
	ReuseGrace          time.Duration
	SweepInterval       time.Duration
	// RefreshKey derives refresh-token successors; from
	// AUTHD_REFRESH_TOKEN_KEY, or else derived from the JWT secret, or
	// (development, asymmetric signing without a secret) random.
	RefreshKey       []byte
	RefreshKeyRandom bool

	// MetricsPublic (AUTHD_METRICS_PUBLIC) lets production serve
	// /metrics on the API's own listener.
	MetricsPublic bool
	// Docs (AUTHD_DOCS) serves /docs and /openapi.yaml.
	Docs bool
	// StrictRotation: AUTHD_REFRESH_REUSE_GRACE=0s, no grace at all.
	StrictRotation bool
	MaxSessions    int

	RateLimit      bool
	IPRequests     int
	IPWindow       time.Duration
	AcctFailures   int
	AcctWindow     time.Duration
	AcctCap        int
	AcctCapWindow  time.Duration
	DeviceFailures int
	RateLimitKeys  int
	TrustedProxies []netip.Prefix

	Breaker breaker.Config

	BreachCheck      bool
	BreachURL        string
	BreachTimeout    time.Duration
	BreachFailClosed bool
	// BreachBreaker is the breach checker's circuit: BreachTimeout bounds
	// each query.
	BreachBreaker breaker.Config

	// Mail is the mail transport and the mail flows' settings.
	Mail mailConfig
}

const (
	envDevelopment = "development"
	envProduction  = "production"
	minSecretBytes = 32
	// minDistinctSecretBytes is how many different byte values a
	// production secret must have: "aaaa…" or a short pattern repeated to
	// length is not a key.
	minDistinctSecretBytes = 16
	// maxReuseGrace bounds AUTHD_REFRESH_REUSE_GRACE: a long grace is a
	// long window for a stolen refresh token to be used without notice.
	maxReuseGrace = time.Minute
)

// distinctBytes counts the different byte values in b.
func distinctBytes(b string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(b); i++ {
		if !seen[b[i]] {
			seen[b[i]] = true
			n++
		}
	}
	return n
}

// loadConfig reads AUTHD_* variables through getenv, one section at a
// time. Every invalid value is reported, naming its variable.
func loadConfig(getenv func(string) string) (config, error) {
	e := &envReader{getenv: getenv}
	var c config
	e.server(&c)
	e.admin(&c) // after server: it needs AUTHD_ADDR and AUTHD_ENV
	e.database(&c)
	e.hashing(&c)
	e.tokens(&c)
	e.limits(&c)
	e.breaker(&c) // after server: it needs AUTHD_REQUEST_TIMEOUT
	e.breach(&c)
	e.mail(&c) // after server: production needs more
	e.logging(&c)
	e.jwtKeys(&c)    // after server: production needs more
	e.refreshKey(&c) // after jwtKeys: it may derive from the secret
	return c, errors.Join(e.errs...)
}

// envReader reads variables and collects what is wrong with them. Each reader
// returns def, and records an error naming the variable, when the value
// is invalid.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) bad(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// str is the trimmed value, or def when unset or blank.
func (e *envReader) str(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// list is the comma-separated value's non-blank items, trimmed.
func (e *envReader) list(name string) []string {
	var items []string
	for _, v := range strings.Split(e.getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			items = append(items, v)
		}
	}
	return items
}

// dur is a positive duration.
func (e *envReader) dur(name string, def time.Duration) time.Duration {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.bad(name, "%q is not a positive Go duration such as 30s or 24h", v)
		return def
	}
	return d
}

// durOrZero is dur for settings where 0 is meaningful (off).
func (e *envReader) durOrZero(name string, def time.Duration) time.Duration {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.bad(name, "%q is not a Go duration of 0 or more such as 0s or 5s", v)
		return def
	}
	return d
}

// integer is a whole number from lo to hi.
func (e *envReader) integer(name string, def, lo, hi int) int {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.bad(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (e *envReader) boolean(name string, def bool) bool {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.bad(name, "%q is not true or false", v)
		return def
	}
	return b
}

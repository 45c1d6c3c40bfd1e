package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/breaker"
	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/refreshtoken"
)

// config is every setting, read from the environment in one place. Each
// adapter constructor is handed only the fields it needs.
type config struct {
	Addr        string
	MetricsAddr string // GET /metrics on its own listener; "" serves it on Addr
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

	RateLimit      bool
	IPRequests     int
	IPWindow       time.Duration
	AcctFailures   int
	AcctWindow     time.Duration
	RateLimitKeys  int
	TrustedProxies []netip.Prefix

	Breaker breaker.Config

	BreachCheck      bool
	BreachURL        string
	BreachTimeout    time.Duration
	BreachFailClosed bool
}

const (
	envDevelopment = "development"
	envProduction  = "production"
	minSecretBytes = 32
)

// databaseConfig says which store to open.
type databaseConfig struct {
	Driver         string // "sqlite" or "postgres"
	Path           string // SQLite file
	URL            string // PostgreSQL connection URL
	MaxConns       int
	ConnectTimeout time.Duration
}

// loadConfig reads AUTHD_* variables through getenv. Every invalid value is
// reported, naming its variable.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := str(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(name, "%q is not a positive Go duration such as 30s or 24h", v)
			return def
		}
		return d
	}
	// durOrZero is dur for settings where 0 is meaningful (off).
	durOrZero := func(name string, def time.Duration) time.Duration {
		v := str(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(name, "%q is not a Go duration of 0 or more such as 0s or 5s", v)
			return def
		}
		return d
	}
	integer := func(name string, def, lo, hi int) int {
		v := str(name, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(name, "%q is not a whole number from %d to %d", v, lo, hi)
			return def
		}
		return n
	}
	boolean := func(name string, def bool) bool {
		v := str(name, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(name, "%q is not true or false", v)
			return def
		}
		return b
	}

	c := config{
		Addr:            str("AUTHD_ADDR", ":8080"),
		Env:             strings.ToLower(str("AUTHD_ENV", envDevelopment)),
		JWTIssuer:       str("AUTHD_JWT_ISSUER", "authd"),
		JWTAudience:     str("AUTHD_JWT_AUDIENCE", "authd"),
		AccessTokenTTL:  dur("AUTHD_ACCESS_TOKEN_TTL", 24*time.Hour),
		BcryptCost:      integer("AUTHD_BCRYPT_COST", bcrypt.DefaultCost, bcrypt.MinCost, bcrypt.MaxCost),
		MinPasswordLen:  integer("AUTHD_PASSWORD_MIN_LENGTH", 8, 8, 64),
		HashWorkers:     integer("AUTHD_HASH_WORKERS", 0, 0, 1024),
		HashQueue:       integer("AUTHD_HASH_QUEUE", 0, 0, 1_000_000),
		HashMaxWait:     dur("AUTHD_HASH_MAX_WAIT", 2*time.Second),
		AutoMigrate:     boolean("AUTHD_AUTO_MIGRATE", true),
		ReadTimeout:     dur("AUTHD_READ_TIMEOUT", 10*time.Second),
		WriteTimeout:    dur("AUTHD_WRITE_TIMEOUT", 10*time.Second),
		IdleTimeout:     dur("AUTHD_IDLE_TIMEOUT", 60*time.Second),
		ShutdownTimeout: dur("AUTHD_SHUTDOWN_TIMEOUT", 15*time.Second),
		ShutdownDelay:   durOrZero("AUTHD_SHUTDOWN_DELAY", time.Second),
	}
	if c.AccessTokenTTL%time.Second != 0 {
		bad("AUTHD_ACCESS_TOKEN_TTL", "%v is not a whole number of seconds (token times have one-second precision)", c.AccessTokenTTL)
	}
	if c.Env != envDevelopment && c.Env != envProduction {
		bad("AUTHD_ENV", "%q is neither development nor production", c.Env)
	}
	if c.MetricsAddr = str("AUTHD_METRICS_ADDR", ""); c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("AUTHD_METRICS_ADDR", "%q is not a listen address such as :9090 or 127.0.0.1:9090", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr && port != "0" {
			bad("AUTHD_METRICS_ADDR", "%q is AUTHD_ADDR; leave it unset to serve /metrics on the main port", c.MetricsAddr)
		}
	}

	db, err := parseDatabaseURL(str("AUTHD_DATABASE_URL", "authd.db"))
	if err != nil {
		bad("AUTHD_DATABASE_URL", "%v", err)
	}
	db.MaxConns = integer("AUTHD_DATABASE_MAX_CONNS", 0, 0, 1000)
	db.ConnectTimeout = dur("AUTHD_DATABASE_CONNECT_TIMEOUT", 5*time.Second)
	c.Database = db
	c.RequestTimeout = dur("AUTHD_REQUEST_TIMEOUT", 10*time.Second)
	c.RefreshTokenTTL = dur("AUTHD_REFRESH_TOKEN_TTL", 30*24*time.Hour)
	c.ReuseGrace = dur("AUTHD_REFRESH_REUSE_GRACE", 10*time.Second)
	c.SweepInterval = dur("AUTHD_SESSION_SWEEP_INTERVAL", 10*time.Minute)
	switch v := strings.ToLower(str("AUTHD_RATE_LIMIT", "on")); v {
	case "on", "true", "1":
		c.RateLimit = true
	case "off", "false", "0":
	default:
		bad("AUTHD_RATE_LIMIT", "%q is neither on nor off", v)
	}
	c.IPRequests = integer("AUTHD_RATE_LIMIT_IP_REQUESTS", 60, 1, 1_000_000)
	c.IPWindow = dur("AUTHD_RATE_LIMIT_IP_WINDOW", time.Minute)
	c.AcctFailures = integer("AUTHD_RATE_LIMIT_ACCOUNT_FAILURES", 10, 1, 1_000_000)
	c.AcctWindow = dur("AUTHD_RATE_LIMIT_ACCOUNT_WINDOW", 15*time.Minute)
	c.RateLimitKeys = integer("AUTHD_RATE_LIMIT_MAX_KEYS", 100_000, 1_000, 100_000_000)
	for _, p := range strings.Split(getenv("AUTHD_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				bad("AUTHD_TRUSTED_PROXIES", "%q is neither a CIDR such as 10.0.0.0/8 nor an IP address", p)
				continue
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
			// Peers are compared unmapped, so ::ffff:10.0.0.0/104 means 10.0.0.0/8.
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}

	// The breaker must time a query out before the request's own deadline
	// does, or a slow database would never count against the circuit.
	defaultBreakerTimeout := min(3*time.Second, c.RequestTimeout*4/5)
	c.Breaker = breaker.Config{
		Timeout:                dur("AUTHD_BREAKER_TIMEOUT", defaultBreakerTimeout),
		MaxConcurrent:          integer("AUTHD_BREAKER_MAX_CONCURRENT", 512, 1, 1_000_000),
		RequestVolumeThreshold: integer("AUTHD_BREAKER_REQUEST_VOLUME", 20, 1, 1_000_000),
		SleepWindow:            dur("AUTHD_BREAKER_SLEEP_WINDOW", 5*time.Second),
		ErrorPercentThreshold:  integer("AUTHD_BREAKER_ERROR_PERCENT", 50, 1, 100),
	}
	if c.Breaker.Timeout >= c.RequestTimeout {
		bad("AUTHD_BREAKER_TIMEOUT", "%v must be shorter than AUTHD_REQUEST_TIMEOUT (%v), or a slow database is never counted", c.Breaker.Timeout, c.RequestTimeout)
	}

	c.BreachCheck = boolean("AUTHD_BREACH_CHECK", false)
	c.BreachURL = str("AUTHD_BREACH_CHECK_URL", "https://api.pwnedpasswords.com/range/")
	c.BreachTimeout = dur("AUTHD_BREACH_CHECK_TIMEOUT", time.Second)
	c.BreachFailClosed = boolean("AUTHD_BREACH_CHECK_FAIL_CLOSED", false)
	if u, err := url.Parse(c.BreachURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("AUTHD_BREACH_CHECK_URL", "%q is not an http(s) URL", c.BreachURL)
	}

	if c.RefreshTokenTTL%time.Second != 0 {
		bad("AUTHD_REFRESH_TOKEN_TTL", "%v is not a whole number of seconds", c.RefreshTokenTTL)
	}

	switch lvl := strings.ToLower(str("AUTHD_LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("AUTHD_LOG_LEVEL", "%q is not one of debug, info, warn, error", lvl)
	}

	for _, o := range strings.Split(getenv("AUTHD_CORS_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o != "*" && !(strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://")) {
			bad("AUTHD_CORS_ORIGINS", "%q is not an origin such as https://app.example.com or *", o)
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, strings.TrimRight(o, "/"))
	}

	// An Ed25519 or P-256 key signs when AUTHD_JWT_SIGNING_KEY is set;
	// AUTHD_JWT_SECRET then only verifies (tokens signed before the switch).
	asymmetric := strings.TrimSpace(getenv("AUTHD_JWT_SIGNING_KEY")) != ""
	if asymmetric {
		keys, err := readKeys(getenv("AUTHD_JWT_SIGNING_KEY"), false)
		switch {
		case err != nil:
			bad("AUTHD_JWT_SIGNING_KEY", "%v", err)
		case len(keys) != 1:
			bad("AUTHD_JWT_SIGNING_KEY", "holds %d keys; give exactly one private key (list others in AUTHD_JWT_VERIFICATION_KEYS)", len(keys))
		case !keys[0].CanSign():
			bad("AUTHD_JWT_SIGNING_KEY", "is a public key; signing needs the private key (-----BEGIN PRIVATE KEY-----, PKCS#8)")
		default:
			c.JWTSigningKey = keys[0]
		}
	}
	if v := getenv("AUTHD_JWT_VERIFICATION_KEYS"); strings.TrimSpace(v) != "" {
		keys, err := readKeys(v, true)
		if err != nil {
			bad("AUTHD_JWT_VERIFICATION_KEYS", "%v", err)
		}
		c.JWTVerificationKeys = keys
	}

	// The secret is read raw (not trimmed): every byte is key material.
	secret := getenv("AUTHD_JWT_SECRET")
	switch {
	case secret == "" && asymmetric:
		// No HS256 key at all.
	case secret == "" && c.Env == envProduction:
		bad("AUTHD_JWT_SECRET", "is required in production (at least %d random bytes), unless AUTHD_JWT_SIGNING_KEY is set", minSecretBytes)
	case len(secret) < minSecretBytes && c.Env == envProduction:
		bad("AUTHD_JWT_SECRET", "must be at least %d bytes in production (it is %d)", minSecretBytes, len(secret))
	case secret == "":
		c.JWTSecret = make([]byte, minSecretBytes)
		if _, err := rand.Read(c.JWTSecret); err != nil {
			bad("AUTHD_JWT_SECRET", "generating a development secret: %v", err)
		}
		c.JWTSecretRandom = true
	default:
		c.JWTSecret = []byte(secret)
	}
	switch key := getenv("AUTHD_REFRESH_TOKEN_KEY"); {
	case key != "" && len(key) < refreshtoken.MinKeyBytes:
		bad("AUTHD_REFRESH_TOKEN_KEY", "must be at least %d bytes (it is %d)", refreshtoken.MinKeyBytes, len(key))
	case key != "":
		c.RefreshKey = []byte(key)
	case !asymmetric || c.JWTSecret != nil:
		c.RefreshKey = refreshtoken.DeriveKey(c.JWTSecret)
	case c.Env == envProduction:
		bad("AUTHD_REFRESH_TOKEN_KEY", "is required in production when AUTHD_JWT_SIGNING_KEY is set without AUTHD_JWT_SECRET (at least %d random bytes, the same on every instance)", refreshtoken.MinKeyBytes)
	default:
		c.RefreshKey = make([]byte, refreshtoken.MinKeyBytes)
		if _, err := rand.Read(c.RefreshKey); err != nil {
			bad("AUTHD_REFRESH_TOKEN_KEY", "generating a development key: %v", err)
		}
		c.RefreshKeyRandom = true
	}
	return c, errors.Join(errs...)
}

// readKeys reads AUTHD_JWT_SIGNING_KEY or AUTHD_JWT_VERIFICATION_KEYS. A
// value containing "-----BEGIN" is PEM itself: one or more PEM blocks, one
// key each. Otherwise it is the path of a PEM file, or with list set a
// comma-separated list of paths; a file may hold several keys. Errors never
// quote the value, which may be key material pasted without its PEM lines.
func readKeys(value string, list bool) ([]jwt.Key, error) {
	if strings.Contains(value, "-----BEGIN") {
		return jwt.ParsePEM([]byte(strings.TrimSpace(value)))
	}
	paths := []string{value}
	if list {
		paths = strings.Split(value, ",")
	}
	var keys []jwt.Key
	for n, path := range paths {
		if path = strings.TrimSpace(path); path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var perr *fs.PathError
			if errors.As(err, &perr) {
				err = perr.Err
			}
			if list {
				return nil, fmt.Errorf("path %d of the list cannot be read (%v); give comma-separated PEM file paths, or PEM itself", n+1, err)
			}
			return nil, fmt.Errorf("is neither PEM (-----BEGIN PRIVATE KEY-----) nor the path of a readable file (%v)", err)
		}
		k, err := jwt.ParsePEM(data)
		if err != nil {
			if list {
				return nil, fmt.Errorf("file %d of the list: %v", n+1, err)
			}
			return nil, fmt.Errorf("file: %v", err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// parseDatabaseURL accepts postgres:// or postgresql:// URLs for
// PostgreSQL, and for SQLite a plain file path, sqlite:PATH, sqlite://PATH
// (relative) or sqlite:///PATH (absolute). Errors never quote the URL, which
// may hold a password.
func parseDatabaseURL(raw string) (databaseConfig, error) {
	scheme, rest, hasScheme := strings.Cut(raw, ":")
	// A one-letter "scheme" is a Windows drive (C:\authd.db), not a URL.
	if !hasScheme || len(scheme) == 1 || strings.ContainsAny(scheme, `/\.`) {
		return databaseConfig{Driver: "sqlite", Path: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return databaseConfig{}, errors.New("a PostgreSQL URL looks like postgres://user:password@host:5432/dbname")
		}
		return databaseConfig{Driver: "postgres", URL: raw}, nil
	case "sqlite", "sqlite3", "file":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return databaseConfig{}, errors.New("sqlite URL has no file path")
		}
		if strings.ContainsAny(path, "?#") {
			return databaseConfig{}, errors.New("sqlite URL options are not supported; give just the file path")
		}
		return databaseConfig{Driver: "sqlite", Path: path}, nil
	default:
		return databaseConfig{}, fmt.Errorf("unknown database scheme %q (use postgres://..., a file path, or sqlite:PATH)", scheme)
	}
}

package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Env != "development" || c.Database != (databaseConfig{Driver: "sqlite", Path: "authd.db", ConnectTimeout: 5 * time.Second, SessionCacheSize: 10_000}) {
		t.Errorf("defaults: addr=%q env=%q db=%+v", c.Addr, c.Env, c.Database)
	}
	if c.AccessTokenTTL != 24*time.Hour || c.BcryptCost != 12 || c.LogLevel != slog.LevelInfo || c.JWTIssuer != "authd" || c.JWTAudience != "authd" {
		t.Errorf("defaults: %+v", c)
	}
	if !c.JWTSecretRandom || len(c.JWTSecret) != 32 {
		t.Errorf("development without a secret should generate 32 random bytes, got %d (random=%v)", len(c.JWTSecret), c.JWTSecretRandom)
	}
	c2, _ := loadConfig(env(nil))
	if string(c2.JWTSecret) == string(c.JWTSecret) {
		t.Error("two generated secrets are equal")
	}
	if !c.AutoMigrate || len(c.CORSOrigins) != 0 {
		t.Errorf("auto-migrate=%v cors=%v", c.AutoMigrate, c.CORSOrigins)
	}
}

func TestConfigValues(t *testing.T) {
	c, err := loadConfig(env(map[string]string{
		"AUTHD_ADDR":             "127.0.0.1:9000",
		"AUTHD_ENV":              "production",
		"AUTHD_METRICS_ADDR":     "127.0.0.1:9090",
		"AUTHD_JWT_SECRET":       testSecret,
		"AUTHD_JWT_ISSUER":       "https://auth.example.com",
		"AUTHD_JWT_AUDIENCE":     "api",
		"AUTHD_ACCESS_TOKEN_TTL": "15m",
		"AUTHD_BCRYPT_COST":      "4",
		"AUTHD_LOG_LEVEL":        "debug",
		"AUTHD_CORS_ORIGINS":     "https://a.example.com, https://b.example.com/",
		"AUTHD_DATABASE_URL":     "sqlite:///var/lib/authd/authd.db",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.Env != "production" || string(c.JWTSecret) != testSecret || c.JWTSecretRandom {
		t.Errorf("%+v", c)
	}
	if c.JWTIssuer != "https://auth.example.com" || c.JWTAudience != "api" || c.AccessTokenTTL != 15*time.Minute || c.BcryptCost != 4 || c.LogLevel != slog.LevelDebug {
		t.Errorf("%+v", c)
	}
	if strings.Join(c.CORSOrigins, " ") != "https://a.example.com https://b.example.com" {
		t.Errorf("cors %v", c.CORSOrigins)
	}
	if c.Database.Path != "/var/lib/authd/authd.db" {
		t.Errorf("db %+v", c.Database)
	}
}

func TestConfigRejectsBadValuesNamingTheVariable(t *testing.T) {
	cases := []struct {
		kv   map[string]string
		name string
	}{
		{map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090"}, "AUTHD_JWT_SECRET"},
		{map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SECRET": strings.Repeat("k", 31)}, "AUTHD_JWT_SECRET"},
		{map[string]string{"AUTHD_ENV": "staging"}, "AUTHD_ENV"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "1 day"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "-5m"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_ACCESS_TOKEN_TTL": "1500ms"}, "AUTHD_ACCESS_TOKEN_TTL"},
		{map[string]string{"AUTHD_BCRYPT_COST": "3"}, "AUTHD_BCRYPT_COST"},
		{map[string]string{"AUTHD_BCRYPT_COST": "32"}, "AUTHD_BCRYPT_COST"},
		{map[string]string{"AUTHD_BCRYPT_COST": "ten"}, "AUTHD_BCRYPT_COST"},
		{map[string]string{"AUTHD_LOG_LEVEL": "loud"}, "AUTHD_LOG_LEVEL"},
		{map[string]string{"AUTHD_CORS_ORIGINS": "app.example.com"}, "AUTHD_CORS_ORIGINS"},
		{map[string]string{"AUTHD_DATABASE_URL": "mysql://db/authd"}, "AUTHD_DATABASE_URL"},
		{map[string]string{"AUTHD_AUTO_MIGRATE": "perhaps"}, "AUTHD_AUTO_MIGRATE"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_TTL": "forever"}, "AUTHD_REFRESH_TOKEN_TTL"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_TTL": "1.5s"}, "AUTHD_REFRESH_TOKEN_TTL"},
		{map[string]string{"AUTHD_REFRESH_REUSE_GRACE": "-1s"}, "AUTHD_REFRESH_REUSE_GRACE"},
		{map[string]string{"AUTHD_SESSION_SWEEP_INTERVAL": "0s"}, "AUTHD_SESSION_SWEEP_INTERVAL"},
		{map[string]string{"AUTHD_REFRESH_TOKEN_KEY": "too-short"}, "AUTHD_REFRESH_TOKEN_KEY"},
	}
	for _, c := range cases {
		_, err := loadConfig(env(c.kv))
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: err = %v, want it to name %s", c.kv, err, c.name)
		}
	}
	// A secret must never be echoed in a configuration error.
	_, err := loadConfig(env(map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SECRET": "hunter2-short-secret"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	cases := map[string]string{
		"authd.db":                   "authd.db",
		"./data/authd.db":            "./data/authd.db",
		"/var/lib/authd.db":          "/var/lib/authd.db",
		"sqlite:authd.db":            "authd.db",
		"sqlite://authd.db":          "authd.db",
		"sqlite:///var/lib/authd.db": "/var/lib/authd.db",
		`C:\authd\authd.db`:          `C:\authd\authd.db`,
	}
	for in, want := range cases {
		got, err := parseDatabaseURL(in)
		if err != nil || got.Driver != "sqlite" || got.Path != want {
			t.Errorf("%q: got %+v, %v; want sqlite %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"redis://x", "sqlite:", "sqlite://", "sqlite:authd.db?mode=ro"} {
		if _, err := parseDatabaseURL(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestPostgresConfiguration(t *testing.T) {
	for _, u := range []string{"postgres://authd:pw@db:5432/authd?sslmode=disable", "postgresql://authd@db/authd", "POSTGRES://db/authd"} {
		c, err := loadConfig(env(map[string]string{
			"AUTHD_DATABASE_URL":             u,
			"AUTHD_DATABASE_MAX_CONNS":       "25",
			"AUTHD_DATABASE_CONNECT_TIMEOUT": "3s",
		}))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if c.Database.Driver != "postgres" || c.Database.URL != u || c.Database.MaxConns != 25 || c.Database.ConnectTimeout != 3*time.Second {
			t.Errorf("%s: %+v", u, c.Database)
		}
	}
	for _, kv := range []map[string]string{
		{"AUTHD_DATABASE_URL": "postgres:authd:s3cret@db"},
		{"AUTHD_DATABASE_URL": "mongodb://u:s3cret@db/x"},
		{"AUTHD_DATABASE_MAX_CONNS": "-1"},
		{"AUTHD_DATABASE_CONNECT_TIMEOUT": "soon"},
		{"AUTHD_REQUEST_TIMEOUT": "0"},
	} {
		_, err := loadConfig(env(kv))
		if err == nil {
			t.Errorf("%v accepted", kv)
			continue
		}
		for name := range kv {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("%v: error %q does not name %s", kv, err, name)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestSessionConfiguration(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenTTL != 30*24*time.Hour || c.ReuseGrace != 10*time.Second || c.SweepInterval != 10*time.Minute {
		t.Errorf("defaults: ttl=%v grace=%v sweep=%v", c.RefreshTokenTTL, c.ReuseGrace, c.SweepInterval)
	}
	if len(c.RefreshKey) != 32 || string(c.RefreshKey) == string(c.JWTSecret) {
		t.Errorf("derived refresh key: %d bytes", len(c.RefreshKey))
	}
	key := strings.Repeat("r", 40)
	c, err = loadConfig(env(map[string]string{
		"AUTHD_REFRESH_TOKEN_TTL":      "168h",
		"AUTHD_REFRESH_REUSE_GRACE":    "30s",
		"AUTHD_SESSION_SWEEP_INTERVAL": "1m",
		"AUTHD_REFRESH_TOKEN_KEY":      key,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenTTL != 168*time.Hour || c.ReuseGrace != 30*time.Second || c.SweepInterval != time.Minute || string(c.RefreshKey) != key {
		t.Errorf("%+v", c)
	}
}

func TestAbuseConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.RateLimit || c.IPRequests != 60 || c.IPWindow != time.Minute || c.AcctFailures != 10 || c.AcctWindow != 15*time.Minute || c.RateLimitKeys != 100_000 {
		t.Errorf("rate limit defaults: on=%v ip=%d/%v account=%d/%v keys=%d", c.RateLimit, c.IPRequests, c.IPWindow, c.AcctFailures, c.AcctWindow, c.RateLimitKeys)
	}
	if len(c.TrustedProxies) != 0 {
		t.Errorf("trusted proxies by default: %v", c.TrustedProxies)
	}
	if c.BreachCheck || c.BreachURL != "https://api.pwnedpasswords.com/range/" || c.BreachTimeout != time.Second || c.BreachFailClosed {
		t.Errorf("breach check defaults: on=%v url=%q timeout=%v fail-closed=%v", c.BreachCheck, c.BreachURL, c.BreachTimeout, c.BreachFailClosed)
	}
}

func TestAbuseConfigValues(t *testing.T) {
	c, err := loadConfig(env(map[string]string{
		"AUTHD_RATE_LIMIT":                  "off",
		"AUTHD_RATE_LIMIT_IP_REQUESTS":      "120",
		"AUTHD_RATE_LIMIT_IP_WINDOW":        "30s",
		"AUTHD_RATE_LIMIT_ACCOUNT_FAILURES": "5",
		"AUTHD_RATE_LIMIT_ACCOUNT_WINDOW":   "1h",
		"AUTHD_RATE_LIMIT_MAX_KEYS":         "5000",
		"AUTHD_TRUSTED_PROXIES":             " 10.0.0.0/8, 192.168.1.7,::1 , 2001:db8::/32, 172.16.5.4/12, ::ffff:100.64.0.1,",
		"AUTHD_BREACH_CHECK":                "true",
		"AUTHD_BREACH_CHECK_URL":            "http://127.0.0.1:9999/range/",
		"AUTHD_BREACH_CHECK_TIMEOUT":        "250ms",
		"AUTHD_BREACH_CHECK_FAIL_CLOSED":    "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimit || c.IPRequests != 120 || c.IPWindow != 30*time.Second || c.AcctFailures != 5 || c.AcctWindow != time.Hour || c.RateLimitKeys != 5000 {
		t.Errorf("rate limits: on=%v ip=%d/%v account=%d/%v keys=%d", c.RateLimit, c.IPRequests, c.IPWindow, c.AcctFailures, c.AcctWindow, c.RateLimitKeys)
	}
	// Single addresses become one-address prefixes; host bits are masked.
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 192.168.1.7/32 ::1/128 2001:db8::/32 172.16.0.0/12 100.64.0.1/32"; strings.Join(got, " ") != want {
		t.Errorf("trusted proxies %v, want %s", got, want)
	}
	if !c.BreachCheck || c.BreachURL != "http://127.0.0.1:9999/range/" || c.BreachTimeout != 250*time.Millisecond || !c.BreachFailClosed {
		t.Errorf("breach check: on=%v url=%q timeout=%v fail-closed=%v", c.BreachCheck, c.BreachURL, c.BreachTimeout, c.BreachFailClosed)
	}

	for v, want := range map[string]bool{"on": true, "ON": true, "true": true, "1": true, "off": false, "Off": false, "false": false, "0": false} {
		c, err := loadConfig(env(map[string]string{"AUTHD_RATE_LIMIT": v}))
		if err != nil || c.RateLimit != want {
			t.Errorf("AUTHD_RATE_LIMIT=%s: on=%v, %v; want %v", v, c.RateLimit, err, want)
		}
	}
}

func TestAbuseConfigRejectsBadValuesNamingTheVariable(t *testing.T) {
	bad := map[string][]string{
		"AUTHD_RATE_LIMIT":                  {"maybe", "yes please"},
		"AUTHD_RATE_LIMIT_IP_REQUESTS":      {"0", "-1", "ten", "1.5"},
		"AUTHD_RATE_LIMIT_IP_WINDOW":        {"0", "0s", "-1m", "60", "a minute"},
		"AUTHD_RATE_LIMIT_ACCOUNT_FAILURES": {"0", "-10", "many"},
		"AUTHD_RATE_LIMIT_ACCOUNT_WINDOW":   {"0s", "-15m", "15", "quarter hour"},
		"AUTHD_RATE_LIMIT_MAX_KEYS":         {"0", "-1", "lots"},
		"AUTHD_TRUSTED_PROXIES":             {"not-a-cidr", "10.0.0.0/8,not-a-cidr", "10.0.0.0/33", "10.0.0.256", "localhost"},
		"AUTHD_BREACH_CHECK":                {"sometimes"},
		"AUTHD_BREACH_CHECK_URL":            {"ftp://x", "api.pwnedpasswords.com/range/", "https://", "://nope"},
		"AUTHD_BREACH_CHECK_TIMEOUT":        {"0", "-1s", "fast", "1"},
		"AUTHD_BREACH_CHECK_FAIL_CLOSED":    {"maybe"},
	}
	for name, values := range bad {
		for _, v := range values {
			_, err := loadConfig(env(map[string]string{name: v}))
			if err == nil || !strings.Contains(err.Error(), name+":") {
				t.Errorf("%s=%q: err = %v, want it to name %s", name, v, err, name)
			}
		}
	}
	// Every bad value is reported at once.
	_, err := loadConfig(env(map[string]string{"AUTHD_RATE_LIMIT": "maybe", "AUTHD_TRUSTED_PROXIES": "not-a-cidr", "AUTHD_BREACH_CHECK_URL": "ftp://x"}))
	for _, name := range []string{"AUTHD_RATE_LIMIT:", "AUTHD_TRUSTED_PROXIES:", "AUTHD_BREACH_CHECK_URL:"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("err = %v, want it to name %s", err, name)
		}
	}
}

func TestTrustedProxiesMappedRange(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"AUTHD_TRUSTED_PROXIES": "::ffff:10.0.0.0/104"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "10.0.0.0/8" {
		t.Errorf("got %v, want [10.0.0.0/8]", c.TrustedProxies)
	}
}

func TestBreakerConfiguration(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Breaker
	if b.Timeout != 3*time.Second || b.MaxConcurrent != 512 || b.RequestVolumeThreshold != 20 || b.SleepWindow != 5*time.Second || b.ErrorPercentThreshold != 50 {
		t.Errorf("defaults %+v", b)
	}
	// The default timeout follows a short request deadline down.
	c, err = loadConfig(env(map[string]string{"AUTHD_REQUEST_TIMEOUT": "2s"}))
	if err != nil || c.Breaker.Timeout != 1600*time.Millisecond {
		t.Errorf("breaker timeout %v with a 2s request deadline: %v", c.Breaker.Timeout, err)
	}
	for _, kv := range []map[string]string{
		{"AUTHD_BREAKER_TIMEOUT": "10s"}, // not below the 10s request deadline
		{"AUTHD_BREAKER_MAX_CONCURRENT": "0"},
		{"AUTHD_BREAKER_ERROR_PERCENT": "101"},
		{"AUTHD_BREAKER_SLEEP_WINDOW": "soon"},
		{"AUTHD_BREAKER_REQUEST_VOLUME": "-3"},
		{"AUTHD_HASH_WORKERS": "-1"},
		{"AUTHD_HASH_MAX_WAIT": "0s"},
		{"AUTHD_HASH_REFUSAL_HOLD": "-1ms"},
		{"AUTHD_SHUTDOWN_DELAY": "-1s"},
	} {
		_, err := loadConfig(env(kv))
		for name := range kv {
			if err == nil || !strings.Contains(err.Error(), name+":") {
				t.Errorf("%v: err = %v, want it to name %s", kv, err, name)
			}
		}
	}
	c, err = loadConfig(env(map[string]string{"AUTHD_SHUTDOWN_DELAY": "0s", "AUTHD_HASH_WORKERS": "3", "AUTHD_HASH_QUEUE": "7", "AUTHD_HASH_MAX_WAIT": "250ms", "AUTHD_HASH_REFUSAL_HOLD": "0"}))
	if err != nil || c.ShutdownDelay != 0 || c.HashWorkers != 3 || c.HashQueue != 7 || c.HashMaxWait != 250*time.Millisecond || c.HashRefusalHold != 0 {
		t.Errorf("%+v %v", c, err)
	}
	if c, err := loadConfig(env(nil)); err != nil || c.HashRefusalHold != 250*time.Millisecond {
		t.Errorf("default refusal hold %v, %v; want 250ms", c.HashRefusalHold, err)
	}
}

func TestMetricsAddrConfiguration(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default: %q, %v; want \"\" (metrics on the main port)", c.MetricsAddr, err)
	}
	c, err = loadConfig(env(map[string]string{"AUTHD_METRICS_ADDR": " 127.0.0.1:9090 "}))
	if err != nil || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("set: %q, %v", c.MetricsAddr, err)
	}
	// Port 0 on both picks two free ports, as tests do.
	if _, err := loadConfig(env(map[string]string{"AUTHD_ADDR": "127.0.0.1:0", "AUTHD_METRICS_ADDR": "127.0.0.1:0"})); err != nil {
		t.Errorf("both on port 0: %v", err)
	}
	for _, kv := range []map[string]string{
		{"AUTHD_METRICS_ADDR": "9090"},
		{"AUTHD_METRICS_ADDR": "http://localhost:9090"},
		{"AUTHD_METRICS_ADDR": ":8080"},
		{"AUTHD_ADDR": "127.0.0.1:9000", "AUTHD_METRICS_ADDR": "127.0.0.1:9000"},
	} {
		if _, err := loadConfig(env(kv)); err == nil || !strings.Contains(err.Error(), "AUTHD_METRICS_ADDR") {
			t.Errorf("%v: err = %v, want it to name AUTHD_METRICS_ADDR", kv, err)
		}
	}
}

func TestConfigSigningKey(t *testing.T) {
	edPriv, _ := testKeyPEM(t, "Ed25519")
	ecPriv, _ := testKeyPEM(t, "P-256")
	ecFile := writeFile(t, "es256.pem", ecPriv)

	for name, value := range map[string]string{
		"PEM value":         edPriv,
		"PEM value, spaced": "\n  " + edPriv + "\n",
		"file path":         ecFile,
		"file path, spaced": "  " + ecFile + " ",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := loadConfig(env(map[string]string{"AUTHD_JWT_SIGNING_KEY": value}))
			if err != nil {
				t.Fatal(err)
			}
			want := "EdDSA"
			if strings.Contains(name, "file") {
				want = "ES256"
			}
			if c.JWTSigningKey.Algorithm() != want || !c.JWTSigningKey.CanSign() {
				t.Errorf("signing key %s (can sign %v), want %s", c.JWTSigningKey.Algorithm(), c.JWTSigningKey.CanSign(), want)
			}
			// No HS256 secret is generated next to an asymmetric key; the
			// refresh key, with nothing to derive it from, is random in
			// development.
			if c.JWTSecret != nil || c.JWTSecretRandom {
				t.Errorf("secret %d bytes (random %v) next to a signing key", len(c.JWTSecret), c.JWTSecretRandom)
			}
			if !c.RefreshKeyRandom || len(c.RefreshKey) != 32 {
				t.Errorf("refresh key %d bytes, random %v; want 32 random bytes", len(c.RefreshKey), c.RefreshKeyRandom)
			}
		})
	}

	// Production needs a refresh key when there is no secret to derive it from.
	prod := map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SIGNING_KEY": edPriv}
	_, err := loadConfig(env(prod))
	if err == nil || !strings.Contains(err.Error(), "AUTHD_REFRESH_TOKEN_KEY:") || strings.Contains(err.Error(), "AUTHD_JWT_SECRET:") {
		t.Errorf("production with a signing key and no refresh key: %v; want AUTHD_REFRESH_TOKEN_KEY required (and no secret)", err)
	}
	prod["AUTHD_REFRESH_TOKEN_KEY"] = testRefreshKey
	c, err := loadConfig(env(prod))
	if err != nil || string(c.RefreshKey) != testRefreshKey || c.RefreshKeyRandom || c.JWTSecret != nil {
		t.Errorf("production with a signing key and a refresh key: %v", err)
	}

	// With a secret too, the secret stays (it will only verify) and the
	// refresh key is still derived from it, as before the switch.
	hs := testSecret
	c, err = loadConfig(env(map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SIGNING_KEY": edPriv, "AUTHD_JWT_SECRET": hs}))
	if err != nil {
		t.Fatal(err)
	}
	before, err := loadConfig(env(map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SECRET": hs}))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.JWTSecret) != hs || c.JWTSigningKey.Algorithm() != "EdDSA" || string(c.RefreshKey) != string(before.RefreshKey) || c.RefreshKeyRandom {
		t.Errorf("signing key plus secret: secret %q, key %s, refresh key unchanged %v", c.JWTSecret, c.JWTSigningKey.Algorithm(), string(c.RefreshKey) == string(before.RefreshKey))
	}
	// The secret's production minimum still holds.
	_, err = loadConfig(env(map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SIGNING_KEY": edPriv, "AUTHD_JWT_SECRET": "short"}))
	if err == nil || !strings.Contains(err.Error(), "AUTHD_JWT_SECRET:") {
		t.Errorf("short secret next to a signing key: %v", err)
	}
}

func TestConfigVerificationKeys(t *testing.T) {
	_, edPub := testKeyPEM(t, "Ed25519")
	ecPriv, _ := testKeyPEM(t, "P-256")
	_, ecPub2 := testKeyPEM(t, "P-256")
	dir := t.TempDir()
	a := writeFileIn(t, dir, "a.pem", edPub)
	b := writeFileIn(t, dir, "b.pem", ecPriv+"\n"+ecPub2) // one file, two keys

	for name, value := range map[string]string{
		"PEM blocks":       edPub + "\n" + ecPriv + ecPub2,
		"paths":            a + "," + b,
		"paths and spaces": " " + a + " , " + b + " ,",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := loadConfig(env(map[string]string{"AUTHD_JWT_VERIFICATION_KEYS": value}))
			if err != nil {
				t.Fatal(err)
			}
			var algs []string
			for _, k := range c.JWTVerificationKeys {
				algs = append(algs, k.Algorithm())
			}
			if strings.Join(algs, " ") != "EdDSA ES256 ES256" {
				t.Errorf("verification keys %v, want EdDSA ES256 ES256", algs)
			}
			// HS256 still signs: verification keys alone change nothing else.
			if !c.JWTSigningKey.IsZero() || len(c.JWTSecret) != 32 {
				t.Errorf("signing key %v, secret %d bytes", c.JWTSigningKey.Algorithm(), len(c.JWTSecret))
			}
		})
	}
}

func TestConfigRejectsBadKeys(t *testing.T) {
	edPriv, edPub := testKeyPEM(t, "Ed25519")
	ecPriv, _ := testKeyPEM(t, "P-256")
	material := strings.Split(edPriv, "\n")[1] // the base64 line of the key
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := writeFile(t, "not.pem", "hello")
	for _, kv := range []map[string]string{
		{"AUTHD_JWT_SIGNING_KEY": edPub},           // a public key cannot sign
		{"AUTHD_JWT_SIGNING_KEY": edPriv + ecPriv}, // two keys
		{"AUTHD_JWT_SIGNING_KEY": missing},
		{"AUTHD_JWT_SIGNING_KEY": notPEM},
		{"AUTHD_JWT_SIGNING_KEY": material}, // pasted without its PEM lines
		{"AUTHD_JWT_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nchange-me\n-----END PRIVATE KEY-----\n"},
		{"AUTHD_JWT_VERIFICATION_KEYS": edPub + "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"},
		{"AUTHD_JWT_VERIFICATION_KEYS": writeFile(t, "ok.pem", edPub) + "," + missing},
		{"AUTHD_JWT_VERIFICATION_KEYS": notPEM},
		{"AUTHD_JWT_VERIFICATION_KEYS": material},
	} {
		_, err := loadConfig(env(kv))
		for name := range kv {
			if err == nil || !strings.Contains(err.Error(), name+":") {
				t.Errorf("%s: err = %v, want it to name %s", name, err, name)
			}
		}
		if err != nil && strings.Contains(err.Error(), material[:20]) {
			t.Errorf("error quotes key material: %v", err)
		}
	}
}

// writeFile writes contents to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, contents string) string {
	t.Helper()
	return writeFileIn(t, t.TempDir(), name, contents)
}

func writeFileIn(t *testing.T, dir, name, contents string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testSecret and testRefreshKey pass production's checks: 32 bytes, at
// least 16 distinct byte values.
const (
	testSecret     = "Kq9#vL2mZx7!pR4tWy8&nB3cF6hJ1sD5"
	testRefreshKey = "Rz4$wN8qLm2@xT6vYp9^kC3bG7fH5jD1"
)

// TestSecurityConfiguration: the settings issue 12 added, and what
// production refuses.
func TestSecurityConfiguration(t *testing.T) {
	prod := func(kv map[string]string) map[string]string {
		m := map[string]string{"AUTHD_ENV": "production", "AUTHD_JWT_SECRET": testSecret, "AUTHD_METRICS_ADDR": "127.0.0.1:9090"}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	c, err := loadConfig(env(nil))
	if err != nil || c.AcctCap != 100 || c.AcctCapWindow != 24*time.Hour || c.DeviceFailures != 10 || c.MaxSessions != 100 ||
		!c.Docs || c.ReuseGrace != 10*time.Second || c.StrictRotation || c.MetricsPublic {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = loadConfig(env(map[string]string{
		"AUTHD_RATE_LIMIT_ACCOUNT_CAP": "50", "AUTHD_RATE_LIMIT_ACCOUNT_CAP_WINDOW": "6h",
		"AUTHD_RATE_LIMIT_DEVICE_FAILURES": "3", "AUTHD_MAX_SESSIONS": "5",
		"AUTHD_DOCS": "false", "AUTHD_REFRESH_REUSE_GRACE": "0s",
	}))
	if err != nil || c.AcctCap != 50 || c.AcctCapWindow != 6*time.Hour || c.DeviceFailures != 3 || c.MaxSessions != 5 || c.Docs || !c.StrictRotation {
		t.Fatalf("values: %+v, %v", c, err)
	}
	if c, err := loadConfig(env(map[string]string{"AUTHD_REFRESH_REUSE_GRACE": "60s"})); err != nil || c.ReuseGrace != time.Minute || c.StrictRotation {
		t.Errorf("a 60s grace: %+v, %v", c.ReuseGrace, err)
	}
	if _, err := loadConfig(env(prod(nil))); err != nil {
		t.Fatalf("a good production configuration: %v", err)
	}
	if c, err := loadConfig(env(prod(map[string]string{"AUTHD_METRICS_ADDR": "", "AUTHD_METRICS_PUBLIC": "true"}))); err != nil || !c.MetricsPublic {
		t.Errorf("production with AUTHD_METRICS_PUBLIC=true: %v", err)
	}
	refused := []struct {
		kv   map[string]string
		name string
	}{
		{map[string]string{"AUTHD_REFRESH_REUSE_GRACE": "61s"}, "AUTHD_REFRESH_REUSE_GRACE"},
		{map[string]string{"AUTHD_REFRESH_REUSE_GRACE": "-1s"}, "AUTHD_REFRESH_REUSE_GRACE"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "10.0.0.0/8, 0.0.0.0/0"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "::/0"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_TRUSTED_PROXIES": "::ffff:0.0.0.0/96"}, "AUTHD_TRUSTED_PROXIES"},
		{map[string]string{"AUTHD_RATE_LIMIT_ACCOUNT_CAP": "0"}, "AUTHD_RATE_LIMIT_ACCOUNT_CAP"},
		{map[string]string{"AUTHD_DOCS": "maybe"}, "AUTHD_DOCS"},
		{prod(map[string]string{"AUTHD_METRICS_ADDR": ""}), "AUTHD_METRICS_ADDR"},
		{prod(map[string]string{"AUTHD_JWT_SECRET": strings.Repeat("a", 64)}), "AUTHD_JWT_SECRET"},
		{prod(map[string]string{"AUTHD_JWT_SECRET": strings.Repeat("0123456789abcde", 3)}), "AUTHD_JWT_SECRET"},
		{prod(map[string]string{"AUTHD_REFRESH_TOKEN_KEY": strings.Repeat("ab", 20)}), "AUTHD_REFRESH_TOKEN_KEY"},
	}
	for _, tt := range refused {
		_, err := loadConfig(env(tt.kv))
		if err == nil || !strings.Contains(err.Error(), tt.name+":") {
			t.Errorf("%v: error %v, want one naming %s", tt.kv, err, tt.name)
		}
	}
	// Development accepts what production refuses, apart from the
	// proxies, which are wrong everywhere.
	if _, err := loadConfig(env(map[string]string{"AUTHD_JWT_SECRET": strings.Repeat("a", 64)})); err != nil {
		t.Errorf("development with a weak secret: %v", err)
	}
}

func TestAdminConfiguration(t *testing.T) {
	const key = "admin-key-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE"
	c, err := loadConfig(env(map[string]string{}))
	if err != nil || c.AdminAddr != "" || c.AdminToken != nil {
		t.Fatalf("default: addr %q, key set %v, err %v; want the admin API off", c.AdminAddr, c.AdminToken != nil, err)
	}
	c, err = loadConfig(env(map[string]string{"AUTHD_ADMIN_ADDR": " 127.0.0.1:8081 ", "AUTHD_ADMIN_TOKEN": key}))
	if err != nil || c.AdminAddr != "127.0.0.1:8081" || string(c.AdminToken) != key {
		t.Fatalf("set: addr %q, err %v", c.AdminAddr, err)
	}
	if _, err := loadConfig(env(map[string]string{"AUTHD_ADDR": "127.0.0.1:0", "AUTHD_ADMIN_ADDR": "127.0.0.1:0", "AUTHD_ADMIN_TOKEN": "dev"})); err != nil {
		t.Errorf("two :0 listeners, a short key in development: %v", err)
	}
	prod := map[string]string{"AUTHD_ENV": "production", "AUTHD_METRICS_ADDR": "127.0.0.1:9090", "AUTHD_JWT_SECRET": "prod-secret-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE"}
	vars := func(kv ...string) map[string]string { return with(prod, kv...) }
	if _, err := loadConfig(env(vars("AUTHD_ADMIN_ADDR", "127.0.0.1:8081", "AUTHD_ADMIN_TOKEN", key))); err != nil {
		t.Errorf("production with a good key: %v", err)
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"AUTHD_ADMIN_ADDR": "127.0.0.1:8081"}, "AUTHD_ADMIN_TOKEN: is required"},
		{map[string]string{"AUTHD_ADMIN_ADDR": "8081", "AUTHD_ADMIN_TOKEN": key}, "AUTHD_ADMIN_ADDR"},
		{map[string]string{"AUTHD_ADDR": ":8080", "AUTHD_ADMIN_ADDR": ":8080", "AUTHD_ADMIN_TOKEN": key}, "AUTHD_ADMIN_ADDR"},
		{map[string]string{"AUTHD_ADMIN_ADDR": ":8080", "AUTHD_ADMIN_TOKEN": key}, "AUTHD_ADMIN_ADDR"}, // AUTHD_ADDR's default
		{vars("AUTHD_ADMIN_ADDR", "127.0.0.1:8081", "AUTHD_ADMIN_TOKEN", key[:31]), "AUTHD_ADMIN_TOKEN: must be at least 32 bytes"},
		{vars("AUTHD_ADMIN_ADDR", "127.0.0.1:8081", "AUTHD_ADMIN_TOKEN", strings.Repeat("ab", 20)), "AUTHD_ADMIN_TOKEN: has only 2 distinct"},
		{vars("AUTHD_ADMIN_ADDR", "127.0.0.1:8081"), "AUTHD_ADMIN_TOKEN: is required"},
	} {
		_, err := loadConfig(env(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.vars, err, tc.want)
		}
	}
}

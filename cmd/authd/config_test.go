package main

import (
	"log/slog"
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
	if c.Addr != ":8080" || c.Env != "development" || c.Database != (databaseConfig{Driver: "sqlite", Path: "authd.db", ConnectTimeout: 5 * time.Second}) {
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
		"AUTHD_JWT_SECRET":       strings.Repeat("k", 32),
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
	if c.Addr != "127.0.0.1:9000" || c.Env != "production" || string(c.JWTSecret) != strings.Repeat("k", 32) || c.JWTSecretRandom {
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
		{map[string]string{"AUTHD_ENV": "production"}, "AUTHD_JWT_SECRET"},
		{map[string]string{"AUTHD_ENV": "production", "AUTHD_JWT_SECRET": strings.Repeat("k", 31)}, "AUTHD_JWT_SECRET"},
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
	_, err := loadConfig(env(map[string]string{"AUTHD_ENV": "production", "AUTHD_JWT_SECRET": "hunter2-short-secret"}))
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

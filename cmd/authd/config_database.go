package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// databaseConfig says which store to open.
type databaseConfig struct {
	Driver         string // "sqlite" or "postgres"
	Path           string // SQLite file
	URL            string // PostgreSQL connection URL
	MaxConns       int
	ConnectTimeout time.Duration
	// SessionCacheSize bounds the session cache; 0 is off.
	SessionCacheSize int
}

// database reads which store to open, and whether to migrate it first.
func (e *envReader) database(c *config) {
	db, err := parseDatabaseURL(e.str("AUTHD_DATABASE_URL", "authd.db"))
	if err != nil {
		e.bad("AUTHD_DATABASE_URL", "%v", err)
	}
	db.MaxConns = e.integer("AUTHD_DATABASE_MAX_CONNS", 0, 0, 1000)
	db.ConnectTimeout = e.dur("AUTHD_DATABASE_CONNECT_TIMEOUT", 5*time.Second)
	e.sessionCache(&db)
	c.Database = db
	c.AutoMigrate = e.boolean("AUTHD_AUTO_MIGRATE", true)
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

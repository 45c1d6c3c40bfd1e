package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/refreshtoken"
)

// tokens reads the access and refresh tokens' claims and lifetimes.
func (e *envReader) tokens(c *config) {
	c.JWTIssuer = e.str("AUTHD_JWT_ISSUER", "authd")
	c.JWTAudience = e.str("AUTHD_JWT_AUDIENCE", "authd")
	c.AccessTokenTTL = e.dur("AUTHD_ACCESS_TOKEN_TTL", 24*time.Hour)
	if c.AccessTokenTTL%time.Second != 0 {
		e.bad("AUTHD_ACCESS_TOKEN_TTL", "%v is not a whole number of seconds (token times have one-second precision)", c.AccessTokenTTL)
	}
	c.RefreshTokenTTL = e.dur("AUTHD_REFRESH_TOKEN_TTL", 30*24*time.Hour)
	if c.RefreshTokenTTL%time.Second != 0 {
		e.bad("AUTHD_REFRESH_TOKEN_TTL", "%v is not a whole number of seconds", c.RefreshTokenTTL)
	}
	c.ReuseGrace = e.durOrZero("AUTHD_REFRESH_REUSE_GRACE", 10*time.Second)
	if c.ReuseGrace > maxReuseGrace {
		e.bad("AUTHD_REFRESH_REUSE_GRACE", "%v is longer than %v: a spent refresh token would stay usable that long without being noticed (0s is strict rotation)", c.ReuseGrace, maxReuseGrace)
	}
	c.StrictRotation = c.ReuseGrace == 0
	c.SweepInterval = e.dur("AUTHD_SESSION_SWEEP_INTERVAL", 10*time.Minute)
}

// jwtKeys reads the access-token keys. An Ed25519 or P-256 key signs when
// AUTHD_JWT_SIGNING_KEY is set; AUTHD_JWT_SECRET then only verifies
// (tokens signed before the switch; the jwt adapter demotes it).
func (e *envReader) jwtKeys(c *config) {
	if strings.TrimSpace(e.getenv("AUTHD_JWT_SIGNING_KEY")) != "" {
		keys, err := readKeys(e.getenv("AUTHD_JWT_SIGNING_KEY"), false)
		switch {
		case err != nil:
			e.bad("AUTHD_JWT_SIGNING_KEY", "%v", err)
		case len(keys) != 1:
			e.bad("AUTHD_JWT_SIGNING_KEY", "holds %d keys; give exactly one private key (list others in AUTHD_JWT_VERIFICATION_KEYS)", len(keys))
		case !keys[0].CanSign():
			e.bad("AUTHD_JWT_SIGNING_KEY", "is a public key; signing needs the private key (-----BEGIN PRIVATE KEY-----, PKCS#8)")
		default:
			c.JWTSigningKey = keys[0]
		}
	}
	if v := e.getenv("AUTHD_JWT_VERIFICATION_KEYS"); strings.TrimSpace(v) != "" {
		keys, err := readKeys(v, true)
		if err != nil {
			e.bad("AUTHD_JWT_VERIFICATION_KEYS", "%v", err)
		}
		c.JWTVerificationKeys = keys
	}
	// The secret is read raw (not trimmed): every byte is key material.
	secret := e.getenv("AUTHD_JWT_SECRET")
	switch {
	case secret == "" && asymmetric(e):
		// No HS256 key at all.
	case secret == "" && c.Env == envProduction:
		e.bad("AUTHD_JWT_SECRET", "is required in production (at least %d random bytes), unless AUTHD_JWT_SIGNING_KEY is set", minSecretBytes)
	case len(secret) < minSecretBytes && c.Env == envProduction:
		e.bad("AUTHD_JWT_SECRET", "must be at least %d bytes in production (it is %d)", minSecretBytes, len(secret))
	case distinctBytes(secret) < minDistinctSecretBytes && c.Env == envProduction:
		e.bad("AUTHD_JWT_SECRET", "has only %d distinct byte values; production needs at least %d (use random bytes, such as the output of openssl rand -base64 48)", distinctBytes(secret), minDistinctSecretBytes)
	case secret == "":
		c.JWTSecret, c.JWTSecretRandom = e.random("AUTHD_JWT_SECRET", "secret", minSecretBytes), true
	default:
		c.JWTSecret = []byte(secret)
	}
}

// asymmetric tells whether AUTHD_JWT_SIGNING_KEY is set.
func asymmetric(e *envReader) bool { return strings.TrimSpace(e.getenv("AUTHD_JWT_SIGNING_KEY")) != "" }

// refreshKey reads the key that derives refresh-token successors: its own
// variable, or else derived from the JWT secret, or else (development,
// asymmetric signing without a secret) random.
func (e *envReader) refreshKey(c *config) {
	switch key := e.getenv("AUTHD_REFRESH_TOKEN_KEY"); {
	case key != "" && len(key) < refreshtoken.MinKeyBytes:
		e.bad("AUTHD_REFRESH_TOKEN_KEY", "must be at least %d bytes (it is %d)", refreshtoken.MinKeyBytes, len(key))
	case key != "" && c.Env == envProduction && distinctBytes(key) < minDistinctSecretBytes:
		e.bad("AUTHD_REFRESH_TOKEN_KEY", "has only %d distinct byte values; production needs at least %d (use random bytes)", distinctBytes(key), minDistinctSecretBytes)
	case key != "":
		c.RefreshKey = []byte(key)
	case !asymmetric(e) || c.JWTSecret != nil:
		c.RefreshKey = refreshtoken.DeriveKey(c.JWTSecret)
	case c.Env == envProduction:
		e.bad("AUTHD_REFRESH_TOKEN_KEY", "is required in production when AUTHD_JWT_SIGNING_KEY is set without AUTHD_JWT_SECRET (at least %d random bytes, the same on every instance)", refreshtoken.MinKeyBytes)
	default:
		c.RefreshKey, c.RefreshKeyRandom = e.random("AUTHD_REFRESH_TOKEN_KEY", "key", refreshtoken.MinKeyBytes), true
	}
}

// random generates a development key of n bytes for variable name.
func (e *envReader) random(name, what string, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		e.bad(name, "generating a development %s: %v", what, err)
	}
	return b
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

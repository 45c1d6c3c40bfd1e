package main

import "net"

// admin reads the admin API's listener and key. The API is off unless
// AUTHD_ADMIN_ADDR is set, and it never shares the public listener: a
// key that can deactivate and delete every account is not offered to
// whoever can reach the API.
func (e *envReader) admin(c *config) {
	c.AdminAddr = e.str("AUTHD_ADMIN_ADDR", "")
	if c.AdminAddr == "" {
		return
	}
	if _, port, err := net.SplitHostPort(c.AdminAddr); err != nil {
		e.bad("AUTHD_ADMIN_ADDR", "%q is not a listen address such as 127.0.0.1:8081", c.AdminAddr)
	} else if c.AdminAddr == c.Addr && port != "0" {
		e.bad("AUTHD_ADMIN_ADDR", "%q is AUTHD_ADDR; the admin API needs a listener of its own, never the public one", c.AdminAddr)
	}
	// The key is read raw (not trimmed): every byte is key material.
	key := e.getenv("AUTHD_ADMIN_TOKEN")
	switch {
	case key == "":
		e.bad("AUTHD_ADMIN_TOKEN", "is required when AUTHD_ADMIN_ADDR is set (at least %d random bytes, such as the output of openssl rand -base64 48)", minSecretBytes)
	case c.Env == envProduction && len(key) < minSecretBytes:
		e.bad("AUTHD_ADMIN_TOKEN", "must be at least %d bytes in production (it is %d)", minSecretBytes, len(key))
	case c.Env == envProduction && distinctBytes(key) < minDistinctSecretBytes:
		e.bad("AUTHD_ADMIN_TOKEN", "has only %d distinct byte values; production needs at least %d (use random bytes)", distinctBytes(key), minDistinctSecretBytes)
	default:
		c.AdminToken = []byte(key)
	}
}

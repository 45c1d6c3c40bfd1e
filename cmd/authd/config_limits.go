package main

import (
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/breaker"
)

// defaultRefusalHold is how long a refusal for hashing overload is held
// at most (AUTHD_HASH_REFUSAL_HOLD). A quarter second caps what a client
// that retries a 503 at once can make authd answer at 4 refusals a second
// per connection (64 such clients: 256/s instead of thousands), while it
// stays well under the 1 s minimum Retry-After, so a client that obeys
// Retry-After waits no longer than it would anyway, and it is short next
// to AUTHD_HASH_MAX_WAIT, so a held client that retries finds the room
// freed meanwhile. Each held refusal costs a sleeping goroutine, no CPU.
const defaultRefusalHold = 250 * time.Millisecond

// hashing reads the bcrypt cost and worker pool, and the password policy.
func (e *envReader) hashing(c *config) {
	c.BcryptCost = e.integer("AUTHD_BCRYPT_COST", bcrypt.DefaultCost, bcrypt.MinCost, bcrypt.MaxCost)
	c.MinPasswordLen = e.integer("AUTHD_PASSWORD_MIN_LENGTH", 8, 8, 64)
	c.HashWorkers = e.integer("AUTHD_HASH_WORKERS", 0, 0, 1024)
	c.HashQueue = e.integer("AUTHD_HASH_QUEUE", 0, 0, 1_000_000)
	c.HashMaxWait = e.dur("AUTHD_HASH_MAX_WAIT", 2*time.Second)
	c.HashRefusalHold = e.durOrZero("AUTHD_HASH_REFUSAL_HOLD", defaultRefusalHold)
}

// limits reads the rate limits.
func (e *envReader) limits(c *config) {
	switch v := strings.ToLower(e.str("AUTHD_RATE_LIMIT", "on")); v {
	case "on", "true", "1":
		c.RateLimit = true
	case "off", "false", "0":
	default:
		e.bad("AUTHD_RATE_LIMIT", "%q is neither on nor off", v)
	}
	c.IPRequests = e.integer("AUTHD_RATE_LIMIT_IP_REQUESTS", 60, 1, 1_000_000)
	c.IPWindow = e.dur("AUTHD_RATE_LIMIT_IP_WINDOW", time.Minute)
	c.AcctFailures = e.integer("AUTHD_RATE_LIMIT_ACCOUNT_FAILURES", 10, 1, 1_000_000)
	c.AcctWindow = e.dur("AUTHD_RATE_LIMIT_ACCOUNT_WINDOW", 15*time.Minute)
	c.AcctCap = e.integer("AUTHD_RATE_LIMIT_ACCOUNT_CAP", 100, 1, 1_000_000)
	c.AcctCapWindow = e.dur("AUTHD_RATE_LIMIT_ACCOUNT_CAP_WINDOW", 24*time.Hour)
	c.DeviceFailures = e.integer("AUTHD_RATE_LIMIT_DEVICE_FAILURES", 10, 1, 1_000_000)
	c.MaxSessions = e.integer("AUTHD_MAX_SESSIONS", 100, 1, 100_000)
	c.RateLimitKeys = e.integer("AUTHD_RATE_LIMIT_MAX_KEYS", 100_000, 1_000, 100_000_000)
}

// breaker reads the database circuit breakers' settings.
func (e *envReader) breaker(c *config) {
	// The breaker must time a query out before the request's own deadline
	// does, or a slow database would never count against the circuit.
	defaultTimeout := min(3*time.Second, c.RequestTimeout*4/5)
	c.Breaker = breaker.Config{
		Timeout:                e.dur("AUTHD_BREAKER_TIMEOUT", defaultTimeout),
		MaxConcurrent:          e.integer("AUTHD_BREAKER_MAX_CONCURRENT", 512, 1, 1_000_000),
		RequestVolumeThreshold: e.integer("AUTHD_BREAKER_REQUEST_VOLUME", 20, 1, 1_000_000),
		SleepWindow:            e.dur("AUTHD_BREAKER_SLEEP_WINDOW", 5*time.Second),
		ErrorPercentThreshold:  e.integer("AUTHD_BREAKER_ERROR_PERCENT", 50, 1, 100),
	}
	if c.Breaker.Timeout >= c.RequestTimeout {
		e.bad("AUTHD_BREAKER_TIMEOUT", "%v must be shorter than AUTHD_REQUEST_TIMEOUT (%v), or a slow database is never counted", c.Breaker.Timeout, c.RequestTimeout)
	}
}

// breachMaxConcurrent bounds the breach checks in flight: far fewer than
// database calls, since each is a request to a third party.
const breachMaxConcurrent = 16

// breach reads the breached-password check.
func (e *envReader) breach(c *config) {
	c.BreachCheck = e.boolean("AUTHD_BREACH_CHECK", false)
	c.BreachURL = e.str("AUTHD_BREACH_CHECK_URL", "https://api.pwnedpasswords.com/range/")
	c.BreachTimeout = e.dur("AUTHD_BREACH_CHECK_TIMEOUT", time.Second)
	c.BreachFailClosed = e.boolean("AUTHD_BREACH_CHECK_FAIL_CLOSED", false)
	if u, err := url.Parse(c.BreachURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		e.bad("AUTHD_BREACH_CHECK_URL", "%q is not an http(s) URL", c.BreachURL)
	}
	c.BreachBreaker = breaker.Config{Timeout: c.BreachTimeout, MaxConcurrent: breachMaxConcurrent}
}

// Package hibp implements ports.BreachChecker against a k-anonymity range
// API compatible with Have I Been Pwned's Pwned Passwords: only the first
// five hex characters of the password's SHA-1 leave the process, and the
// match against the returned suffixes happens here.
//
// Whenever the service cannot answer, Breached returns EUNAVAILABLE. The
// checker has no deadline or circuit of its own: a query lasts as long as
// the caller's context allows. cmd/authd wraps it in adapters/breaker
// (Set.Breaches), which bounds each query, limits how many run at once and
// stops asking a failing service for a while, as it does for the
// repositories.
package hibp

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.BreachChecker = (*Checker)(nil)

// DefaultBaseURL is the public Pwned Passwords range API, used when
// Config.BaseURL is empty.
const DefaultBaseURL = "https://api.pwnedpasswords.com/range/"

// MaxBodyBytes bounds how much of a range response is read. A padded
// response is about 40 KiB; anything over this is treated as a failure.
const MaxBodyBytes = 2 << 20

const (
	prefixLen = 5
	suffixLen = sha1.Size*2 - prefixLen // 35
	userAgent = "authd"
)

// Config configures a Checker.
type Config struct {
	// BaseURL is the range endpoint; the 5-character hash prefix is
	// appended to it (a missing trailing "/" is added). Empty means
	// DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests; nil means a client of its own on
	// http.DefaultTransport. Its Timeout, if any, still applies.
	HTTPClient *http.Client
}

// Checker asks a Pwned Passwords range service whether a password has
// been breached. It is safe for concurrent use.
type Checker struct {
	baseURL string
	client  *http.Client
}

// New validates cfg and applies defaults.
func New(cfg Config) (*Checker, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hibp: base URL %q must be an absolute http(s) URL without query or fragment", cfg.BaseURL)
	}
	if !strings.HasSuffix(cfg.BaseURL, "/") {
		cfg.BaseURL += "/"
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	return &Checker{baseURL: cfg.BaseURL, client: client}, nil
}

// Breached reports whether password's SHA-1 is in the range service's
// corpus with a non-zero count. Returns EUNAVAILABLE when the service
// cannot answer: an error status, a network failure, an unreadable
// response, or ctx ending first. The error never holds the password, its
// hash or its prefix.
func (c *Checker) Breached(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password))
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := hash[:prefixLen], hash[prefixLen:]

	if err := ctx.Err(); err != nil {
		return false, domain.Unavailable(fmt.Errorf("hibp: breach check: %w", err))
	}
	found, err := c.query(ctx, prefix, suffix)
	if err != nil {
		return false, domain.Unavailable(fmt.Errorf("hibp: breach check: %w", err))
	}
	return found, nil
}

// query fetches the range of prefix and reports whether suffix is in it.
func (c *Checker) query(ctx context.Context, prefix, suffix string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("build range request: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", userAgent)

	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error names the URL, and so the prefix: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("range request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return false, fmt.Errorf("range request: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return false, fmt.Errorf("read range response: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return false, fmt.Errorf("range response exceeds %d bytes", MaxBodyBytes)
	}
	return findSuffix(body, suffix)
}

// findSuffix parses a range response, lines of "SUFFIX:COUNT" ended by CRLF
// or LF, and reports whether suffix (upper-case) is listed with a count
// above zero. Padding entries have a count of zero and never match.
func findSuffix(body []byte, suffix string) (bool, error) {
	found := false
	for n, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		s, cnt, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(s) != suffixLen || !isHex(s) {
			return false, fmt.Errorf("range response line %d: not SUFFIX:COUNT", n+1)
		}
		count, err := strconv.ParseUint(string(bytes.TrimSpace(cnt)), 10, 64)
		if err != nil {
			return false, fmt.Errorf("range response line %d: bad count", n+1)
		}
		if count > 0 && strings.EqualFold(string(s), suffix) {
			found = true
		}
	}
	return found, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

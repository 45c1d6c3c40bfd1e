// Package hibp implements ports.BreachChecker against a k-anonymity range
// API compatible with Have I Been Pwned's Pwned Passwords: only the first
// five hex characters of the password's SHA-1 leave the process, and the
// match against the returned suffixes happens here.
//
// Every query runs as a hystrix-go command, so a slow or failing range
// service costs each caller at most Config.Timeout and, once the circuit
// opens, nothing at all until the sleep window has passed. Whenever the
// service cannot answer, Breached returns EUNAVAILABLE. Hystrix's own log
// lines (circuit opened, probed, closed) go to its one process-wide
// logger, which main installs; this package never sets it.
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
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.BreachChecker = (*Checker)(nil)

// Defaults that New applies to zero Config fields.
const (
	DefaultBaseURL                = "https://api.pwnedpasswords.com/range/"
	DefaultTimeout                = time.Second
	DefaultCommandName            = "hibp"
	DefaultMaxConcurrent          = 16
	DefaultRequestVolumeThreshold = 20
	DefaultSleepWindow            = 5 * time.Second
	DefaultErrorPercentThreshold  = 50
)

// MaxBodyBytes bounds how much of a range response is read. A padded
// response is about 40 KiB; anything over this is treated as a failure.
const MaxBodyBytes = 2 << 20

const (
	prefixLen = 5
	suffixLen = sha1.Size*2 - prefixLen // 35
	userAgent = "authd"
)

// Config configures a Checker. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the range endpoint; the 5-character hash prefix is
	// appended to it (a missing trailing "/" is added).
	BaseURL string
	// Timeout bounds one query, including waiting for the response body.
	// It is the hystrix command timeout, in whole milliseconds (rounded up).
	Timeout time.Duration
	// CommandName names the hystrix command. Hystrix keeps circuits and
	// settings per name for the whole process: Checkers that share a name
	// share one circuit, and the concurrency limit of a name is fixed by
	// the first query that runs under it.
	CommandName string
	// HTTPClient sends the requests; nil means a client of its own on
	// http.DefaultTransport. Its Timeout, if any, still applies.
	HTTPClient *http.Client
	// MaxConcurrent is how many queries may run at once; more are
	// refused with EUNAVAILABLE.
	MaxConcurrent int
	// RequestVolumeThreshold is how many queries in hystrix's rolling 10 s
	// window it takes before the error rate can open the circuit.
	RequestVolumeThreshold int
	// SleepWindow is how long the circuit stays open before one probe
	// query is let through; its success closes the circuit.
	SleepWindow time.Duration
	// ErrorPercentThreshold is the error rate, in percent, at or above
	// which the circuit opens.
	ErrorPercentThreshold int
}

// Checker asks a Pwned Passwords range service whether a password has
// been breached. It is safe for concurrent use.
type Checker struct {
	baseURL    string
	command    string
	client     *http.Client
	reqTimeout time.Duration
}

// New validates cfg, applies defaults, and configures cfg.CommandName's
// hystrix command.
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
	if cfg.CommandName == "" {
		cfg.CommandName = DefaultCommandName
	}
	if cfg.Timeout < 0 || cfg.SleepWindow < 0 || cfg.MaxConcurrent < 0 ||
		cfg.RequestVolumeThreshold < 0 || cfg.ErrorPercentThreshold < 0 || cfg.ErrorPercentThreshold > 100 {
		return nil, errors.New("hibp: Timeout, SleepWindow, MaxConcurrent and RequestVolumeThreshold must not be negative, ErrorPercentThreshold must be 0..100")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.RequestVolumeThreshold == 0 {
		cfg.RequestVolumeThreshold = DefaultRequestVolumeThreshold
	}
	if cfg.SleepWindow == 0 {
		cfg.SleepWindow = DefaultSleepWindow
	}
	if cfg.ErrorPercentThreshold == 0 {
		cfg.ErrorPercentThreshold = DefaultErrorPercentThreshold
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}

	timeoutMS := ceilMillis(cfg.Timeout)
	hystrix.ConfigureCommand(cfg.CommandName, hystrix.CommandConfig{
		Timeout:                timeoutMS,
		MaxConcurrentRequests:  cfg.MaxConcurrent,
		RequestVolumeThreshold: cfg.RequestVolumeThreshold,
		SleepWindow:            ceilMillis(cfg.SleepWindow),
		ErrorPercentThreshold:  cfg.ErrorPercentThreshold,
	})

	// Hystrix's timeout only stops waiting: the run function goes on. The
	// request gets a slightly shorter deadline of its own so that it is
	// abandoned, and its connection freed, by the time hystrix gives up.
	hystrixTimeout := time.Duration(timeoutMS) * time.Millisecond
	return &Checker{
		baseURL:    cfg.BaseURL,
		command:    cfg.CommandName,
		client:     client,
		reqTimeout: hystrixTimeout - hystrixTimeout/10,
	}, nil
}

func ceilMillis(d time.Duration) int {
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Breached reports whether password's SHA-1 is in the range service's
// corpus with a non-zero count. Returns EUNAVAILABLE when the service
// cannot answer: an error status, a network failure, an unreadable
// response, a timeout, an open circuit, too many queries at once, or ctx
// ending first.
func (c *Checker) Breached(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password))
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := hash[:prefixLen], hash[prefixLen:]

	if err := ctx.Err(); err != nil {
		return false, domain.Unavailable(fmt.Errorf("hibp: breach check: %w", err))
	}

	var found bool
	err := hystrix.DoC(ctx, c.command, func(ctx context.Context) error {
		f, err := c.query(ctx, prefix, suffix)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				// The caller gave up. Returned bare, hystrix files this
				// under context_canceled/deadline_exceeded instead of
				// counting it against the range service's health.
				return ctxErr
			}
			return err
		}
		found = f
		return nil
	}, nil) // No fallback: a failing fallback would hide the error's type.
	if err != nil {
		if ctx.Err() != nil {
			return false, domain.Unavailable(fmt.Errorf("hibp: breach check abandoned: %w", err))
		}
		return false, domain.Unavailable(describe(c.command, err))
	}
	// DoC returns nil only after the run function has returned nil, so
	// found is set and visible here.
	return found, nil
}

// describe adds context to a failed command's error. The error never holds
// the password, its hash or its prefix.
func describe(command string, err error) error {
	switch {
	case errors.Is(err, hystrix.ErrCircuitOpen):
		return fmt.Errorf("hibp: breach check skipped, circuit %q open: %w", command, err)
	case errors.Is(err, hystrix.ErrMaxConcurrency):
		return fmt.Errorf("hibp: breach check refused, too many concurrent checks on %q: %w", command, err)
	case errors.Is(err, hystrix.ErrTimeout):
		return fmt.Errorf("hibp: breach check timed out: %w", err)
	default:
		return fmt.Errorf("hibp: breach check: %w", err)
	}
}

// query fetches the range of prefix and reports whether suffix is in it.
// Every error it returns is wrapped, never a bare context error, so that
// hystrix counts it as a failure of the service.
func (c *Checker) query(ctx context.Context, prefix, suffix string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()

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

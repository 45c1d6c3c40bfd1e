// Package breaker wraps ports in hystrix-go circuit breakers: the
// repositories, the rate-limit store and the breach checker. The
// decorators implement the same ports as what they wrap, so the core never
// knows they are there; cmd/authd puts them around the storage and breach
// adapters. It is the only package that imports hystrix-go.
//
// Each decorated port is one hystrix command. A call through it:
//
//   - returns the inner result and error unchanged when the inner call
//     answered, including with a domain outcome such as ENOTFOUND,
//     ECONFLICT, EINVALID or EUNAUTHORIZED: the dependency is healthy, so
//     hystrix records a success;
//   - counts as a failure when the inner call returned EUNAVAILABLE or
//     EINTERNAL (which includes any error that is not a *domain.Error),
//     and returns EUNAVAILABLE wrapping that error;
//   - returns EUNAVAILABLE wrapping hystrix.ErrCircuitOpen,
//     hystrix.ErrMaxConcurrency or hystrix.ErrTimeout when hystrix refuses
//     or abandons it, without waiting for the inner call;
//   - returns EUNAVAILABLE wrapping the context's error when the caller's
//     own context ends first; that is not held against the dependency.
//
// Hystrix's timeout only stops waiting: the inner call goes on in
// hystrix's goroutine. So the inner call gets a context whose deadline is
// 90% of the command timeout, and by the time the caller sees ErrTimeout a
// well-behaved repository has already been told to stop. Its results are
// dropped. Until it stops it may still read its arguments, so callers must
// not change what they passed (a *domain.User, a []byte hash) after a call
// failed; app never does.
//
// Hystrix keeps circuits, settings and its logger per process. A Set (one
// per service instance) names the commands uniquely, installs the logger
// once per process, and hands out each circuit's handle, for readiness,
// probing and metrics. The package-level decorators take the command name
// from the caller, who must keep it unique.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/authd/authd/domain"
)

// Defaults that the decorators apply to zero Config fields.
const (
	// DefaultTimeout is well above a healthy query (milliseconds) and a
	// slow but working one, and well below a client's request deadline,
	// so a hung database fails calls here, and is counted against the
	// circuit, before callers give up on their own (which is not
	// counted).
	DefaultTimeout = 3 * time.Second
	// DefaultMaxConcurrent is sized to the load one process is expected
	// to carry, not hystrix's default of 10. Calls over the limit are
	// rejected, and rejections count as errors: with 10, a burst of
	// healthy traffic gets most calls rejected and then opens the circuit
	// on a database that is fine. The real bound on database work is the
	// connection pool; this limit only has to stop goroutines piling up
	// without end behind a hung database.
	DefaultMaxConcurrent = 512
	// DefaultRequestVolumeThreshold is how many calls in hystrix's
	// rolling 10 s window it takes before the error rate may open the
	// circuit: enough that a couple of failures on a quiet instance do
	// not open it.
	DefaultRequestVolumeThreshold = 20
	// DefaultSleepWindow is how long an open circuit refuses calls before
	// letting one probe through: long enough to take the load off a
	// struggling database, short enough that recovery is noticed quickly.
	DefaultSleepWindow = 5 * time.Second
	// DefaultErrorPercentThreshold is the error rate, in percent, at or
	// above which the circuit opens: half the calls failing is an outage,
	// not noise.
	DefaultErrorPercentThreshold = 50
)

// Config tunes one decorated port's hystrix command. Zero fields take the
// defaults above; Timeout and SleepWindow are rounded up to whole
// milliseconds, hystrix's unit.
type Config struct {
	// Timeout bounds one call. The inner call's context ends at 90% of it.
	Timeout time.Duration
	// MaxConcurrent is how many calls may run at once; more are refused
	// with EUNAVAILABLE and count as errors. It is fixed when the command's
	// circuit is created, by the first decorator built with its name.
	MaxConcurrent int
	// RequestVolumeThreshold is how many calls in the rolling 10 s window
	// it takes before the error rate can open the circuit.
	RequestVolumeThreshold int
	// SleepWindow is how long the circuit stays open before one probe
	// call is let through; its success closes the circuit.
	SleepWindow time.Duration
	// ErrorPercentThreshold is the error rate, 1..100, at or above which
	// the circuit opens.
	ErrorPercentThreshold int
}

// Validate reports a negative field or an error percentage over 100. The
// decorators panic on such a Config, so cmd should validate first.
func (c Config) Validate() error {
	if c.Timeout < 0 || c.MaxConcurrent < 0 || c.RequestVolumeThreshold < 0 || c.SleepWindow < 0 ||
		c.ErrorPercentThreshold < 0 || c.ErrorPercentThreshold > 100 {
		return fmt.Errorf("breaker: invalid config %+v: fields must not be negative, ErrorPercentThreshold must be at most 100", c)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.RequestVolumeThreshold == 0 {
		c.RequestVolumeThreshold = DefaultRequestVolumeThreshold
	}
	if c.SleepWindow == 0 {
		c.SleepWindow = DefaultSleepWindow
	}
	if c.ErrorPercentThreshold == 0 {
		c.ErrorPercentThreshold = DefaultErrorPercentThreshold
	}
	return c
}

// command is one configured hystrix command.
type command struct {
	name string
	// timeout is hystrix's, innerTimeout the inner call's (90% of it).
	timeout, innerTimeout time.Duration
}

func newCommand(name string, cfg Config) command {
	if name == "" {
		panic("breaker: empty command name")
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	timeoutMS := ceilMillis(cfg.Timeout)
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{
		Timeout:                timeoutMS,
		MaxConcurrentRequests:  cfg.MaxConcurrent,
		RequestVolumeThreshold: cfg.RequestVolumeThreshold,
		SleepWindow:            ceilMillis(cfg.SleepWindow),
		ErrorPercentThreshold:  cfg.ErrorPercentThreshold,
	})
	// Create the circuit now: its concurrency limit is read once, when it
	// is created, and a GetCircuit elsewhere (a readiness check) before
	// the first call would otherwise fix it at hystrix's default.
	_, _, _ = hystrix.GetCircuit(name)
	timeout := time.Duration(timeoutMS) * time.Millisecond
	return command{name: name, timeout: timeout, innerTimeout: timeout - timeout/10}
}

func ceilMillis(d time.Duration) int {
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// isFailure tells whether an inner error says the dependency is unhealthy,
// as opposed to a domain outcome that it answered with.
func isFailure(err error) bool {
	switch domain.ErrorCode(err) {
	case domain.EUNAVAILABLE, domain.EINTERNAL:
		return true
	}
	return false
}

// do runs call as one execution of c.
func do[T any](ctx context.Context, c command, call func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		// Not attempted, so not recorded by hystrix at all.
		return zero, domain.Unavailable(fmt.Errorf("%s: caller gave up: %w", c.name, err))
	}
	// Written by hystrix's goroutine; read only once DoC has returned nil,
	// which it does only after the closure has returned nil. After a
	// timeout or a cancellation the closure may still be running, and
	// these are never read.
	var (
		res     T
		outcome error
	)
	err := hystrix.DoC(ctx, c.name, func(ctx context.Context) error {
		r, err := runInner(ctx, c, call)
		var p *panicError
		switch {
		case errors.As(err, &p):
			return p
		case err == nil || !isFailure(err):
			res, outcome = r, err
			return nil
		case ctx.Err() != nil:
			// The caller gave up. Hystrix compares the returned error with
			// context.Canceled and context.DeadlineExceeded by identity
			// and, bare, files it under context_canceled or
			// context_deadline_exceeded, which do not count as errors.
			return ctx.Err()
		default:
			// Wrapped, never bare: the inner context running out of its
			// own (90%) deadline is the dependency's slowness and must
			// count.
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}, nil) // No fallback: a failing fallback would replace the error with a string.
	if err == nil {
		return res, outcome
	}
	return zero, c.failed(err)
}

// runInner calls call with a context that ends at c.innerTimeout. A panic
// there would crash the process, being in hystrix's goroutine; it is
// returned as a *panicError and raised again on the caller's goroutine.
func runInner[T any](ctx context.Context, c command, call func(context.Context) (T, error)) (res T, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.innerTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{command: c.name, value: v, stack: debug.Stack()}
		}
	}()
	return call(ctx)
}

// failed maps an error from hystrix.DoC to EUNAVAILABLE, keeping it in the
// chain.
func (c command) failed(err error) error {
	var p *panicError
	switch {
	case errors.As(err, &p):
		panic(p)
	case errors.Is(err, hystrix.ErrCircuitOpen):
		err = fmt.Errorf("%s: circuit open: %w", c.name, err)
	case errors.Is(err, hystrix.ErrMaxConcurrency):
		err = fmt.Errorf("%s: too many concurrent calls: %w", c.name, err)
	case errors.Is(err, hystrix.ErrTimeout):
		err = fmt.Errorf("%s: no answer within %v: %w", c.name, c.timeout, err)
	case err == context.Canceled || err == context.DeadlineExceeded:
		err = fmt.Errorf("%s: caller gave up: %w", c.name, err)
	} // else an inner failure, already wrapped with the name.
	return domain.Unavailable(err)
}

// panicError carries a panic of an inner call out of hystrix's goroutine.
type panicError struct {
	command string
	value   any
	stack   []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("%s: panic in inner call: %v\n\n%s", p.command, p.value, p.stack)
}

// Unwrap returns the panic value when it is an error.
func (p *panicError) Unwrap() error {
	err, _ := p.value.(error)
	return err
}

// SlogLogger adapts a *slog.Logger to the Printf logger that
// hystrix.SetLogger takes. Hystrix has one logger per process, so NewSet
// installs this once for all commands; its lines
// name the command. A circuit opening and hystrix's own errors are
// warnings; probing and closing are info.
type SlogLogger struct {
	// Logger receives the lines; nil means slog.Default() at the time of
	// each line.
	Logger *slog.Logger
}

// Printf logs one hystrix line.
func (s SlogLogger) Printf(format string, items ...any) {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	msg := format
	if len(items) > 0 {
		msg = fmt.Sprintf(format, items...)
	} // else hystrix passed an error's text as the format: keep any % as is.
	msg = strings.TrimSpace(msg)
	level := slog.LevelWarn
	if strings.Contains(msg, "closing circuit") || strings.Contains(msg, "allowing single test") {
		level = slog.LevelInfo
	}
	l.LogAttrs(context.Background(), level, msg, slog.String("component", "hystrix"))
}

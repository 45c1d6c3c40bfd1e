package breaker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Hystrix keeps circuits and settings per name for the whole process and
// hystrix.Flush would reset every circuit, so each test uses names of its
// own and never flushes.
var commandSeq atomic.Int64

func commandName(t *testing.T) string {
	return fmt.Sprintf("breaker-test-%s-%d", t.Name(), commandSeq.Add(1))
}

// fakeUsers is a UserRepository whose ByID does what byID says (by
// default, return user 1) and counts its calls.
type fakeUsers struct {
	ports.UserRepository // other methods are not used and would panic
	calls                atomic.Int64
	mu                   sync.Mutex
	byID                 func(ctx context.Context, id int64) (*domain.User, error)
}

var testUser = domain.RehydrateUser(1, "a@example.com", "hash", true, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))

func (f *fakeUsers) set(byID func(ctx context.Context, id int64) (*domain.User, error)) {
	f.mu.Lock()
	f.byID = byID
	f.mu.Unlock()
}

func (f *fakeUsers) ByID(ctx context.Context, id int64) (*domain.User, error) {
	f.calls.Add(1)
	f.mu.Lock()
	h := f.byID
	f.mu.Unlock()
	if h == nil {
		return testUser, nil
	}
	return h(ctx, id)
}

func returning(u *domain.User, err error) func(context.Context, int64) (*domain.User, error) {
	return func(context.Context, int64) (*domain.User, error) { return u, err }
}

// fast is a configuration for tests that are not about timing: a generous
// timeout, a small volume threshold and a short sleep window.
func fast(edit ...func(*Config)) Config {
	c := Config{Timeout: 5 * time.Second, RequestVolumeThreshold: 5, SleepWindow: 100 * time.Millisecond, ErrorPercentThreshold: 50}
	for _, e := range edit {
		e(&c)
	}
	return c
}

func wantUnavailable(t *testing.T, err error, cause error) {
	t.Helper()
	if code := domain.ErrorCode(err); code != domain.EUNAVAILABLE {
		t.Fatalf("err = %v (code %q), want EUNAVAILABLE", err, code)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("err = %v, want %v in its chain", err, cause)
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settle gives hystrix's asynchronous metrics time to catch up, so that a
// circuit that was going to open has opened.
func settle() { time.Sleep(50 * time.Millisecond) }

func TestOutcomesPassThroughAndDoNotOpen(t *testing.T) {
	for _, outcome := range []*domain.Error{
		domain.ErrUserNotFound,
		domain.ErrEmailTaken,
		domain.Invalid(domain.FieldError{Field: "email", Message: "bad"}),
		domain.ErrInvalidCredentials,
		domain.RateLimited(time.Second),
	} {
		t.Run(outcome.Code, func(t *testing.T) {
			inner := &fakeUsers{}
			inner.set(returning(nil, outcome))
			name := commandName(t)
			users := Users(inner, name, fast())
			for i := range 100 {
				u, err := users.ByID(context.Background(), 1)
				if err != outcome || u != nil {
					t.Fatalf("call %d: ByID = %v, %v; want nil and the very same %v", i, u, err, outcome)
				}
			}
			settle()
			if Open(name) {
				t.Fatal("circuit open after domain outcomes")
			}
			if n := inner.calls.Load(); n != 100 {
				t.Fatalf("inner called %d times, want 100", n)
			}
		})
	}
}

func TestFailuresOpenTheCircuitThenItCloses(t *testing.T) {
	for name, failure := range map[string]error{
		"unavailable": domain.Unavailable(errors.New("db down")),
		"internal":    errors.New("scan: bad column"),
	} {
		t.Run(name, func(t *testing.T) {
			inner := &fakeUsers{}
			inner.set(returning(nil, failure))
			const threshold, sleepWindow = 5, 150 * time.Millisecond
			name := commandName(t)
			users := Users(inner, name, fast(func(c *Config) {
				c.RequestVolumeThreshold = threshold
				c.SleepWindow = sleepWindow
			}))
			ctx := context.Background()

			// Fail until the circuit opens. Hystrix counts asynchronously,
			// so it may take a call or two past the threshold.
			var err error
			for i := 0; ; i++ {
				if i == 200 {
					t.Fatal("circuit still closed after 200 failures")
				}
				_, err = users.ByID(ctx, 1)
				if errors.Is(err, hystrix.ErrCircuitOpen) {
					break
				}
				wantUnavailable(t, err, failure)
				time.Sleep(time.Millisecond)
			}
			wantUnavailable(t, err, hystrix.ErrCircuitOpen)
			if n := inner.calls.Load(); n < threshold {
				t.Errorf("circuit opened after %d failures, want at least the volume threshold %d", n, threshold)
			}
			if !Open(name) {
				t.Error("Open = false while calls are refused")
			}

			// Open: calls fail fast without reaching the inner repository.
			calls := inner.calls.Load()
			for range 20 {
				start := time.Now()
				u, err := users.ByID(ctx, 1)
				wantUnavailable(t, err, hystrix.ErrCircuitOpen)
				if u != nil {
					t.Errorf("user %v from an open circuit", u)
				}
				if d := time.Since(start); d > 100*time.Millisecond {
					t.Errorf("open circuit took %v to answer", d)
				}
			}
			if n := inner.calls.Load(); n != calls {
				t.Fatalf("inner called %d times while the circuit was open", n-calls)
			}

			// Healthy again: after the sleep window one probe goes through,
			// its success closes the circuit, and calls flow again.
			inner.set(returning(testUser, nil))
			time.Sleep(sleepWindow)
			eventually(t, 2*time.Second, "a probe succeeds", func() bool {
				u, err := users.ByID(ctx, 1)
				return err == nil && u == testUser
			})
			eventually(t, 2*time.Second, "circuit closes", func() bool { return !Open(name) })
			calls = inner.calls.Load()
			for range 20 {
				if u, err := users.ByID(ctx, 1); err != nil || u != testUser {
					t.Fatalf("after recovery: %v, %v", u, err)
				}
			}
			if n := inner.calls.Load(); n != calls+20 {
				t.Errorf("inner saw %d of 20 calls after the circuit closed", n-calls)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond

	t.Run("inner call stops at its own deadline", func(t *testing.T) {
		var deadline time.Time
		inner := &fakeUsers{}
		inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
			deadline, _ = ctx.Deadline()
			<-ctx.Done()
			return nil, domain.Unavailable(ctx.Err())
		})
		users := Users(inner, commandName(t), fast(func(c *Config) { c.Timeout = timeout }))
		start := time.Now()
		_, err := users.ByID(context.Background(), 1)
		elapsed := time.Since(start)
		wantUnavailable(t, err, context.DeadlineExceeded)
		if elapsed > timeout+100*time.Millisecond {
			t.Errorf("returned after %v, want about %v", elapsed, timeout*9/10)
		}
		// deadline was written before the inner call returned, and so
		// before ByID did.
		if d := deadline.Sub(start); d < timeout*9/10 || d >= timeout {
			t.Errorf("inner deadline %v after the call, want 90%% of %v", d, timeout)
		}
	})

	t.Run("hystrix gives up on an inner call that ignores its context", func(t *testing.T) {
		type seen struct {
			deadline, cancelled time.Time
			err                 error
		}
		seenc := make(chan seen, 1)
		release := make(chan struct{})
		finished := make(chan struct{})
		inner := &fakeUsers{}
		inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
			defer close(finished)
			d, _ := ctx.Deadline()
			<-ctx.Done()
			seenc <- seen{d, time.Now(), ctx.Err()}
			<-release // it goes on regardless
			return testUser, nil
		})
		users := Users(inner, commandName(t), fast(func(c *Config) { c.Timeout = timeout }))
		start := time.Now()
		u, err := users.ByID(context.Background(), 1)
		elapsed := time.Since(start)
		wantUnavailable(t, err, hystrix.ErrTimeout)
		if u != nil {
			t.Errorf("user %v from a timed-out call", u)
		}
		if elapsed < timeout || elapsed > timeout+150*time.Millisecond {
			t.Errorf("returned after %v, want promptly at %v", elapsed, timeout)
		}
		select {
		case s := <-seenc:
			if d := s.deadline.Sub(start); d < timeout*9/10 || d >= timeout {
				t.Errorf("inner deadline %v after the call, want 90%% of %v", d, timeout)
			}
			if d := s.cancelled.Sub(start); d > elapsed+20*time.Millisecond {
				t.Errorf("inner context cancelled %v after the call, after the call returned at %v", d, elapsed)
			}
			if s.err != context.DeadlineExceeded {
				t.Errorf("inner ctx.Err() = %v", s.err)
			}
		case <-time.After(time.Second):
			t.Fatal("inner context not cancelled")
		}
		// The inner call now writes its results, after ByID returned: the
		// race detector catches any read of them.
		close(release)
		<-finished
	})

	t.Run("timeouts count as failures", func(t *testing.T) {
		inner := &fakeUsers{}
		inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
			<-ctx.Done()
			return nil, domain.Unavailable(ctx.Err())
		})
		name := commandName(t)
		users := Users(inner, name, fast(func(c *Config) { c.Timeout = 20 * time.Millisecond; c.RequestVolumeThreshold = 3 }))
		eventually(t, 5*time.Second, "circuit opens", func() bool {
			_, err := users.ByID(context.Background(), 1)
			return errors.Is(err, hystrix.ErrCircuitOpen)
		})
	})
}

// burst starts n concurrent ByID calls and sends each one's error as it
// returns (nil only with testUser).
func burst(users ports.UserRepository, n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			u, err := users.ByID(context.Background(), 1)
			if err == nil && u != testUser {
				err = fmt.Errorf("user %v", u)
			}
			errs <- err
		}()
	}
	return errs
}

// collect receives n errors from errs, each of which must satisfy want.
func collect(t *testing.T, errs <-chan error, n int, what string, want func(error) bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for i := range n {
		select {
		case err := <-errs:
			if !want(err) {
				t.Fatalf("%s: call %d of %d: err = %v", what, i+1, n, err)
			}
		case <-timeout:
			t.Fatalf("%s: only %d of %d calls returned", what, i, n)
		}
	}
}

func isMaxConcurrency(err error) bool {
	return domain.ErrorCode(err) == domain.EUNAVAILABLE && errors.Is(err, hystrix.ErrMaxConcurrency)
}

func isNil(err error) bool { return err == nil }

func TestMaxConcurrent(t *testing.T) {
	release := make(chan struct{})
	inner := &fakeUsers{}
	inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
		<-release
		return testUser, nil
	})
	users := Users(inner, commandName(t), fast(func(c *Config) { c.MaxConcurrent = 2 }))

	// Three calls find no free slot and are refused at once, while the two
	// that run block until released.
	errs := burst(users, 5)
	collect(t, errs, 3, "refused", isMaxConcurrency)
	close(release)
	collect(t, errs, 2, "run", isNil)
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("inner called %d times, want 2", n)
	}
}

// TestMaxConcurrentSizing shows why DefaultMaxConcurrent is not hystrix's
// 10: rejections count as errors, so a burst of healthy calls over the
// limit opens the circuit on a healthy database.
func TestMaxConcurrentSizing(t *testing.T) {
	const calls = 50

	t.Run("hystrix's default of 10 rejects healthy calls and opens the circuit", func(t *testing.T) {
		release := make(chan struct{})
		inner := &fakeUsers{}
		inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
			<-release
			return testUser, nil
		})
		name := commandName(t)
		users := Users(inner, name, Config{MaxConcurrent: hystrix.DefaultMaxConcurrent, Timeout: 5 * time.Second})
		errs := burst(users, calls)
		// 40 calls are refused; once 20 refusals (the volume threshold)
		// are counted, the circuit opens and refuses the rest.
		var rejected, shorted int
		collect(t, errs, calls-10, "refused", func(err error) bool {
			switch {
			case isMaxConcurrency(err):
				rejected++
			case domain.ErrorCode(err) == domain.EUNAVAILABLE && errors.Is(err, hystrix.ErrCircuitOpen):
				shorted++
			default:
				return false
			}
			return true
		})
		if rejected < DefaultRequestVolumeThreshold {
			t.Errorf("%d calls refused for concurrency, %d for an open circuit; want at least %d for concurrency",
				rejected, shorted, DefaultRequestVolumeThreshold)
		}
		eventually(t, 2*time.Second, "circuit opens on a healthy repository", func() bool { return Open(name) })
		close(release)
		collect(t, errs, 10, "run", isNil)
	})

	t.Run("sized to the load, nothing is refused", func(t *testing.T) {
		var running atomic.Int64
		all := make(chan struct{})
		inner := &fakeUsers{}
		inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
			if running.Add(1) == calls {
				close(all)
			}
			select { // all 50 really run at once
			case <-all:
			case <-ctx.Done():
				return nil, domain.Unavailable(ctx.Err())
			}
			return testUser, nil
		})
		name := commandName(t)
		users := Users(inner, name, Config{MaxConcurrent: 64, Timeout: 5 * time.Second})
		collect(t, burst(users, calls), calls, "run", isNil)
		settle()
		if Open(name) {
			t.Error("circuit open")
		}
	})
}

func TestCallerGivingUpDoesNotOpenTheCircuit(t *testing.T) {
	started := make(chan struct{}, 1)
	inner := &fakeUsers{}
	inner.set(func(ctx context.Context, id int64) (*domain.User, error) {
		select {
		case started <- struct{}{}:
		default: // no one is waiting (the deadline case below)
		}
		<-ctx.Done()
		// As a repository would: its driver fails with the context's error.
		return nil, domain.Unavailable(fmt.Errorf("query: %w", ctx.Err()))
	})
	name := commandName(t)
	users := Users(inner, name, fast(func(c *Config) { c.RequestVolumeThreshold = 3 }))
	const n = 30

	// Already cancelled: the inner repository is not even called.
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := users.ByID(ctx, 1)
		wantUnavailable(t, err, context.Canceled)
	}
	if c := inner.calls.Load(); c != 0 {
		t.Fatalf("inner called %d times with a cancelled context", c)
	}

	// Cancelled while the inner call runs.
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		start := time.Now()
		_, err := users.ByID(ctx, 1)
		wantUnavailable(t, err, context.Canceled)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("returned %v after the caller cancelled", d)
		}
	}

	// The caller's own deadline, shorter than the command's timeout.
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := users.ByID(ctx, 1)
		cancel()
		wantUnavailable(t, err, context.DeadlineExceeded)
	}

	settle()
	if Open(name) {
		t.Fatal("circuit opened by callers giving up")
	}
	inner.set(returning(testUser, nil))
	if u, err := users.ByID(context.Background(), 1); err != nil || u != testUser {
		t.Fatalf("ByID = %v, %v", u, err)
	}
}

func TestPanicIsRaisedOnTheCallersGoroutine(t *testing.T) {
	inner := &fakeUsers{}
	inner.set(func(ctx context.Context, id int64) (*domain.User, error) { panic("boom") })
	name := commandName(t)
	users := Users(inner, name, fast())
	defer func() {
		v := recover()
		err, ok := v.(error)
		if !ok || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), name) {
			t.Errorf("recovered %v, want an error naming the command and the panic", v)
		}
	}()
	_, _ = users.ByID(context.Background(), 1)
	t.Error("ByID returned")
}

func TestConfig(t *testing.T) {
	name := commandName(t)
	Users(&fakeUsers{}, name, Config{})
	s := hystrix.GetCircuitSettings()[name]
	if s == nil {
		t.Fatal("command not configured")
	}
	if s.Timeout != DefaultTimeout || s.MaxConcurrentRequests != DefaultMaxConcurrent ||
		s.RequestVolumeThreshold != DefaultRequestVolumeThreshold || s.SleepWindow != DefaultSleepWindow ||
		s.ErrorPercentThreshold != DefaultErrorPercentThreshold {
		t.Errorf("settings = %+v", *s)
	}
	r := Users(&fakeUsers{}, commandName(t), Config{Timeout: 1500 * time.Microsecond}).(*UserRepository)
	if r.cmd.timeout != 2*time.Millisecond || r.cmd.innerTimeout != 1800*time.Microsecond {
		t.Errorf("timeouts = %v, %v; want 1.5ms rounded up to 2ms, and 90%% of it", r.cmd.timeout, r.cmd.innerTimeout)
	}

	for _, bad := range []Config{{Timeout: -1}, {MaxConcurrent: -1}, {RequestVolumeThreshold: -1}, {SleepWindow: -1}, {ErrorPercentThreshold: 101}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Users with %+v did not panic", bad)
				}
			}()
			Users(&fakeUsers{}, commandName(t), bad)
		}()
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero) = %v", err)
	}
}

// syncBuffer is a log sink that the watcher and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestWatch(t *testing.T) {
	inner := &fakeUsers{}
	inner.set(returning(nil, domain.Unavailable(errors.New("db down"))))
	name, idle, unknown := commandName(t), commandName(t), commandName(t)
	const sleepWindow = 100 * time.Millisecond
	users := Users(inner, name, fast(func(c *Config) { c.RequestVolumeThreshold = 3; c.SleepWindow = sleepWindow }))
	Users(&fakeUsers{}, idle, fast())

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := Watch(ctx, []string{name, idle, unknown}, 2*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)))

	opened := func() bool { return strings.Contains(logs.String(), `"state":"open"`) }
	eventually(t, 5*time.Second, "open logged", func() bool {
		_, _ = users.ByID(context.Background(), 1)
		return opened()
	})
	time.Sleep(20 * time.Millisecond) // several polls while open
	inner.set(returning(testUser, nil))
	time.Sleep(sleepWindow)
	eventually(t, 5*time.Second, "closed logged", func() bool {
		_, _ = users.ByID(context.Background(), 1)
		return strings.Contains(logs.String(), `"state":"closed"`)
	})
	time.Sleep(20 * time.Millisecond) // several polls while closed
	cancel()
	w.Wait()

	recs := records(t, logs.String())
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2:\n%s", len(recs), logs.String())
	}
	for i, want := range []struct{ level, state string }{{"WARN", "open"}, {"INFO", "closed"}} {
		r := recs[i]
		if r["event"] != "breaker.state" || r["command"] != name || r["state"] != want.state || r["level"] != want.level {
			t.Errorf("record %d = %v, want event breaker.state, command %s, state %s at %s", i, r, name, want.state, want.level)
		}
	}
	if _, ok := hystrix.GetCircuitSettings()[unknown]; ok {
		t.Error("watching an unknown name configured a command for it")
	}
}

func TestOpenUnknownName(t *testing.T) {
	name := commandName(t)
	if Open(name) {
		t.Error("Open = true for an unknown name")
	}
	if _, ok := hystrix.GetCircuitSettings()[name]; ok {
		t.Error("Open configured a command")
	}
}

func TestSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	l := SlogLogger{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf("hystrix-go: opening circuit %v", "db.users")
	l.Printf("hystrix-go: allowing single test to possibly close circuit %v", "db.users")
	l.Printf("hystrix-go: closing circuit %v", "db.users")
	// Hystrix logs some errors with their text as the format (called
	// through a func value, as hystrix does, so vet does not check it).
	printf := l.Printf
	printf(hystrix.CircuitError{Message: "metrics channel (100%) is at capacity"}.Error())

	recs := records(t, buf.String())
	want := []struct{ level, msg string }{
		{"WARN", "hystrix-go: opening circuit db.users"},
		{"INFO", "hystrix-go: allowing single test to possibly close circuit db.users"},
		{"INFO", "hystrix-go: closing circuit db.users"},
		{"WARN", "hystrix: metrics channel (100%) is at capacity"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(recs), len(want), buf.String())
	}
	for i, w := range want {
		if r := recs[i]; r["level"] != w.level || r["msg"] != w.msg || r["component"] != "hystrix" {
			t.Errorf("record %d = %v, want %s %q component=hystrix", i, r, w.level, w.msg)
		}
	}
}

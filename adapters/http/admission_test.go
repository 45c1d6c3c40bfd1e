package http_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/authd/authd/app"
	"github.com/authd/authd/domain"
)

type reservationKey struct{}

// Admit refuses with admitErr when it is set, and counts the calls that
// decide (a context that carries a reservation is returned as it is, as
// the port says); the real pool's rule is tested in adapters/bcrypt.
func (h *fakeHasher) Admit(ctx context.Context) (context.Context, func(), error) {
	if ctx.Value(reservationKey{}) != nil {
		return ctx, func() {}, nil
	}
	h.admits.Add(1)
	h.mu.Lock()
	err := h.admitErr
	h.mu.Unlock()
	if err != nil {
		return ctx, func() {}, err
	}
	return context.WithValue(ctx, reservationKey{}, true), func() {}, nil
}

func (h *fakeHasher) refuseAdmission(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.admitErr = err
}

// patience bounds how long a test waits for something that must happen, so
// a bug fails it instead of hanging; it is never a speed requirement.
const patience = 30 * time.Second

func withRefusalHold(d time.Duration) option { return func(c *harnessConfig) { c.refusalHold = d } }

// An overloaded hasher refuses register and login before anything else:
// a malformed body is not even read (503, not 400), no password is
// hashed or compared, nothing is stored, and the client's request budget
// is not spent on refusals.
func TestAdmissionRefusesBeforeAnythingElse(t *testing.T) {
	h := newHarness(t, withLimits(app.Limits{Enabled: true, IPRequests: 3, IPWindow: time.Hour, AccountFailures: 100, AccountWindow: time.Hour}))
	h.hasher.refuseAdmission(unavailableFor(2 * time.Second))
	before := h.hasher.hashes.Load() + h.hasher.compares.Load() // app.New's dummy hash
	for _, path := range []string{registerPath, loginPath} {
		for _, body := range []string{`{"email":`, credsJSON("sam@example.com", "correct horse")} {
			r := h.post(path, body)
			wantProblem(t, r, http.StatusServiceUnavailable)
			if got := r.header.Get("Retry-After"); got != "2" {
				t.Errorf("%s: Retry-After = %q, want the hasher's 2", path, got)
			}
		}
	}
	if n := h.hasher.hashes.Load() + h.hasher.compares.Load() - before; n != 0 {
		t.Errorf("%d hashes or comparisons for refused requests, want 0", n)
	}
	if n := h.users.count(); n != 0 {
		t.Errorf("%d users stored by refused registrations", n)
	}
	// Four refusals, yet the budget of three is whole.
	h.hasher.refuseAdmission(nil)
	h.register("sam@example.com", "correct horse")
	h.login("sam@example.com", "correct horse")
	wantProblem(t, h.post(loginPath, credsJSON("sam@example.com", "wrong horse")), http.StatusUnauthorized)
	if n := h.hasher.admits.Load(); n != 7 {
		t.Errorf("Admit called %d times, want 7 (once per register or login)", n)
	}
}

// answered runs req and returns its response and how long it took; it
// fails the test if no answer comes within patience.
func answered(t *testing.T, h *harness, req *http.Request) (*response, time.Duration) {
	t.Helper()
	type result struct {
		r *response
		d time.Duration
	}
	c := make(chan result, 1)
	go func() {
		start := time.Now()
		r := h.do(req)
		c <- result{r, time.Since(start)}
	}()
	select {
	case res := <-c:
		return res.r, res.d
	case <-time.After(patience):
		t.Fatal("no answer")
		return nil, 0
	}
}

// A refusal for overload is held before it is sent: for the configured
// hold when the hasher expects room later than that, for the predicted
// time when it is shorter. Only lower bounds are asserted.
func TestRefusalIsHeld(t *testing.T) {
	const hold = 300 * time.Millisecond
	h := newHarness(t, withRefusalHold(hold))
	for _, c := range []struct {
		name      string
		retry     time.Duration
		atLeast   time.Duration
		retryWant string
	}{
		{"room later than the hold", 10 * time.Second, hold, "10"},
		{"room sooner than the hold", 100 * time.Millisecond, 100 * time.Millisecond, "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.hasher.refuseAdmission(unavailableFor(c.retry))
			for _, path := range []string{registerPath, loginPath} {
				r, took := answered(t, h, newRequest(http.MethodPost, path, credsJSON("sam@example.com", "correct horse")))
				wantProblem(t, r, http.StatusServiceUnavailable)
				if took < c.atLeast {
					t.Errorf("%s: refusal answered after %v, want it held at least %v", path, took, c.atLeast)
				}
				if got := r.header.Get("Retry-After"); got != c.retryWant {
					t.Errorf("%s: Retry-After = %q, want %q", path, got, c.retryWant)
				}
			}
		})
	}
}

// With no hold (0, as in tests), a refusal is answered at once: a refusal
// predicting room in an hour must not keep the client for it.
func TestRefusalNotHeldWhenOff(t *testing.T) {
	h := newHarness(t)
	h.hasher.refuseAdmission(unavailableFor(time.Hour))
	r, _ := answered(t, h, newRequest(http.MethodPost, loginPath, credsJSON("sam@example.com", "correct horse")))
	wantProblem(t, r, http.StatusServiceUnavailable)
}

// Other 503s (storage down) are not held: the hold is for hashing
// overload, whose refusals a naive client would otherwise turn into a
// storm; a storage outage's refusal comes from the use case, not from
// admission.
func TestOnlyAdmissionRefusalsAreHeld(t *testing.T) {
	h := newHarness(t, withRefusalHold(time.Hour))
	h.register("rita@example.com", "correct horse")
	h.users.setErr(domain.Unavailable(context.DeadlineExceeded))
	defer h.users.setErr(nil)
	r, _ := answered(t, h, newRequest(http.MethodPost, loginPath, credsJSON("rita@example.com", "correct horse")))
	wantProblem(t, r, http.StatusServiceUnavailable)
}

// A held refusal ends early when the request's deadline passes, and when
// the server shuts down, so it never holds up a drain.
func TestRefusalHoldEndsEarly(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		h := newHarness(t, withRefusalHold(time.Hour), withRequestTimeout(50*time.Millisecond))
		h.hasher.refuseAdmission(unavailableFor(time.Hour))
		r, _ := answered(t, h, newRequest(http.MethodPost, loginPath, credsJSON("sam@example.com", "correct horse")))
		wantProblem(t, r, http.StatusServiceUnavailable)
	})
	t.Run("shutdown", func(t *testing.T) {
		h := newHarness(t, withRefusalHold(time.Hour))
		h.hasher.refuseAdmission(unavailableFor(time.Hour))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- h.app.Listener(ln) }()
		status := make(chan int, 1)
		go func() {
			res, err := http.Post("http://"+ln.Addr().String()+loginPath, "application/json", strings.NewReader(credsJSON("sam@example.com", "correct horse")))
			if err != nil {
				status <- 0
				return
			}
			res.Body.Close()
			status <- res.StatusCode
		}()
		deadline := time.Now().Add(patience)
		for h.hasher.admits.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the request never reached admission")
			}
			time.Sleep(time.Millisecond)
		}
		shut := make(chan error, 1)
		go func() { shut <- h.app.ShutdownWithTimeout(patience) }()
		select {
		case err := <-shut:
			if err != nil {
				t.Fatalf("shutdown: %v", err)
			}
		case <-time.After(patience):
			t.Fatal("shutdown waited for the held refusal")
		}
		if got := <-status; got != http.StatusServiceUnavailable {
			t.Errorf("held request answered %d, want 503 once the server shut down", got)
		}
		<-served
	})
}

// A refusal for overload is logged as a warning with its cause (shedding
// is the pool working), so at the error level a flood of them writes
// nothing; a storage outage's 503 stays an error.
func TestShedRefusalLogsAWarning(t *testing.T) {
	h := newHarness(t)
	h.register("rita@example.com", "correct horse")
	h.hasher.refuseAdmission(unavailableFor(time.Second))
	shed := h.accessLine(h.post(loginPath, credsJSON("rita@example.com", "correct horse")))
	if shed["level"] != "WARN" || shed["error"] == nil {
		t.Errorf("refusal's access line %v, want level WARN with the error", shed)
	}
	h.hasher.refuseAdmission(nil)
	h.users.setErr(domain.Unavailable(context.DeadlineExceeded))
	defer h.users.setErr(nil)
	outage := h.accessLine(h.post(loginPath, credsJSON("rita@example.com", "correct horse")))
	if outage["level"] != "ERROR" {
		t.Errorf("outage's access line %v, want level ERROR", outage)
	}
}

// BenchmarkRefusal and BenchmarkHealthz compare what the server spends on
// a refused login and on a /healthz request, in process (no network):
// go test ./adapters/http -run X -bench 'Refusal|Healthz' -cpuprofile cpu.out
func BenchmarkRefusal(b *testing.B) { benchmarkRequest(b, true) }

func BenchmarkHealthz(b *testing.B) { benchmarkRequest(b, false) }

func benchmarkRequest(b *testing.B, refuse bool) {
	t := &testing.T{}
	h := newHarness(t)
	h.hasher.refuseAdmission(unavailableFor(time.Second))
	handler := h.app.Handler()
	var rc fasthttp.RequestCtx
	body := []byte(credsJSON("rita@example.com", "correct horse"))
	b.ReportAllocs()
	for b.Loop() {
		rc.Request.Reset()
		rc.Response.Reset()
		rc.ResetUserValues() // as the server does per request: Fiber keeps the user context there
		if refuse {
			rc.Request.Header.SetMethod("POST")
			rc.Request.SetRequestURI(loginPath)
			rc.Request.Header.SetContentType("application/json")
			rc.Request.SetBody(body)
		} else {
			rc.Request.Header.SetMethod("GET")
			rc.Request.SetRequestURI("/healthz")
		}
		handler(&rc)
		if want := map[bool]int{true: 503, false: 200}[refuse]; rc.Response.StatusCode() != want {
			b.Fatalf("status %d, want %d", rc.Response.StatusCode(), want)
		}
	}
}

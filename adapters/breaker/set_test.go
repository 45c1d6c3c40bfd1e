package breaker

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

// breachFunc is a BreachChecker that does what it is.
type breachFunc func(ctx context.Context, password string) (bool, error)

func (f breachFunc) Breached(ctx context.Context, password string) (bool, error) {
	return f(ctx, password)
}

type fakeSessions struct {
	ports.SessionRepository
	active atomic.Int64
}

func (f *fakeSessions) ActiveUser(context.Context, string, int64, time.Time) (*domain.User, error) {
	f.active.Add(1)
	return nil, domain.ErrSessionNotFound
}

type fakeLimits struct {
	ports.RateLimitStore
	counts atomic.Int64
}

func (f *fakeLimits) Count(context.Context, string, time.Time) (int, time.Time, error) {
	f.counts.Add(1)
	return 0, time.Time{}, nil
}

func TestSetNamesCircuitsUniquely(t *testing.T) {
	names := func(s *Set) []string {
		var n []string
		for _, c := range s.Circuits() {
			n = append(n, c.Name())
		}
		return n
	}
	seen := map[string]bool{}
	for range 2 {
		s := NewSet(nil)
		s.Users(&fakeUsers{}, fast())
		s.Sessions(&fakeSessions{}, fast())
		s.RateLimits(&fakeLimits{}, fast())
		s.Breaches(breachFunc(func(context.Context, string) (bool, error) { return false, nil }), fast())
		s.EmailTokens(mock.NewMockEmailTokenRepository(gomock.NewController(t)), fast())
		s.Outbox(mock.NewMockMailOutbox(gomock.NewController(t)), fast())
		got := names(s)
		if len(got) != 6 {
			t.Fatalf("circuits %v, want 6", got)
		}
		for i, base := range []string{"db.users", "db.sessions", "db.rate_limits", "hibp", "db.email_tokens", "db.mail_outbox"} {
			if got[i] != base && !strings.HasPrefix(got[i], base+".") {
				t.Errorf("circuit %d is %q, want %s or %s.N", i, got[i], base, base)
			}
			if seen[got[i]] {
				t.Errorf("circuit %q made twice in one process", got[i])
			}
			seen[got[i]] = true
			// The outbox serves only the background relay: not required.
			if required := slicesContains(s.required(), got[i]); required != (base != "hibp" && base != "db.mail_outbox") {
				t.Errorf("circuit %q required = %v", got[i], required)
			}
			if _, ok := hystrix.GetCircuitSettings()[got[i]]; !ok {
				t.Errorf("circuit %q not configured", got[i])
			}
		}
	}
}

// TestSetReadyProbesThroughTheDecorator: with traffic gone, Ready's probe
// through the open circuit's own decorator is what closes it.
func TestSetReadyProbesThroughTheDecorator(t *testing.T) {
	s := NewSet(nil)
	users := &fakeUsers{}
	repo := s.Users(users, fast())
	sessions := &fakeSessions{}
	s.Sessions(sessions, fast())
	ctx := context.Background()
	if state, ok := s.Ready(ctx); state != "ok" || !ok {
		t.Fatalf("Ready = %q, %v before any call, want ok", state, ok)
	}

	var probedID atomic.Int64
	probedID.Store(-1)
	users.set(func(_ context.Context, id int64) (*domain.User, error) {
		probedID.Store(id)
		return nil, domain.Unavailable(errors.New("down"))
	})
	eventually(t, 2*time.Second, "circuit opens", func() bool {
		_, err := repo.ByID(ctx, 7)
		return errors.Is(err, hystrix.ErrCircuitOpen)
	})
	circuit := s.Circuits()[0]
	if !circuit.Open() {
		t.Fatal("handle says closed while calls are refused")
	}
	if state, ok := s.Ready(ctx); state != "open" || ok {
		t.Errorf("Ready = %q, %v with the users circuit open, want open", state, ok)
	}
	if n := sessions.active.Load(); n != 0 {
		t.Errorf("a closed circuit was probed %d times", n)
	}

	users.set(returning(nil, domain.ErrUserNotFound)) // recovered; "not found" is an answer
	calls := users.calls.Load()
	eventually(t, 2*time.Second, "a probe closes the circuit", func() bool {
		state, ok := s.Ready(ctx)
		return state == "ok" && ok
	})
	if users.calls.Load() == calls {
		t.Error("the circuit closed without a call reaching the repository")
	}
	if id := probedID.Load(); id != 0 && id != 7 {
		t.Errorf("probe asked for user %d", id)
	}
	if circuit.Open() {
		t.Error("handle says open after Ready reported ok")
	}
}

// TestEmailTokensProbeOnlyReads: the readiness probe that closes an open
// db.email_tokens circuit looks a token up; it never consumes one (an
// UPDATE on every /readyz while the database recovers).
func TestEmailTokensProbeOnlyReads(t *testing.T) {
	ctrl := gomock.NewController(t)
	next := mock.NewMockEmailTokenRepository(ctrl)
	s := NewSet(nil)
	repo := s.EmailTokens(next, fast())
	ctx := context.Background()
	down := domain.Unavailable(errors.New("down"))
	next.EXPECT().Consume(gomock.Any(), []byte("h"), ports.PurposeResetPassword, gomock.Any()).
		Return(ports.EmailToken{}, down).AnyTimes()
	eventually(t, 2*time.Second, "circuit opens", func() bool {
		_, err := repo.Consume(ctx, []byte("h"), ports.PurposeResetPassword, time.Now())
		return errors.Is(err, hystrix.ErrCircuitOpen)
	})
	var probes, writes atomic.Int64
	next.EXPECT().Consume(gomock.Any(), []byte{}, gomock.Any(), gomock.Any()).
		DoAndReturn(func(context.Context, []byte, ports.EmailTokenPurpose, time.Time) (ports.EmailToken, error) {
			writes.Add(1)
			return ports.EmailToken{}, domain.ErrEmailTokenNotFound
		}).AnyTimes()
	next.EXPECT().Lookup(gomock.Any(), []byte{}, ports.PurposeVerifyEmail, gomock.Any()).
		DoAndReturn(func(context.Context, []byte, ports.EmailTokenPurpose, time.Time) (ports.EmailToken, error) {
			probes.Add(1)
			return ports.EmailToken{}, domain.ErrEmailTokenNotFound
		}).AnyTimes()
	eventually(t, 2*time.Second, "a probe closes the circuit", func() bool {
		state, ok := s.Ready(ctx)
		return state == "ok" && ok
	})
	if n := writes.Load(); n != 0 {
		t.Errorf("the probe consumed a token %d times", n)
	}
	if probes.Load() == 0 {
		t.Error("the circuit closed without a probe looking a token up")
	}
}

func TestSetBreaches(t *testing.T) {
	s := NewSet(nil)
	var fail atomic.Bool
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	checker := s.Breaches(breachFunc(func(ctx context.Context, password string) (bool, error) {
		switch {
		case password == "hold":
			entered <- struct{}{}
			<-release
			return false, nil
		case fail.Load():
			return false, domain.Unavailable(errors.New("range API down"))
		}
		return password == "breached", nil
	}), fast(func(c *Config) { c.MaxConcurrent = 1 }))
	ctx := context.Background()

	// hystrix hands a call's concurrency ticket back asynchronously, after
	// the call has returned: with MaxConcurrent 1 a call right after
	// another may still be refused, so each step waits for its ticket.
	breached := func(pw string) (bool, error) {
		var got bool
		var err error
		eventually(t, 2*time.Second, "a free ticket for "+pw, func() bool {
			got, err = checker.Breached(ctx, pw)
			return !errors.Is(err, hystrix.ErrMaxConcurrency)
		})
		return got, err
	}
	if got, err := breached("breached"); err != nil || !got {
		t.Errorf("Breached(breached) = %v, %v", got, err)
	}
	if got, err := breached("clean"); err != nil || got {
		t.Errorf("Breached(clean) = %v, %v", got, err)
	}

	held := make(chan error, 1)
	go func() {
		// Not breached(): t.Fatal must not run on this goroutine.
		deadline := time.Now().Add(2 * time.Second)
		for {
			_, err := checker.Breached(ctx, "hold")
			if !errors.Is(err, hystrix.ErrMaxConcurrency) || time.Now().After(deadline) {
				held <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	select {
	case <-entered: // the one ticket is now held
	case err := <-held:
		t.Fatalf("the holding check never got a ticket: %v", err)
	}
	eventually(t, 2*time.Second, "second check refused", func() bool {
		_, err := checker.Breached(ctx, "clean")
		return errors.Is(err, hystrix.ErrMaxConcurrency)
	})
	close(release)
	if err := <-held; err != nil {
		t.Errorf("held check: %v", err)
	}

	fail.Store(true)
	eventually(t, 2*time.Second, "circuit opens", func() bool {
		_, err := checker.Breached(ctx, "clean")
		wantUnavailable(t, err, nil)
		return errors.Is(err, hystrix.ErrCircuitOpen)
	})
	if !s.Circuits()[0].Open() {
		t.Error("handle says closed")
	}
	// The breach checker is optional: its outage does not make the
	// instance unready.
	if state, ok := s.Ready(ctx); state != "ok" || !ok {
		t.Errorf("Ready = %q, %v with only the breach circuit open, want ok", state, ok)
	}
}

func slicesContains(cs []*Circuit, name string) bool {
	for _, c := range cs {
		if c.Name() == name {
			return true
		}
	}
	return false
}

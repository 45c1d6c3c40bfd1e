package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// memLimits is an in-memory ports.RateLimitStore with the fixed windows
// the port describes: a window opens at a key's first event and closes
// window later.
type memLimits struct {
	mu       sync.Mutex
	counters map[string]memCounter
}

type memCounter struct {
	n       int
	resetAt time.Time
}

var _ ports.RateLimitStore = (*memLimits)(nil)

func (m *memLimits) Hit(_ context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counters == nil {
		m.counters = map[string]memCounter{}
	}
	c, ok := m.counters[key]
	if !ok || !now.Before(c.resetAt) {
		c = memCounter{resetAt: now.Add(window)}
	}
	c.n++
	m.counters[key] = c
	return c.n, c.resetAt, nil
}

func (m *memLimits) Count(_ context.Context, key string, now time.Time) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[key]
	if !ok || !now.Before(c.resetAt) {
		return 0, time.Time{}, nil
	}
	return c.n, c.resetAt, nil
}

func (m *memLimits) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.counters {
		if !now.Before(c.resetAt) {
			delete(m.counters, k)
			n++
		}
	}
	return n, nil
}

func (m *memLimits) Release(_ context.Context, key string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[key]
	switch {
	case !ok:
	case !now.Before(c.resetAt) || c.n <= 1:
		delete(m.counters, key)
	default:
		c.n--
		m.counters[key] = c
	}
	return nil
}

func (m *memLimits) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.counters, key)
	return nil
}

// fakeHasher "hashes" pw as "hash:"+pw and counts comparisons, the
// expensive step the account throttle must not spend on a refused client.
type fakeHasher struct{ compares int }

func (h *fakeHasher) Hash(_ context.Context, pw string) (string, error) { return "hash:" + pw, nil }
func (h *fakeHasher) Compare(_ context.Context, hash, pw string) (bool, error) {
	h.compares++
	return hash == "hash:"+pw, nil
}
func (h *fakeHasher) NeedsRehash(string) bool { return false }
func (h *fakeHasher) Cheaper(string) bool     { return false }

// fakeUsers holds one user. Embedding the port makes any method the
// scenario should not reach panic.
type fakeUsers struct {
	ports.UserRepository
	user    *domain.User
	lookups int
}

func (r *fakeUsers) ByEmail(_ context.Context, e domain.Email) (*domain.User, error) {
	r.lookups++
	if e == r.user.Email() {
		return r.user, nil
	}
	return nil, domain.ErrUserNotFound
}

type fakeSessions struct {
	ports.SessionRepository
	created int
}

func (r *fakeSessions) Create(context.Context, *domain.Session, []byte) error {
	r.created++
	return nil
}

func (r *fakeSessions) RevokeBeyond(context.Context, int64, int, time.Time) (int, error) {
	return 0, nil
}

type fakeSessionTokens struct {
	ports.SessionTokens
	n int
}

func (s *fakeSessionTokens) NewSessionID() (string, error) {
	s.n++
	return fmt.Sprintf("session-%d", s.n), nil
}
func (s *fakeSessionTokens) NewRefreshToken() (string, error) {
	return "refresh-of-" + fmt.Sprint(s.n), nil
}
func (s *fakeSessionTokens) Hash(tok string) ([]byte, bool) {
	return []byte("sha256(" + tok + ")"), true
}

type fakeTokens struct{ ports.TokenIssuer }

func (fakeTokens) Issue(sub ports.AccessSubject, _, _ time.Time) (ports.AccessToken, error) {
	return ports.AccessToken{Token: fmt.Sprintf("jwt(%d,%s)", sub.UserID, sub.SessionID), ExpiresIn: 15 * time.Minute}, nil
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

type fakeEvents struct{ names []string }

func (l *fakeEvents) Record(_ context.Context, e ports.SecurityEvent) {
	l.names = append(l.names, string(e.Name))
}

// TestAccountThrottleScenario plays attackers and the account's owner
// against one account, in order, over a real (in-memory) limit store.
func TestAccountThrottleScenario(t *testing.T) {
	const (
		password = "correct horse battery staple"
		clientA  = "203.0.113.66" // attacker
		clientB  = "192.0.2.77"   // second attacker, fresh address
		clientV  = "198.51.100.9" // the victim, who knows the password
	)
	window := 15 * time.Minute
	limits := &memLimits{}
	hasher := &fakeHasher{}
	users := &fakeUsers{user: domain.RehydrateUser(42, "alice@example.com", "hash:"+password, true, now.Add(-24*time.Hour))}
	sessions := &fakeSessions{}
	clock := &fakeClock{now: now}
	events := &fakeEvents{}
	svc, err := New(Ports{
		Users: users, Sessions: sessions, Hasher: hasher, Tokens: fakeTokens{},
		SessionTokens: &fakeSessionTokens{}, Clock: clock, Events: events, RateLimits: limits,
	}, Config{Limits: Limits{Enabled: true, AccountFailures: 10, AccountWindow: window}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	type step struct {
		client, password string
		want             string // "ok", "401" or "429"
		// wantRetry is the Retry-After of a 429: what is left of this
		// client's own failure window on the account.
		wantRetry time.Duration
	}
	var steps []step
	for range 10 {
		steps = append(steps, step{client: clientA, password: "guess", want: "401"})
	}
	steps = append(steps,
		// Step i runs at now + i seconds; A's first failure was at now.
		step{client: clientA, password: "guess", want: "429", wantRetry: window - 10*time.Second},
		step{client: clientA, password: password, want: "429", wantRetry: window - 11*time.Second},
		// B has not failed here: one password check, then refused.
		step{client: clientB, password: "guess", want: "401"},
		step{client: clientB, password: "guess", want: "429", wantRetry: window - time.Second},
		// The owner is not locked out by the attack, and logging in
		// clears the account's failures.
		step{client: clientV, password: password, want: "ok"},
		// So A is no longer refused by the account rule: its guesses are
		// checked (and counted) again.
		step{client: clientA, password: "guess", want: "401"},
		step{client: clientA, password: "guess", want: "401"},
	)

	for i, st := range steps {
		clock.now = now.Add(time.Duration(i) * time.Second)
		ctx := ports.WithClient(testCtx(t), st.client)
		compares, lookups, created, recorded := hasher.compares, users.lookups, sessions.created, len(events.names)

		res, err := svc.Login(ctx, Credentials{Email: "Alice@example.com", Password: st.password})
		where := fmt.Sprintf("step %d (client %s, %s)", i, st.client, st.want)

		checked := hasher.compares - compares
		switch st.want {
		case "ok":
			if err != nil || res == nil || res.User.ID() != 42 {
				t.Fatalf("%s: Login = %+v, %v; want user 42 logged in", where, res, err)
			}
			if sessions.created-created != 1 {
				t.Errorf("%s: %d sessions created, want 1", where, sessions.created-created)
			}
		case "401":
			if err != domain.ErrInvalidCredentials {
				t.Fatalf("%s: Login error = %v, want domain.ErrInvalidCredentials", where, err)
			}
		case "429":
			if domain.ErrorCode(err) != domain.ERATELIMITED {
				t.Fatalf("%s: Login error = %v, want ERATELIMITED", where, err)
			}
			if got := domain.ErrorRetryAfter(err); got != st.wantRetry {
				t.Errorf("%s: RetryAfter = %v, want %v", where, got, st.wantRetry)
			}
		}
		// Every attempt is one security event, named by its outcome.
		wantEvent := map[string]string{"ok": "login.succeeded", "401": "login.failed", "429": "ratelimit.exceeded"}[st.want]
		if got := events.names[recorded:]; len(got) != 1 || got[0] != wantEvent {
			t.Errorf("%s: events %v, want [%s]", where, got, wantEvent)
		}
		// The account is looked up first (a device token is judged
		// against it); a refused attempt gets no password check.
		wantChecks := 1
		if st.want == "429" {
			wantChecks = 0
		}
		if checked != wantChecks || users.lookups-lookups != 1 {
			t.Errorf("%s: %d password checks and %d lookups, want %d and 1", where, checked, users.lookups-lookups, wantChecks)
		}
	}

	// After the owner's login the account counts from zero: A's two
	// later failures are all it has.
	if n, _, _ := limits.Count(context.Background(), "acct:alice@example.com", clock.now); n != 2 {
		t.Errorf("account failures after the reset = %d, want 2", n)
	}
	var refusals []string
	for _, n := range events.names {
		if n == "ratelimit.exceeded" {
			refusals = append(refusals, n)
		}
	}
	if got := strings.Join(refusals, ","); got != "ratelimit.exceeded,ratelimit.exceeded,ratelimit.exceeded" {
		t.Errorf("events = %v, want one ratelimit.exceeded per refusal (3)", events.names)
	}
}

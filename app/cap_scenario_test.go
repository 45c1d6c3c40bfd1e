package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The scenarios here play attackers against one account over a real
// (in-memory) limit store and count what matters: password checks.

// countingHasher is fakeHasher, safe for parallel logins.
type countingHasher struct{ compares atomic.Int64 }

func (h *countingHasher) Hash(_ context.Context, pw string) (string, error) { return "hash:" + pw, nil }
func (h *countingHasher) Compare(_ context.Context, hash, pw string) (bool, error) {
	h.compares.Add(1)
	return hash == "hash:"+pw, nil
}
func (h *countingHasher) NeedsRehash(string) bool { return false }
func (h *countingHasher) Cheaper(string) bool     { return false }

// lockedUsers is fakeUsers, safe for parallel logins.
type lockedUsers struct {
	ports.UserRepository
	user *domain.User
}

func (r *lockedUsers) ByEmail(_ context.Context, e domain.Email) (*domain.User, error) {
	if e == r.user.Email() {
		return r.user, nil
	}
	return nil, domain.ErrUserNotFound
}

type lockedSessions struct{ ports.SessionRepository }

func (lockedSessions) Create(context.Context, *domain.Session, []byte) error { return nil }
func (lockedSessions) RevokeBeyond(context.Context, int64, int, time.Time) (int, error) {
	return 0, nil
}

type lockedSessionTokens struct {
	ports.SessionTokens
	n atomic.Int64
}

func (s *lockedSessionTokens) NewSessionID() (string, error) {
	return fmt.Sprintf("session-%d", s.n.Add(1)), nil
}
func (s *lockedSessionTokens) NewRefreshToken() (string, error) { return "refresh", nil }
func (s *lockedSessionTokens) Hash(tok string) ([]byte, bool)   { return []byte(tok), true }

type lockedEvents struct {
	mu     sync.Mutex
	events []ports.SecurityEvent
}

func (l *lockedEvents) Record(_ context.Context, e ports.SecurityEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *lockedEvents) count(name ports.EventName) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Name == name {
			n++
		}
	}
	return n
}

// plainDevices are device tokens "device|<user>|<id>"; "forged" ones
// (any other shape) do not verify.
type plainDevices struct{ n atomic.Int64 }

func (d *plainDevices) Issue(userID int64, deviceID string, _ time.Time) (string, error) {
	if deviceID == "" {
		deviceID = fmt.Sprintf("d%d", d.n.Add(1))
	}
	return fmt.Sprintf("device|%d|%s", userID, deviceID), nil
}

func (d *plainDevices) Verify(token string, now time.Time) (ports.DeviceClaims, bool) {
	var uid int64
	parts := strings.Split(token, "|")
	if len(parts) != 3 || parts[0] != "device" {
		return ports.DeviceClaims{}, false
	}
	if _, err := fmt.Sscan(parts[1], &uid); err != nil {
		return ports.DeviceClaims{}, false
	}
	return ports.DeviceClaims{UserID: uid, DeviceID: parts[2], ExpiresAt: now.Add(time.Hour)}, true
}

type capScenario struct {
	svc    *Service
	hasher *countingHasher
	limits *memLimits
	events *lockedEvents
}

const capPassword = "correct horse battery staple"

func newCapScenario(t *testing.T, l Limits) *capScenario {
	t.Helper()
	sc := &capScenario{hasher: &countingHasher{}, limits: &memLimits{}, events: &lockedEvents{}}
	svc, err := New(Ports{
		Users:    &lockedUsers{user: domain.RehydrateUser(42, "alice@example.com", "hash:"+capPassword, true, now.Add(-24*time.Hour))},
		Sessions: lockedSessions{}, Hasher: sc.hasher, Tokens: fakeTokens{},
		SessionTokens: &lockedSessionTokens{}, Clock: &fakeClock{now: now}, Events: sc.events,
		RateLimits: sc.limits, Devices: &plainDevices{},
	}, Config{Limits: l})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sc.svc = svc
	return sc
}

func (sc *capScenario) login(client, password, device string) (*Tokens, error) {
	ctx := ports.WithClient(context.Background(), client)
	return sc.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: password, DeviceToken: device})
}

// capLimits are the defaults of the account-wide cap with a throttle that
// lets every new address have its one check.
var capLimits = Limits{Enabled: true, AccountFailures: 10, AccountWindow: 15 * time.Minute, AccountCap: 100, AccountCapWindow: 24 * time.Hour, DeviceFailures: 5}

// TestAccountCapScenario: the owner logs in once (and keeps the device
// token), then 150 guesses arrive from 150 addresses in distinct /48s.
// The throttle alone would check every one (each address is new); the cap
// stops the checks at 100. Afterwards the right password without a device
// token is refused too, while the owner's device still logs in.
func TestAccountCapScenario(t *testing.T) {
	sc := newCapScenario(t, capLimits)
	owner, err := sc.login("198.51.100.9", capPassword, "")
	if err != nil || owner.DeviceToken == "" {
		t.Fatalf("owner's first login = %+v, %v; want tokens with a device token", owner, err)
	}
	start := sc.hasher.compares.Load()
	refused := 0
	for i := range 150 {
		client := fmt.Sprintf("2001:db8:%x::1", i+1)
		_, err := sc.login(client, fmt.Sprintf("guess-%d", i), "")
		switch domain.ErrorCode(err) {
		case domain.EUNAUTHORIZED:
		case domain.ERATELIMITED:
			refused++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if checks := sc.hasher.compares.Load() - start; checks != 100 {
		t.Errorf("150 guesses from 150 /48s made %d password checks, want exactly the cap, 100", checks)
	}
	if refused != 50 {
		t.Errorf("%d guesses refused, want 50", refused)
	}
	if n := sc.events.count(ports.EventAccountLocked); n != 1 {
		t.Errorf("account.locked recorded %d times, want once", n)
	}

	// The right password from a new place, without a device token: 429,
	// and no password check (an attacker learns nothing from it either).
	before := sc.hasher.compares.Load()
	if _, err := sc.login("203.0.113.200", capPassword, ""); domain.ErrorCode(err) != domain.ERATELIMITED {
		t.Errorf("right password without a device token after the cap: %v, want 429", err)
	}
	if sc.hasher.compares.Load() != before {
		t.Error("a login refused by the cap still checked the password")
	}
	// A forged or another account's device token does not help.
	for _, tok := range []string{"forged", "device|7|d1"} {
		if _, err := sc.login("203.0.113.200", capPassword, tok); domain.ErrorCode(err) != domain.ERATELIMITED {
			t.Errorf("device token %q after the cap: %v, want 429", tok, err)
		}
	}
	// The owner's device logs in, and gets its device token renewed.
	res, err := sc.login("198.51.100.9", capPassword, owner.DeviceToken)
	if err != nil {
		t.Fatalf("owner with a device token after the cap: %v", err)
	}
	if res.DeviceToken != owner.DeviceToken {
		t.Errorf("renewed device token %q, want the same device %q", res.DeviceToken, owner.DeviceToken)
	}
}

// TestDeviceBudget: a device token exempts from the cap, not from limits:
// its own failures are capped at DeviceFailures, and a success restores
// them.
func TestDeviceBudget(t *testing.T) {
	sc := newCapScenario(t, capLimits)
	owner, err := sc.login("198.51.100.9", capPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range capLimits.DeviceFailures {
		if _, err := sc.login("198.51.100.9", "wrong", owner.DeviceToken); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("device failure %d: %v, want 401", i, err)
		}
	}
	if _, err := sc.login("198.51.100.9", capPassword, owner.DeviceToken); domain.ErrorCode(err) != domain.ERATELIMITED {
		t.Fatalf("after %d failures on the device: %v, want 429", capLimits.DeviceFailures, err)
	}
	// The device's failures did not count against the account: the owner
	// can still log in without the token from elsewhere.
	if _, err := sc.login("192.0.2.1", capPassword, ""); err != nil {
		t.Fatalf("login without the device token: %v", err)
	}
}

// TestParallelGuessesReserveBeforeChecking: on an account already
// throttled, ten parallel wrong guesses from one new address get one
// password check between them (the attempt is reserved before the check),
// and parallel guesses against the cap never pass it.
func TestParallelGuessesReserveBeforeChecking(t *testing.T) {
	sc := newCapScenario(t, capLimits)
	for i := range capLimits.AccountFailures {
		if _, err := sc.login(fmt.Sprintf("192.0.2.%d", i+1), "wrong", ""); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	before := sc.hasher.compares.Load()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = sc.login("203.0.113.66", "wrong", "")
		}()
	}
	wg.Wait()
	if checks := sc.hasher.compares.Load() - before; checks != 1 {
		t.Errorf("10 parallel guesses from one address on a throttled account made %d checks, want 1", checks)
	}

	cap := newCapScenario(t, Limits{Enabled: true, AccountCap: 20, AccountCapWindow: time.Hour})
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = cap.login("203.0.113.66", "wrong", "")
		}()
	}
	wg.Wait()
	if checks := cap.hasher.compares.Load(); checks != 20 {
		t.Errorf("60 parallel guesses against a cap of 20 made %d checks, want 20", checks)
	}
}

// TestSuccessReleasesTheCapReservation: right passwords do not use up the
// cap; only failed checks count.
func TestSuccessReleasesTheCapReservation(t *testing.T) {
	sc := newCapScenario(t, Limits{Enabled: true, AccountCap: 3, AccountCapWindow: time.Hour})
	for i := range 10 {
		if _, err := sc.login("198.51.100.9", capPassword, ""); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	for range 3 {
		if _, err := sc.login("198.51.100.9", "wrong", ""); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("wrong password: %v, want 401", err)
		}
	}
	if _, err := sc.login("198.51.100.9", capPassword, ""); domain.ErrorCode(err) != domain.ERATELIMITED {
		t.Fatalf("after 3 failures with a cap of 3: %v, want 429", err)
	}
}

// TestIPv6ClientBudgets: an IPv6 client is its /64, so 100 addresses in one
// /64 share one budget; a /48 has ten times that; IPv4 (and IPv4-mapped
// IPv6) stays per address.
func TestIPv6ClientBudgets(t *testing.T) {
	l := Limits{Enabled: true, IPRequests: 5, IPWindow: time.Minute}
	sc := newCapScenario(t, l)
	allow := func(client string) error {
		return sc.svc.AllowClient(ports.WithClient(context.Background(), client))
	}
	allowed := 0
	for i := range 100 {
		if allow(fmt.Sprintf("2001:db8:1:2::%x", i+1)) == nil {
			allowed++
		}
	}
	if allowed != l.IPRequests {
		t.Errorf("100 addresses in one /64: %d allowed, want %d (one budget)", allowed, l.IPRequests)
	}
	// Other /64s of the same /48 have budgets of their own, up to the
	// /48's (10 × 5 = 50, of which the first /64 spent 5).
	allowed = 0
	for i := range 100 {
		if allow(fmt.Sprintf("2001:db8:1:%x::1", i+3)) == nil {
			allowed++
		}
	}
	if want := l.IPRequests*IPv6WideFactor - l.IPRequests; allowed != want {
		t.Errorf("100 /64s in one /48: %d allowed, want %d", allowed, want)
	}
	// A different /48 is untouched.
	if err := allow("2001:db8:2::1"); err != nil {
		t.Errorf("another /48: %v", err)
	}
	// IPv4 is per address; its mapped form is the same client.
	for range l.IPRequests {
		if err := allow("192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := allow("::ffff:192.0.2.1"); domain.ErrorCode(err) != domain.ERATELIMITED {
		t.Errorf("IPv4-mapped form of a spent IPv4 client: %v, want 429", err)
	}
	if err := allow("192.0.2.2"); err != nil {
		t.Errorf("the next IPv4 address: %v", err)
	}
}

// busyHasher refuses every comparison, like a full hashing pool.
type busyHasher struct{ countingHasher }

func (h *busyHasher) Compare(context.Context, string, string) (bool, error) {
	return false, domain.Unavailable(errors.New("hashing queue is full"))
}

// TestRefusedCheckGivesBackItsReservations: a login whose password was
// never checked (the pool refused it: 503) spends none of the account's
// budgets, so an overload cannot lock the owner out.
func TestRefusedCheckGivesBackItsReservations(t *testing.T) {
	limits := &memLimits{}
	svc, err := New(Ports{
		Users:    &lockedUsers{user: domain.RehydrateUser(42, "alice@example.com", "hash:"+capPassword, true, now.Add(-24*time.Hour))},
		Sessions: lockedSessions{}, Hasher: &busyHasher{}, Tokens: fakeTokens{},
		SessionTokens: &lockedSessionTokens{}, Clock: &fakeClock{now: now}, Events: &lockedEvents{},
		RateLimits: limits, Devices: &plainDevices{},
	}, Config{Limits: capLimits})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ports.WithClient(context.Background(), "198.51.100.9")
	for range 3 {
		_, err := svc.Login(ctx, Credentials{Email: "alice@example.com", Password: capPassword})
		if domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("Login = %v, want EUNAVAILABLE", err)
		}
	}
	for _, key := range []string{"acct-cap:alice@example.com", "acct-client:alice@example.com|198.51.100.9"} {
		if n, _, _ := limits.Count(ctx, key, now); n != 0 {
			t.Errorf("%s = %d after 3 refused checks, want 0", key, n)
		}
	}
}

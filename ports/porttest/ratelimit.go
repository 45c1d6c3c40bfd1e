package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// rateLimitHitters is how many goroutines hit one key at once in the race
// case.
const rateLimitHitters = 50

// TestRateLimitStore runs the ports.RateLimitStore contract as parallel
// subtests of t.
//
// newStore is called once per subtest, with that subtest's t, and may be
// called from several goroutines at once. Every case uses its own random
// keys and never assumes the store is empty, and no case needs room for
// more than 100 keys, so a bounded store of that size evicts nothing the
// cases look at. newStore may return one store shared by all cases only
// if that store never drops one key's window because of the now passed
// with another key: the cases' nows jump hours forward and back again. A
// store that sweeps closed windows by the nows it is given (such as the
// in-memory one) must be fresh for each case.
//
// Times carry microseconds, the finest resolution every store keeps; a
// store that rounds to seconds fails.
func TestRateLimitStore(t *testing.T, newStore func(t *testing.T) ports.RateLimitStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s ports.RateLimitStore)
	}{
		{"FirstHit", testRateFirstHit},
		{"FirstHitNonUTC", testRateFirstHitNonUTC},
		{"HitsWithinWindow", testRateHitsWithinWindow},
		{"WindowKeepsItsLength", testRateWindowKeepsLength},
		{"CountDoesNotRecord", testRateCountDoesNotRecord},
		{"CountUnknownKey", testRateCountUnknown},
		{"WindowCloses", testRateWindowCloses},
		{"CountThenHitAfterWindow", testRateCountThenHitAfterWindow},
		{"Reset", testRateReset},
		{"ResetUnknownKey", testRateResetUnknown},
		{"Release", testRateRelease},
		{"ReleaseClosedWindow", testRateReleaseClosedWindow},
		{"ConcurrentReserveRelease", testRateConcurrentReserveRelease},
		{"IndependentKeys", testRateIndependentKeys},
		{"ConcurrentHits", testRateConcurrentHits},
		{"OddKeys", testRateOddKeys},
		{"DoneContext", testRateDoneContext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

// rateStart has non-zero microseconds, so a store that drops sub-second
// precision fails.
var rateStart = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

const rateWindow = 15 * time.Minute

func testRateFirstHit(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "first")
	rateHit(t, s, key, rateWindow, rateStart, 1, rateStart.Add(rateWindow))
	rateCount(t, s, key, rateStart, 1, rateStart.Add(rateWindow))
}

func testRateFirstHitNonUTC(t *testing.T, s ports.RateLimitStore) {
	india := time.FixedZone("UTC+05:30", 5*3600+30*60)
	key := rateKey(t, "zone")
	rateHit(t, s, key, rateWindow, rateStart.In(india), 1, rateStart.Add(rateWindow))
	// The same instant in another zone is the same moment of the window.
	rateCount(t, s, key, rateStart.Add(time.Second), 1, rateStart.Add(rateWindow))
	rateHit(t, s, key, rateWindow, rateStart.Add(2*time.Second).In(india), 2, rateStart.Add(rateWindow))
}

func testRateHitsWithinWindow(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "within")
	reset := rateStart.Add(rateWindow)
	// The last hit lands one microsecond before the window closes.
	times := []time.Time{rateStart, rateStart, rateStart.Add(time.Second), rateStart.Add(rateWindow / 2), reset.Add(-time.Microsecond)}
	for i, now := range times {
		rateHit(t, s, key, rateWindow, now, i+1, reset)
	}
	rateCount(t, s, key, reset.Add(-time.Microsecond), len(times), reset)
}

// testRateWindowKeepsLength checks that a window lasts the length given
// at its first event, whatever later hits in it pass.
func testRateWindowKeepsLength(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "length")
	short := time.Minute
	rateHit(t, s, key, short, rateStart, 1, rateStart.Add(short))
	rateHit(t, s, key, time.Hour, rateStart.Add(time.Second), 2, rateStart.Add(short))
	// The next window takes the length given at its own first event.
	next := rateStart.Add(short)
	rateHit(t, s, key, time.Hour, next, 1, next.Add(time.Hour))
	rateHit(t, s, key, short, next.Add(2*short), 2, next.Add(time.Hour))
}

func testRateCountDoesNotRecord(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "count")
	reset := rateStart.Add(rateWindow)
	rateHit(t, s, key, rateWindow, rateStart, 1, reset)
	rateHit(t, s, key, rateWindow, rateStart, 2, reset)
	for i := range 3 {
		rateCount(t, s, key, rateStart.Add(time.Duration(i)*time.Second), 2, reset)
	}
	rateHit(t, s, key, rateWindow, rateStart.Add(time.Minute), 3, reset)
}

func testRateCountUnknown(t *testing.T, s ports.RateLimitStore) {
	rateCount(t, s, rateKey(t, "unknown"), rateStart, 0, time.Time{})
}

// testRateWindowCloses hits a key whose window has just closed (now equal
// to its resetAt, and later) without a Count in between.
func testRateWindowCloses(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "closes")
	first := rateStart.Add(rateWindow)
	for i := range 3 {
		rateHit(t, s, key, rateWindow, rateStart, i+1, first)
	}
	// At resetAt the window is over: a new one opens at that instant.
	rateHit(t, s, key, rateWindow, first, 1, first.Add(rateWindow))
	rateHit(t, s, key, rateWindow, first.Add(time.Second), 2, first.Add(rateWindow))

	// Long after the window closed: a fresh one from that now.
	later := first.Add(24 * time.Hour)
	rateHit(t, s, key, rateWindow, later, 1, later.Add(rateWindow))
	rateCount(t, s, key, later, 1, later.Add(rateWindow))
}

func testRateCountThenHitAfterWindow(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "countafter")
	reset := rateStart.Add(rateWindow)
	rateHit(t, s, key, rateWindow, rateStart, 1, reset)
	rateHit(t, s, key, rateWindow, rateStart, 2, reset)
	rateCount(t, s, key, reset.Add(-time.Microsecond), 2, reset)
	rateCount(t, s, key, reset, 0, time.Time{})
	rateCount(t, s, key, reset.Add(time.Hour), 0, time.Time{})
	now := reset.Add(time.Hour)
	rateHit(t, s, key, rateWindow, now, 1, now.Add(rateWindow))
}

func testRateReset(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "reset")
	reset := rateStart.Add(rateWindow)
	for i := range 3 {
		rateHit(t, s, key, rateWindow, rateStart, i+1, reset)
	}
	if err := s.Reset(context.Background(), key); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	rateCount(t, s, key, rateStart.Add(time.Second), 0, time.Time{})
	// The next hit opens a new window at its own now.
	now := rateStart.Add(time.Minute)
	rateHit(t, s, key, rateWindow, now, 1, now.Add(rateWindow))
	if err := s.Reset(context.Background(), key); err != nil {
		t.Fatalf("second Reset: %v", err)
	}
	if err := s.Reset(context.Background(), key); err != nil {
		t.Fatalf("Reset of a forgotten key: %v", err)
	}
}

// testRateRelease takes reservations back: the count steps down, the
// window keeps its end, and at zero the key is forgotten, so the next hit
// opens a new window.
func testRateRelease(t *testing.T, s ports.RateLimitStore) {
	ctx := context.Background()
	key := rateKey(t, "release")
	reset := rateStart.Add(rateWindow)
	for i := range 3 {
		rateHit(t, s, key, rateWindow, rateStart, i+1, reset)
	}
	at := rateStart.Add(time.Minute)
	if err := s.Release(ctx, key, at); err != nil {
		t.Fatalf("Release: %v", err)
	}
	rateCount(t, s, key, at, 2, reset)
	rateHit(t, s, key, rateWindow, at, 3, reset)
	for range 3 {
		if err := s.Release(ctx, key, at); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	rateCount(t, s, key, at, 0, time.Time{})
	// Releasing below zero is a no-op, and the next hit starts afresh.
	if err := s.Release(ctx, key, at); err != nil {
		t.Fatalf("Release of a forgotten key: %v", err)
	}
	rateHit(t, s, key, rateWindow, at, 1, at.Add(rateWindow))
	if err := s.Release(ctx, rateKey(t, "releaseunknown"), at); err != nil {
		t.Fatalf("Release of an unknown key: %v", err)
	}
}

// testRateReleaseClosedWindow releases after the window closed: nothing
// carries over into the next window.
func testRateReleaseClosedWindow(t *testing.T, s ports.RateLimitStore) {
	ctx := context.Background()
	key := rateKey(t, "releaseclosed")
	reset := rateStart.Add(rateWindow)
	rateHit(t, s, key, rateWindow, rateStart, 1, reset)
	rateHit(t, s, key, rateWindow, rateStart, 2, reset)
	if err := s.Release(ctx, key, reset); err != nil {
		t.Fatalf("Release: %v", err)
	}
	rateCount(t, s, key, reset, 0, time.Time{})
	rateHit(t, s, key, rateWindow, reset, 1, reset.Add(rateWindow))
}

// testRateConcurrentReserveRelease is the login pattern under a race:
// 40 goroutines each reserve (Hit) and half of them release. However the
// calls interleave, the count ends between the 20 kept and the 40 taken
// (a release may be lost, never one too many), and no reservation ever
// saw a count above the number of hits made.
func testRateConcurrentReserveRelease(t *testing.T, s ports.RateLimitStore) {
	ctx := context.Background()
	key := rateKey(t, "reserve")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := s.Hit(ctx, key, rateWindow, rateStart)
			if err == nil && (c < 1 || c > n) {
				err = fmt.Errorf("Hit returned %d", c)
			}
			if err == nil && i%2 == 0 {
				err = s.Release(ctx, key, rateStart)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _, err := s.Count(ctx, key, rateStart)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if got < n/2 || got > n {
		t.Fatalf("count after %d reservations and %d releases = %d, want %d..%d", n, n/2, got, n/2, n)
	}
}

func testRateResetUnknown(t *testing.T, s ports.RateLimitStore) {
	if err := s.Reset(context.Background(), rateKey(t, "resetunknown")); err != nil {
		t.Fatalf("Reset of an unknown key: %v", err)
	}
}

// testRateIndependentKeys uses keys that differ only by case, by a
// suffix, or by one character, so a store that folds or truncates keys
// fails.
func testRateIndependentKeys(t *testing.T, s ports.RateLimitStore) {
	base := rateKey(t, "indep")
	keys := []string{base + "|a", base + "|A", base + "|a|", base + "|a|b", base + "|b"}
	reset := rateStart.Add(rateWindow)
	for i, key := range keys {
		for n := 1; n <= i+1; n++ {
			rateHit(t, s, key, rateWindow, rateStart, n, reset)
		}
	}
	for i, key := range keys {
		rateCount(t, s, key, rateStart, i+1, reset)
	}
	if err := s.Reset(context.Background(), keys[1]); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	for i, key := range keys {
		want, wantReset := i+1, reset
		if i == 1 {
			want, wantReset = 0, time.Time{}
		}
		rateCount(t, s, key, rateStart, want, wantReset)
	}
}

// testRateConcurrentHits hits one new key from many goroutines at once:
// no update may be lost, so the counts returned are exactly 1..n, and all
// of them see the one window the first hit opened.
func testRateConcurrentHits(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "race")
	reset := rateStart.Add(rateWindow)
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		mu     sync.Mutex
		counts []int
	)
	for range rateLimitHitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, r, err := s.Hit(context.Background(), key, rateWindow, rateStart)
			if err != nil {
				t.Errorf("Hit: %v", err)
				return
			}
			if !r.Equal(reset) {
				t.Errorf("Hit: resetAt = %s, want %s", fmtTime(r), fmtTime(reset))
			}
			mu.Lock()
			counts = append(counts, n)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	slices.Sort(counts)
	want := make([]int, rateLimitHitters)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(counts, want) {
		t.Errorf("counts returned by %d concurrent Hits = %v, want 1..%d each once", rateLimitHitters, counts, rateLimitHitters)
	}
	rateCount(t, s, key, rateStart.Add(time.Second), rateLimitHitters, reset)
}

// testRateOddKeys uses keys shaped like what callers build: emails, IP
// addresses (IPv6 included), joined with '|', and characters that SQL or a
// key-value store might treat specially.
func testRateOddKeys(t *testing.T, s ports.RateLimitStore) {
	tag := rateKey(t, "odd")
	long := tag + "|" + strings.Repeat("x", 200-len(tag)-1)
	if len(long) != 200 {
		t.Fatalf("test setup: long key has %d characters", len(long))
	}
	keys := []string{
		tag + "|login|Alice.O'Brien+tag@Example.COM",
		tag + "|ip|2001:db8::ff00:42:8329",
		tag + "|ip|[::1]:8080",
		tag + "|ip|::ffff:192.0.2.128",
		tag + "|pair|user@example.com|198.51.100.7",
		tag + "|unicode|zoë@exämple.com|ключ|密钥|🔑",
		tag + `|sql|%_\' "quoted"; DROP TABLE rate_limits; --`,
		tag + "|space and\ttab and\nnewline",
		long,
	}
	reset := rateStart.Add(rateWindow)
	for _, key := range keys {
		rateHit(t, s, key, rateWindow, rateStart, 1, reset)
		rateHit(t, s, key, rateWindow, rateStart, 2, reset)
	}
	for _, key := range keys {
		rateCount(t, s, key, rateStart, 2, reset)
		if err := s.Reset(context.Background(), key); err != nil {
			t.Errorf("Reset(%q): %v", key, err)
		}
		rateCount(t, s, key, rateStart, 0, time.Time{})
	}
}

// testRateDoneContext wants EUNAVAILABLE from every method for a context
// that is over, with zero results, and nothing recorded or forgotten.
func testRateDoneContext(t *testing.T, s ports.RateLimitStore) {
	key := rateKey(t, "ctx")
	reset := rateStart.Add(rateWindow)
	rateHit(t, s, key, rateWindow, rateStart, 1, reset)

	for kind, newCtx := range doneContexts(t) {
		n, r, err := s.Hit(newCtx(), key, rateWindow, rateStart)
		assertCode(t, kind+": Hit", err, domain.EUNAVAILABLE)
		if n != 0 || !r.IsZero() {
			t.Errorf("%s: Hit returned %d, %s with its error", kind, n, fmtTime(r))
		}
		n, r, err = s.Count(newCtx(), key, rateStart)
		assertCode(t, kind+": Count", err, domain.EUNAVAILABLE)
		if n != 0 || !r.IsZero() {
			t.Errorf("%s: Count returned %d, %s with its error", kind, n, fmtTime(r))
		}
		assertCode(t, kind+": Reset", s.Reset(newCtx(), key), domain.EUNAVAILABLE)
	}
	rateCount(t, s, key, rateStart, 1, reset)
}

// rateKey returns a key that no other call, run or process will produce.
func rateKey(t *testing.T, tag string) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return "porttest|" + tag + "|" + hex.EncodeToString(b[:])
}

// rateHit calls Hit and wants count wantN and resetAt wantReset.
func rateHit(t *testing.T, s ports.RateLimitStore, key string, window time.Duration, now time.Time, wantN int, wantReset time.Time) {
	t.Helper()
	op := fmt.Sprintf("Hit(%q, %v, %s)", key, window, fmtTime(now))
	n, r, err := s.Hit(context.Background(), key, window, now)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	if n != wantN {
		t.Errorf("%s: count = %d, want %d", op, n, wantN)
	}
	if !r.Equal(wantReset) {
		t.Errorf("%s: resetAt = %s, want %s", op, fmtTime(r), fmtTime(wantReset))
	}
}

// rateCount calls Count and wants wantN and wantReset (zero: no open window).
func rateCount(t *testing.T, s ports.RateLimitStore, key string, now time.Time, wantN int, wantReset time.Time) {
	t.Helper()
	op := fmt.Sprintf("Count(%q, %s)", key, fmtTime(now))
	n, r, err := s.Count(context.Background(), key, now)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	if n != wantN {
		t.Errorf("%s: count = %d, want %d", op, n, wantN)
	}
	if wantReset.IsZero() {
		if !r.IsZero() {
			t.Errorf("%s: resetAt = %s, want zero", op, fmtTime(r))
		}
	} else if !r.Equal(wantReset) {
		t.Errorf("%s: resetAt = %s, want %s", op, fmtTime(r), fmtTime(wantReset))
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

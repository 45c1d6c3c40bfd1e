package ratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/adapters/ratelimit"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/porttest"
)

func TestMemoryContract(t *testing.T) {
	// The suite's nows jump back and forth between cases, and Memory drops
	// windows closed at the nows it sees: a fresh store per case.
	for _, maxKeys := range []int{100, 100_000} { // one shard; 64 shards
		t.Run(strconv.Itoa(maxKeys), func(t *testing.T) {
			porttest.TestRateLimitStore(t, func(*testing.T) ports.RateLimitStore { return ratelimit.New(maxKeys) })
		})
	}
}

func TestNewRejectsNonPositiveMax(t *testing.T) {
	for _, n := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d) did not panic", n)
				}
			}()
			ratelimit.New(n)
		}()
	}
}

var (
	t0   = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	bg   = context.Background()
	hour = time.Hour
)

func mustHit(t testing.TB, m *ratelimit.Memory, key string, window time.Duration, now time.Time) int {
	t.Helper()
	n, _, err := m.Hit(bg, key, window, now)
	if err != nil {
		t.Fatalf("Hit(%q): %v", key, err)
	}
	return n
}

func mustCount(t testing.TB, m *ratelimit.Memory, key string, now time.Time) int {
	t.Helper()
	n, _, err := m.Count(bg, key, now)
	if err != nil {
		t.Fatalf("Count(%q): %v", key, err)
	}
	return n
}

// wantCounts checks each key's count; Count touches keys, so call it only
// once the eviction being tested has happened.
func wantCounts(t *testing.T, m *ratelimit.Memory, now time.Time, want map[string]int) {
	t.Helper()
	for key, n := range want {
		if got := mustCount(t, m, key, now); got != n {
			t.Errorf("Count(%q) = %d, want %d", key, got, n)
		}
	}
}

// Stores of fewer than 512 keys have one shard, so these tests see the
// eviction order exactly.

func TestEvictsLeastRecentlyTouchedOnProbation(t *testing.T) {
	m := ratelimit.New(4)
	for _, k := range []string{"a", "b", "c", "d"} {
		mustHit(t, m, k, hour, t0)
	}
	mustCount(t, m, "a", t0) // a touch: b is now the least recent
	mustHit(t, m, "e", hour, t0)
	if m.Len() != 4 {
		t.Fatalf("Len = %d, want 4", m.Len())
	}
	wantCounts(t, m, t0, map[string]int{"a": 1, "b": 0, "c": 1, "d": 1, "e": 1})
}

func TestOneHitKeysNeverEvictRepeatedKeys(t *testing.T) {
	m := ratelimit.New(8)
	for range 2 {
		mustHit(t, m, "victim", hour, t0)
		mustHit(t, m, "hot", hour, t0)
	}
	hot := 2
	for i := range 1000 {
		mustHit(t, m, "flood"+strconv.Itoa(i), hour, t0)
		if i%10 == 0 {
			mustHit(t, m, "hot", hour, t0)
			hot++
		}
		if m.Len() > 8 {
			t.Fatalf("Len = %d after %d flood keys, want <= 8", m.Len(), i+1)
		}
	}
	wantCounts(t, m, t0, map[string]int{"victim": 2, "hot": hot})
}

// TestProtectedHalfIsBounded: keys hit twice fill at most half the store,
// so the least recently touched of them is demoted and then evicted like a
// one-hit key, and one-hit keys always have room.
func TestProtectedHalfIsBounded(t *testing.T) {
	m := ratelimit.New(4) // at most 2 protected
	for _, k := range []string{"a", "b", "c"} {
		mustHit(t, m, k, hour, t0)
		mustHit(t, m, k, hour, t0)
	}
	// Protected: c, b. Probation: a (demoted).
	mustHit(t, m, "d", hour, t0) // fills the store
	mustHit(t, m, "e", hour, t0) // evicts a, the back of probation
	wantCounts(t, m, t0, map[string]int{"a": 0, "b": 2, "c": 2, "d": 1, "e": 1})
}

func TestClosedWindowsGoBeforeOpenOnes(t *testing.T) {
	m := ratelimit.New(4)
	mustHit(t, m, "short", time.Minute, t0)
	for _, k := range []string{"b", "c", "d"} {
		mustHit(t, m, k, hour, t0)
	}
	later := t0.Add(2 * time.Minute)
	mustHit(t, m, "e", hour, later)
	// b was the least recently touched open window; the closed one went.
	wantCounts(t, m, later, map[string]int{"short": 0, "b": 1, "c": 1, "d": 1, "e": 1})
}

// TestClosedWindowAtCapacity fills a store with keys hit twice whose
// windows then close, and checks that new keys take their places.
func TestClosedWindowsFreeRoom(t *testing.T) {
	m := ratelimit.New(4)
	for _, k := range []string{"a", "b", "c", "d"} {
		mustHit(t, m, k, time.Minute, t0)
		mustHit(t, m, k, time.Minute, t0)
	}
	later := t0.Add(time.Minute)
	for _, k := range []string{"e", "f", "g", "h"} {
		if n := mustHit(t, m, k, hour, later); n != 1 {
			t.Fatalf("Hit(%s) = %d", k, n)
		}
	}
	wantCounts(t, m, later, map[string]int{"a": 0, "b": 0, "c": 0, "d": 0, "e": 1, "f": 1, "g": 1, "h": 1})
}

func TestWindowRestartDemotes(t *testing.T) {
	m := ratelimit.New(4) // at most 2 protected
	for range 3 {
		mustHit(t, m, "a", time.Minute, t0)
	}
	// a's window closes; its next hit opens a new one at count 1, on
	// probation like any key hit once.
	later := t0.Add(time.Minute)
	if n := mustHit(t, m, "a", hour, later); n != 1 {
		t.Fatalf("Hit after the window = %d, want 1", n)
	}
	for _, k := range []string{"b", "c", "d", "e"} {
		mustHit(t, m, k, hour, later)
	}
	wantCounts(t, m, later, map[string]int{"a": 0, "b": 1, "c": 1, "d": 1, "e": 1})
}

func TestCallsSweepClosedWindows(t *testing.T) {
	m := ratelimit.New(100)
	for i := range 40 {
		mustHit(t, m, "k"+strconv.Itoa(i), time.Minute, t0)
	}
	later := t0.Add(time.Minute)
	// Each call drops a few closed windows on the way, here of other keys.
	for range 10 {
		mustCount(t, m, "unrelated", later)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("Len after 10 calls = %d, want 0", n)
	}
}

func TestDeleteExpired(t *testing.T) {
	m := ratelimit.New(10_000)
	for i := range 500 {
		mustHit(t, m, "short"+strconv.Itoa(i), time.Minute, t0)
		mustHit(t, m, "long"+strconv.Itoa(i), hour, t0)
	}
	if n, err := m.DeleteExpired(bg, t0.Add(time.Minute-time.Microsecond)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before any window closed = %d, %v; want 0, nil", n, err)
	}
	if n, err := m.DeleteExpired(bg, t0.Add(time.Minute)); err != nil || n != 500 {
		t.Fatalf("DeleteExpired = %d, %v; want 500, nil", n, err)
	}
	if n := m.Len(); n != 500 {
		t.Fatalf("Len = %d, want 500", n)
	}
	wantCounts(t, m, t0.Add(time.Minute), map[string]int{"short0": 0, "long0": 1, "long499": 1})

	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := m.DeleteExpired(ctx, t0.Add(2*hour)); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Fatalf("DeleteExpired with a cancelled context: %v, want EUNAVAILABLE", err)
	}
}

// Flood: far more distinct keys than the store holds, within one window.
const (
	floodCap  = 10_000
	floodKeys = 100_000
	// floodHeapBudget bounds the heap a full store of floodCap keys may
	// take. An entry is about 80 bytes, its map slot about 30, its
	// expiry-heap slot 8 and its key (about 40 characters here) 48: some
	// 170 bytes, so 512 bytes a key leaves three times that for map
	// growth and allocator slack. Keeping all floodKeys keys instead
	// would take at least 100,000 × 170 B ≈ 16 MiB, over three times the
	// budget, so a store that fails to evict cannot pass.
	floodHeapBudget = floodCap * 512
	// floodChurnBudget bounds further growth from a second flood: a store
	// at its cap must reuse its memory however many keys pass through.
	floodChurnBudget = 1 << 20
)

func floodKey(round, i int) string {
	return fmt.Sprintf("login|flood-%d-%06d@example.com|203.0.113.%d", round, i, i%256)
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodStaysBounded sends 100,000 distinct keys through a store of
// 10,000: Len never exceeds the cap, the heap stays within budget, and a
// victim's counter hit a few times before the flood and a hot key hit all
// along survive it.
func TestFloodStaysBounded(t *testing.T) {
	before := heapAlloc()
	m := ratelimit.New(floodCap)
	const victim, hot = "login|victim@example.com", "ip|2001:db8::1"
	for range 3 {
		mustHit(t, m, victim, hour, t0)
	}
	hotHits := 0
	now := t0
	for i := range floodKeys {
		now = now.Add(time.Microsecond)
		mustHit(t, m, floodKey(0, i), hour, now)
		if i%100 == 0 {
			mustHit(t, m, hot, hour, now)
			hotHits++
		}
		if n := m.Len(); n > floodCap {
			t.Fatalf("Len = %d after %d flood keys, want <= %d", n, i+1, floodCap)
		}
	}
	afterFirst := heapAlloc()
	growth := int64(afterFirst) - int64(before)
	t.Logf("heap growth after %d keys through a store of %d: %.2f MiB (budget %.2f MiB)",
		floodKeys, floodCap, float64(growth)/(1<<20), float64(floodHeapBudget)/(1<<20))
	if growth > floodHeapBudget {
		t.Errorf("heap grew by %d bytes, want <= %d", growth, floodHeapBudget)
	}

	for i := range floodKeys {
		now = now.Add(time.Microsecond)
		mustHit(t, m, floodKey(1, i), hour, now)
	}
	afterSecond := heapAlloc()
	churn := int64(afterSecond) - int64(afterFirst)
	t.Logf("heap growth over a second flood: %.2f MiB", float64(churn)/(1<<20))
	if churn > floodChurnBudget {
		t.Errorf("a second flood grew the heap by %d bytes, want <= %d", churn, floodChurnBudget)
	}

	if n := m.Len(); n != floodCap {
		t.Errorf("Len = %d, want %d (full)", n, floodCap)
	}
	wantCounts(t, m, now, map[string]int{victim: 3, hot: hotHits})
	runtime.KeepAlive(m)
}

// TestConcurrentFlood floods from several goroutines while one hits a hot
// key and another watches Len.
func TestConcurrentFlood(t *testing.T) {
	m := ratelimit.New(floodCap)
	const (
		flooders = 8
		hot      = "login|hot@example.com"
		hotHits  = 2000
	)
	var (
		wg      sync.WaitGroup
		done    atomic.Bool
		maxSeen atomic.Int64
	)
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for !done.Load() {
			if n := int64(m.Len()); n > maxSeen.Load() {
				maxSeen.Store(n)
			}
			runtime.Gosched()
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range hotHits {
			if _, _, err := m.Hit(bg, hot, hour, t0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for g := range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < floodKeys; i += flooders {
				if _, _, err := m.Hit(bg, floodKey(0, i), hour, t0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	done.Store(true)
	<-watch
	if n := maxSeen.Load(); n > floodCap {
		t.Errorf("Len reached %d, want <= %d", n, floodCap)
	}
	if n := m.Len(); n != floodCap {
		t.Errorf("Len = %d, want %d", n, floodCap)
	}
	wantCounts(t, m, t0, map[string]int{hot: hotHits})
}

func BenchmarkHitParallel(b *testing.B) {
	for _, bc := range []struct {
		name          string
		keys, maxKeys int
	}{
		{"OneKey", 1, 10_000},
		{"1kKeys", 1_000, 10_000},
		{"Churn1MKeysInto10k", 1_000_000, 10_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = floodKey(0, i)
			}
			m := ratelimit.New(bc.maxKeys)
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine walks the keys from its own offset.
				i := int(next.Add(1)) * 7919
				for pb.Next() {
					if _, _, err := m.Hit(bg, keys[i%len(keys)], hour, t0); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

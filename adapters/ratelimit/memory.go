// Package ratelimit keeps rate-limit counters in the memory of one process.
// Use it with SQLite or a single instance; instances that must share one
// budget need a shared store (the postgres adapter's RateLimits).
package ratelimit

import (
	"container/heap"
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.RateLimitStore = (*Memory)(nil)

const (
	// maxShards bounds lock striping; minPerShard keeps each shard big
	// enough that its own cap is not hit long before the store's.
	maxShards   = 64
	minPerShard = 256
	// sweepBatch is how many closed windows each call drops on the way,
	// so ended windows go even when the store is not full, while no call
	// pays for a large backlog (DeleteExpired takes those all at once).
	sweepBatch = 4
)

// Memory is a ports.RateLimitStore in process memory holding at most
// maxKeys counters. It is safe for concurrent use: keys are spread over
// up to 64 independently locked shards by a hash with a per-process random
// seed, and each shard holds a fixed share of maxKeys.
//
// # Eviction
//
// Closed windows go first: a little on every call, and all of them when a
// shard is full. When a shard is full of open windows, a new key evicts
// one by segmented LRU (SLRU): a key hit only once in its current window
// is on probation; its second hit within the window makes it protected.
// The least recently touched probationary key is evicted first, and a
// protected key only when no key is on probation. Protected keys fill at
// most half a shard; beyond that the least recently touched is demoted to
// the front of probation. Count touches a key too (without promoting it),
// so an attacker's own rejected attempts keep a victim's counter alive.
//
// Why not the window that closes soonest: with one window length that is
// the oldest window, which is exactly the counter an attacker is working
// on. Why not plain LRU: maxKeys one-off keys sent after the victim's last
// hit flush any counter. Under SLRU a flood of keys hit once can never
// evict a counter hit twice or more in its window (a hot key, or a victim
// account an attacker has already tried twice); to evict one the attacker
// must make about maxKeys/2 keys protected, two hits each, after the
// victim's last touch, then push the demoted victim through probation:
// about 1.5×maxKeys requests, against maxKeys for LRU. Because the seed is
// random the attacker cannot aim at the victim's shard and must flood all.
//
// The trade-off: a counter hit once is less safe than under plain LRU, as
// only the probation half (not all of maxKeys) must be flushed to forget
// it; for limits of 3 or more the attacker's cost per guess is still at
// least LRU's, and more for higher limits. No bounded store can keep every
// counter against an unbounded flood: size maxKeys for the keys that are
// live within one window, and limit the flood itself (per-IP limits).
type Memory struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard
}

// New returns a store holding at most maxKeys counters. It panics when
// maxKeys is not positive.
func New(maxKeys int) *Memory {
	if maxKeys <= 0 {
		panic("ratelimit: maxKeys must be positive")
	}
	n := 1
	for n*2 <= maxShards && maxKeys/(n*2) >= minPerShard {
		n *= 2
	}
	m := &Memory{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]shard, n)}
	for i := range m.shards {
		c := maxKeys / n
		if i < maxKeys%n {
			c++
		}
		m.shards[i].init(c)
	}
	return m
}

// Hit records one event for key. A key whose window has closed starts a
// new one of length window at now; a window that is not positive closes
// at once, so every Hit then counts 1. Returns EUNAVAILABLE only when ctx
// is done.
func (m *Memory) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, domain.Unavailable(err)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now, sweepBatch)
	e := s.entries[key]
	switch {
	case e == nil:
		e = s.add(key, now)
		e.count, e.resetAt = 1, now.Add(window).UTC()
		heap.Push(&s.expiry, e)
	case !now.Before(e.resetAt):
		e.count, e.resetAt = 1, now.Add(window).UTC()
		heap.Fix(&s.expiry, e.heapIndex)
		s.demote(e)
	default:
		e.count++
		s.promote(e)
	}
	return e.count, e.resetAt, nil
}

// Count returns key's count in its open window and touches it; a closed
// window is dropped and reads as (0, zero time). Returns EUNAVAILABLE only
// when ctx is done.
func (m *Memory) Count(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, domain.Unavailable(err)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now, sweepBatch)
	e := s.entries[key]
	if e == nil {
		return 0, time.Time{}, nil
	}
	if !now.Before(e.resetAt) {
		s.remove(e)
		return 0, time.Time{}, nil
	}
	e.list.moveToFront(e)
	return e.count, e.resetAt, nil
}

// Reset forgets key. Returns EUNAVAILABLE only when ctx is done.
func (m *Memory) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return domain.Unavailable(err)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil {
		s.remove(e)
	}
	return nil
}

// Release takes one event back from key's open window; a window whose
// count reaches zero is forgotten. Returns EUNAVAILABLE only when ctx is
// done.
func (m *Memory) Release(ctx context.Context, key string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return domain.Unavailable(err)
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	switch {
	case e == nil:
	case !now.Before(e.resetAt) || e.count <= 1:
		s.remove(e)
	default:
		e.count--
	}
	return nil
}

// DeleteExpired drops every window closed at now and returns how many.
// Calls drop closed windows on their own, a few at a time; a periodic
// sweep returns the memory of a burst sooner. It has the postgres store's
// signature so one sweeper can drive both. Returns EUNAVAILABLE only when
// ctx is done.
func (m *Memory) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for i := range m.shards {
		if err := ctx.Err(); err != nil {
			return n, domain.Unavailable(err)
		}
		s := &m.shards[i]
		s.mu.Lock()
		n += s.sweep(now, -1)
		s.mu.Unlock()
	}
	return n, nil
}

// Len returns how many counters the store holds, closed windows not yet
// dropped included. It never exceeds maxKeys.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (m *Memory) shard(key string) *shard {
	return &m.shards[maphash.String(m.seed, key)&m.mask]
}

// entry is one counter. It sits in its shard's map, expiry heap and one of
// the two recency lists.
type entry struct {
	key        string
	resetAt    time.Time
	count      int
	heapIndex  int
	list       *lru
	prev, next *entry
}

type shard struct {
	mu           sync.Mutex
	entries      map[string]*entry
	expiry       expiryHeap
	probation    lru
	protected    lru
	capacity     int
	protectedCap int
}

func (s *shard) init(capacity int) {
	s.entries = make(map[string]*entry, capacity)
	s.expiry = make(expiryHeap, 0, capacity)
	s.probation.init()
	s.protected.init()
	s.capacity = capacity
	s.protectedCap = capacity / 2
}

// add makes room if the shard is full and puts a new entry for key at the
// front of probation; the caller sets its count and window and pushes it
// onto the expiry heap.
func (s *shard) add(key string, now time.Time) *entry {
	var e *entry
	if len(s.entries) >= s.capacity {
		victim := s.expiry[0]
		if now.Before(victim.resetAt) { // no closed window to drop
			victim = s.probation.back()
			if victim == nil {
				victim = s.protected.back()
			}
		}
		s.remove(victim)
		e = victim // reuse the allocation
		*e = entry{}
	} else {
		e = new(entry)
	}
	// A copy, so a key sliced from a larger buffer does not keep it alive.
	e.key = strings.Clone(key)
	s.entries[e.key] = e
	s.probation.pushFront(e)
	return e
}

func (s *shard) remove(e *entry) {
	delete(s.entries, e.key)
	heap.Remove(&s.expiry, e.heapIndex)
	e.list.remove(e)
}

// promote records a repeat hit within a window: a probationary entry
// becomes protected, demoting the least recently touched protected one
// when that segment is full.
func (s *shard) promote(e *entry) {
	if e.list == &s.protected || s.protectedCap == 0 {
		e.list.moveToFront(e)
		return
	}
	s.probation.remove(e)
	s.protected.pushFront(e)
	if s.protected.n > s.protectedCap {
		d := s.protected.back()
		s.protected.remove(d)
		s.probation.pushFront(d)
	}
}

// demote puts an entry whose window restarted at the front of probation.
func (s *shard) demote(e *entry) {
	e.list.remove(e)
	s.probation.pushFront(e)
}

// sweep drops up to limit (all when negative) entries whose window closed
// at now and returns how many it dropped. Windows are judged by the nows
// callers pass: a caller whose now lags another's by a moment may find a
// window already dropped and open a new one, which differs from counting
// into the old one only at its very end.
func (s *shard) sweep(now time.Time, limit int) int {
	n := 0
	for len(s.expiry) > 0 && n != limit && !now.Before(s.expiry[0].resetAt) {
		s.remove(s.expiry[0])
		n++
	}
	return n
}

// expiryHeap orders entries by the end of their window.
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].resetAt.Before(h[j].resetAt) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.heapIndex = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIndex = -1
	return e
}

// lru is an intrusive doubly linked list, most recently touched first.
type lru struct {
	root entry // sentinel: root.next is the front, root.prev the back
	n    int
}

func (l *lru) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lru) pushFront(e *entry) {
	e.list = l
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.n++
}

func (l *lru) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next, e.list = nil, nil, nil
	l.n--
}

func (l *lru) moveToFront(e *entry) {
	if l.root.next == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

func (l *lru) back() *entry {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

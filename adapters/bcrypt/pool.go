package bcrypt

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/authd/authd/domain"
)

// Pool bounds the bcrypt work in flight. bcrypt is CPU-bound on purpose:
// running more comparisons than there are cores only makes every one of
// them slower, so a burst of logins would push every login's latency up
// together. The pool runs at most Workers at once and admits a request to
// wait only while its predicted start stays within MaxWait: the work ahead
// of it (running and waiting) / Workers x a moving average of one hash's
// duration at the configured cost. Everything beyond is refused at once
// with EUNAVAILABLE (503), whose RetryAfter is the predicted time until
// there is room. Queue caps the waiters whatever the prediction, so a
// wrong estimate cannot pile up unbounded goroutines; MaxWait also bounds
// each admitted request's actual wait, in case the estimate was low.
type Pool struct {
	// Workers is how many hashes run at once; 0 means GOMAXPROCS.
	Workers int
	// Queue is the most requests that may wait for a worker (admitted
	// reservations included, see Hasher.Admit), a memory bound on top of
	// the MaxWait rule; 0 means DefaultQueue.
	Queue int
	// MaxWait is the longest a request is predicted, and allowed, to wait
	// to start; 0 means 2s.
	MaxWait time.Duration
}

// DefaultQueue is the cap on waiters when Pool.Queue is 0. It is far above
// what MaxWait admits at any realistic cost (2s of 60 ms hashes on 2
// workers is about 66), so the wait rule is what limits, and it still
// bounds the memory a flood can hold.
const DefaultQueue = 1024

// ewmaWeight is the weight of the newest sample in the moving average of
// one hash's duration: it follows a change in speed within a few dozen
// hashes, yet one slow outlier moves it by a fifth only.
const ewmaWeight = 0.2

// Errors the pool refuses work with, wrapped in domain.Unavailable.
var (
	ErrQueueFull = errors.New("bcrypt: hashing queue is full")
	// ErrWouldWaitTooLong refuses a request whose predicted start is
	// beyond MaxWait, before it waits at all.
	ErrWouldWaitTooLong = errors.New("bcrypt: predicted wait for a hashing worker exceeds the maximum")
	// ErrWaitTooLong refuses an admitted request that still did not get a
	// worker within MaxWait (the prediction was too low).
	ErrWaitTooLong = errors.New("bcrypt: waited too long for a hashing worker")
)

type pool struct {
	slots   chan struct{}
	queue   int64
	maxWait time.Duration
	// pending counts the requests ahead of a newcomer that hold no slot:
	// admitted reservations (see Hasher.Admit) not yet used, and waiters.
	// Admission decides on it, so a reservation moving into the queue
	// never changes what a newcomer is told.
	pending atomic.Int64
	// waiting counts the waiters alone, for Stats.
	waiting atomic.Int64
	// waited accumulates time spent queueing, for metrics.
	waitedNanos atomic.Int64
	// avgNanos is the moving average of one hash's duration at the
	// configured cost; 0 until the first sample, when nothing is
	// predicted and only Queue and MaxWait limit.
	avgNanos atomic.Int64
	// now times the hashes; tests replace it.
	now func() time.Time
}

func newPool(p Pool) *pool {
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	queue := p.Queue
	if queue <= 0 {
		queue = DefaultQueue
	}
	wait := p.MaxWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	return &pool{slots: make(chan struct{}, workers), queue: int64(queue), maxWait: wait, now: time.Now}
}

// predict is when a request that finds ahead requests running or waiting
// is expected to start: the work ahead spread over the workers.
func (p *pool) predict(ahead int64) time.Duration {
	return time.Duration(float64(ahead) * float64(p.avgNanos.Load()) / float64(cap(p.slots)))
}

// refuse is the EUNAVAILABLE refusal for cause, asking the client to come
// back after retryAfter (0 leaves the HTTP layer's default).
func refuse(cause error, retryAfter time.Duration) error {
	e := domain.Unavailable(cause)
	e.RetryAfter = max(0, retryAfter)
	return e
}

// admit claims a place among the pending requests if the prediction and
// the cap allow it, or refuses at once. Incrementing first and undoing on
// refusal would let a refused request's transient count refuse another
// that fits, and show Waiting above Queue in Stats.
func (p *pool) admit() error {
	for {
		n := p.pending.Load()
		ahead := int64(len(p.slots)) + n
		if n >= p.queue {
			// Room comes when the first of the excess waiters starts.
			return refuse(ErrQueueFull, p.predict(n-p.queue+1))
		}
		if wait := p.predict(ahead); wait > p.maxWait {
			// The queue drains at the rate predict assumes, so the
			// predicted start falls within MaxWait after this long.
			return refuse(ErrWouldWaitTooLong, wait-p.maxWait)
		}
		if p.pending.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

// acquire takes a worker slot or refuses; release must follow a nil error.
// A request that carries a reservation of this pool (r non-nil) was
// admitted already: it waits for a worker without being refused for load
// (MaxWait still bounds its wait), using up the reservation's place.
func (p *pool) acquire(ctx context.Context, r *reservation) error {
	select {
	case p.slots <- struct{}{}:
		if r.use() {
			p.pending.Add(-1)
		}
		return nil
	default:
	}
	switch {
	case r.use():
		// The reservation's place becomes this waiter's.
	case r != nil:
		// A later call of an admitted request (a second comparison, a
		// rehash): it was promised its work, so it is not refused.
		p.pending.Add(1)
	default:
		if err := p.admit(); err != nil {
			return err
		}
	}
	defer p.pending.Add(-1)
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	start := time.Now()
	defer func() { p.waitedNanos.Add(int64(time.Since(start))) }()
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		// A slot and the client's departure can be ready together and
		// select picks either: a client that has gone never gets a hash.
		if err := ctx.Err(); err != nil {
			p.release()
			return domain.Unavailable(err)
		}
		return nil
	case <-t.C:
		return domain.Unavailable(ErrWaitTooLong)
	case <-ctx.Done():
		return domain.Unavailable(ctx.Err())
	}
}

// reservation is one admitted request's claim on the pool, from Admit
// until its first Hash or Compare takes a worker or starts waiting (used)
// or the request ends without one (released). Until then it counts in
// pending, so newcomers are predicted to wait behind it.
type reservation struct {
	p    *pool
	done atomic.Bool
}

// use marks r used and reports whether it was still holding its place in
// pending, which the caller then takes over or gives back. Nil-safe.
func (r *reservation) use() bool {
	return r != nil && r.done.CompareAndSwap(false, true)
}

// free gives back the place of a reservation nothing used.
func (r *reservation) free() {
	if r.use() {
		r.p.pending.Add(-1)
	}
}

type reservationKey struct{}

// reservationFrom returns the reservation of p that ctx carries, or nil.
func (p *pool) reservationFrom(ctx context.Context) *reservation {
	r, _ := ctx.Value(reservationKey{}).(*reservation)
	if r == nil || r.p != p {
		return nil
	}
	return r
}

func (p *pool) release() { <-p.slots }

// observe folds one hash's duration at the configured cost into the
// moving average; the first sample seeds it.
func (p *pool) observe(d time.Duration) {
	if d <= 0 {
		d = 1
	}
	for {
		old := p.avgNanos.Load()
		next := int64(d)
		if old > 0 {
			next = old + int64(ewmaWeight*float64(int64(d)-old))
			if next <= 0 {
				next = 1
			}
		}
		if p.avgNanos.CompareAndSwap(old, next) {
			return
		}
	}
}

// PoolStats is a snapshot for metrics.
type PoolStats struct {
	Running, Waiting int
	// Reserved counts admitted requests that have not reached their
	// hash yet (see Hasher.Admit).
	Reserved int
	// WaitedTotal is the time all requests together spent queueing.
	WaitedTotal time.Duration
}

// Stats returns the pool's current state.
func (h *Hasher) Stats() PoolStats {
	waiting := h.pool.waiting.Load()
	return PoolStats{
		Running:     len(h.pool.slots),
		Waiting:     int(waiting),
		Reserved:    int(max(0, h.pool.pending.Load()-waiting)),
		WaitedTotal: time.Duration(h.pool.waitedNanos.Load()),
	}
}

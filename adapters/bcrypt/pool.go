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
// together. The pool runs at most Workers at once, lets at most Queue more
// wait, each for at most MaxWait; everything beyond is refused at once
// with EUNAVAILABLE (503 + Retry-After), so the logins that are admitted
// keep a latency near (Queue/Workers + 1) x one comparison and the rest of
// the service (token checks, probes) keeps its CPU.
type Pool struct {
	// Workers is how many hashes run at once; 0 means GOMAXPROCS.
	Workers int
	// Queue is how many requests may wait for a worker; 0 means
	// 4 x Workers.
	Queue int
	// MaxWait is the longest a request waits to start; 0 means 2s.
	MaxWait time.Duration
}

// Errors the pool refuses work with, wrapped in domain.Unavailable.
var (
	ErrQueueFull   = errors.New("bcrypt: hashing queue is full")
	ErrWaitTooLong = errors.New("bcrypt: waited too long for a hashing worker")
)

type pool struct {
	slots   chan struct{}
	queue   int64
	maxWait time.Duration
	waiting atomic.Int64
	// waited accumulates time spent queueing, for metrics.
	waitedNanos atomic.Int64
}

func newPool(p Pool) *pool {
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	queue := p.Queue
	if queue <= 0 {
		queue = 4 * workers
	}
	wait := p.MaxWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	return &pool{slots: make(chan struct{}, workers), queue: int64(queue), maxWait: wait}
}

// acquire takes a worker slot or refuses; release must follow a nil error.
func (p *pool) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	// Claim a place in the queue only if one is free. Incrementing first and
	// undoing on overflow would let a refused request's transient count
	// refuse another that fits, and show Waiting above Queue in Stats.
	for {
		n := p.waiting.Load()
		if n >= p.queue {
			return domain.Unavailable(ErrQueueFull)
		}
		if p.waiting.CompareAndSwap(n, n+1) {
			break
		}
	}
	defer p.waiting.Add(-1)
	start := time.Now()
	defer func() { p.waitedNanos.Add(int64(time.Since(start))) }()
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		return domain.Unavailable(ErrWaitTooLong)
	case <-ctx.Done():
		return domain.Unavailable(ctx.Err())
	}
}

func (p *pool) release() { <-p.slots }

// PoolStats is a snapshot for metrics.
type PoolStats struct {
	Running, Waiting int
	// WaitedTotal is the time all requests together spent queueing.
	WaitedTotal time.Duration
}

// Stats returns the pool's current state.
func (h *Hasher) Stats() PoolStats {
	return PoolStats{Running: len(h.pool.slots), Waiting: int(h.pool.waiting.Load()), WaitedTotal: time.Duration(h.pool.waitedNanos.Load())}
}

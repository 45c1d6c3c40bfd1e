package bcrypt_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	xbcrypt "golang.org/x/crypto/bcrypt"

	authbcrypt "github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/domain"
)

// timedWorkers makes a hasher's hashes take exactly the time a test says,
// on a fake clock: every call that gets a worker slot is held until the
// test releases it with a duration, by which the clock then advances. So
// the moving average sees chosen samples and nothing is timed for real.
type timedWorkers struct {
	clock   atomic.Int64 // fake time, in nanoseconds since the epoch
	entered chan string
	release chan time.Duration
	done    chan struct{}
	slots   atomic.Int64 // calls that got a slot, i.e. that hashed
}

func timeWorkers(t *testing.T, h *authbcrypt.Hasher) *timedWorkers {
	t.Helper()
	w := &timedWorkers{entered: make(chan string, 4096), release: make(chan time.Duration), done: make(chan struct{})}
	authbcrypt.SetClock(h, func() time.Time { return time.Unix(0, w.clock.Load()) })
	authbcrypt.SetInSlot(h, func(op string) {
		w.slots.Add(1)
		select {
		case w.entered <- op:
		case <-w.done:
			return
		}
		select {
		case d := <-w.release:
			w.clock.Add(int64(d))
		case <-w.done:
		}
	})
	t.Cleanup(func() { close(w.done) })
	return w
}

func (w *timedWorkers) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-w.entered:
	case <-time.After(patience):
		t.Fatal("no call got a worker slot")
	}
}

// finish lets one held call end after took on the fake clock.
func (w *timedWorkers) finish(t *testing.T, took time.Duration) {
	t.Helper()
	select {
	case w.release <- took:
	case <-time.After(patience):
		t.Fatal("no call is holding a worker slot")
	}
}

// hashTaking makes one hash, alone in the pool, that takes took.
func (w *timedWorkers) hashTaking(t *testing.T, h *authbcrypt.Hasher, took time.Duration) {
	t.Helper()
	c := goHash(context.Background(), h)
	w.waitEntered(t)
	w.finish(t, took)
	wantOK(t, c)
}

// fill starts n hashes and waits until running ones hold every worker and
// the rest wait; none may be refused.
func (w *timedWorkers) fill(t *testing.T, h *authbcrypt.Hasher, workers, n int) []<-chan error {
	t.Helper()
	var calls []<-chan error
	for i := range n {
		calls = append(calls, goHash(context.Background(), h))
		if i < workers {
			w.waitEntered(t)
		} else {
			waitFor(t, h, "the call to queue", waiting(i-workers+1))
		}
	}
	return calls
}

// The case: 20 registrations at once on two workers, each hash
// about 30 ms, fit well within a 2 s wait (the last starts about 285 ms
// in), so all are admitted; the old count bound of 4 x workers refused 10.
func TestPoolAdmitsABurstWithinTheWaitBudget(t *testing.T) {
	const workers, burst, took = 2, 20, 30 * time.Millisecond
	h := newPoolHasher(t, authbcrypt.Pool{Workers: workers, MaxWait: 2 * time.Second})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, took)
	if got := authbcrypt.HashEstimate(h); got != took {
		t.Fatalf("estimate after the first hash = %v, want that hash's %v", got, took)
	}

	calls := w.fill(t, h, workers, burst)
	wantStats(t, h, workers, burst-workers)
	for range calls {
		w.finish(t, took)
	}
	for _, c := range calls {
		wantOK(t, c)
	}
	wantStats(t, h, 0, 0)
	if n := w.slots.Load(); n != burst+1 {
		t.Errorf("%d calls hashed, want %d", n, burst+1)
	}
}

// Beyond the budget a request is refused at once, and its RetryAfter is
// the predicted time until there is room: its predicted start minus
// MaxWait. Here the estimate rises while a queue is waiting (one held
// hash turns out to take 3 s), so the room is seconds away.
func TestPoolRefusesBeyondTheWaitBudget(t *testing.T) {
	const workers, maxWait = 2, 2 * time.Second
	h := newPoolHasher(t, authbcrypt.Pool{Workers: workers, MaxWait: maxWait})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, 100*time.Millisecond)

	// At 100 ms a hash, a request with n ahead starts after n x 50 ms:
	// 40 ahead is exactly 2 s, so 2 run and 39 wait; the next one is
	// refused, 50 ms from room.
	calls := w.fill(t, h, workers, 41)
	wantStats(t, h, workers, 39)
	err := result(t, goHash(context.Background(), h))
	wantRefused(t, err, authbcrypt.ErrWouldWaitTooLong)
	if got, want := domain.ErrorRetryAfter(err), 50*time.Millisecond; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	wantStats(t, h, workers, 39)

	// One running hash takes 3 s: the estimate moves towards it, a
	// waiter takes the freed worker, and the prediction for a newcomer
	// (40 ahead) is now far beyond MaxWait.
	// Either running call may take the release: whichever it was
	// returns, and the other keeps its worker.
	w.finish(t, 3*time.Second)
	var rest []<-chan error
	select {
	case err := <-calls[0]:
		if err != nil {
			t.Fatalf("call failed: %v", err)
		}
		rest = calls[1:]
	case err := <-calls[1]:
		if err != nil {
			t.Fatalf("call failed: %v", err)
		}
		rest = append([]<-chan error{calls[0]}, calls[2:]...)
	case <-time.After(patience):
		t.Fatal("neither running call returned")
	}
	w.waitEntered(t)
	waitFor(t, h, "a waiter to take the freed worker", waiting(38))
	est := authbcrypt.HashEstimate(h)
	if lo, hi := 679*time.Millisecond, 681*time.Millisecond; est < lo || est > hi { // 100 ms + 0.2 x 2.9 s
		t.Fatalf("estimate after a 3 s hash = %v, want about 680ms", est)
	}
	for _, call := range []func(context.Context, *authbcrypt.Hasher) <-chan error{goHash, goCompare} {
		err = result(t, call(context.Background(), h))
		wantRefused(t, err, authbcrypt.ErrWouldWaitTooLong)
		want := time.Duration(40*float64(est)/workers) - maxWait // about 11.6 s
		if got := domain.ErrorRetryAfter(err); got != want {
			t.Errorf("RetryAfter = %v, want %v (40 ahead x %v / %d workers - %v)", got, want, est, workers, maxWait)
		}
	}
	if n := w.slots.Load(); n != 1+workers+1 {
		t.Errorf("%d calls got a worker, want %d: refused ones must not", n, 1+workers+1)
	}

	for range rest {
		w.finish(t, time.Millisecond)
	}
	for _, c := range rest {
		wantOK(t, c)
	}
	wantStats(t, h, 0, 0)
}

// The cap on waiters still holds when the prediction would admit more,
// and its refusal carries the time until the first waiter starts.
func TestPoolQueueCapsTheWaiters(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 2, Queue: 3, MaxWait: time.Minute})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, 100*time.Millisecond)
	calls := w.fill(t, h, 2, 5)
	err := result(t, goHash(context.Background(), h))
	wantRefused(t, err, authbcrypt.ErrQueueFull)
	if got, want := domain.ErrorRetryAfter(err), 50*time.Millisecond; got != want {
		t.Errorf("RetryAfter = %v, want %v", got, want)
	}
	for range calls {
		w.finish(t, 100*time.Millisecond)
	}
	for _, c := range calls {
		wantOK(t, c)
	}
}

// A request whose client has gone leaves the queue and never hashes:
// after the busy worker frees, nothing else gets a slot.
func TestPoolCancelledRequestsDoNotHash(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, MaxWait: time.Minute})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, time.Millisecond)

	busy := goHash(context.Background(), h)
	w.waitEntered(t)
	var gone []<-chan error
	var cancels []context.CancelFunc
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		if i%2 == 0 {
			gone = append(gone, goHash(ctx, h))
		} else {
			gone = append(gone, goCompare(ctx, h))
		}
		waitFor(t, h, "the call to queue", waiting(i+1))
	}
	for _, cancel := range cancels {
		cancel()
	}
	for _, c := range gone {
		wantRefused(t, result(t, c), context.Canceled)
	}
	wantStats(t, h, 1, 0)
	w.finish(t, time.Millisecond)
	wantOK(t, busy)
	wantStats(t, h, 0, 0)
	if n := w.slots.Load(); n != 2 {
		t.Errorf("%d calls got a worker, want 2 (the seed and the busy one)", n)
	}
}

// The estimate follows the hashes: when they get slower it rises towards
// the new duration, one sample at a time, and a comparison against a hash
// of a lower cost (an old setting) is no sample of the configured cost.
func TestPoolEstimateAdapts(t *testing.T) {
	h, err := authbcrypt.NewWithPool(authbcrypt.MinCost+1, authbcrypt.Pool{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := timeWorkers(t, h)
	if got := authbcrypt.HashEstimate(h); got != 0 {
		t.Fatalf("estimate before any hash = %v, want 0", got)
	}
	w.hashTaking(t, h, 10*time.Millisecond)
	prev := authbcrypt.HashEstimate(h)
	if prev != 10*time.Millisecond {
		t.Fatalf("estimate seeded to %v, want 10ms", prev)
	}
	for range 20 {
		w.hashTaking(t, h, 100*time.Millisecond)
		est := authbcrypt.HashEstimate(h)
		if est <= prev || est > 100*time.Millisecond {
			t.Fatalf("estimate went from %v to %v after a 100ms hash", prev, est)
		}
		prev = est
	}
	if prev < 95*time.Millisecond {
		t.Errorf("estimate after 20 hashes of 100ms = %v, want it near 100ms", prev)
	}

	cheap := goCompare(context.Background(), h) // poolHash is at MinCost
	w.waitEntered(t)
	w.finish(t, 5*time.Second)
	wantOK(t, cheap)
	if got := authbcrypt.HashEstimate(h); got != prev {
		t.Errorf("a comparison at a lower cost moved the estimate from %v to %v", prev, got)
	}
	same, err := xbcrypt.GenerateFromPassword([]byte(poolPassword), authbcrypt.MinCost+1)
	if err != nil {
		t.Fatal(err)
	}
	c := make(chan error, 1)
	go func() { _, err := h.Compare(context.Background(), string(same), poolPassword); c <- err }()
	w.waitEntered(t)
	w.finish(t, 200*time.Millisecond)
	wantOK(t, c)
	if got := authbcrypt.HashEstimate(h); got <= prev {
		t.Errorf("a comparison at the configured cost left the estimate at %v (was %v)", got, prev)
	}
}

func wantReserved(t *testing.T, h *authbcrypt.Hasher, n int) {
	t.Helper()
	if got := h.Stats().Reserved; got != n {
		t.Errorf("Stats.Reserved = %d, want %d", got, n)
	}
}

// Admit applies the wait rule before any other work and holds the
// admitted request's place: later arrivals are predicted to wait behind
// it, its own hash is not refused even when the pool is full by then, a
// release gives an unused place back, and a used one cannot be released
// twice.
func TestAdmitReservesAPlace(t *testing.T) {
	const maxWait = 250 * time.Millisecond
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, MaxWait: maxWait})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, 100*time.Millisecond)

	busy := goHash(context.Background(), h)
	w.waitEntered(t)
	// 100 ms a hash on one worker: with the busy one and one reservation
	// ahead the start is 200 ms away; with two reservations, 300 ms.
	ctx1, release1, err := h.Admit(context.Background())
	if err != nil {
		t.Fatalf("first Admit: %v", err)
	}
	ctx2, release2, err := h.Admit(context.Background())
	if err != nil {
		t.Fatalf("second Admit: %v", err)
	}
	wantReserved(t, h, 2)
	_, release3, err := h.Admit(context.Background())
	wantRefused(t, err, authbcrypt.ErrWouldWaitTooLong)
	if got, want := domain.ErrorRetryAfter(err), 50*time.Millisecond; got != want {
		t.Errorf("RetryAfter = %v, want %v (300ms predicted - %v)", got, want, maxWait)
	}
	release3() // a refusal's release is harmless
	// A hash without a reservation is refused by the same rule.
	wantRefused(t, result(t, goHash(context.Background(), h)), authbcrypt.ErrWouldWaitTooLong)
	// Admit on a context that carries a reservation adds none.
	same, releaseSame, err := h.Admit(ctx1)
	if err != nil || same != ctx1 {
		t.Fatalf("Admit on an admitted context = %v, %v; want it back unchanged", same, err)
	}
	releaseSame()
	wantReserved(t, h, 2)

	// The first reservation's hash takes its place in the queue.
	first := goHash(ctx1, h)
	waitFor(t, h, "the admitted hash to queue", waiting(1))
	wantReserved(t, h, 1)
	release1() // used: nothing to give back
	wantReserved(t, h, 1)
	// The second is given back unused: there is room for one more.
	release2()
	release2()
	wantReserved(t, h, 0)
	_ = ctx2
	ctx3, release3, err := h.Admit(context.Background())
	if err != nil {
		t.Fatalf("Admit after a release: %v", err)
	}
	defer release3()
	wantRefused(t, result(t, goHash(context.Background(), h)), authbcrypt.ErrWouldWaitTooLong)

	// A later call of an admitted request (a second comparison) is not
	// refused either, though the pool is full: it waits its turn.
	second := goCompare(ctx1, h)
	waitFor(t, h, "the second call to queue", waiting(2))
	third := goCompare(ctx3, h)
	waitFor(t, h, "the third reservation's call to queue", waiting(3))
	for range 4 {
		w.finish(t, 100*time.Millisecond)
	}
	for _, c := range []<-chan error{busy, first, second, third} {
		wantOK(t, c)
	}
	wantStats(t, h, 0, 0)
	wantReserved(t, h, 0)
	if n := w.slots.Load(); n != 5 {
		t.Errorf("%d calls hashed, want 5 (the seed, the busy one and three admitted)", n)
	}
}

// An admitted request whose client goes away while it waits leaves the
// queue without hashing, and its reservation is not counted again.
func TestAdmittedButCancelledDoesNotHash(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, MaxWait: time.Minute})
	w := timeWorkers(t, h)
	w.hashTaking(t, h, time.Millisecond)
	busy := goHash(context.Background(), h)
	w.waitEntered(t)

	ctx, cancel := context.WithCancel(context.Background())
	admitted, release, err := h.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gone := goCompare(admitted, h)
	waitFor(t, h, "the admitted call to queue", waiting(1))
	cancel()
	wantRefused(t, result(t, gone), context.Canceled)
	release()
	wantStats(t, h, 1, 0)
	wantReserved(t, h, 0)
	// A client already gone is not admitted at all.
	if _, _, err := h.Admit(admitted); err != nil {
		t.Errorf("Admit on a context with a reservation = %v; it is returned as it is", err)
	}
	if _, _, err := h.Admit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Admit for a gone client = %v, want it refused", err)
	}
	w.finish(t, time.Millisecond)
	wantOK(t, busy)
	if n := w.slots.Load(); n != 2 {
		t.Errorf("%d calls hashed, want 2 (the seed and the busy one)", n)
	}
}

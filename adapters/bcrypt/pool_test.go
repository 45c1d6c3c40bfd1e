package bcrypt_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	xbcrypt "golang.org/x/crypto/bcrypt"

	authbcrypt "github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/domain"
)

// patience bounds every wait on another goroutine, so a broken pool fails
// the test instead of hanging it. Nothing is asserted to happen within it
// except what must happen at once.
const patience = 10 * time.Second

const poolPassword = "password"

// poolHash is a MinCost hash of poolPassword made without the adapter, so
// tests that hook the adapter's slots never need it to make one.
var poolHash = func() string {
	b, err := xbcrypt.GenerateFromPassword([]byte(poolPassword), xbcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func newPoolHasher(t *testing.T, p authbcrypt.Pool) *authbcrypt.Hasher {
	t.Helper()
	h, err := authbcrypt.NewWithPool(authbcrypt.MinCost, p)
	if err != nil {
		t.Fatalf("NewWithPool(MinCost, %+v): %v", p, err)
	}
	return h
}

// gate holds every call that gets a worker slot until the test lets it go,
// so "the workers are busy" is a fact rather than a race against bcrypt.
type gate struct {
	entered chan string   // receives the op of each call that got a slot
	release chan struct{} // one token lets one held call go on
	done    chan struct{} // closed at cleanup: lets every call go on
}

func holdWorkers(t *testing.T, h *authbcrypt.Hasher) *gate {
	t.Helper()
	g := &gate{entered: make(chan string, 4096), release: make(chan struct{}), done: make(chan struct{})}
	authbcrypt.SetInSlot(h, func(op string) {
		select {
		case g.entered <- op:
		case <-g.done:
			return
		}
		select {
		case <-g.release:
		case <-g.done:
		}
	})
	t.Cleanup(func() { close(g.done) })
	return g
}

// waitEntered returns the op of the next call to get a worker slot.
func (g *gate) waitEntered(t *testing.T) string {
	t.Helper()
	select {
	case op := <-g.entered:
		return op
	case <-time.After(patience):
		t.Fatal("no call got a worker slot")
		return ""
	}
}

// releaseOne lets one held call finish its work and free its slot.
func (g *gate) releaseOne(t *testing.T) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(patience):
		t.Fatal("no call is holding a worker slot")
	}
}

func goCompare(ctx context.Context, h *authbcrypt.Hasher) <-chan error {
	c := make(chan error, 1)
	go func() {
		ok, err := h.Compare(ctx, poolHash, poolPassword)
		if err == nil && !ok {
			err = errors.New("right password did not match")
		}
		c <- err
	}()
	return c
}

func goHash(ctx context.Context, h *authbcrypt.Hasher) <-chan error {
	c := make(chan error, 1)
	go func() {
		hash, err := h.Hash(ctx, poolPassword)
		if err == nil && xbcrypt.CompareHashAndPassword([]byte(hash), []byte(poolPassword)) != nil {
			err = errors.New("hash does not verify")
		}
		c <- err
	}()
	return c
}

func result(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(patience):
		t.Fatal("call did not return")
		return nil
	}
}

func wantOK(t *testing.T, c <-chan error) {
	t.Helper()
	if err := result(t, c); err != nil {
		t.Fatalf("call failed: %v", err)
	}
}

// wantRefused checks err is an EUNAVAILABLE refusal because of cause.
func wantRefused(t *testing.T, err, cause error) {
	t.Helper()
	if code := domain.ErrorCode(err); code != domain.EUNAVAILABLE {
		t.Errorf("err = %v (code %q), want %q", err, code, domain.EUNAVAILABLE)
	}
	if !errors.Is(err, cause) {
		t.Errorf("err = %v, want it to wrap %v", err, cause)
	}
	for _, other := range []error{authbcrypt.ErrQueueFull, authbcrypt.ErrWaitTooLong, authbcrypt.ErrWouldWaitTooLong, context.Canceled, context.DeadlineExceeded} {
		if other != cause && errors.Is(err, other) {
			t.Errorf("err = %v also wraps %v", err, other)
		}
	}
}

// waitFor polls the pool until cond holds: the tests wait for goroutines
// to reach the queue, which they signal no other way.
func waitFor(t *testing.T, h *authbcrypt.Hasher, what string, cond func(authbcrypt.PoolStats) bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond(h.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: stats %+v", what, h.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func wantStats(t *testing.T, h *authbcrypt.Hasher, running, waiting int) {
	t.Helper()
	if s := h.Stats(); s.Running != running || s.Waiting != waiting {
		t.Errorf("Stats = %d running, %d waiting; want %d, %d", s.Running, s.Waiting, running, waiting)
	}
}

func waiting(n int) func(authbcrypt.PoolStats) bool {
	return func(s authbcrypt.PoolStats) bool { return s.Waiting == n }
}

func TestPoolQueuesThenRefuses(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, Queue: 1, MaxWait: time.Minute})
	g := holdWorkers(t, h)
	ctx := context.Background()
	wantStats(t, h, 0, 0)

	first := goCompare(ctx, h)
	g.waitEntered(t)
	wantStats(t, h, 1, 0)

	second := goCompare(ctx, h)
	waitFor(t, h, "the second call to queue", waiting(1))
	wantStats(t, h, 1, 1)

	// The queue is full: a third call is refused without waiting (MaxWait
	// is a minute, so a call that queued would not come back in time).
	wantRefused(t, result(t, goCompare(ctx, h)), authbcrypt.ErrQueueFull)
	wantRefused(t, result(t, goHash(ctx, h)), authbcrypt.ErrQueueFull)
	wantStats(t, h, 1, 1)

	// When the worker frees, the waiting call gets it.
	g.releaseOne(t)
	wantOK(t, first)
	g.waitEntered(t)
	wantStats(t, h, 1, 0)
	g.releaseOne(t)
	wantOK(t, second)
	wantStats(t, h, 0, 0)
}

func TestPoolMaxWait(t *testing.T) {
	const maxWait = 20 * time.Millisecond
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, Queue: 1, MaxWait: maxWait})
	g := holdWorkers(t, h)
	ctx := context.Background()

	busy := goHash(ctx, h)
	g.waitEntered(t)

	for name, call := range map[string]func(context.Context, *authbcrypt.Hasher) <-chan error{"Compare": goCompare, "Hash": goHash} {
		start := time.Now()
		err := result(t, call(ctx, h)) // bounded by patience, not by the busy worker
		took := time.Since(start)
		wantRefused(t, err, authbcrypt.ErrWaitTooLong)
		if took < maxWait {
			t.Errorf("%s refused after %v, before MaxWait %v", name, took, maxWait)
		}
		wantStats(t, h, 1, 0)
	}
	if w := h.Stats().WaitedTotal; w < 2*maxWait {
		t.Errorf("WaitedTotal = %v after two waits of MaxWait %v", w, maxWait)
	}

	g.releaseOne(t)
	wantOK(t, busy)
	wantStats(t, h, 0, 0)
}

func TestPoolCancelWhileWaiting(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, Queue: 1, MaxWait: time.Minute})
	g := holdWorkers(t, h)

	busy := goCompare(context.Background(), h)
	g.waitEntered(t)

	for name, call := range map[string]func(context.Context, *authbcrypt.Hasher) <-chan error{"Compare": goCompare, "Hash": goHash} {
		t.Run(name+"/cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := call(ctx, h)
			waitFor(t, h, "the call to queue", waiting(1))
			cancel()
			wantRefused(t, result(t, c), context.Canceled)
			// The queue place is given back before the call returns.
			wantStats(t, h, 1, 0)
		})
		t.Run(name+"/deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			wantRefused(t, result(t, call(ctx, h)), context.DeadlineExceeded)
			wantStats(t, h, 1, 0)
		})
	}

	// The queue place is usable again.
	next := goHash(context.Background(), h)
	waitFor(t, h, "a new call to queue", waiting(1))
	g.releaseOne(t)
	wantOK(t, busy)
	g.waitEntered(t)
	g.releaseOne(t)
	wantOK(t, next)
	wantStats(t, h, 0, 0)
}

func TestPoolStats(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 2, Queue: 3, MaxWait: time.Minute})
	g := holdWorkers(t, h)
	ctx := context.Background()
	if s := h.Stats(); s != (authbcrypt.PoolStats{}) {
		t.Errorf("idle Stats = %+v", s)
	}

	calls := []<-chan error{goHash(ctx, h), goCompare(ctx, h)}
	g.waitEntered(t)
	g.waitEntered(t)
	wantStats(t, h, 2, 0)
	for i := 1; i <= 3; i++ {
		calls = append(calls, goCompare(ctx, h))
		waitFor(t, h, "the call to queue", waiting(i))
		wantStats(t, h, 2, i)
	}
	wantRefused(t, result(t, goCompare(ctx, h)), authbcrypt.ErrQueueFull)
	wantStats(t, h, 2, 3)

	for range calls {
		g.releaseOne(t)
	}
	for _, c := range calls {
		wantOK(t, c)
	}
	s := h.Stats()
	if s.Running != 0 || s.Waiting != 0 || s.WaitedTotal <= 0 {
		t.Errorf("Stats after the queue drained = %+v, want 0 running, 0 waiting and some time waited", s)
	}
}

func TestHashAndCompareShareThePool(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, Queue: 1, MaxWait: time.Minute})
	g := holdWorkers(t, h)
	ctx := context.Background()

	// A Hash holding the only worker makes a Compare wait, and a Compare
	// holding it makes a Hash wait.
	for _, order := range [][2]string{{"hash", "compare"}, {"compare", "hash"}} {
		call := map[string]func(context.Context, *authbcrypt.Hasher) <-chan error{"hash": goHash, "compare": goCompare}
		first := call[order[0]](ctx, h)
		if op := g.waitEntered(t); op != order[0] {
			t.Fatalf("slot taken by %q, want %q", op, order[0])
		}
		second := call[order[1]](ctx, h)
		waitFor(t, h, order[1]+" to queue behind "+order[0], waiting(1))
		wantRefused(t, result(t, call[order[0]](ctx, h)), authbcrypt.ErrQueueFull)
		wantRefused(t, result(t, call[order[1]](ctx, h)), authbcrypt.ErrQueueFull)
		g.releaseOne(t)
		wantOK(t, first)
		if op := g.waitEntered(t); op != order[1] {
			t.Fatalf("slot taken by %q, want %q", op, order[1])
		}
		g.releaseOne(t)
		wantOK(t, second)
		wantStats(t, h, 0, 0)
	}
}

func TestPoolNoSlotLeak(t *testing.T) {
	const workers, queue, calls = 2, 4, 1000
	h := newPoolHasher(t, authbcrypt.Pool{Workers: workers, Queue: queue, MaxWait: 2 * time.Millisecond})

	// Sample the pool while it is loaded: it never runs or queues more
	// than it was sized for.
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	var over []authbcrypt.PoolStats
	sampled.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s := h.Stats(); s.Running > workers || s.Waiting > queue || s.Running < 0 || s.Waiting < 0 {
				over = append(over, s)
			}
			runtime.Gosched()
		}
	})

	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for i := range calls {
		kind, delay := rng.IntN(4), time.Duration(rng.IntN(3000))*time.Microsecond
		stagger := time.Duration(rng.IntN(50_000)) * time.Microsecond
		hash := i%3 == 0
		wg.Go(func() {
			// Spread arrivals so calls also find free slots and queue.
			time.Sleep(stagger)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			switch kind {
			case 1: // already cancelled
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			case 2: // cancelled at a random moment
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(delay, cancel)
			case 3: // a deadline at a random moment
				ctx, cancel = context.WithTimeout(ctx, delay)
			}
			defer cancel()
			var err error
			if hash {
				err = <-goHash(ctx, h)
			} else {
				err = <-goCompare(ctx, h)
			}
			name := "ok"
			switch {
			case err == nil:
			case domain.ErrorCode(err) != domain.EUNAVAILABLE:
				t.Errorf("call failed other than as unavailable: %v", err)
			case errors.Is(err, authbcrypt.ErrQueueFull):
				name = "queue full"
			case errors.Is(err, authbcrypt.ErrWaitTooLong):
				name = "waited too long"
			case errors.Is(err, authbcrypt.ErrWouldWaitTooLong):
				name = "would wait too long"
			case errors.Is(err, context.Canceled):
				name = "cancelled"
			case errors.Is(err, context.DeadlineExceeded):
				name = "deadline"
			default:
				t.Errorf("unavailable for an unknown reason: %v", err)
			}
			mu.Lock()
			outcomes[name]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	t.Logf("outcomes of %d calls: %v", calls, outcomes)
	if len(over) > 0 {
		t.Errorf("Stats exceeded %d workers / %d queued: %+v", workers, queue, over[0])
	}
	if outcomes["ok"] == 0 {
		t.Error("no call succeeded")
	}
	wantStats(t, h, 0, 0)

	// Every worker slot is free: a full Workers-worth of calls all get
	// one at once, without queueing.
	g := holdWorkers(t, h)
	var held []<-chan error
	for range workers {
		held = append(held, goCompare(context.Background(), h))
	}
	for range workers {
		g.waitEntered(t)
	}
	wantStats(t, h, workers, 0)
	for range held {
		g.releaseOne(t)
	}
	for _, c := range held {
		wantOK(t, c)
	}
	wantStats(t, h, 0, 0)
}

func TestNewWithPoolRejectsNegatives(t *testing.T) {
	for _, p := range []authbcrypt.Pool{
		{Workers: -1},
		{Queue: -1},
		{MaxWait: -time.Nanosecond},
		{Workers: -1, Queue: -1, MaxWait: -time.Second},
		{Workers: 4, Queue: 8, MaxWait: -time.Second},
	} {
		if h, err := authbcrypt.NewWithPool(authbcrypt.MinCost, p); err == nil || h != nil {
			t.Errorf("NewWithPool(MinCost, %+v) = %v, %v; want nil and an error", p, h, err)
		}
	}
	if h, err := authbcrypt.NewWithPool(3, authbcrypt.Pool{Workers: 1}); err == nil || h != nil {
		t.Errorf("NewWithPool(3, ...) = %v, %v; want nil and an error", h, err)
	}
}

func TestPoolSettings(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, procs := range []int{1, 3} {
		runtime.GOMAXPROCS(procs)
		want := authbcrypt.Pool{Workers: procs, Queue: authbcrypt.DefaultQueue, MaxWait: 2 * time.Second}
		for name, newHasher := range map[string]func() (*authbcrypt.Hasher, error){
			"New": func() (*authbcrypt.Hasher, error) { return authbcrypt.New(authbcrypt.MinCost) },
			"NewWithPool(0s)": func() (*authbcrypt.Hasher, error) {
				return authbcrypt.NewWithPool(authbcrypt.MinCost, authbcrypt.Pool{})
			},
		} {
			h, err := newHasher()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got := authbcrypt.EffectivePool(h); got != want {
				t.Errorf("GOMAXPROCS %d: %s pool = %+v, want %+v", procs, name, got, want)
			}
		}
	}
	runtime.GOMAXPROCS(prev)

	for _, c := range []struct{ in, want authbcrypt.Pool }{
		{authbcrypt.Pool{Workers: 3}, authbcrypt.Pool{Workers: 3, Queue: authbcrypt.DefaultQueue, MaxWait: 2 * time.Second}},
		{authbcrypt.Pool{Workers: 2, Queue: 1, MaxWait: 5 * time.Millisecond}, authbcrypt.Pool{Workers: 2, Queue: 1, MaxWait: 5 * time.Millisecond}},
		{authbcrypt.Pool{Queue: 7}, authbcrypt.Pool{Workers: prev, Queue: 7, MaxWait: 2 * time.Second}},
		{authbcrypt.Pool{MaxWait: time.Minute}, authbcrypt.Pool{Workers: prev, Queue: authbcrypt.DefaultQueue, MaxWait: time.Minute}},
	} {
		if got := authbcrypt.EffectivePool(newPoolHasher(t, c.in)); got != c.want {
			t.Errorf("pool for %+v = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// The default sizes, seen from outside: GOMAXPROCS calls run, DefaultQueue
// wait (before any hash is timed nothing is predicted, so only the cap
// limits), and the next is refused.
func TestPoolDefaultSizesHold(t *testing.T) {
	workers := runtime.GOMAXPROCS(0)
	h := newPoolHasher(t, authbcrypt.Pool{MaxWait: time.Minute})
	g := holdWorkers(t, h)
	ctx := context.Background()

	var calls []<-chan error
	for range workers {
		calls = append(calls, goCompare(ctx, h))
	}
	for range workers {
		g.waitEntered(t)
	}
	for i := 1; i <= authbcrypt.DefaultQueue; i++ {
		calls = append(calls, goCompare(ctx, h))
		waitFor(t, h, "the call to queue", waiting(i))
	}
	wantStats(t, h, workers, authbcrypt.DefaultQueue)
	wantRefused(t, result(t, goCompare(ctx, h)), authbcrypt.ErrQueueFull)

	for range calls {
		g.releaseOne(t)
	}
	for _, c := range calls {
		wantOK(t, c)
	}
	wantStats(t, h, 0, 0)
}

// BenchmarkShedding measures the pool against its target: under four
// times the load the CPUs can serve, successful comparisons keep a p99
// latency within MaxWait + one comparison, the wait the pool admits
// requests for. It drives Compare at cost 10 from 4 x GOMAXPROCS callers
// in a closed loop (each caller makes sheddingAttempts calls, one after
// another) with the default pool.
//
// Metrics: served/s; shed-fraction (refused / attempted); p50-ms and
// p99-ms of successful calls, queueing included; p99/target, where target
// is MaxWait + the single-comparison time measured on the idle pool
// (median of runs before and after the load).
//
// 4 x GOMAXPROCS callers put at most 4 x Workers - 1 ahead of a call,
// predicted to take far less than MaxWait at cost 10, so nothing is shed
// and each call waits about 4 comparisons: p99/target is well below 1.
func BenchmarkShedding(b *testing.B) {
	const cost, sheddingAttempts = 10, 40
	h, err := authbcrypt.New(cost)
	if err != nil {
		b.Fatal(err)
	}
	pool := authbcrypt.EffectivePool(h)
	callers := 4 * runtime.GOMAXPROCS(0)
	hash, err := h.Hash(context.Background(), poolPassword)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	compare := func() (time.Duration, error) {
		start := time.Now()
		ok, err := h.Compare(ctx, hash, poolPassword)
		if err == nil && !ok {
			b.Fatal("right password did not match")
		}
		return time.Since(start), err
	}

	// One comparison, alone on the idle pool, timed before and after the
	// load so a drift in the machine's speed shows less: the median.
	var singles []time.Duration
	timeSingles := func() {
		for range 5 {
			d, err := compare()
			if err != nil {
				b.Fatal(err)
			}
			singles = append(singles, d)
		}
	}
	timeSingles()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		shed      int
		attempted int
		elapsed   time.Duration
	)
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				var mine []time.Duration
				refused := 0
				for range sheddingAttempts {
					d, err := compare()
					switch {
					case err == nil:
						mine = append(mine, d)
					case domain.ErrorCode(err) == domain.EUNAVAILABLE:
						refused++
					default:
						b.Error(err)
						return
					}
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				shed += refused
				attempted += sheddingAttempts
				mu.Unlock()
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
	}
	if len(latencies) == 0 {
		b.Fatal("no call succeeded")
	}
	timeSingles()
	sort.Slice(singles, func(i, j int) bool { return singles[i] < singles[j] })
	single := singles[len(singles)/2]
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	target := pool.MaxWait + single

	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "served/s")
	b.ReportMetric(float64(shed)/float64(attempted), "shed-fraction")
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(float64(pct(0.99))/float64(target), "p99/target")
	b.Logf("workers %d, queue %d, callers %d; one comparison %.1fms, target %.1fms; %d served, %d shed",
		pool.Workers, pool.Queue, callers, ms(single), ms(target), len(latencies), shed)
}

// Refused calls never count as waiting, not even for a moment: Stats stays
// within Queue while many calls are turned away from a full queue. (This
// catches a regression only with some probability; it cannot flake.)
func TestPoolRefusalsDoNotCountAsWaiting(t *testing.T) {
	h := newPoolHasher(t, authbcrypt.Pool{Workers: 1, Queue: 1, MaxWait: time.Minute})
	g := holdWorkers(t, h)
	ctx := context.Background()
	busy := goCompare(ctx, h)
	g.waitEntered(t)
	queued := goCompare(ctx, h)
	waitFor(t, h, "a call to queue", waiting(1))

	stop := make(chan struct{})
	var sampled sync.WaitGroup
	maxWaiting := 0
	sampled.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			maxWaiting = max(maxWaiting, h.Stats().Waiting)
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5000 {
				if _, err := h.Compare(ctx, poolHash, poolPassword); !errors.Is(err, authbcrypt.ErrQueueFull) {
					t.Errorf("Compare with a full queue: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	if maxWaiting > 1 {
		t.Errorf("Stats showed %d waiting with Queue 1", maxWaiting)
	}

	g.releaseOne(t)
	wantOK(t, busy)
	g.waitEntered(t)
	g.releaseOne(t)
	wantOK(t, queued)
}

// BenchmarkBurst is the case: burst registrations at once, at cost
// 10 on two workers, after one hash has seeded the estimate (as app.New's
// dummy hash does). It reports how many were admitted (served) with the
// default pool, and with Queue 4 x Workers, the count bound the pool had
// before admission by predicted wait (with it, the cap is what binds).
func BenchmarkBurst(b *testing.B) {
	const cost, workers, burst = 10, 2, 20
	for name, p := range map[string]authbcrypt.Pool{
		"predicted-wait":  {Workers: workers},
		"queue-4xworkers": {Workers: workers, Queue: 4 * workers},
	} {
		b.Run(name, func(b *testing.B) {
			var admitted, refused int
			var retryAfter time.Duration
			for b.Loop() {
				h, err := authbcrypt.NewWithPool(cost, p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Hash(context.Background(), poolPassword); err != nil {
					b.Fatal(err)
				}
				var mu sync.Mutex
				var wg sync.WaitGroup
				for range burst {
					wg.Go(func() {
						_, err := h.Hash(context.Background(), poolPassword)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							admitted++
						case domain.ErrorCode(err) == domain.EUNAVAILABLE:
							refused++
							retryAfter = max(retryAfter, domain.ErrorRetryAfter(err))
						default:
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(admitted)/float64(admitted+refused)*burst, "admitted/burst")
			b.Logf("%d of %d admitted, %d refused (longest RetryAfter %v)", admitted, admitted+refused, refused, retryAfter)
		})
	}
}

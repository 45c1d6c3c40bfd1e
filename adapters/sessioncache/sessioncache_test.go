package sessioncache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/adapters/sessioncache"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

// feed is a Feed without SyncSessions: it records the callbacks the cache
// registered, so a test can deliver changes, and lets the test decide
// whether the cache may trust its memory.
type feed struct {
	current atomic.Bool
	err     error // WatchSessions fails with it when set

	watches      int
	watchCtx     context.Context
	user         func(int64)
	all          func()
	currentCalls atomic.Int64
}

func newFeed() *feed {
	f := &feed{}
	f.current.Store(true)
	return f
}

func (f *feed) WatchSessions(ctx context.Context, user func(int64), all func()) (func(context.Context) bool, error) {
	f.watches++
	f.watchCtx = ctx
	if f.err != nil {
		return nil, f.err
	}
	f.user, f.all = user, all
	return func(context.Context) bool {
		f.currentCalls.Add(1)
		return f.current.Load()
	}, nil
}

// syncFeed is a feed that is also a Syncer and counts the syncs.
type syncFeed struct {
	*feed
	syncs   atomic.Int64
	syncCtx atomic.Value // context.Context of the last sync
	err     error
}

func (f *syncFeed) SyncSessions(ctx context.Context) error {
	f.syncs.Add(1)
	f.syncCtx.Store(ctx)
	return f.err
}

type ctxKey struct{}

var (
	// t0 is the test's now; every ActiveUser expectation names its
	// instant exactly.
	t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	// ctx differs from context.Background, so exact-argument expectations
	// show the caller's context is the one passed on.
	ctx = context.WithValue(context.Background(), ctxKey{}, "request")
)

func activeUser(id int64) *domain.User {
	return domain.RehydrateUser(id, fmt.Sprintf("u%d@example.com", id), "hash", true, t0.Add(-time.Hour))
}

// setup returns a cache of size entries over a mock repository, fed by a
// syncing feed.
func setup(t *testing.T, size int) (*sessioncache.Cache, *mock.MockSessionRepository, *syncFeed) {
	t.Helper()
	next := mock.NewMockSessionRepository(gomock.NewController(t))
	f := &syncFeed{feed: newFeed()}
	repo, c, err := sessioncache.New(context.Background(), next, f, size)
	if err != nil {
		t.Fatal(err)
	}
	if repo != ports.SessionRepository(c) {
		t.Fatalf("New returned repository %T, cache %p; want the cache itself", repo, c)
	}
	return c, next, f
}

// fill makes the cache hold (sid, uid) by one miss that the mock answers.
func fill(t *testing.T, c *sessioncache.Cache, next *mock.MockSessionRepository, sid string, uid int64) {
	t.Helper()
	next.EXPECT().ActiveUser(ctx, sid, uid, t0.Add(sessioncache.Ahead)).Return(activeUser(uid), nil)
	u, err := c.ActiveUser(ctx, sid, uid, t0)
	if err != nil || u.ID() != uid {
		t.Fatalf("fill(%s, %d) = %v, %v", sid, uid, u, err)
	}
}

// hit asserts that (sid, uid) is answered from memory: the mock has no
// expectation left, so any database call fails the test.
func hit(t *testing.T, c *sessioncache.Cache, sid string, uid int64) {
	t.Helper()
	h0, _, _ := c.Counts()
	u, err := c.ActiveUser(ctx, sid, uid, t0.Add(time.Second))
	if err != nil || u.ID() != uid {
		t.Fatalf("ActiveUser(%s, %d) = %v, %v; want user %d", sid, uid, u, err, uid)
	}
	if h1, _, _ := c.Counts(); h1 != h0+1 {
		t.Fatalf("ActiveUser(%s, %d) was not a hit (hits %d → %d)", sid, uid, h0, h1)
	}
}

// miss asserts that (sid, uid) goes to the database about now+Ahead.
func miss(t *testing.T, c *sessioncache.Cache, next *mock.MockSessionRepository, sid string, uid int64) {
	t.Helper()
	now := t0.Add(2 * time.Second)
	next.EXPECT().ActiveUser(ctx, sid, uid, now.Add(sessioncache.Ahead)).Return(activeUser(uid), nil)
	_, m0, _ := c.Counts()
	if _, err := c.ActiveUser(ctx, sid, uid, now); err != nil {
		t.Fatal(err)
	}
	if _, m1, _ := c.Counts(); m1 != m0+1 {
		t.Fatalf("ActiveUser(%s, %d) was not a miss (misses %d → %d)", sid, uid, m0, m1)
	}
}

func TestSizeZeroReturnsNextItself(t *testing.T) {
	for _, size := range []int{0, -1} {
		next := mock.NewMockSessionRepository(gomock.NewController(t))
		f := newFeed()
		repo, c, err := sessioncache.New(context.Background(), next, f, size)
		if err != nil {
			t.Fatal(err)
		}
		if repo != ports.SessionRepository(next) || c != nil {
			t.Errorf("size %d: New = %T, %v; want next itself and no cache", size, repo, c)
		}
		if f.watches != 0 {
			t.Errorf("size %d: the feed was watched %d times; want none", size, f.watches)
		}
	}
}

func TestNewFailsWhenTheFeedFails(t *testing.T) {
	next := mock.NewMockSessionRepository(gomock.NewController(t))
	f := newFeed()
	f.err = errors.New("listen: connection refused")
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo, c, err := sessioncache.New(wctx, next, f, 10)
	if !errors.Is(err, f.err) {
		t.Fatalf("New error = %v; want the feed's %v", err, f.err)
	}
	if repo != nil || c != nil {
		t.Errorf("New = %v, %v with an error; want nothing", repo, c)
	}
	if f.watchCtx != wctx {
		t.Errorf("the feed was watched with %v; want New's context", f.watchCtx)
	}
}

func TestMissThenHit(t *testing.T) {
	c, next, f := setup(t, 10)
	stored := activeUser(7)
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0.Add(sessioncache.Ahead)).Return(stored, nil)

	first, err := c.ActiveUser(ctx, "s1", 7, t0)
	if err != nil || first.ID() != 7 || !first.IsActive() {
		t.Fatalf("first ActiveUser = %v, %v", first, err)
	}
	if h, m, b := c.Counts(); h != 0 || m != 1 || b != 0 {
		t.Errorf("after a miss Counts = %d, %d, %d; want 0, 1, 0", h, m, b)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d after a miss; want 1", c.Len())
	}
	// Neither the database's value nor the caller's copy is the cached one.
	first.Deactivate()
	stored.Deactivate()

	second, err := c.ActiveUser(ctx, "s1", 7, t0.Add(time.Minute))
	if err != nil || second.ID() != 7 {
		t.Fatalf("second ActiveUser = %v, %v", second, err)
	}
	if !second.IsActive() {
		t.Error("the cached user changed when a caller (or the database's value) was mutated")
	}
	if second == first || second == stored {
		t.Error("the hit returned a pointer handed out before")
	}
	second.Deactivate()
	if third, _ := c.ActiveUser(ctx, "s1", 7, t0.Add(2*time.Minute)); third == second || !third.IsActive() {
		t.Error("a hit's value is shared with the next hit")
	}
	if h, m, b := c.Counts(); h != 2 || m != 1 || b != 0 {
		t.Errorf("Counts = %d, %d, %d; want 2, 1, 0", h, m, b)
	}
	if f.currentCalls.Load() != 3 {
		t.Errorf("Current asked %d times for 3 lookups; want every time", f.currentCalls.Load())
	}
}

func TestAnotherUsersSessionIdIsAMiss(t *testing.T) {
	c, next, _ := setup(t, 10)
	fill(t, c, next, "s1", 7)
	// Same session id, another user: the database answers (not found).
	next.EXPECT().ActiveUser(ctx, "s1", int64(8), t0.Add(sessioncache.Ahead)).Return(nil, domain.ErrSessionNotFound)
	next.EXPECT().ActiveUser(ctx, "s1", int64(8), t0).Return(nil, domain.ErrSessionNotFound)
	if u, err := c.ActiveUser(ctx, "s1", 8, t0); !errors.Is(err, domain.ErrSessionNotFound) {
		t.Fatalf("another user's session = %v, %v; want ENOTFOUND", u, err)
	}
	hit(t, c, "s1", 7)
}

func TestBypassWhileTheFeedIsNotCurrent(t *testing.T) {
	c, next, f := setup(t, 10)
	f.current.Store(false)
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0).Return(activeUser(7), nil).Times(2)
	for range 2 {
		if u, err := c.ActiveUser(ctx, "s1", 7, t0); err != nil || u.ID() != 7 {
			t.Fatalf("bypassed ActiveUser = %v, %v", u, err)
		}
	}
	if h, m, b := c.Counts(); h != 0 || m != 0 || b != 2 {
		t.Errorf("Counts = %d, %d, %d; want 0, 0, 2", h, m, b)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d after bypasses; want 0", c.Len())
	}
	// Errors pass through as they are.
	down := domain.Unavailable(errors.New("db down"))
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0).Return(nil, down)
	if _, err := c.ActiveUser(ctx, "s1", 7, t0); !errors.Is(err, down) {
		t.Errorf("bypass error = %v; want %v", err, down)
	}

	// A filled entry is not served while the feed is behind.
	f.current.Store(true)
	fill(t, c, next, "s1", 7)
	f.current.Store(false)
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0).Return(activeUser(7), nil)
	if _, err := c.ActiveUser(ctx, "s1", 7, t0); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := c.Counts(); h != 0 {
		t.Errorf("hits = %d while not current; want 0", h)
	}
}

func TestEntryExpiresAtTheConfirmedInstant(t *testing.T) {
	c, next, _ := setup(t, 10)
	fill(t, c, next, "s1", 7) // confirmed live until t0+Ahead

	until := t0.Add(sessioncache.Ahead)
	if _, err := c.ActiveUser(ctx, "s1", 7, until); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := c.Counts(); h != 1 {
		t.Fatalf("a request at the confirmed instant itself was not a hit")
	}

	later := until.Add(time.Nanosecond)
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), later.Add(sessioncache.Ahead)).Return(activeUser(7), nil)
	if _, err := c.ActiveUser(ctx, "s1", 7, later); err != nil {
		t.Fatal(err)
	}
	if h, m, _ := c.Counts(); h != 1 || m != 2 {
		t.Errorf("after expiry Counts = %d hits, %d misses; want 1, 2", h, m)
	}
	// The refill is good until its own later instant.
	if _, err := c.ActiveUser(ctx, "s1", 7, later.Add(sessioncache.Ahead)); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := c.Counts(); h != 2 {
		t.Error("the refilled entry was not used")
	}
}

func TestEndingWithinAheadIsAskedAtNowAndNotCached(t *testing.T) {
	c, next, _ := setup(t, 10)
	for range 2 {
		next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0.Add(sessioncache.Ahead)).Return(nil, domain.ErrSessionNotFound)
		next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0).Return(activeUser(7), nil)
		if u, err := c.ActiveUser(ctx, "s1", 7, t0); err != nil || u.ID() != 7 {
			t.Fatalf("ActiveUser = %v, %v; want the answer at now", u, err)
		}
		if c.Len() != 0 {
			t.Fatalf("Len = %d; a session ending within Ahead was cached", c.Len())
		}
	}
	// Ended already: ENOTFOUND at now is the answer.
	next.EXPECT().ActiveUser(ctx, "s2", int64(7), t0.Add(sessioncache.Ahead)).Return(nil, domain.ErrSessionNotFound)
	next.EXPECT().ActiveUser(ctx, "s2", int64(7), t0).Return(nil, domain.ErrSessionNotFound)
	if u, err := c.ActiveUser(ctx, "s2", 7, t0); domain.ErrorCode(err) != domain.ENOTFOUND || u != nil {
		t.Errorf("ended session = %v, %v; want ENOTFOUND", u, err)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d; want 0", c.Len())
	}
}

func TestInactiveUserIsNotCached(t *testing.T) {
	c, next, _ := setup(t, 10)
	inactive := domain.RehydrateUser(7, "u7@example.com", "hash", false, t0)
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0.Add(sessioncache.Ahead)).Return(inactive, nil).Times(2)
	for range 2 {
		u, err := c.ActiveUser(ctx, "s1", 7, t0)
		if err != nil || u.ID() != 7 || u.IsActive() {
			t.Fatalf("ActiveUser = %v, %v; want the inactive user", u, err)
		}
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d; an inactive user was cached", c.Len())
	}
}

func TestOtherErrorsPassThrough(t *testing.T) {
	c, next, _ := setup(t, 10)
	down := domain.Unavailable(errors.New("db down"))
	// No lookup at now follows: gomock fails on an unexpected call.
	next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0.Add(sessioncache.Ahead)).Return(nil, down)
	u, err := c.ActiveUser(ctx, "s1", 7, t0)
	if !errors.Is(err, down) || u != nil {
		t.Fatalf("ActiveUser = %v, %v; want %v", u, err, down)
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d after an error; want 0", c.Len())
	}
}

// fillThree caches s1 and s2 of user 7 and s3 of user 8.
func fillThree(t *testing.T, c *sessioncache.Cache, next *mock.MockSessionRepository) {
	t.Helper()
	fill(t, c, next, "s1", 7)
	fill(t, c, next, "s2", 7)
	fill(t, c, next, "s3", 8)
	if c.Len() != 3 {
		t.Fatalf("Len = %d after three fills", c.Len())
	}
}

func TestInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		user func(*sessioncache.Cache, *syncFeed, int64)
		all  func(*sessioncache.Cache, *syncFeed)
	}{
		{"methods",
			func(c *sessioncache.Cache, _ *syncFeed, id int64) { c.InvalidateUser(id) },
			func(c *sessioncache.Cache, _ *syncFeed) { c.InvalidateAll() }},
		{"feed callbacks",
			func(_ *sessioncache.Cache, f *syncFeed, id int64) { f.user(id) },
			func(_ *sessioncache.Cache, f *syncFeed) { f.all() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, next, f := setup(t, 10)
			fillThree(t, c, next)

			tc.user(c, f, 7)
			if c.Len() != 1 {
				t.Errorf("Len = %d after forgetting user 7; want 1", c.Len())
			}
			hit(t, c, "s3", 8)
			miss(t, c, next, "s1", 7)
			miss(t, c, next, "s2", 7)

			tc.user(c, f, 99) // nobody's: nothing goes
			if c.Len() != 3 {
				t.Errorf("Len = %d after forgetting an uncached user; want 3", c.Len())
			}

			tc.all(c, f)
			if c.Len() != 0 {
				t.Errorf("Len = %d after forgetting all; want 0", c.Len())
			}
			miss(t, c, next, "s3", 8)
			if f.syncs.Load() != 0 {
				t.Errorf("invalidation synced %d times; only writes sync", f.syncs.Load())
			}
		})
	}
}

func TestNoStaleInsert(t *testing.T) {
	for _, tc := range []struct {
		name       string
		invalidate func(*sessioncache.Cache, *mock.MockSessionRepository, *syncFeed)
	}{
		{"InvalidateUser", func(c *sessioncache.Cache, _ *mock.MockSessionRepository, _ *syncFeed) { c.InvalidateUser(7) }},
		{"another user", func(c *sessioncache.Cache, _ *mock.MockSessionRepository, _ *syncFeed) { c.InvalidateUser(8) }},
		{"InvalidateAll", func(c *sessioncache.Cache, _ *mock.MockSessionRepository, _ *syncFeed) { c.InvalidateAll() }},
		{"feed user", func(_ *sessioncache.Cache, _ *mock.MockSessionRepository, f *syncFeed) { f.user(7) }},
		{"Revoke", func(c *sessioncache.Cache, next *mock.MockSessionRepository, _ *syncFeed) {
			next.EXPECT().Revoke(ctx, "s1", t0).Return(nil)
			_ = c.Revoke(ctx, "s1", t0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, next, f := setup(t, 10)
			started, release := make(chan struct{}), make(chan struct{})
			next.EXPECT().ActiveUser(ctx, "s1", int64(7), t0.Add(sessioncache.Ahead)).
				DoAndReturn(func(context.Context, string, int64, time.Time) (*domain.User, error) {
					close(started)
					<-release
					return activeUser(7), nil
				})
			done := make(chan error, 1)
			go func() {
				_, err := c.ActiveUser(ctx, "s1", 7, t0)
				done <- err
			}()
			<-started
			tc.invalidate(c, next, f)
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if c.Len() != 0 {
				t.Errorf("Len = %d; the answer read before the invalidation was stored", c.Len())
			}
			miss(t, c, next, "s1", 7)
		})
	}
}

func TestLeastRecentlyUsedGoesFirstWithinAShard(t *testing.T) {
	// 32 entries over 16 shards: two per shard.
	c, next, _ := setup(t, 2*sessioncache.Shards)
	ids := sameShard(c, 3)
	a, b, d := ids[0], ids[1], ids[2]
	fill(t, c, next, a, 1)
	fill(t, c, next, b, 2)
	hit(t, c, a, 1) // b is now the least recently used
	fill(t, c, next, d, 3)
	if c.Len() != 2 {
		t.Errorf("Len = %d; want the shard's limit 2", c.Len())
	}
	hit(t, c, a, 1)
	hit(t, c, d, 3)
	miss(t, c, next, b, 2) // evicted; its refill evicts a (least recent now)
	hit(t, c, d, 3)
	hit(t, c, b, 2)
	miss(t, c, next, a, 1)
}

// sameShard returns n session ids that land in one shard of c.
func sameShard(c *sessioncache.Cache, n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("sid-%d", i)
		if sessioncache.ShardOf(c, id) == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestInvalidateUserDropsAllItsSessionsInOneShard(t *testing.T) {
	c, next, _ := setup(t, 4*sessioncache.Shards)
	ids := sameShard(c, 4)
	fill(t, c, next, ids[0], 7)
	fill(t, c, next, ids[1], 7)
	fill(t, c, next, ids[2], 8)
	fill(t, c, next, ids[3], 7)
	c.InvalidateUser(7)
	if c.Len() != 1 {
		t.Errorf("Len = %d after forgetting user 7's three sessions; want 1", c.Len())
	}
	hit(t, c, ids[2], 8)
	miss(t, c, next, ids[0], 7)
	miss(t, c, next, ids[1], 7)
	miss(t, c, next, ids[3], 7)
}

func TestARefillReplacesTheOldEntry(t *testing.T) {
	c, next, _ := setup(t, 2*sessioncache.Shards)
	ids := sameShard(c, 3)
	a, b, d := ids[0], ids[1], ids[2]

	// A session id asked about for another user, who the database says
	// owns it: the old user's entry goes, and forgetting the old user
	// leaves the new one's.
	fill(t, c, next, a, 1)
	fill(t, c, next, a, 2)
	if c.Len() != 1 {
		t.Errorf("Len = %d after refilling one id; want 1", c.Len())
	}
	c.InvalidateUser(1)
	hit(t, c, a, 2)

	// An expired entry refilled is one entry, ranked by its latest use.
	later := t0.Add(sessioncache.Ahead + time.Nanosecond)
	next.EXPECT().ActiveUser(ctx, a, int64(2), later.Add(sessioncache.Ahead)).Return(activeUser(2), nil)
	if _, err := c.ActiveUser(ctx, a, 2, later); err != nil {
		t.Fatal(err)
	}
	fill(t, c, next, b, 3)
	hit(t, c, a, 2) // b is the least recently used
	fill(t, c, next, d, 4)
	hit(t, c, a, 2)
	hit(t, c, d, 4)
	miss(t, c, next, b, 3)
}

func TestLRUWorksAfterInvalidateAll(t *testing.T) {
	c, next, _ := setup(t, 2*sessioncache.Shards)
	ids := sameShard(c, 3)
	a, b, d := ids[0], ids[1], ids[2]
	fill(t, c, next, a, 1)
	fill(t, c, next, b, 2)
	c.InvalidateAll()
	fill(t, c, next, a, 1)
	fill(t, c, next, b, 2)
	hit(t, c, a, 1) // b is the least recently used
	fill(t, c, next, d, 3)
	if c.Len() != 2 {
		t.Errorf("Len = %d; want the shard's limit 2", c.Len())
	}
	hit(t, c, a, 1)
	hit(t, c, d, 3)
	miss(t, c, next, b, 2)
}

func TestLenNeverExceedsTheBound(t *testing.T) {
	for _, size := range []int{1, 16, 17, 40} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c, next, _ := setup(t, size)
			per := (size + sessioncache.Shards - 1) / sessioncache.Shards
			bound := per * sessioncache.Shards
			perShard := make(map[int]int)
			for i := range 20 * sessioncache.Shards * per {
				id := fmt.Sprintf("sid-%d", i)
				fill(t, c, next, id, int64(i))
				perShard[sessioncache.ShardOf(c, id)]++
				if c.Len() > bound {
					t.Fatalf("Len = %d after %d fills; bound %d", c.Len(), i+1, bound)
				}
			}
			want := 0
			for _, n := range perShard {
				want += min(n, per)
			}
			if c.Len() != want {
				t.Errorf("Len = %d; want %d (each shard full up to %d)", c.Len(), want, per)
			}
		})
	}
}

// write is one call through the cache that ends access.
type write struct {
	name string
	// call sets the mock's expectation and makes the call, returning an
	// error when what came back is not what the mock returned.
	call func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error
	// gone are the sessions of fillThree the write forgets.
	gone []string
	sync bool
}

func revokingWrites() []write {
	intResult := func(n int, err error, wantN int, want error) error {
		if n != wantN || !errors.Is(err, want) || (want == nil && err != nil) {
			return fmt.Errorf("returned %d, %v; want %d, %v", n, err, wantN, want)
		}
		return nil
	}
	errResult := func(err, want error) error {
		if !errors.Is(err, want) || (want == nil && err != nil) {
			return fmt.Errorf("returned %v; want %v", err, want)
		}
		return nil
	}
	return []write{
		{"Revoke", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().Revoke(ctx, "s1", t0).Return(fail)
			return errResult(c.Revoke(ctx, "s1", t0), fail)
		}, []string{"s1"}, true},
		{"RevokeAll", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().RevokeAll(ctx, int64(7), t0).Return(2, fail)
			n, err := c.RevokeAll(ctx, 7, t0)
			return intResult(n, err, 2, fail)
		}, []string{"s1", "s2"}, true},
		{"RevokeOthers", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().RevokeOthers(ctx, int64(7), "s2", t0).Return(1, fail)
			n, err := c.RevokeOthers(ctx, 7, "s2", t0)
			return intResult(n, err, 1, fail)
		}, []string{"s1", "s2"}, true},
		{"RevokeForUser", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().RevokeForUser(ctx, int64(7), "s2", t0).Return(fail)
			return errResult(c.RevokeForUser(ctx, 7, "s2", t0), fail)
		}, []string{"s1", "s2"}, true},
		{"RevokeBeyond", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().RevokeBeyond(ctx, int64(7), 3, t0).Return(1, fail)
			n, err := c.RevokeBeyond(ctx, 7, 3, t0)
			return intResult(n, err, 1, fail)
		}, []string{"s1", "s2"}, true},
		// DeleteEnded removes sessions that had ended, so it ends nobody's
		// access and does not sync; it forgets everything all the same.
		{"DeleteEnded", func(c *sessioncache.Cache, next *mock.MockSessionRepository, fail error) error {
			next.EXPECT().DeleteEnded(ctx, t0.Add(-time.Hour)).Return(5, fail)
			n, err := c.DeleteEnded(ctx, t0.Add(-time.Hour))
			return intResult(n, err, 5, fail)
		}, []string{"s1", "s2", "s3"}, false},
	}
}

var sessionsOfFillThree = map[string]int64{"s1": 7, "s2": 7, "s3": 8}

// checkForgotten asserts that exactly the sessions in gone miss.
func checkForgotten(t *testing.T, c *sessioncache.Cache, next *mock.MockSessionRepository, gone []string) {
	t.Helper()
	if c.Len() != 3-len(gone) {
		t.Errorf("Len = %d; want %d", c.Len(), 3-len(gone))
	}
	isGone := make(map[string]bool)
	for _, sid := range gone {
		isGone[sid] = true
	}
	for _, sid := range []string{"s1", "s2", "s3"} {
		if !isGone[sid] {
			hit(t, c, sid, sessionsOfFillThree[sid])
		}
	}
	for _, sid := range gone {
		miss(t, c, next, sid, sessionsOfFillThree[sid])
	}
}

func TestRevokingWritesForgetAndSync(t *testing.T) {
	for _, w := range revokingWrites() {
		for _, fail := range []error{nil, domain.Unavailable(errors.New("db down"))} {
			t.Run(fmt.Sprintf("%s/err=%v", w.name, fail != nil), func(t *testing.T) {
				c, next, f := setup(t, 10)
				fillThree(t, c, next)
				if err := w.call(c, next, fail); err != nil {
					t.Fatal(err)
				}
				wantSyncs := int64(0)
				if w.sync {
					wantSyncs = 1
				}
				if got := f.syncs.Load(); got != wantSyncs {
					t.Errorf("synced %d times; want %d", got, wantSyncs)
				}
				if w.sync && f.syncCtx.Load() != ctx {
					t.Errorf("synced with %v; want the write's context", f.syncCtx.Load())
				}
				checkForgotten(t, c, next, w.gone)
			})
		}
	}
}

func TestRevokingWritesWithoutASyncer(t *testing.T) {
	for _, w := range revokingWrites() {
		t.Run(w.name, func(t *testing.T) {
			next := mock.NewMockSessionRepository(gomock.NewController(t))
			_, c, err := sessioncache.New(context.Background(), next, newFeed(), 10)
			if err != nil {
				t.Fatal(err)
			}
			fillThree(t, c, next)
			if err := w.call(c, next, nil); err != nil {
				t.Fatal(err)
			}
			checkForgotten(t, c, next, w.gone)
		})
	}
}

func TestAFailedSyncIsNotTheWritesError(t *testing.T) {
	c, next, f := setup(t, 10)
	f.err = errors.New("sync: listener lost")
	fillThree(t, c, next)
	next.EXPECT().RevokeAll(ctx, int64(7), t0).Return(2, nil)
	if n, err := c.RevokeAll(ctx, 7, t0); n != 2 || err != nil {
		t.Fatalf("RevokeAll = %d, %v; want 2, nil", n, err)
	}
	checkForgotten(t, c, next, []string{"s1", "s2"})
}

func TestFailedRevokeBeyondForgetsEvenWhenItCountsNone(t *testing.T) {
	// The write may have committed before the error: forget and sync.
	c, next, f := setup(t, 10)
	fillThree(t, c, next)
	down := domain.Unavailable(errors.New("db down"))
	next.EXPECT().RevokeBeyond(ctx, int64(7), 0, t0).Return(0, down)
	if _, err := c.RevokeBeyond(ctx, 7, 0, t0); !errors.Is(err, down) {
		t.Fatalf("RevokeBeyond error = %v; want %v", err, down)
	}
	if f.syncs.Load() != 1 {
		t.Errorf("synced %d times; want 1", f.syncs.Load())
	}
	checkForgotten(t, c, next, []string{"s1", "s2"})

	next.EXPECT().DeleteEnded(ctx, t0).Return(0, down)
	if _, err := c.DeleteEnded(ctx, t0); !errors.Is(err, down) {
		t.Fatalf("DeleteEnded error = %v; want %v", err, down)
	}
	checkForgotten(t, c, next, []string{"s1", "s2", "s3"})
}

func TestWritesThatChangeNothingKeepEntries(t *testing.T) {
	c, next, f := setup(t, 10)
	fillThree(t, c, next)
	next.EXPECT().RevokeBeyond(ctx, int64(7), 3, t0).Return(0, nil)
	if n, err := c.RevokeBeyond(ctx, 7, 3, t0); n != 0 || err != nil {
		t.Fatalf("RevokeBeyond = %d, %v", n, err)
	}
	next.EXPECT().DeleteEnded(ctx, t0).Return(0, nil)
	if n, err := c.DeleteEnded(ctx, t0); n != 0 || err != nil {
		t.Fatalf("DeleteEnded = %d, %v", n, err)
	}
	if f.syncs.Load() != 0 {
		t.Errorf("synced %d times after writes that ended nothing", f.syncs.Load())
	}
	checkForgotten(t, c, next, nil)
}

func TestOtherSessionCallsPassThroughUntouched(t *testing.T) {
	c, next, f := setup(t, 10)
	fillThree(t, c, next)
	next.EXPECT().Touch(ctx, "s1", t0, time.Minute).Return(nil)
	if err := c.Touch(ctx, "s1", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	next.EXPECT().Stats(ctx, int64(7), t0).Return(2, t0.Add(-time.Hour), nil)
	if live, last, err := c.Stats(ctx, 7, t0); live != 2 || !last.Equal(t0.Add(-time.Hour)) || err != nil {
		t.Fatalf("Stats = %d, %v, %v", live, last, err)
	}
	if f.syncs.Load() != 0 {
		t.Errorf("a read or touch synced")
	}
	checkForgotten(t, c, next, nil)
}

func TestUsersWritesForgetTheUserAndSync(t *testing.T) {
	email, err := domain.ParseEmail("new@example.com")
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		call func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error
	}{
		{"SetActive(false)", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().SetActive(ctx, int64(7), false).Return(fail)
			return u.SetActive(ctx, 7, false)
		}},
		{"SetActive(true)", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().SetActive(ctx, int64(7), true).Return(fail)
			return u.SetActive(ctx, 7, true)
		}},
		{"Delete", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().Delete(ctx, int64(7)).Return(fail)
			return u.Delete(ctx, 7)
		}},
		{"UpdatePasswordHash", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().UpdatePasswordHash(ctx, int64(7), "new-hash").Return(fail)
			return u.UpdatePasswordHash(ctx, 7, "new-hash")
		}},
		{"SetEmailVerified", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().SetEmailVerified(ctx, int64(7), t0).Return(fail)
			return u.SetEmailVerified(ctx, 7, t0)
		}},
		{"ChangeEmail", func(u ports.UserRepository, next *mock.MockUserRepository, fail error) error {
			next.EXPECT().ChangeEmail(ctx, int64(7), email, t0).Return(fail)
			return u.ChangeEmail(ctx, 7, email, t0)
		}},
	}
	for _, w := range writes {
		for _, fail := range []error{nil, domain.ErrUserNotFound} {
			t.Run(fmt.Sprintf("%s/err=%v", w.name, fail != nil), func(t *testing.T) {
				c, sessions, f := setup(t, 10)
				fillThree(t, c, sessions)
				next := mock.NewMockUserRepository(gomock.NewController(t))
				err := w.call(c.Users(next), next, fail)
				if !errors.Is(err, fail) || (fail == nil && err != nil) {
					t.Errorf("returned %v; want %v", err, fail)
				}
				if f.syncs.Load() != 1 {
					t.Errorf("synced %d times; want 1", f.syncs.Load())
				}
				if f.syncCtx.Load() != ctx {
					t.Errorf("synced with %v; want the write's context", f.syncCtx.Load())
				}
				checkForgotten(t, c, sessions, []string{"s1", "s2"})
			})
		}
	}
}

func TestUsersReadsPassThroughUntouched(t *testing.T) {
	c, sessions, f := setup(t, 10)
	fillThree(t, c, sessions)
	next := mock.NewMockUserRepository(gomock.NewController(t))
	users := c.Users(next)

	want := activeUser(7)
	next.EXPECT().ByID(ctx, int64(7)).Return(want, nil)
	if u, err := users.ByID(ctx, 7); u != want || err != nil {
		t.Errorf("ByID = %v, %v; want next's answer", u, err)
	}
	email := want.Email()
	next.EXPECT().ByEmail(ctx, email).Return(nil, domain.ErrUserNotFound)
	if _, err := users.ByEmail(ctx, email); !errors.Is(err, domain.ErrUserNotFound) {
		t.Errorf("ByEmail error = %v; want next's", err)
	}
	if f.syncs.Load() != 0 {
		t.Errorf("a read synced %d times", f.syncs.Load())
	}
	checkForgotten(t, c, sessions, nil)
}

func TestUsersOnANilCacheReturnsNext(t *testing.T) {
	next := mock.NewMockUserRepository(gomock.NewController(t))
	var c *sessioncache.Cache
	if got := c.Users(next); got != ports.UserRepository(next) {
		t.Errorf("nil cache Users = %T; want next itself", got)
	}
	// As wired when the cache is off: New with size 0 returns a nil cache.
	_, off, err := sessioncache.New(context.Background(), mock.NewMockSessionRepository(gomock.NewController(t)), newFeed(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := off.Users(next); got != ports.UserRepository(next) {
		t.Errorf("size-0 cache Users = %T; want next itself", got)
	}
}

// TestConcurrentUse is for the race detector: lookups, invalidations,
// revocations and feed flips at once, over few ids so they collide. Every
// answer must be the requested user.
func TestConcurrentUse(t *testing.T) {
	c, next, f := setup(t, 8)
	var dbCalls atomic.Int64
	next.EXPECT().ActiveUser(ctx, gomock.Any(), gomock.Any(), gomock.Any()).
		DoAndReturn(func(_ context.Context, _ string, uid int64, _ time.Time) (*domain.User, error) {
			dbCalls.Add(1)
			return activeUser(uid), nil
		}).AnyTimes()
	next.EXPECT().Revoke(ctx, gomock.Any(), t0).Return(nil).AnyTimes()

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				uid := int64((g + i) % 5)
				sid := fmt.Sprintf("s%d-%d", uid, i%7)
				u, err := c.ActiveUser(ctx, sid, uid, t0)
				if err != nil || u.ID() != uid {
					t.Errorf("ActiveUser(%s, %d) = %v, %v", sid, uid, u, err)
					return
				}
				u.Deactivate() // must not reach the cache
				switch i % 50 {
				case 7:
					f.user(uid)
				case 19:
					c.InvalidateAll()
				case 23:
					_ = c.Revoke(ctx, sid, t0)
				case 31:
					f.current.Store(g%2 == 0)
				case 32:
					f.current.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > sessioncache.Shards {
		t.Errorf("Len = %d; bound is %d", c.Len(), sessioncache.Shards)
	}
	h, m, b := c.Counts()
	if h+m+b != 8*300 {
		t.Errorf("Counts sum to %d; want %d lookups", h+m+b, 8*300)
	}
	f.current.Store(true)
	for uid := range int64(5) {
		sid := fmt.Sprintf("s%d-0", uid)
		c.InvalidateUser(uid)
		before := dbCalls.Load()
		for range 2 {
			if u, _ := c.ActiveUser(ctx, sid, uid, t0); !u.IsActive() {
				t.Errorf("a caller's Deactivate reached the cache for %s", sid)
			}
		}
		if dbCalls.Load() != before+1 {
			t.Errorf("%s: %d database calls for a miss and a hit", sid, dbCalls.Load()-before)
		}
	}
}

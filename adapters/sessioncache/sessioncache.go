// Package sessioncache answers ports.SessionRepository.ActiveUser, the
// lookup behind every authenticated request, from memory while nothing
// that could change its answer has happened, and from the database
// otherwise.
//
// # Why the cache can be exact
//
// ActiveUser(sid, uid, now) finds the user of session sid when the session
// belongs to uid, is not revoked and expires after now. Its answer changes
// only when (a) the users row changes or goes, (b) the session is revoked,
// re-dated or deleted, or (c) time passes its expiry. The database itself
// reports (a) and (b): migration 000006 adds triggers on users and
// sessions that, on PostgreSQL, NOTIFY the user's id and, on SQLite, bump a
// change counter. Every writer is covered, whoever it is: this process,
// another instance, the operator CLI, and any later code path that revokes
// sessions or edits users. Writes that cannot change the answer (the
// once-a-minute last_used_at touch, refresh-token rotation) fire nothing.
// (c) needs no event: liveness only ends as time goes on, so a session
// that is live at now+Ahead is live at every instant up to then. The cache
// asks the database about now+Ahead and keeps the answer until then; a
// session with less than Ahead to live is looked up at now, every time,
// and not cached.
//
// # Trusting the feed
//
// Before it answers from memory, the cache asks its Feed whether every
// change committed so far has been delivered (Current). On SQLite that is
// a PRAGMA data_version on a connection that never writes, which changes
// when any other connection, in this process or another, commits; only
// then is the counter read again. On PostgreSQL it is whether the LISTEN
// connection is up: while it is down the cache is bypassed, and on every
// (re)connect everything is flushed before the cache is trusted again, so
// a notification missed during an outage can never serve a revoked
// session. A NOTIFY reaches each listener a fraction of a millisecond
// after the writer's commit. So that a client who logs out through one
// instance and at once calls another never wins that race, every write
// that ends access made through this cache (session revocations; a user's
// deactivation, deletion, new email, password or verification, see Users)
// forgets locally and then waits for the feed's Syncer, when it has one:
// on PostgreSQL, until every instance's listener has acknowledged a marker
// sent after the write (see (*postgres.DB).SyncSessions), a few
// notification round trips, about a millisecond. Writes by a process that
// does not sync (the operator CLI) are seen within the delivery time.
//
// # No stale insert
//
// A lookup that read the database before an invalidation must not store
// its answer after it: it notes the generation before it queries, and
// stores only if no invalidation happened since (every invalidation bumps
// the generation before it removes entries).
package sessioncache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Feed tells the cache about committed changes to users and sessions.
// *sqlite.DB and *postgres.DB provide it.
type Feed interface {
	// WatchSessions starts delivering changes until ctx ends or the store
	// closes: user(id) after a change to that user or one of its
	// sessions, all() when the change cannot be narrowed to a user (or
	// may have been missed). The returned current reports whether every
	// change committed before it was called has been delivered; while it
	// returns false the cache must not answer from memory. It may be
	// called once per store.
	WatchSessions(ctx context.Context, user func(userID int64), all func()) (current func(context.Context) bool, err error)
}

// Syncer is a Feed that can wait until every change committed so far has
// reached this process (see (*postgres.DB).SyncSessions). A feed whose
// Current is already exact (SQLite's) need not provide it. The cache calls
// it after each write that ends access, so the write's caller answers only
// once this instance has applied the change, and other instances have had
// the same notification for at least that long.
type Syncer interface {
	SyncSessions(ctx context.Context) error
}

// Ahead is how far past now a cached answer is checked for: an entry is
// good until the instant the database confirmed, at most Ahead after the
// request that filled it.
const Ahead = 5 * time.Minute

// shards spreads the entries over several locks, so concurrent requests
// rarely wait for each other.
const shards = 16

// Cache is a ports.SessionRepository that answers ActiveUser from memory
// when it can and passes every other call through.
type Cache struct {
	ports.SessionRepository
	current func(context.Context) bool
	syncer  Syncer // nil when the feed's Current is exact by itself

	gen    atomic.Uint64
	shards [shards]shard

	hits, misses, bypasses atomic.Uint64
}

var _ ports.SessionRepository = (*Cache)(nil)

// New returns a cache of at most size entries in front of next, fed by
// feed until ctx ends. size 0 returns next itself.
func New(ctx context.Context, next ports.SessionRepository, feed Feed, size int) (ports.SessionRepository, *Cache, error) {
	if size <= 0 {
		return next, nil, nil
	}
	c := newCache(next, size)
	current, err := feed.WatchSessions(ctx, c.InvalidateUser, c.InvalidateAll)
	if err != nil {
		return nil, nil, err
	}
	c.current = current
	c.syncer, _ = feed.(Syncer)
	return c, c, nil
}

func newCache(next ports.SessionRepository, size int) *Cache {
	c := &Cache{SessionRepository: next}
	per := max(1, (size+shards-1)/shards)
	for i := range c.shards {
		c.shards[i].init(per)
	}
	return c
}

// Counts returns how many ActiveUser calls were answered from memory
// (hits), from the database while the cache was trusted (misses), and from
// the database because it was not (bypasses).
func (c *Cache) Counts() (hits, misses, bypasses uint64) {
	return c.hits.Load(), c.misses.Load(), c.bypasses.Load()
}

// ActiveUser answers from memory when the feed is current and a live entry
// for (sessionID, userID) covers now.
func (c *Cache) ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error) {
	if !c.current(ctx) {
		c.bypasses.Add(1)
		return c.SessionRepository.ActiveUser(ctx, sessionID, userID, now)
	}
	sh := c.shard(sessionID)
	if u, ok := sh.get(sessionID, userID, now); ok {
		c.hits.Add(1)
		return u, nil
	}
	c.misses.Add(1)
	gen := c.gen.Load()
	until := now.Add(Ahead)
	u, err := c.SessionRepository.ActiveUser(ctx, sessionID, userID, until)
	switch {
	case err == nil:
		if u.IsActive() {
			sh.put(&c.gen, gen, sessionID, userID, u, until)
		}
		return copyUser(u), nil
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		// Ended already, or ends within Ahead: ask about now itself.
		return c.SessionRepository.ActiveUser(ctx, sessionID, userID, now)
	default:
		return nil, err
	}
}

// InvalidateUser forgets every entry of userID.
func (c *Cache) InvalidateUser(userID int64) {
	c.gen.Add(1)
	for i := range c.shards {
		c.shards[i].dropUser(userID)
	}
}

// InvalidateAll forgets every entry.
func (c *Cache) InvalidateAll() {
	c.gen.Add(1)
	for i := range c.shards {
		c.shards[i].clear()
	}
}

// invalidateSession forgets the entry of sessionID, whoever it belongs to.
func (c *Cache) invalidateSession(sessionID string) {
	c.gen.Add(1)
	c.shard(sessionID).drop(sessionID)
}

// sync waits, when the feed can, until the change just written has reached
// every listener (see Syncer). Its error is not the write's: the write
// happened, and a failed sync has flushed the cache.
func (c *Cache) sync(ctx context.Context) {
	if c.syncer != nil {
		_ = c.syncer.SyncSessions(ctx)
	}
}

// Revoke passes through, then forgets the session here at once.
func (c *Cache) Revoke(ctx context.Context, id string, now time.Time) error {
	err := c.SessionRepository.Revoke(ctx, id, now)
	c.invalidateSession(id)
	c.sync(ctx)
	return err
}

// RevokeAll passes through, then forgets the user's sessions here at once.
func (c *Cache) RevokeAll(ctx context.Context, userID int64, now time.Time) (int, error) {
	n, err := c.SessionRepository.RevokeAll(ctx, userID, now)
	c.InvalidateUser(userID)
	c.sync(ctx)
	return n, err
}

// RevokeOthers passes through, then forgets the user's sessions here.
func (c *Cache) RevokeOthers(ctx context.Context, userID int64, keepID string, now time.Time) (int, error) {
	n, err := c.SessionRepository.RevokeOthers(ctx, userID, keepID, now)
	c.InvalidateUser(userID)
	c.sync(ctx)
	return n, err
}

// RevokeForUser passes through, then forgets the session here at once.
func (c *Cache) RevokeForUser(ctx context.Context, userID int64, sessionID string, now time.Time) error {
	err := c.SessionRepository.RevokeForUser(ctx, userID, sessionID, now)
	c.InvalidateUser(userID)
	c.sync(ctx)
	return err
}

// RevokeBeyond passes through, then forgets the user's sessions here.
func (c *Cache) RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error) {
	n, err := c.SessionRepository.RevokeBeyond(ctx, userID, keep, now)
	if n > 0 || err != nil {
		c.InvalidateUser(userID)
		c.sync(ctx)
	}
	return n, err
}

// Users returns next with every write that can change who may use a
// session (deactivation, deletion, a new email, password or verification)
// followed by the same forgetting and sync as the session writes here.
// With a nil cache it returns next.
func (c *Cache) Users(next ports.UserRepository) ports.UserRepository {
	if c == nil {
		return next
	}
	return users{UserRepository: next, c: c}
}

type users struct {
	ports.UserRepository
	c *Cache
}

func (u users) after(ctx context.Context, id int64, err error) error {
	u.c.InvalidateUser(id)
	u.c.sync(ctx)
	return err
}

func (u users) SetActive(ctx context.Context, id int64, active bool) error {
	return u.after(ctx, id, u.UserRepository.SetActive(ctx, id, active))
}

func (u users) Delete(ctx context.Context, id int64) error {
	return u.after(ctx, id, u.UserRepository.Delete(ctx, id))
}

func (u users) UpdatePasswordHash(ctx context.Context, id int64, hash string) error {
	return u.after(ctx, id, u.UserRepository.UpdatePasswordHash(ctx, id, hash))
}

func (u users) SetEmailVerified(ctx context.Context, id int64, at time.Time) error {
	return u.after(ctx, id, u.UserRepository.SetEmailVerified(ctx, id, at))
}

func (u users) ChangeEmail(ctx context.Context, id int64, email domain.Email, verifiedAt time.Time) error {
	return u.after(ctx, id, u.UserRepository.ChangeEmail(ctx, id, email, verifiedAt))
}

// DeleteEnded passes through; the sessions it removes had ended, so no
// entry can depend on them, but it forgets everything to stay simple.
func (c *Cache) DeleteEnded(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := c.SessionRepository.DeleteEnded(ctx, cutoff)
	if n > 0 || err != nil {
		c.InvalidateAll()
	}
	return n, err
}

func (c *Cache) shard(sessionID string) *shard {
	// FNV-1a over the id, which is random anyway.
	h := uint32(2166136261)
	for i := 0; i < len(sessionID); i++ {
		h = (h ^ uint32(sessionID[i])) * 16777619
	}
	return &c.shards[h%shards]
}

// copyUser hands each caller its own value, so nothing a caller does to
// it reaches the cache.
func copyUser(u *domain.User) *domain.User {
	cp := *u
	return &cp
}

// entry is one cached answer: the session's user, good while now is not
// after until. prev and next link the shard's recency list.
type entry struct {
	sessionID  string
	userID     int64
	user       *domain.User
	until      time.Time
	prev, next *entry
}

// shard is an LRU map from session id to entry, with an index by user.
type shard struct {
	mu     sync.Mutex
	limit  int
	items  map[string]*entry
	byUser map[int64]map[string]struct{}
	head   entry // sentinel: head.next is the most recent, head.prev the least
}

func (s *shard) init(limit int) {
	s.limit = limit
	s.items = make(map[string]*entry)
	s.byUser = make(map[int64]map[string]struct{})
	s.head.next, s.head.prev = &s.head, &s.head
}

func (s *shard) get(sessionID string, userID int64, now time.Time) (*domain.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[sessionID]
	if !ok || e.userID != userID {
		return nil, false
	}
	if now.After(e.until) {
		s.remove(e)
		return nil, false
	}
	s.unlink(e)
	s.pushFront(e)
	return copyUser(e.user), true
}

// put stores an answer read while the generation was gen, unless an
// invalidation has happened since.
func (s *shard) put(cur *atomic.Uint64, gen uint64, sessionID string, userID int64, u *domain.User, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur.Load() != gen {
		return
	}
	if old, ok := s.items[sessionID]; ok {
		s.remove(old)
	}
	e := &entry{sessionID: sessionID, userID: userID, user: copyUser(u), until: until}
	s.items[sessionID] = e
	sids := s.byUser[userID]
	if sids == nil {
		sids = make(map[string]struct{})
		s.byUser[userID] = sids
	}
	sids[sessionID] = struct{}{}
	s.pushFront(e)
	for len(s.items) > s.limit {
		s.remove(s.head.prev)
	}
}

func (s *shard) drop(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[sessionID]; ok {
		s.remove(e)
	}
}

func (s *shard) dropUser(userID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid := range s.byUser[userID] {
		s.remove(s.items[sid])
	}
}

func (s *shard) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.items)
	clear(s.byUser)
	s.head.next, s.head.prev = &s.head, &s.head
}

func (s *shard) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// remove unlinks e and deletes it from both maps; the lock is held.
func (s *shard) remove(e *entry) {
	s.unlink(e)
	delete(s.items, e.sessionID)
	if sids := s.byUser[e.userID]; sids != nil {
		delete(sids, e.sessionID)
		if len(sids) == 0 {
			delete(s.byUser, e.userID)
		}
	}
}

func (s *shard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}

// Len returns how many entries the cache holds.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		n += c.shards[i].len()
	}
	return n
}

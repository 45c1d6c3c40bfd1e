package main

// The session cache on the real stores: every change made through a
// SEPARATE handle on the same database (another pool, as another instance
// or the operator CLI would hold) is seen by the cache's very next
// ActiveUser.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/adapters/postgres/pgtest"
	"github.com/authd/authd/adapters/sessioncache"
	"github.com/authd/authd/adapters/sqlite"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// cacheStores opens the database twice: a (behind the cache) and other.
type cacheStores func(t *testing.T) (a, other store)

// notifyWindow bounds how long a PostgreSQL NOTIFY may take to reach the
// listener after the writer's commit returned. SQLite has no such window:
// the cache checks for commits (the WAL-index header, then PRAGMA
// data_version) before it answers, so the very next
// lookup is fresh, and its cases allow none.
const notifyWindow = time.Second

func sqliteTwice(t *testing.T) (store, store) {
	path := filepath.Join(t.TempDir(), "authd.db")
	return twice(t, func() (store, error) { return sqlite.Open(context.Background(), path) })
}

func postgresTwice(t *testing.T) (store, store) {
	url := pgtest.Start(t).NewDatabase(t)
	return twice(t, func() (store, error) { return postgres.Open(context.Background(), postgres.Config{URL: url}) })
}

// twice opens one database through two handles, migrated, closed when
// the test ends.
func twice(t *testing.T, open func() (store, error)) (store, store) {
	t.Helper()
	var handles [2]store
	for i := range handles {
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		handles[i] = db
	}
	if err := migrateUp(handles[0], discardLogger()); err != nil {
		t.Fatal(err)
	}
	return handles[0], handles[1]
}

func TestSessionCacheSQLite(t *testing.T)   { testSessionCache(t, sqliteTwice, 0) }
func TestSessionCachePostgres(t *testing.T) { testSessionCache(t, postgresTwice, notifyWindow) }

// TestSessionCachePostgresSynced: a process with no cache of its own (the
// operator CLI) that calls SyncSessions after its change returns only
// once the running cache has forgotten it: seen at once, no window.
func TestSessionCachePostgresSynced(t *testing.T) { testSessionCache(t, postgresTwice, synced) }

// synced, as testSessionCache's window, makes the other handle call
// SyncSessions after each change and wants the change seen at once.
const synced time.Duration = -1

// cacheFixture is one user with one live session, cached by a.
type cacheFixture struct {
	t        *testing.T
	cache    *sessioncache.Cache
	repo     ports.SessionRepository // the cache
	users    ports.UserRepository    // through the other handle
	sessions ports.SessionRepository // through the other handle
	user     *domain.User
	sid      string
	now      time.Time
	// window is how long a change may take to be seen (0: at once).
	window time.Duration
}

var cacheNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func testSessionCache(t *testing.T, open cacheStores, window time.Duration) {
	a, other := open(t)
	after := func() {}
	if window == synced {
		window = 0
		after = func() {
			if err := other.(sessioncache.Syncer).SyncSessions(context.Background()); err != nil {
				t.Fatalf("SyncSessions: %v", err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	repo, cache, err := sessioncache.New(ctx, a.Sessions(), a, 100)
	if err != nil {
		t.Fatal(err)
	}
	waitCurrent(t, cache, repo)
	fixture := func(t *testing.T) *cacheFixture {
		email, _ := domain.ParseEmail("c" + randomHex(t) + "@example.com")
		nu, _ := domain.NewUser(email, "hash", cacheNow)
		u, err := other.Users().Create(context.Background(), nu)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := domain.NewSession(randomHex(t), u.ID(), cacheNow, 30*24*time.Hour)
		if err := other.Sessions().Create(context.Background(), s, []byte(randomHex(t))); err != nil {
			t.Fatal(err)
		}
		f := &cacheFixture{t: t, window: window, cache: cache, repo: repo, users: other.Users(), sessions: other.Sessions(), user: u, sid: s.ID(), now: cacheNow.Add(time.Hour)}
		f.wantUser("first lookup", false, func(*domain.User) bool { return true })
		f.wantUser("second lookup", true, func(*domain.User) bool { return true })
		return f
	}
	ok := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each case changes the row through the other handle; the cached
	// answer must not survive.
	gone := map[string]func(f *cacheFixture){
		"Revoke (logout, reuse detection)": func(f *cacheFixture) { ok(t, f.sessions.Revoke(context.Background(), f.sid, f.now)) },
		"RevokeAll": func(f *cacheFixture) {
			_, err := f.sessions.RevokeAll(context.Background(), f.user.ID(), f.now)
			ok(t, err)
		},
		"RevokeForUser": func(f *cacheFixture) {
			ok(t, f.sessions.RevokeForUser(context.Background(), f.user.ID(), f.sid, f.now))
		},
		"RevokeBeyond": func(f *cacheFixture) {
			_, err := f.sessions.RevokeBeyond(context.Background(), f.user.ID(), 0, f.now)
			ok(t, err)
		},
		"Delete user": func(f *cacheFixture) { ok(t, f.users.Delete(context.Background(), f.user.ID())) },
	}
	for name, change := range gone {
		t.Run(name, func(t *testing.T) {
			f := fixture(t)
			change(f)
			after()
			f.wantGone(name)
		})
	}
	changed := map[string]struct {
		change func(f *cacheFixture)
		fresh  func(f *cacheFixture, u *domain.User) bool
	}{
		"SetActive(false)": {
			func(f *cacheFixture) { ok(t, f.users.SetActive(context.Background(), f.user.ID(), false)) },
			func(_ *cacheFixture, u *domain.User) bool { return !u.IsActive() },
		},
		"ChangeEmail": {
			func(f *cacheFixture) {
				e, _ := domain.ParseEmail("new" + f.sid + "@example.com")
				ok(t, f.users.ChangeEmail(context.Background(), f.user.ID(), e, f.now))
			},
			func(f *cacheFixture, u *domain.User) bool { return u.Email().String() == "new"+f.sid+"@example.com" },
		},
		"UpdatePasswordHash": {
			func(f *cacheFixture) {
				ok(t, f.users.UpdatePasswordHash(context.Background(), f.user.ID(), "new hash"))
			},
			func(_ *cacheFixture, u *domain.User) bool { return u.PasswordHash() == "new hash" },
		},
		"SetEmailVerified": {
			func(f *cacheFixture) { ok(t, f.users.SetEmailVerified(context.Background(), f.user.ID(), f.now)) },
			func(_ *cacheFixture, u *domain.User) bool { return !u.EmailVerifiedAt().IsZero() },
		},
	}
	for name, c := range changed {
		t.Run(name, func(t *testing.T) {
			f := fixture(t)
			c.change(f)
			after()
			f.wantFresh(name, func(u *domain.User) bool { return c.fresh(f, u) })
		})
	}
	t.Run("touch and rotation keep the entry", func(t *testing.T) {
		f := fixture(t)
		ok(t, f.sessions.Touch(context.Background(), f.sid, f.now, 0))
		time.Sleep(100 * time.Millisecond) // a notification, were there one, arrives
		f.wantUser("after Touch", true, func(*domain.User) bool { return true })
	})
	t.Run("expiry is honoured without an event", func(t *testing.T) {
		f := fixture(t)
		f.now = cacheNow.Add(30*24*time.Hour - time.Second)
		f.wantUser("a second before expiry", false, func(*domain.User) bool { return true })
		f.now = cacheNow.Add(30 * 24 * time.Hour)
		f.wantGone("at expiry")
	})
}

// wantUser asks the cache and wants a user for which fresh holds, from
// memory (hit) or from the database.
func (f *cacheFixture) wantUser(op string, hit bool, fresh func(*domain.User) bool) {
	f.t.Helper()
	h0, _, _ := f.cache.Counts()
	u, err := f.repo.ActiveUser(context.Background(), f.sid, f.user.ID(), f.now)
	if err != nil {
		f.t.Fatalf("%s: ActiveUser: %v", op, err)
	}
	if !fresh(u) {
		f.t.Fatalf("%s: ActiveUser returned a stale user %+v", op, u)
	}
	if h1, _, _ := f.cache.Counts(); (h1 > h0) != hit {
		f.t.Fatalf("%s: hit = %v, want %v", op, h1 > h0, hit)
	}
}

// wantGone wants ENOTFOUND, at once or within f.window.
func (f *cacheFixture) wantGone(op string) {
	f.t.Helper()
	f.eventually(op, func() (bool, string) {
		u, err := f.repo.ActiveUser(context.Background(), f.sid, f.user.ID(), f.now)
		return domain.ErrorCode(err) == domain.ENOTFOUND, fmt.Sprintf("ActiveUser = %v, %v; want ENOTFOUND", u, err)
	})
}

// wantFresh wants a user for which fresh holds, at once or within
// f.window.
func (f *cacheFixture) wantFresh(op string, fresh func(*domain.User) bool) {
	f.t.Helper()
	f.eventually(op, func() (bool, string) {
		u, err := f.repo.ActiveUser(context.Background(), f.sid, f.user.ID(), f.now)
		return err == nil && fresh(u), fmt.Sprintf("ActiveUser = %+v, %v: stale", u, err)
	})
}

func (f *cacheFixture) eventually(op string, check func() (bool, string)) {
	f.t.Helper()
	start := time.Now()
	for tries := 0; ; tries++ {
		ok, msg := check()
		if ok {
			if tries > 0 {
				f.t.Logf("%s: seen after %v", op, time.Since(start))
			}
			return
		}
		if time.Since(start) >= f.window {
			f.t.Fatalf("%s: %s", op, msg)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitCurrent waits until the feed is trusted (the PostgreSQL listener
// has connected).
func waitCurrent(t *testing.T, c *sessioncache.Cache, repo ports.SessionRepository) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, _ = repo.ActiveUser(context.Background(), "none", 1, cacheNow)
		if _, _, bypasses := c.Counts(); bypasses == 0 {
			return
		}
		_, _, b0 := c.Counts()
		_, _ = repo.ActiveUser(context.Background(), "none", 1, cacheNow)
		if _, _, b1 := c.Counts(); b1 == b0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the session cache's feed never became current")
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestSessionCacheListenerDown: while the PostgreSQL listener connection
// is gone, the cache is bypassed, so a revocation it cannot hear about is
// still seen; once it is back, the cache is trusted (and hit) again.
func TestSessionCacheListenerDown(t *testing.T) {
	a, other := postgresTwice(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	repo, cache, err := sessioncache.New(ctx, a.Sessions(), a, 100)
	if err != nil {
		t.Fatal(err)
	}
	waitCurrent(t, cache, repo)
	email, _ := domain.ParseEmail("down@example.com")
	nu, _ := domain.NewUser(email, "hash", cacheNow)
	u, err := other.Users().Create(ctx, nu)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := domain.NewSession(randomHex(t), u.ID(), cacheNow, 30*24*time.Hour)
	if err := other.Sessions().Create(ctx, s, []byte(randomHex(t))); err != nil {
		t.Fatal(err)
	}
	f := &cacheFixture{t: t, cache: cache, repo: repo, user: u, sid: s.ID(), now: cacheNow.Add(time.Hour)}
	f.wantUser("first", false, func(*domain.User) bool { return true })
	f.wantUser("cached", true, func(*domain.User) bool { return true })

	// Kill the listener, and keep killing it while the revocation runs,
	// so the notification is never heard.
	pg := other.(*postgres.DB)
	stop := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			_ = pg.TerminateBackends(ctx, postgres.ListenerApplicationName)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for _, _, b := cache.Counts(); ; _, _, b = cache.Counts() {
		_, _ = repo.ActiveUser(ctx, f.sid, u.ID(), f.now)
		if _, _, b2 := cache.Counts(); b2 > b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache was never bypassed with its listener terminated")
		}
	}
	if err := other.Sessions().Revoke(ctx, f.sid, f.now); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.ActiveUser(ctx, f.sid, u.ID(), f.now); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Fatalf("listener down, after Revoke: ActiveUser = %v, %v; want ENOTFOUND", got, err)
	}
	close(stop)
	<-killed
	waitCurrent(t, cache, repo)
	f.wantGone("listener back")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

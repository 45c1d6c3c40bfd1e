package porttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The SessionRepository cases for listing and ending one's own sessions,
// the session cap, last-use tracking, spent-token pruning, and deleting a
// user with its sessions.

// sessionAdminCases are added to TestSessionRepository.
var sessionAdminCases = []struct {
	name string
	run  func(t *testing.T, f sessionFixture)
}{
	{"CreateKeepsClientMetadata", testSessionMetadata},
	{"ListLive", testSessionListLive},
	{"RevokeForUser", testSessionRevokeForUser},
	{"RevokeForUserNotFound", testSessionRevokeForUserNotFound},
	{"Touch", testSessionTouch},
	{"TouchRace", testSessionTouchRace},
	{"Stats", testSessionStats},
	{"RevokeBeyond", testSessionRevokeBeyond},
	{"RevokeBeyondRace", testSessionRevokeBeyondRace},
	{"RevokeMixedRace", testSessionRevokeMixedRace},
	{"RotatePrunesSpentTokens", testSessionRotatePrunes},
	{"DeleteUserCascades", testSessionDeleteUserCascades},
	{"AdminDoneContext", testSessionAdminDoneContext},
}

func (f sessionFixture) listLive(t *testing.T, userID int64, now time.Time) []*domain.Session {
	t.Helper()
	got, err := f.repo.ListLive(context.Background(), userID, now)
	if err != nil {
		t.Fatalf("ListLive(%d): %v", userID, err)
	}
	return got
}

// wantSessions checks got against want, in order.
func wantSessions(t *testing.T, op string, got []*domain.Session, want ...*domain.Session) {
	t.Helper()
	if len(got) != len(want) {
		var gotIDs, wantIDs []string
		for _, s := range got {
			gotIDs = append(gotIDs, s.ID())
		}
		for _, s := range want {
			wantIDs = append(wantIDs, s.ID())
		}
		t.Fatalf("%s: sessions %v, want %v", op, gotIDs, wantIDs)
	}
	for i := range got {
		assertSession(t, fmt.Sprintf("%s[%d]", op, i), got[i], want[i])
	}
}

func testSessionMetadata(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, err := domain.NewSession(newSessionID(t), u.ID(), sessionStart, sessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	// The longest user agent the domain keeps, ending in a multi-byte
	// character, and an IPv6 address with a zone.
	ua := fmt.Sprintf("%0*d€", domain.MaxUserAgentBytes-3, 0)
	s = s.WithClient(ua+"trailing bytes cut by the domain", "fe80::1%eth0")
	if len(s.UserAgent()) != domain.MaxUserAgentBytes {
		t.Fatalf("user agent of %d bytes, want %d", len(s.UserAgent()), domain.MaxUserAgentBytes)
	}
	hash := newTokenHash(t)
	if err := f.repo.Create(context.Background(), s, hash); err != nil {
		t.Fatal(err)
	}
	assertTokenState(t, "Token", f.token(t, "Token", hash), s, time.Time{})
	wantSessions(t, "ListLive", f.listLive(t, u.ID(), sessionStart), s)

	// Rotate reports the session with its metadata too.
	st, rotated, err := f.repo.Rotate(context.Background(), hash, newTokenHash(t), sessionStart.Add(time.Minute))
	if err != nil || !rotated {
		t.Fatalf("Rotate: %v, %v", rotated, err)
	}
	assertTokenState(t, "Rotate", st, s, time.Time{})
}

func testSessionListLive(t *testing.T, f sessionFixture) {
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(2 * time.Hour)
	older, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	newest, _ := f.start(t, u.ID(), sessionStart.Add(time.Hour), sessionTTL)
	middle, _ := f.start(t, u.ID(), sessionStart.Add(time.Minute), sessionTTL)
	revoked, _ := f.start(t, u.ID(), sessionStart.Add(90*time.Minute), sessionTTL)
	f.revoke(t, revoked.ID(), sessionStart.Add(100*time.Minute))
	endsNow, _ := f.start(t, u.ID(), sessionStart.Add(time.Hour+time.Minute), time.Hour-time.Minute)
	f.start(t, other.ID(), sessionStart.Add(time.Hour), sessionTTL)

	wantSessions(t, "ListLive", f.listLive(t, u.ID(), now), newest, middle, older)
	// A microsecond earlier the session that ends at now is still live; a
	// revoked session is not live at any time.
	wantSessions(t, "ListLive a microsecond earlier", f.listLive(t, u.ID(), now.Add(-time.Microsecond)), endsNow, newest, middle, older)
	// After the last expiry nothing is live.
	wantSessions(t, "ListLive after expiry", f.listLive(t, u.ID(), newest.ExpiresAt()))
	wantSessions(t, "ListLive of a missing user", f.listLive(t, 1<<63-1, now))
}

func testSessionRevokeForUser(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	keep, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(time.Hour)

	if err := f.repo.RevokeForUser(ctx, u.ID(), s.ID(), now); err != nil {
		t.Fatalf("RevokeForUser: %v", err)
	}
	assertTokenState(t, "Token after RevokeForUser", f.token(t, "after RevokeForUser", hash), revokedCopy(s, now), time.Time{})
	wantSessions(t, "ListLive after RevokeForUser", f.listLive(t, u.ID(), now), keep)

	// Revoking it again finds no live session and keeps the first time.
	assertCode(t, "second RevokeForUser", f.repo.RevokeForUser(ctx, u.ID(), s.ID(), now.Add(time.Minute)), domain.ENOTFOUND)
	assertTokenState(t, "Token after a second RevokeForUser", f.token(t, "after a second RevokeForUser", hash), revokedCopy(s, now), time.Time{})
}

// testSessionRevokeForUserNotFound: another user's session answers as a
// missing one does, and stays live.
func testSessionRevokeForUserNotFound(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	theirs, theirHash := f.start(t, other.ID(), sessionStart, sessionTTL)
	expired, expiredHash := f.start(t, u.ID(), sessionStart, time.Hour)
	now := sessionStart.Add(2 * time.Hour)

	for _, c := range []struct {
		name      string
		userID    int64
		sessionID string
	}{
		{"another user's session", u.ID(), theirs.ID()},
		{"a missing user", 1<<63 - 1, theirs.ID()},
		{"a missing session", u.ID(), newSessionID(t)},
		{"an expired session", u.ID(), expired.ID()},
	} {
		err := f.repo.RevokeForUser(ctx, c.userID, c.sessionID, now)
		assertCode(t, "RevokeForUser of "+c.name, err, domain.ENOTFOUND)
		if err != nil && domain.ErrorMessage(err) != domain.ErrorMessage(domain.ErrSessionNotFound) {
			t.Errorf("RevokeForUser of %s: message %q, want %q", c.name, domain.ErrorMessage(err), domain.ErrorMessage(domain.ErrSessionNotFound))
		}
	}
	assertTokenState(t, "other user's session", f.token(t, "other user's", theirHash), theirs, time.Time{})
	if _, err := f.repo.ActiveUser(ctx, theirs.ID(), other.ID(), now); err != nil {
		t.Errorf("ActiveUser of the other user's session: %v, want it still live", err)
	}
	assertTokenState(t, "expired session", f.token(t, "expired", expiredHash), expired, time.Time{})
}

// usedAt is s as stored with its last use at at.
func usedAt(s *domain.Session, at time.Time) *domain.Session {
	return domain.RehydrateSessionRecord(domain.SessionRecord{
		ID: s.ID(), UserID: s.UserID(), CreatedAt: s.CreatedAt(), ExpiresAt: s.ExpiresAt(), RevokedAt: s.RevokedAt(),
		LastUsedAt: at, UserAgent: s.UserAgent(), ClientAddr: s.ClientAddr(),
	})
}

func testSessionTouch(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	other, otherHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	const interval = time.Minute
	touch := func(now time.Time, want time.Time) {
		t.Helper()
		if err := f.repo.Touch(ctx, s.ID(), now, interval); err != nil {
			t.Fatalf("Touch at %s: %v", now.Format(time.RFC3339Nano), err)
		}
		assertTokenState(t, "after Touch at "+now.Sub(sessionStart).String(), f.token(t, "after Touch", hash), usedAt(s, want), time.Time{})
	}
	touch(sessionStart.Add(30*time.Second), sessionStart)       // within the interval of the login
	touch(sessionStart.Add(interval), sessionStart)             // exactly the interval: not older
	first := sessionStart.Add(interval + 1234*time.Microsecond) // just past it
	touch(first, first)                                         // written
	touch(first.Add(time.Second), first)                        // a second touch within the interval: no write
	touch(first.Add(-time.Hour), first)                         // a clock behind never moves it back
	touch(first.Add(interval+time.Microsecond), first.Add(interval+time.Microsecond))

	assertTokenState(t, "the user's other session", f.token(t, "other", otherHash), other, time.Time{})
	if err := f.repo.Touch(ctx, newSessionID(t), sessionStart, interval); err != nil {
		t.Errorf("Touch of a missing session: %v, want nil", err)
	}
}

// testSessionTouchRace: many touches at once, all later than the interval,
// leave one of their times.
func testSessionTouchRace(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	base := sessionStart.Add(time.Hour)
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		errs[i] = f.repo.Touch(context.Background(), s.ID(), base.Add(time.Duration(i)*time.Second), time.Minute)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: Touch: %v", i, err)
		}
	}
	got := f.token(t, "after the race", hash).Session.LastUsedAt()
	if got.Before(base) || got.After(base.Add(concurrency*time.Second)) || got.Sub(base)%time.Second != 0 {
		t.Errorf("LastUsedAt after the race = %s, want one of the touches' times", got.Format(time.RFC3339Nano))
	}
}

func testSessionStats(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(3 * time.Hour)
	f.start(t, u.ID(), sessionStart, sessionTTL)
	f.start(t, u.ID(), sessionStart.Add(time.Hour), sessionTTL)
	f.start(t, u.ID(), sessionStart.Add(time.Minute), time.Hour) // expired at now
	// The newest login was revoked since: it is still the last login.
	newest, _ := f.start(t, u.ID(), sessionStart.Add(2*time.Hour+345*time.Microsecond), sessionTTL)
	f.revoke(t, newest.ID(), now.Add(-time.Minute))
	f.start(t, other.ID(), now, sessionTTL)

	live, last, err := f.repo.Stats(ctx, u.ID(), now)
	if err != nil || live != 2 {
		t.Fatalf("Stats: live %d, %v; want 2, nil", live, err)
	}
	assertTime(t, "Stats", "lastLogin", last, newest.CreatedAt())

	live, last, err = f.repo.Stats(ctx, 1<<63-1, now)
	if err != nil || live != 0 || !last.IsZero() {
		t.Errorf("Stats of a missing user: %d, %s, %v; want 0, zero, nil", live, last, err)
	}
	fresh := f.user(t)
	live, last, err = f.repo.Stats(ctx, fresh.ID(), now)
	if err != nil || live != 0 || !last.IsZero() {
		t.Errorf("Stats of a user who never logged in: %d, %s, %v; want 0, zero, nil", live, last, err)
	}
}

func testSessionRevokeBeyond(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(time.Hour)
	var live []*domain.Session // oldest first
	for i := range 5 {
		s, _ := f.start(t, u.ID(), sessionStart.Add(time.Duration(i)*time.Minute), sessionTTL)
		live = append(live, s)
	}
	earlier := sessionStart.Add(10 * time.Minute)
	revoked, revokedHash := f.start(t, u.ID(), sessionStart.Add(30*time.Second), sessionTTL)
	f.revoke(t, revoked.ID(), earlier)
	expired, expiredHash := f.start(t, u.ID(), sessionStart.Add(-time.Minute), time.Hour) // ends before now
	theirs, theirHash := f.start(t, other.ID(), sessionStart, sessionTTL)

	n, err := f.repo.RevokeBeyond(ctx, u.ID(), 2, now)
	if err != nil || n != 3 {
		t.Fatalf("RevokeBeyond(keep 2): %d, %v; want 3, nil", n, err)
	}
	wantSessions(t, "ListLive after RevokeBeyond(2)", f.listLive(t, u.ID(), now), live[4], live[3])
	assertTokenState(t, "already revoked session", f.token(t, "revoked", revokedHash), revokedCopy(revoked, earlier), time.Time{})
	assertTokenState(t, "expired session", f.token(t, "expired", expiredHash), expired, time.Time{})
	assertTokenState(t, "other user's session", f.token(t, "other", theirHash), theirs, time.Time{})

	if n, err := f.repo.RevokeBeyond(ctx, u.ID(), 2, now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("RevokeBeyond(keep 2) again: %d, %v; want 0, nil", n, err)
	}
	if n, err := f.repo.RevokeBeyond(ctx, u.ID(), 5, now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("RevokeBeyond(keep 5) with 2 live: %d, %v; want 0, nil", n, err)
	}
	// keep 0 ends them all, as a cap of 1 before a new login would.
	end := now.Add(2 * time.Minute)
	if n, err := f.repo.RevokeBeyond(ctx, u.ID(), 0, end); err != nil || n != 2 {
		t.Errorf("RevokeBeyond(keep 0): %d, %v; want 2, nil", n, err)
	}
	wantSessions(t, "ListLive after RevokeBeyond(0)", f.listLive(t, u.ID(), end))
	if n, err := f.repo.RevokeBeyond(ctx, 1<<63-1, 0, end); err != nil || n != 0 {
		t.Errorf("RevokeBeyond of a missing user: %d, %v; want 0, nil", n, err)
	}
}

// testSessionRevokeBeyondRace: many logins enforcing one cap at once end
// each surplus session exactly once and keep the newest. A hundred
// sessions make each statement long enough that they overlap: with ten, a
// PostgreSQL UPDATE that did not re-check revoked_at passed.
func testSessionRevokeBeyondRace(t *testing.T, f sessionFixture) {
	u := f.user(t)
	const total, keep = 100, 3
	var live []*domain.Session // oldest first
	for i := range total {
		s, _ := f.start(t, u.ID(), sessionStart.Add(time.Duration(i)*time.Second), sessionTTL)
		live = append(live, s)
	}
	now := sessionStart.Add(time.Hour)
	counts := make([]int, concurrency)
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		counts[i], errs[i] = f.repo.RevokeBeyond(context.Background(), u.ID(), keep, now)
	})
	sum := 0
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("goroutine %d: RevokeBeyond: %v", i, errs[i])
		}
		sum += counts[i]
	}
	if sum != total-keep {
		t.Errorf("concurrent RevokeBeyond calls ended %d sessions in all, want %d", sum, total-keep)
	}
	wantSessions(t, "ListLive after the race", f.listLive(t, u.ID(), now), live[total-1], live[total-2], live[total-3])
}

// testSessionRevokeMixedRace: the three statements that end several of a
// user's sessions at once (a cap enforced at login, a password change, a
// logout everywhere) run together against one user. None fails (on
// PostgreSQL two of them once locked the same rows in different orders:
// "deadlock detected"), and each session is ended once: the counts and
// the sessions left live add up to the sessions there were.
func testSessionRevokeMixedRace(t *testing.T, f sessionFixture) {
	u := f.user(t)
	const total, keep = 100, 3
	first, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	for i := 1; i < total; i++ {
		f.start(t, u.ID(), sessionStart.Add(time.Duration(i)*time.Second), sessionTTL)
	}
	now := sessionStart.Add(time.Hour)
	counts := make([]int, concurrency)
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		ctx := context.Background()
		switch i % 3 {
		case 0:
			counts[i], errs[i] = f.repo.RevokeBeyond(ctx, u.ID(), keep, now)
		case 1:
			counts[i], errs[i] = f.repo.RevokeOthers(ctx, u.ID(), first.ID(), now)
		default:
			counts[i], errs[i] = f.repo.RevokeAll(ctx, u.ID(), now)
		}
	})
	sum := 0
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("goroutine %d (kind %d): %v", i, i%3, errs[i])
		}
		sum += counts[i]
	}
	left := f.listLive(t, u.ID(), now)
	if sum+len(left) != total {
		t.Errorf("ended %d sessions in all and %d are live, want %d together", sum, len(left), total)
	}
}

// testSessionRotatePrunes rotates a session SpentTokensKept+5 times: the
// five oldest spent tokens are gone (unknown, so no reuse detection), the
// rest still report when they were spent.
func testSessionRotatePrunes(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	s, first := f.start(t, u.ID(), sessionStart, sessionTTL)
	// Another session of the user, with a spent token, is not pruned.
	_, otherFirst := f.start(t, u.ID(), sessionStart, sessionTTL)
	if _, ok, err := f.repo.Rotate(ctx, otherFirst, newTokenHash(t), sessionStart.Add(time.Second)); err != nil || !ok {
		t.Fatalf("Rotate of the other session: %v, %v", ok, err)
	}

	const rotations = ports.SpentTokensKept + 5
	tokens := [][]byte{first}
	spentAt := make([]time.Time, rotations)
	for i := range rotations {
		spentAt[i] = sessionStart.Add(time.Duration(i+1) * time.Minute)
		next := newTokenHash(t)
		if _, ok, err := f.repo.Rotate(ctx, tokens[i], next, spentAt[i]); err != nil || !ok {
			t.Fatalf("Rotate %d: %v, %v", i, ok, err)
		}
		tokens = append(tokens, next)
	}
	for i := range rotations - ports.SpentTokensKept {
		f.wantNoToken(t, fmt.Sprintf("spent token %d of %d", i, rotations), tokens[i])
	}
	for i := rotations - ports.SpentTokensKept; i < rotations; i++ {
		assertTokenState(t, fmt.Sprintf("spent token %d of %d", i, rotations), f.token(t, "kept", tokens[i]), s, spentAt[i])
	}
	assertTokenState(t, "current token", f.token(t, "current", tokens[rotations]), s, time.Time{})
	assertTokenState(t, "the other session's spent token", f.token(t, "other", otherFirst), s0(f, t, otherFirst), sessionStart.Add(time.Second))

	// A kept spent token is still a detectable reuse: it rotates nothing
	// and reports when it was spent.
	oldestKept := rotations - ports.SpentTokensKept
	st, rotated, err := f.repo.Rotate(ctx, tokens[oldestKept], newTokenHash(t), spentAt[rotations-1].Add(time.Minute))
	if err != nil || rotated {
		t.Fatalf("Rotate of the oldest kept spent token: %v, %v; want false, nil", rotated, err)
	}
	assertTokenState(t, "reuse of the oldest kept token", st, s, spentAt[oldestKept])
	// A pruned one is unknown.
	_, rotated, err = f.repo.Rotate(ctx, tokens[0], newTokenHash(t), spentAt[rotations-1].Add(time.Minute))
	assertCode(t, "Rotate of a pruned token", err, domain.ENOTFOUND)
	if rotated {
		t.Error("Rotate of a pruned token rotated")
	}
}

// s0 reads the session of hash as stored.
func s0(f sessionFixture, t *testing.T, hash []byte) *domain.Session {
	t.Helper()
	return f.token(t, "session", hash).Session
}

func testSessionDeleteUserCascades(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	_, first := f.start(t, u.ID(), sessionStart, sessionTTL)
	second := newTokenHash(t)
	if _, ok, err := f.repo.Rotate(ctx, first, second, sessionStart.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("Rotate: %v, %v", ok, err)
	}
	s2, third := f.start(t, u.ID(), sessionStart.Add(time.Hour), sessionTTL)
	keepUser := f.user(t)
	kept, keptHash := f.start(t, keepUser.ID(), sessionStart, sessionTTL)

	if err := f.users.Delete(ctx, u.ID()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for name, h := range map[string][]byte{"spent token": first, "current token": second, "second session's token": third} {
		f.wantNoToken(t, name+" after Delete", h)
	}
	now := sessionStart.Add(2 * time.Hour)
	wantSessions(t, "ListLive after Delete", f.listLive(t, u.ID(), now))
	if live, last, err := f.repo.Stats(ctx, u.ID(), now); err != nil || live != 0 || !last.IsZero() {
		t.Errorf("Stats after Delete: %d, %s, %v; want 0, zero, nil", live, last, err)
	}
	_, err := f.repo.ActiveUser(ctx, s2.ID(), u.ID(), now)
	assertCode(t, "ActiveUser after Delete", err, domain.ENOTFOUND)
	assertCode(t, "RevokeForUser after Delete", f.repo.RevokeForUser(ctx, u.ID(), s2.ID(), now), domain.ENOTFOUND)
	assertTokenState(t, "another user's session", f.token(t, "another user's", keptHash), kept, time.Time{})

	// The email registers again, and the new account logs in.
	again := mustCreate(t, f.users, newUser(t, u.Email(), testHash, createdAt))
	s, _ := f.start(t, again.ID(), now, sessionTTL)
	wantSessions(t, "ListLive of the new account", f.listLive(t, again.ID(), now), s)
}

func testSessionAdminDoneContext(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(time.Hour)
	for kind, newCtx := range doneContexts(t) {
		got, err := f.repo.ListLive(newCtx(), u.ID(), now)
		assertCode(t, kind+": ListLive", err, domain.EUNAVAILABLE)
		if got != nil {
			t.Errorf("%s: ListLive returned sessions with its error", kind)
		}
		assertCode(t, kind+": RevokeForUser", f.repo.RevokeForUser(newCtx(), u.ID(), s.ID(), now), domain.EUNAVAILABLE)
		assertCode(t, kind+": Touch", f.repo.Touch(newCtx(), s.ID(), now, time.Second), domain.EUNAVAILABLE)
		live, last, err := f.repo.Stats(newCtx(), u.ID(), now)
		assertCode(t, kind+": Stats", err, domain.EUNAVAILABLE)
		if live != 0 || !last.IsZero() {
			t.Errorf("%s: Stats returned %d, %s with its error", kind, live, last)
		}
		n, err := f.repo.RevokeBeyond(newCtx(), u.ID(), 0, now)
		assertCode(t, kind+": RevokeBeyond", err, domain.EUNAVAILABLE)
		if n != 0 {
			t.Errorf("%s: RevokeBeyond returned %d with its error", kind, n)
		}
	}
	assertTokenState(t, "after refused calls", f.token(t, "after refused calls", hash), s, time.Time{})
}

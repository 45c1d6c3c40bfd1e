package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// TestSessionRepository runs the ports.SessionRepository contract as
// parallel subtests of t.
//
// users must store its users where the session repositories look for them
// (the same database): the cases create their users through it, with unique
// random emails. newRepo is called once per subtest, with that subtest's t,
// and may be called from several goroutines at once; it may return a fresh
// repository each time or the same one. Every case uses new random session
// ids and token hashes and never assumes the store is empty.
//
// DeleteEnded is the one method that reaches beyond a case's own rows, so
// its case works in a window of times that nothing else here uses: every
// other case's sessions end in 2026 or later, while the DeleteEnded case's
// cutoff lies decades earlier and moves further back with each run, so
// sessions that an earlier run left behind (all ending at or after that
// run's cutoff) are not counted either. Two runs of this suite on one
// database at the same moment could still see each other's DeleteEnded.
func TestSessionRepository(t *testing.T, users ports.UserRepository, newRepo func(t *testing.T) ports.SessionRepository) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, f sessionFixture)
	}{
		{"CreateThenToken", testSessionCreateThenToken},
		{"CreateNonUTCTimes", testSessionCreateNonUTC},
		{"CreateUnknownUser", testSessionCreateUnknownUser},
		{"TokenUnknown", testSessionTokenUnknown},
		{"Rotate", testSessionRotate},
		{"RotateSpentToken", testSessionRotateSpent},
		{"RotateUnknownToken", testSessionRotateUnknown},
		{"RotateRevokedSession", testSessionRotateRevoked},
		{"RotateExpiredSession", testSessionRotateExpired},
		{"RotateRace", testSessionRotateRace},
		{"Revoke", testSessionRevoke},
		{"RevokeUnknown", testSessionRevokeUnknown},
		{"RevokeAll", testSessionRevokeAll},
		{"RevokeOthers", testSessionRevokeOthers},
		{"RevokeOthersUnknownKeep", testSessionRevokeOthersUnknownKeep},
		{"RevokeOthersRace", testSessionRevokeOthersRace},
		{"RevokeOthersDoneContext", testSessionRevokeOthersDoneContext},
		{"ActiveUser", testSessionActiveUser},
		{"ActiveUserInactive", testSessionActiveUserInactive},
		{"ActiveUserNotFound", testSessionActiveUserNotFound},
		{"DeleteEnded", testSessionDeleteEnded},
		{"DoneContext", testSessionDoneContext},
	}
	cases = append(cases, sessionAdminCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, sessionFixture{users: users, repo: newRepo(t)})
		})
	}
}

type sessionFixture struct {
	users ports.UserRepository
	repo  ports.SessionRepository
}

// sessionStart has non-zero microseconds, so a store that drops sub-second
// precision fails.
var sessionStart = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

const sessionTTL = 30 * 24 * time.Hour

// user stores a new active user with a unique email.
func (f sessionFixture) user(t *testing.T) *domain.User {
	t.Helper()
	return mustCreate(t, f.users, newUser(t, uniqueEmail(t, "session"), testHash, createdAt))
}

// start stores a new session of userID beginning at now and returns it
// with the hash of its first token.
func (f sessionFixture) start(t *testing.T, userID int64, now time.Time, ttl time.Duration) (*domain.Session, []byte) {
	t.Helper()
	s, err := domain.NewSession(newSessionID(t), userID, now, ttl)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	// Every session carries client metadata, unique to it, so a store
	// that drops or mixes it up fails every case that reads sessions back.
	s = s.WithClient("porttest/1.0 (€ "+s.ID()+")", "2001:db8::"+s.ID()[len(s.ID())-4:])
	hash := newTokenHash(t)
	if err := f.repo.Create(context.Background(), s, hash); err != nil {
		t.Fatalf("Create(session %s of user %d): %v", s.ID(), userID, err)
	}
	return s, hash
}

func (f sessionFixture) token(t *testing.T, op string, hash []byte) ports.RefreshTokenState {
	t.Helper()
	st, err := f.repo.Token(context.Background(), hash)
	if err != nil {
		t.Fatalf("%s: Token: %v", op, err)
	}
	return st
}

func (f sessionFixture) wantNoToken(t *testing.T, op string, hash []byte) {
	t.Helper()
	st, err := f.repo.Token(context.Background(), hash)
	assertCode(t, op+": Token", err, domain.ENOTFOUND)
	if st.Session != nil {
		t.Errorf("%s: Token returned a session with its error", op)
	}
}

func (f sessionFixture) revoke(t *testing.T, id string, now time.Time) {
	t.Helper()
	if err := f.repo.Revoke(context.Background(), id, now); err != nil {
		t.Fatalf("Revoke(%s): %v", id, err)
	}
}

func testSessionCreateThenToken(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	st := f.token(t, "after Create", hash)
	assertTokenState(t, "Token after Create", st, s, time.Time{})
	if st.Session.UserID() != u.ID() {
		t.Errorf("Token after Create: UserID = %d, want %d", st.Session.UserID(), u.ID())
	}
}

func testSessionCreateNonUTC(t *testing.T, f sessionFixture) {
	india := time.FixedZone("UTC+05:30", 5*3600+30*60)
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart.In(india), sessionTTL)
	st := f.token(t, "after Create", hash)
	// NewSession keeps the instant in UTC; the store must give the same back.
	assertTokenState(t, "Token after Create", st, s, time.Time{})
	assertTime(t, "Token after Create", "CreatedAt", st.Session.CreatedAt(), sessionStart)

	rotateAt := sessionStart.Add(time.Hour).In(india)
	if _, rotated, err := f.repo.Rotate(context.Background(), hash, newTokenHash(t), rotateAt); err != nil || !rotated {
		t.Fatalf("Rotate at a non-UTC now: rotated %v, %v; want true, nil", rotated, err)
	}
	assertTime(t, "Token after Rotate", "SpentAt", f.token(t, "after Rotate", hash).SpentAt, rotateAt)
}

func testSessionCreateUnknownUser(t *testing.T, f sessionFixture) {
	s, err := domain.NewSession(newSessionID(t), 1<<63-1, sessionStart, sessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	hash := newTokenHash(t)
	err = f.repo.Create(context.Background(), s, hash)
	assertCode(t, "Create for a missing user", err, domain.ENOTFOUND)
	f.wantNoToken(t, "after a refused Create", hash)
}

func testSessionTokenUnknown(t *testing.T, f sessionFixture) {
	f.wantNoToken(t, "unknown hash", newTokenHash(t))
	f.wantNoToken(t, "empty hash", []byte{})
}

func testSessionRotate(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	s, first := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(15*time.Minute + 654321*time.Microsecond)

	second := newTokenHash(t)
	before, rotated, err := f.repo.Rotate(ctx, first, second, now)
	if err != nil || !rotated {
		t.Fatalf("Rotate: rotated %v, %v; want true, nil", rotated, err)
	}
	assertTokenState(t, "Rotate result", before, s, time.Time{})

	assertTokenState(t, "presented token after Rotate", f.token(t, "presented", first), s, now)
	assertTokenState(t, "successor after Rotate", f.token(t, "successor", second), s, time.Time{})

	// The successor rotates in turn.
	later := now.Add(time.Hour)
	third := newTokenHash(t)
	before, rotated, err = f.repo.Rotate(ctx, second, third, later)
	if err != nil || !rotated {
		t.Fatalf("Rotate of the successor: rotated %v, %v; want true, nil", rotated, err)
	}
	assertTokenState(t, "Rotate of the successor", before, s, time.Time{})
	assertTokenState(t, "second token after its Rotate", f.token(t, "second", second), s, later)
	assertTokenState(t, "third token", f.token(t, "third", third), s, time.Time{})
	// Rotating the successor left the first token's spend time alone.
	assertTokenState(t, "first token at the end", f.token(t, "first", first), s, now)
}

func testSessionRotateSpent(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u := f.user(t)
	s, first := f.start(t, u.ID(), sessionStart, sessionTTL)
	spentAt := sessionStart.Add(time.Minute)
	second := newTokenHash(t)
	if _, rotated, err := f.repo.Rotate(ctx, first, second, spentAt); err != nil || !rotated {
		t.Fatalf("first Rotate: rotated %v, %v; want true, nil", rotated, err)
	}

	// Presenting the spent token again (reuse) rotates nothing.
	third := newTokenHash(t)
	st, rotated, err := f.repo.Rotate(ctx, first, third, spentAt.Add(time.Hour))
	if err != nil || rotated {
		t.Fatalf("Rotate of a spent token: rotated %v, %v; want false, nil", rotated, err)
	}
	assertTokenState(t, "Rotate of a spent token", st, s, spentAt)
	f.wantNoToken(t, "successor offered with a spent token", third)
	assertTokenState(t, "current token after a reuse", f.token(t, "current", second), s, time.Time{})
	assertTokenState(t, "spent token after a reuse", f.token(t, "spent", first), s, spentAt)
}

func testSessionRotateUnknown(t *testing.T, f sessionFixture) {
	successor := newTokenHash(t)
	st, rotated, err := f.repo.Rotate(context.Background(), newTokenHash(t), successor, sessionStart)
	assertCode(t, "Rotate of an unknown token", err, domain.ENOTFOUND)
	if rotated || st.Session != nil {
		t.Errorf("Rotate of an unknown token: rotated %v, session %v; want false, nil", rotated, st.Session)
	}
	f.wantNoToken(t, "successor offered with an unknown token", successor)
}

func testSessionRotateRevoked(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, first := f.start(t, u.ID(), sessionStart, sessionTTL)
	revokedAt := sessionStart.Add(time.Minute)
	f.revoke(t, s.ID(), revokedAt)
	want := revokedCopy(s, revokedAt)

	successor := newTokenHash(t)
	st, rotated, err := f.repo.Rotate(context.Background(), first, successor, revokedAt.Add(time.Minute))
	if err != nil || rotated {
		t.Fatalf("Rotate in a revoked session: rotated %v, %v; want false, nil", rotated, err)
	}
	assertTokenState(t, "Rotate in a revoked session", st, want, time.Time{})
	f.wantNoToken(t, "successor in a revoked session", successor)
	assertTokenState(t, "token after a refused Rotate", f.token(t, "presented", first), want, time.Time{})
}

func testSessionRotateExpired(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, first := f.start(t, u.ID(), sessionStart, time.Hour)
	// A session is no longer live at its expiry instant.
	for name, now := range map[string]time.Time{
		"at expiry":    s.ExpiresAt(),
		"after expiry": s.ExpiresAt().Add(time.Microsecond),
		"a year later": s.ExpiresAt().AddDate(1, 0, 0),
	} {
		successor := newTokenHash(t)
		st, rotated, err := f.repo.Rotate(context.Background(), first, successor, now)
		if err != nil || rotated {
			t.Fatalf("Rotate %s: rotated %v, %v; want false, nil", name, rotated, err)
		}
		assertTokenState(t, "Rotate "+name, st, s, time.Time{})
		f.wantNoToken(t, "successor "+name, successor)
	}
	// A microsecond before expiry the session is still live.
	if _, rotated, err := f.repo.Rotate(context.Background(), first, newTokenHash(t), s.ExpiresAt().Add(-time.Microsecond)); err != nil || !rotated {
		t.Errorf("Rotate just before expiry: rotated %v, %v; want true, nil", rotated, err)
	}
}

func testSessionRotateRace(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, presented := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(time.Minute)

	type result struct {
		st      ports.RefreshTokenState
		rotated bool
		err     error
	}
	successors := make([][]byte, concurrency)
	for i := range successors {
		successors[i] = newTokenHash(t)
	}
	results := make([]result, concurrency)
	atOnce(func(i int) {
		r := &results[i]
		r.st, r.rotated, r.err = f.repo.Rotate(context.Background(), presented, successors[i], now)
	})

	winner := -1
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("goroutine %d: Rotate: %v, want no error", i, r.err)
		case r.rotated:
			if winner >= 0 {
				t.Errorf("goroutines %d and %d both rotated one token", winner, i)
			}
			winner = i
			assertTokenState(t, fmt.Sprintf("goroutine %d (rotated)", i), r.st, s, time.Time{})
		default:
			assertTokenState(t, fmt.Sprintf("goroutine %d (not rotated)", i), r.st, s, now)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Rotate calls rotated the token", concurrency)
	}
	for i, h := range successors {
		if i == winner {
			assertTokenState(t, "winning successor", f.token(t, "winning successor", h), s, time.Time{})
			continue
		}
		f.wantNoToken(t, fmt.Sprintf("successor of losing goroutine %d", i), h)
	}
	assertTokenState(t, "presented token after the race", f.token(t, "presented", presented), s, now)
}

func testSessionRevoke(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	revokedAt := sessionStart.Add(2*time.Minute + 345678*time.Microsecond)
	f.revoke(t, s.ID(), revokedAt)
	want := revokedCopy(s, revokedAt)
	assertTokenState(t, "Token after Revoke", f.token(t, "after Revoke", hash), want, time.Time{})

	// Revoking again is not an error and keeps the first time.
	f.revoke(t, s.ID(), revokedAt.Add(time.Hour))
	assertTokenState(t, "Token after a second Revoke", f.token(t, "after a second Revoke", hash), want, time.Time{})
}

func testSessionRevokeUnknown(t *testing.T, f sessionFixture) {
	if err := f.repo.Revoke(context.Background(), newSessionID(t), sessionStart); err != nil {
		t.Errorf("Revoke of an unknown session: %v, want nil", err)
	}
}

func testSessionRevokeAll(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(2 * time.Hour)
	earlier := sessionStart.Add(time.Hour)

	live1, live1Hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	live2, live2Hash := f.start(t, u.ID(), sessionStart.Add(time.Minute), sessionTTL)
	revoked, revokedHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	f.revoke(t, revoked.ID(), earlier)
	expired, expiredHash := f.start(t, u.ID(), sessionStart, time.Hour) // ends before now
	otherLive, otherHash := f.start(t, other.ID(), sessionStart, sessionTTL)

	n, err := f.repo.RevokeAll(ctx, u.ID(), now)
	if err != nil || n != 2 {
		t.Fatalf("RevokeAll: %d, %v; want 2 (the live sessions), nil", n, err)
	}
	revokedAs := func(s *domain.Session, at time.Time) *domain.Session {
		return revokedCopy(s, at)
	}
	for _, c := range []struct {
		name string
		hash []byte
		want *domain.Session
	}{
		{"live session", live1Hash, revokedAs(live1, now)},
		{"second live session", live2Hash, revokedAs(live2, now)},
		{"already revoked session", revokedHash, revokedAs(revoked, earlier)},
		{"expired session", expiredHash, expired},
		{"other user's session", otherHash, otherLive},
	} {
		assertTokenState(t, c.name+" after RevokeAll", f.token(t, c.name, c.hash), c.want, time.Time{})
	}

	if n, err := f.repo.RevokeAll(ctx, u.ID(), now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("second RevokeAll: %d, %v; want 0, nil", n, err)
	}
	if n, err := f.repo.RevokeAll(ctx, 1<<63-1, now); err != nil || n != 0 {
		t.Errorf("RevokeAll of a missing user: %d, %v; want 0, nil", n, err)
	}
}

func testSessionActiveUser(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, _ := f.start(t, u.ID(), sessionStart, time.Hour)
	for name, now := range map[string]time.Time{
		"at the start":            s.CreatedAt(),
		"a microsecond to expiry": s.ExpiresAt().Add(-time.Microsecond),
	} {
		got, err := f.repo.ActiveUser(context.Background(), s.ID(), u.ID(), now)
		if err != nil {
			t.Fatalf("ActiveUser %s: %v", name, err)
		}
		assertUser(t, "ActiveUser "+name, got, u.ID(), u)
	}
}

// ActiveUser returns an inactive user too; the use case decides.
func testSessionActiveUserInactive(t *testing.T, f sessionFixture) {
	inactive := newUser(t, uniqueEmail(t, "session-inactive"), testHash, createdAt)
	inactive.Deactivate()
	u := mustCreate(t, f.users, inactive)
	s, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	got, err := f.repo.ActiveUser(context.Background(), s.ID(), u.ID(), sessionStart)
	if err != nil {
		t.Fatalf("ActiveUser: %v", err)
	}
	assertUser(t, "ActiveUser of an inactive user", got, u.ID(), inactive)
}

func testSessionActiveUserNotFound(t *testing.T, f sessionFixture) {
	u, other := f.user(t), f.user(t)
	live, _ := f.start(t, u.ID(), sessionStart, time.Hour)
	revoked, _ := f.start(t, u.ID(), sessionStart, time.Hour)
	f.revoke(t, revoked.ID(), sessionStart.Add(time.Minute))
	now := sessionStart.Add(30 * time.Minute)

	for _, c := range []struct {
		name      string
		sessionID string
		userID    int64
		now       time.Time
	}{
		{"another user's id", live.ID(), other.ID(), now},
		{"a missing user's id", live.ID(), 1<<63 - 1, now},
		{"unknown session", newSessionID(t), u.ID(), now},
		{"revoked session", revoked.ID(), u.ID(), now},
		{"at expiry", live.ID(), u.ID(), live.ExpiresAt()},
		{"after expiry", live.ID(), u.ID(), live.ExpiresAt().Add(time.Hour)},
	} {
		got, err := f.repo.ActiveUser(context.Background(), c.sessionID, c.userID, c.now)
		assertCode(t, "ActiveUser with "+c.name, err, domain.ENOTFOUND)
		if got != nil {
			t.Errorf("ActiveUser with %s returned a user with its error", c.name)
		}
	}
}

// testSessionDeleteEnded works decades before every other case's sessions
// (see TestSessionRepository), at a cutoff that moves back as real time
// moves on: the mirror image of now about 2000-01-01.
func testSessionDeleteEnded(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	mirror := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	cutoff := mirror.Add(-time.Since(mirror)).Truncate(time.Microsecond)
	const long = 100 * 365 * 24 * time.Hour // ends long after any cutoff

	u := f.user(t)
	_, expiredHash := f.start(t, u.ID(), cutoff.Add(-2*time.Hour), time.Hour)
	revoked, revokedHash := f.start(t, u.ID(), cutoff.Add(-2*time.Hour), long)
	revokedSuccessor := newTokenHash(t)
	if _, rotated, err := f.repo.Rotate(ctx, revokedHash, revokedSuccessor, cutoff.Add(-90*time.Minute)); err != nil || !rotated {
		t.Fatalf("Rotate: rotated %v, %v; want true, nil", rotated, err)
	}
	f.revoke(t, revoked.ID(), cutoff.Add(-time.Minute))

	// Sessions that end at or after the cutoff stay.
	endsAtCutoff, endsAtCutoffHash := f.start(t, u.ID(), cutoff.Add(-time.Hour), time.Hour)
	endsLater, endsLaterHash := f.start(t, u.ID(), cutoff.Add(-time.Hour), 2*time.Hour)
	revokedLater, revokedLaterHash := f.start(t, u.ID(), cutoff.Add(-time.Hour), long)
	f.revoke(t, revokedLater.ID(), cutoff.Add(time.Minute))
	revokedLater = revokedCopy(revokedLater, cutoff.Add(time.Minute))
	live, liveHash := f.start(t, u.ID(), cutoff.Add(-time.Hour), long)

	n, err := f.repo.DeleteEnded(ctx, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("DeleteEnded(%s): %d, %v; want 2 (one expired, one revoked before the cutoff), nil", cutoff.Format(time.RFC3339Nano), n, err)
	}
	f.wantNoToken(t, "token of an expired session after DeleteEnded", expiredHash)
	f.wantNoToken(t, "spent token of a revoked session after DeleteEnded", revokedHash)
	f.wantNoToken(t, "current token of a revoked session after DeleteEnded", revokedSuccessor)
	for _, c := range []struct {
		name string
		hash []byte
		want *domain.Session
	}{
		{"session ending at the cutoff", endsAtCutoffHash, endsAtCutoff},
		{"session ending after the cutoff", endsLaterHash, endsLater},
		{"session revoked after the cutoff", revokedLaterHash, revokedLater},
		{"live session", liveHash, live},
	} {
		assertTokenState(t, c.name+" after DeleteEnded", f.token(t, c.name, c.hash), c.want, time.Time{})
	}

	if n, err := f.repo.DeleteEnded(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second DeleteEnded: %d, %v; want 0, nil", n, err)
	}
}

func testSessionDoneContext(t *testing.T, f sessionFixture) {
	u := f.user(t)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(time.Minute)

	contexts := doneContexts(t)
	for kind, newCtx := range contexts {
		fresh, err := domain.NewSession(newSessionID(t), u.ID(), sessionStart, sessionTTL)
		if err != nil {
			t.Fatal(err)
		}
		freshHash := newTokenHash(t)
		assertCode(t, kind+": Create", f.repo.Create(newCtx(), fresh, freshHash), domain.EUNAVAILABLE)
		f.wantNoToken(t, kind+": after a refused Create", freshHash)

		successor := newTokenHash(t)
		st, rotated, err := f.repo.Rotate(newCtx(), hash, successor, now)
		assertCode(t, kind+": Rotate", err, domain.EUNAVAILABLE)
		if rotated || st.Session != nil {
			t.Errorf("%s: Rotate returned rotated %v, session %v with its error", kind, rotated, st.Session)
		}
		f.wantNoToken(t, kind+": successor after a refused Rotate", successor)

		st, err = f.repo.Token(newCtx(), hash)
		assertCode(t, kind+": Token", err, domain.EUNAVAILABLE)
		if st.Session != nil {
			t.Errorf("%s: Token returned a session with its error", kind)
		}

		assertCode(t, kind+": Revoke", f.repo.Revoke(newCtx(), s.ID(), now), domain.EUNAVAILABLE)
		n, err := f.repo.RevokeAll(newCtx(), u.ID(), now)
		assertCode(t, kind+": RevokeAll", err, domain.EUNAVAILABLE)
		if n != 0 {
			t.Errorf("%s: RevokeAll returned %d with its error", kind, n)
		}

		got, err := f.repo.ActiveUser(newCtx(), s.ID(), u.ID(), now)
		assertCode(t, kind+": ActiveUser", err, domain.EUNAVAILABLE)
		if got != nil {
			t.Errorf("%s: ActiveUser returned a user with its error", kind)
		}

		// A cutoff before every session here, in case the call goes through.
		n, err = f.repo.DeleteEnded(newCtx(), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC))
		assertCode(t, kind+": DeleteEnded", err, domain.EUNAVAILABLE)
		if n != 0 {
			t.Errorf("%s: DeleteEnded returned %d with its error", kind, n)
		}
	}
	// Nothing refused for its context changed the session or its token.
	assertTokenState(t, "token after refused calls", f.token(t, "after refused calls", hash), s, time.Time{})
}

// newSessionID returns a session id that no other call, run or process
// will produce.
func newSessionID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return "porttest-" + hex.EncodeToString(b[:])
}

// newTokenHash returns 32 random bytes, shaped like a SHA-256 digest.
func newTokenHash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return b
}

// assertTokenState checks that got holds session want and was spent at
// wantSpent (zero: not spent).
func assertTokenState(t *testing.T, op string, got ports.RefreshTokenState, want *domain.Session, wantSpent time.Time) {
	t.Helper()
	assertSession(t, op, got.Session, want)
	assertTime(t, op, "SpentAt", got.SpentAt, wantSpent)
}

func assertSession(t *testing.T, op string, got, want *domain.Session) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil session", op)
	}
	if got.ID() != want.ID() {
		t.Errorf("%s: session ID = %q, want %q", op, got.ID(), want.ID())
	}
	if got.UserID() != want.UserID() {
		t.Errorf("%s: session UserID = %d, want %d", op, got.UserID(), want.UserID())
	}
	assertTime(t, op, "CreatedAt", got.CreatedAt(), want.CreatedAt())
	assertTime(t, op, "ExpiresAt", got.ExpiresAt(), want.ExpiresAt())
	assertTime(t, op, "RevokedAt", got.RevokedAt(), want.RevokedAt())
	assertTime(t, op, "LastUsedAt", got.LastUsedAt(), want.LastUsedAt())
	if got.UserAgent() != want.UserAgent() || got.ClientAddr() != want.ClientAddr() {
		t.Errorf("%s: client %q %q, want %q %q", op, got.UserAgent(), got.ClientAddr(), want.UserAgent(), want.ClientAddr())
	}
}

// revokedCopy is s as stored after a revocation at at (zero: not
// revoked), metadata kept.
func revokedCopy(s *domain.Session, at time.Time) *domain.Session {
	return domain.RehydrateSessionRecord(domain.SessionRecord{
		ID: s.ID(), UserID: s.UserID(), CreatedAt: s.CreatedAt(), ExpiresAt: s.ExpiresAt(), RevokedAt: at,
		LastUsedAt: s.LastUsedAt(), UserAgent: s.UserAgent(), ClientAddr: s.ClientAddr(),
	})
}

// assertTime wants the same instant, to the microsecond, in UTC; or zero
// when want is zero.
func assertTime(t *testing.T, op, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s: %s = %s, want zero", op, field, got.Format(time.RFC3339Nano))
		}
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s: %s = %s, want %s", op, field, got.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s: %s location = %v, want UTC", op, field, got.Location())
	}
}

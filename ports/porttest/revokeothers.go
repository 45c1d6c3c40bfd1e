package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

// The SessionRepository.RevokeOthers cases: a password change ends every
// other live session of the user and keeps the one that asked.

// testSessionRevokeOthers ends the user's other live sessions and counts
// them; the kept session, the ended ones and another user's are left alone,
// and the kept session's refresh token still rotates.
func testSessionRevokeOthers(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(2 * time.Hour)
	earlier := sessionStart.Add(time.Hour)

	keep, keepHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	live1, live1Hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	live2, live2Hash := f.start(t, u.ID(), sessionStart.Add(time.Minute), sessionTTL)
	revoked, revokedHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	f.revoke(t, revoked.ID(), earlier)
	expired, expiredHash := f.start(t, u.ID(), sessionStart, time.Hour) // ends before now
	otherLive, otherHash := f.start(t, other.ID(), sessionStart, sessionTTL)

	n, err := f.repo.RevokeOthers(ctx, u.ID(), keep.ID(), now)
	if err != nil || n != 2 {
		t.Fatalf("RevokeOthers: %d, %v; want 2 (the other live sessions), nil", n, err)
	}
	for _, c := range []struct {
		name string
		hash []byte
		want *domain.Session
	}{
		{"kept session", keepHash, keep},
		{"live session", live1Hash, revokedCopy(live1, now)},
		{"second live session", live2Hash, revokedCopy(live2, now)},
		{"already revoked session", revokedHash, revokedCopy(revoked, earlier)},
		{"expired session", expiredHash, expired},
		{"other user's session", otherHash, otherLive},
	} {
		assertTokenState(t, c.name+" after RevokeOthers", f.token(t, c.name, c.hash), c.want, time.Time{})
	}
	if _, err := f.repo.ActiveUser(ctx, keep.ID(), u.ID(), now); err != nil {
		t.Errorf("ActiveUser of the kept session: %v", err)
	}

	// The kept session goes on: its refresh token rotates.
	successor := newTokenHash(t)
	st, rotated, err := f.repo.Rotate(ctx, keepHash, successor, now.Add(time.Minute))
	if err != nil || !rotated {
		t.Fatalf("Rotate of the kept session: rotated %v, %v; want true, nil", rotated, err)
	}
	assertTokenState(t, "Rotate of the kept session", st, keep, time.Time{})
	assertTokenState(t, "kept session's successor", f.token(t, "successor", successor), keep, time.Time{})

	if n, err := f.repo.RevokeOthers(ctx, u.ID(), keep.ID(), now.Add(2*time.Minute)); err != nil || n != 0 {
		t.Errorf("second RevokeOthers: %d, %v; want 0, nil", n, err)
	}
	if n, err := f.repo.RevokeOthers(ctx, 1<<63-1, keep.ID(), now); err != nil || n != 0 {
		t.Errorf("RevokeOthers of a missing user: %d, %v; want 0, nil", n, err)
	}
}

// testSessionRevokeOthersUnknownKeep: a keepID that is not one of the
// user's live sessions (unknown, or another user's) spares nothing of the
// user's and touches nothing of the other user's.
func testSessionRevokeOthersUnknownKeep(t *testing.T, f sessionFixture) {
	ctx := context.Background()
	u, other := f.user(t), f.user(t)
	now := sessionStart.Add(time.Hour)

	a, aHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	b, bHash := f.start(t, u.ID(), sessionStart, sessionTTL)
	n, err := f.repo.RevokeOthers(ctx, u.ID(), newSessionID(t), now)
	if err != nil || n != 2 {
		t.Fatalf("RevokeOthers keeping an unknown id: %d, %v; want 2, nil", n, err)
	}
	assertTokenState(t, "first session", f.token(t, "first", aHash), revokedCopy(a, now), time.Time{})
	assertTokenState(t, "second session", f.token(t, "second", bHash), revokedCopy(b, now), time.Time{})

	c, cHash := f.start(t, u.ID(), now, sessionTTL)
	othersSession, othersHash := f.start(t, other.ID(), now, sessionTTL)
	later := now.Add(time.Minute)
	n, err = f.repo.RevokeOthers(ctx, u.ID(), othersSession.ID(), later)
	if err != nil || n != 1 {
		t.Fatalf("RevokeOthers keeping another user's session: %d, %v; want 1, nil", n, err)
	}
	assertTokenState(t, "the user's session", f.token(t, "user's", cHash), revokedCopy(c, later), time.Time{})
	assertTokenState(t, "another user's session", f.token(t, "other's", othersHash), othersSession, time.Time{})
}

// testSessionRevokeOthersRace: concurrent calls (a password changed twice
// at once) end each session once between them, so the counts add up to
// the number of sessions, and the kept one stays live. A hundred sessions
// make each statement long enough that they overlap.
func testSessionRevokeOthersRace(t *testing.T, f sessionFixture) {
	u := f.user(t)
	const total = 100
	keep, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	for i := range total {
		f.start(t, u.ID(), sessionStart.Add(time.Duration(i)*time.Second), sessionTTL)
	}
	now := sessionStart.Add(time.Hour)
	counts := make([]int, concurrency)
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		counts[i], errs[i] = f.repo.RevokeOthers(context.Background(), u.ID(), keep.ID(), now)
	})
	sum := 0
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("goroutine %d: RevokeOthers: %v", i, errs[i])
		}
		sum += counts[i]
	}
	if sum != total {
		t.Errorf("concurrent RevokeOthers calls ended %d sessions in all, want %d", sum, total)
	}
	wantSessions(t, "ListLive after the race", f.listLive(t, u.ID(), now), keep)
}

func testSessionRevokeOthersDoneContext(t *testing.T, f sessionFixture) {
	u := f.user(t)
	keep, _ := f.start(t, u.ID(), sessionStart, sessionTTL)
	s, hash := f.start(t, u.ID(), sessionStart, sessionTTL)
	now := sessionStart.Add(time.Hour)
	for kind, newCtx := range doneContexts(t) {
		n, err := f.repo.RevokeOthers(newCtx(), u.ID(), keep.ID(), now)
		assertCode(t, kind+": RevokeOthers", err, domain.EUNAVAILABLE)
		if n != 0 {
			t.Errorf("%s: RevokeOthers returned %d with its error", kind, n)
		}
	}
	assertTokenState(t, "after refused calls", f.token(t, "after refused calls", hash), s, time.Time{})
}

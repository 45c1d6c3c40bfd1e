package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The EmailTokenRepository.Lookup cases: Lookup accepts exactly what
// Consume would, and spends nothing.

func lookup(s EmailStore, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return s.Tokens.Lookup(context.Background(), hash, purpose, now)
}

func wantLookedUp(t *testing.T, s EmailStore, op string, hash []byte, purpose ports.EmailTokenPurpose, now time.Time, want ports.EmailToken) {
	t.Helper()
	got, err := lookup(s, hash, purpose, now)
	if err != nil {
		t.Fatalf("%s: Lookup: %v", op, err)
	}
	wantEmailToken(t, op+": Lookup", got, want)
}

func wantNoLookup(t *testing.T, s EmailStore, op string, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) {
	t.Helper()
	got, err := lookup(s, hash, purpose, now)
	assertCode(t, op+": Lookup", err, domain.ENOTFOUND)
	if got != (ports.EmailToken{}) {
		t.Errorf("%s: Lookup returned %+v with its error, want the zero token", op, got)
	}
}

// testLookup: a found token is returned as Consume returns it, as often as
// asked, and Consume takes it afterwards; once consumed, Lookup no longer
// finds it.
func testLookup(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	for _, tok := range issueEveryPurpose(t, s, u.ID()) {
		p, hash, want := tok.want.Purpose, tok.hash, tok.want
		wantLookedUp(t, s, string(p)+" first", hash, p, mailNow, want)
		wantLookedUp(t, s, string(p)+" again", hash, p, mailNow.Add(time.Minute), want)
		wantConsumed(t, s, string(p)+" after Lookup", hash, p, want)
		wantNoLookup(t, s, string(p)+" once consumed", hash, p, mailNow.Add(2*time.Minute))
	}
}

func testLookupRejects(t *testing.T, s EmailStore) {
	ctx := context.Background()
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	wantNoLookup(t, s, "unknown hash", newTokenHash(t), ports.PurposeResetPassword, mailNow)
	wantNoLookup(t, s, "another purpose", hash, ports.PurposeVerifyEmail, mailNow)
	wantNoLookup(t, s, "another purpose", hash, ports.PurposeChangeEmail, mailNow)
	wantNoLookup(t, s, "at its expiry", hash, ports.PurposeResetPassword, mailNow.Add(time.Hour))
	wantNoLookup(t, s, "after its expiry", hash, ports.PurposeResetPassword, mailNow.Add(time.Hour+time.Second))
	// None of those used it up: it is still there just before its expiry.
	wantLookedUp(t, s, "just before its expiry", hash, ports.PurposeResetPassword, mailNow.Add(time.Hour-time.Microsecond),
		ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)})

	// Used by InvalidateAll, and superseded by a newer Issue.
	invalidated := issue(t, s, u.ID(), ports.PurposeVerifyEmail, "")
	if err := s.Tokens.InvalidateAll(ctx, u.ID(), ports.PurposeVerifyEmail, mailNow); err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	wantNoLookup(t, s, "after InvalidateAll", invalidated, ports.PurposeVerifyEmail, mailNow)
	newer := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	wantNoLookup(t, s, "superseded by a newer token", hash, ports.PurposeResetPassword, mailNow)
	wantLookedUp(t, s, "the newer token", newer, ports.PurposeResetPassword, mailNow,
		ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)})
}

func testLookupDoneContext(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	for kind, newCtx := range doneContexts(t) {
		got, err := s.Tokens.Lookup(newCtx(), hash, ports.PurposeResetPassword, mailNow)
		assertCode(t, kind+": Lookup", err, domain.EUNAVAILABLE)
		if got != (ports.EmailToken{}) {
			t.Errorf("%s: Lookup returned %+v with its error", kind, got)
		}
	}
	wantConsumed(t, s, "after refused Lookups", hash, ports.PurposeResetPassword,
		ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)})
}

package porttest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// EmailStore is one database's users, emailed tokens and mail outbox, as
// TestEmailStore needs them together.
type EmailStore struct {
	Users  ports.UserRepository
	Tokens ports.EmailTokenRepository
	Outbox ports.MailOutbox
	// Peek reads message id's stored data (the JSON text) and last error
	// ("" when none) past the port, so the suite can check what the store
	// keeps: a token must not linger once a message is done.
	Peek func(t *testing.T, id int64) (data, lastErr string)
}

// TestEmailStore runs the ports.EmailTokenRepository and ports.MailOutbox
// contracts as parallel subtests of t.
//
// newStore is called once per subtest, with that subtest's t, and must
// return a store over a fresh, migrated database: the outbox cases claim
// and count every message in it. Register any teardown with t.Cleanup.
func TestEmailStore(t *testing.T, newStore func(t *testing.T) EmailStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s EmailStore)
	}{
		{"IssueConsume", testIssueConsume},
		{"ConsumeTwice", testConsumeTwice},
		{"ConsumeRejects", testConsumeRejects},
		{"Lookup", testLookup},
		{"LookupRejects", testLookupRejects},
		{"LookupDoneContext", testLookupDoneContext},
		{"IssueInvalidatesOlderOfPurpose", testIssueInvalidates},
		{"InvalidateAll", testInvalidateAll},
		{"DeleteExpired", testDeleteExpired},
		{"IssueEnqueuesOne", testIssueEnqueuesOne},
		{"IssueUnknownUserEnqueuesNothing", testIssueUnknownUser},
		{"TokensGoWithUser", testTokensGoWithUser},
		{"ConcurrentConsume", testConcurrentConsume},
		{"ConcurrentIssue", testConcurrentIssue},
		{"ClaimLease", testClaimLease},
		{"ClaimDueOnlyAndLimit", testClaimDueOnly},
		{"ClaimInvalid", testClaimInvalid},
		{"Retry", testRetry},
		{"MarkSentAndFailed", testMarkSentFailed},
		{"NotFound", testOutboxNotFound},
		{"Stats", testOutboxStats},
		{"DeleteOld", testDeleteOld},
		{"ConcurrentClaimers", testConcurrentClaimers},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

// mailNow is the suite's clock; microseconds included, so a store that
// drops them fails.
var mailNow = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

func tokenMail(to, token string) ports.Mail {
	return ports.Mail{To: to, Template: ports.TemplateVerifyEmail,
		Data: map[string]string{"link": "https://example.com/verify?token=" + token, "email": to}}
}

// issue stores a fresh token of purpose for userID, valid for an hour
// from mailNow, with its message, and returns its hash.
func issue(t *testing.T, s EmailStore, userID int64, purpose ports.EmailTokenPurpose, newEmail string) []byte {
	t.Helper()
	hash := newTokenHash(t)
	tok := ports.EmailToken{UserID: userID, Purpose: purpose, NewEmail: newEmail, ExpiresAt: mailNow.Add(time.Hour)}
	if err := s.Tokens.Issue(context.Background(), hash, tok, tokenMail("owner@example.com", fmt.Sprintf("%x", hash)), mailNow); err != nil {
		t.Fatalf("Issue(%s): %v", purpose, err)
	}
	return hash
}

func consume(s EmailStore, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) (ports.EmailToken, error) {
	return s.Tokens.Consume(context.Background(), hash, purpose, now)
}

func wantConsumed(t *testing.T, s EmailStore, op string, hash []byte, purpose ports.EmailTokenPurpose, want ports.EmailToken) {
	t.Helper()
	got, err := consume(s, hash, purpose, mailNow.Add(time.Minute))
	if err != nil {
		t.Fatalf("%s: Consume: %v", op, err)
	}
	wantEmailToken(t, op+": Consume", got, want)
}

// wantEmailToken compares a token a store returned with want, and wants
// its expiry in UTC.
func wantEmailToken(t *testing.T, op string, got, want ports.EmailToken) {
	t.Helper()
	if got.UserID != want.UserID || got.Purpose != want.Purpose || got.NewEmail != want.NewEmail || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("%s = %+v, want %+v", op, got, want)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Errorf("%s: ExpiresAt location %v, want UTC", op, got.ExpiresAt.Location())
	}
}

func wantNoToken(t *testing.T, s EmailStore, op string, hash []byte, purpose ports.EmailTokenPurpose, now time.Time) {
	t.Helper()
	got, err := consume(s, hash, purpose, now)
	assertCode(t, op, err, domain.ENOTFOUND)
	if got != (ports.EmailToken{}) {
		t.Errorf("%s: Consume returned %+v with its error, want the zero token", op, got)
	}
}

func emailUser(t *testing.T, s EmailStore) *domain.User {
	t.Helper()
	return mustCreate(t, s.Users, newUser(t, uniqueEmail(t, "mail"), testHash, createdAt))
}

// issuedToken is a token issue stored: its hash, and what Consume or
// Lookup should return for it.
type issuedToken struct {
	hash []byte
	want ports.EmailToken
}

// issueEveryPurpose issues one token of each purpose for userID (the email
// change's bound to next@example.com).
func issueEveryPurpose(t *testing.T, s EmailStore, userID int64) []issuedToken {
	t.Helper()
	var issued []issuedToken
	for _, p := range []ports.EmailTokenPurpose{ports.PurposeVerifyEmail, ports.PurposeResetPassword, ports.PurposeChangeEmail} {
		newEmail := ""
		if p == ports.PurposeChangeEmail {
			newEmail = "next@example.com"
		}
		issued = append(issued, issuedToken{
			hash: issue(t, s, userID, p, newEmail),
			want: ports.EmailToken{UserID: userID, Purpose: p, NewEmail: newEmail, ExpiresAt: mailNow.Add(time.Hour)},
		})
	}
	return issued
}

func testIssueConsume(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	for _, tok := range issueEveryPurpose(t, s, u.ID()) {
		p := tok.want.Purpose
		wantConsumed(t, s, string(p), tok.hash, p, tok.want)
	}
}

func testConsumeTwice(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	wantConsumed(t, s, "first Consume", hash, ports.PurposeResetPassword,
		ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)})
	wantNoToken(t, s, "second Consume", hash, ports.PurposeResetPassword, mailNow.Add(2*time.Minute))
}

func testConsumeRejects(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeVerifyEmail, "")
	wantNoToken(t, s, "unknown hash", newTokenHash(t), ports.PurposeVerifyEmail, mailNow)
	wantNoToken(t, s, "another purpose", hash, ports.PurposeResetPassword, mailNow)
	wantNoToken(t, s, "another purpose", hash, ports.PurposeChangeEmail, mailNow)
	wantNoToken(t, s, "at its expiry", hash, ports.PurposeVerifyEmail, mailNow.Add(time.Hour))
	wantNoToken(t, s, "after its expiry", hash, ports.PurposeVerifyEmail, mailNow.Add(time.Hour+time.Second))
	// None of those used it up.
	if _, err := consume(s, hash, ports.PurposeVerifyEmail, mailNow.Add(time.Hour-time.Microsecond)); err != nil {
		t.Errorf("Consume just before its expiry: %v", err)
	}
}

func testIssueInvalidates(t *testing.T, s EmailStore) {
	u, other := emailUser(t, s), emailUser(t, s)
	first := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	verify := issue(t, s, u.ID(), ports.PurposeVerifyEmail, "")
	othersReset := issue(t, s, other.ID(), ports.PurposeResetPassword, "")
	second := issue(t, s, u.ID(), ports.PurposeResetPassword, "")

	wantNoToken(t, s, "the older reset token", first, ports.PurposeResetPassword, mailNow)
	if _, err := consume(s, second, ports.PurposeResetPassword, mailNow); err != nil {
		t.Errorf("the newer reset token: %v", err)
	}
	if _, err := consume(s, verify, ports.PurposeVerifyEmail, mailNow); err != nil {
		t.Errorf("the verify token (another purpose): %v", err)
	}
	if _, err := consume(s, othersReset, ports.PurposeResetPassword, mailNow); err != nil {
		t.Errorf("another user's reset token: %v", err)
	}
}

func testInvalidateAll(t *testing.T, s EmailStore) {
	ctx := context.Background()
	u := emailUser(t, s)
	reset := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	verify := issue(t, s, u.ID(), ports.PurposeVerifyEmail, "")
	if err := s.Tokens.InvalidateAll(ctx, u.ID(), ports.PurposeResetPassword, mailNow); err != nil {
		t.Fatalf("InvalidateAll: %v", err)
	}
	wantNoToken(t, s, "reset token after InvalidateAll", reset, ports.PurposeResetPassword, mailNow)
	if _, err := consume(s, verify, ports.PurposeVerifyEmail, mailNow); err != nil {
		t.Errorf("verify token after InvalidateAll(reset): %v", err)
	}
	if err := s.Tokens.InvalidateAll(ctx, u.ID(), ports.PurposeResetPassword, mailNow); err != nil {
		t.Errorf("InvalidateAll with nothing left: %v", err)
	}
	if err := s.Tokens.InvalidateAll(ctx, u.ID()+1_000_000, ports.PurposeChangeEmail, mailNow); err != nil {
		t.Errorf("InvalidateAll of an unknown user: %v", err)
	}
}

// claimAll claims up to 100 messages at now with a one-minute lease.
func claimAll(t *testing.T, s EmailStore, now time.Time) []ports.OutboxMail {
	t.Helper()
	got, err := s.Outbox.Claim(context.Background(), now, 100, time.Minute)
	if err != nil {
		t.Fatalf("Claim at %s: %v", now.Format(time.RFC3339Nano), err)
	}
	return got
}

func wantMail(t *testing.T, op string, got ports.OutboxMail, want ports.Mail, attempts int, created time.Time) {
	t.Helper()
	if got.ID <= 0 {
		t.Errorf("%s: ID = %d, want > 0", op, got.ID)
	}
	if got.Mail.To != want.To || got.Mail.Template != want.Template || !maps.Equal(got.Mail.Data, want.Data) {
		t.Errorf("%s: Mail = %+v, want %+v", op, got.Mail, want)
	}
	if got.Attempts != attempts {
		t.Errorf("%s: Attempts = %d, want %d", op, got.Attempts, attempts)
	}
	if !got.CreatedAt.Equal(created) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("%s: CreatedAt = %s, want %s in UTC", op, got.CreatedAt, created)
	}
}

func wantStats(t *testing.T, s EmailStore, op string, now time.Time, pending int, oldest time.Time) {
	t.Helper()
	n, at, err := s.Outbox.Stats(context.Background(), now)
	if err != nil {
		t.Fatalf("%s: Stats: %v", op, err)
	}
	if n != pending || !at.Equal(oldest) {
		t.Errorf("%s: Stats = %d pending, oldest %s; want %d, %s", op, n, at, pending, oldest)
	}
	if !at.IsZero() && at.Location() != time.UTC {
		t.Errorf("%s: oldest location %v, want UTC", op, at.Location())
	}
}

func testIssueEnqueuesOne(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := newTokenHash(t)
	m := tokenMail(u.Email().String(), "tok-123")
	tok := ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeVerifyEmail, ExpiresAt: mailNow.Add(time.Hour)}
	if err := s.Tokens.Issue(context.Background(), hash, tok, m, mailNow); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	wantStats(t, s, "after Issue", mailNow, 1, mailNow)
	got := claimAll(t, s, mailNow)
	if len(got) != 1 {
		t.Fatalf("Claim after one Issue: %d messages, want 1", len(got))
	}
	wantMail(t, "Claim after Issue", got[0], m, 0, mailNow)
}

func testIssueUnknownUser(t *testing.T, s EmailStore) {
	ctx := context.Background()
	u := emailUser(t, s)
	if err := s.Users.Delete(ctx, u.ID()); err != nil {
		t.Fatal(err)
	}
	hash := newTokenHash(t)
	tok := ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)}
	err := s.Tokens.Issue(ctx, hash, tok, tokenMail(u.Email().String(), "tok"), mailNow)
	assertCode(t, "Issue for a deleted user", err, domain.ENOTFOUND)
	wantNoToken(t, s, "the refused token", hash, ports.PurposeResetPassword, mailNow)
	if got := claimAll(t, s, mailNow.Add(time.Hour)); len(got) != 0 {
		t.Errorf("Claim after a refused Issue: %d messages, want none", len(got))
	}
	wantStats(t, s, "after a refused Issue", mailNow, 0, time.Time{})
}

func testTokensGoWithUser(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeVerifyEmail, "")
	if err := s.Users.Delete(context.Background(), u.ID()); err != nil {
		t.Fatal(err)
	}
	wantNoToken(t, s, "token of a deleted user", hash, ports.PurposeVerifyEmail, mailNow)
}

func testConcurrentConsume(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hash := issue(t, s, u.ID(), ports.PurposeResetPassword, "")
	errs := make([]error, concurrency)
	atOnce(func(i int) {
		_, errs[i] = consume(s, hash, ports.PurposeResetPassword, mailNow)
	})
	wins := 0
	for i, err := range errs {
		switch domain.ErrorCode(err) {
		case "":
			wins++
		case domain.ENOTFOUND:
		default:
			t.Errorf("Consume %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent Consume calls: %d succeeded, want exactly 1", concurrency, wins)
	}
}

// testConcurrentIssue: links of one purpose asked for at once (a user
// clicking "resend" in two tabs) leave exactly one of them usable, as
// issuing them one after the other does; each still mails its own link.
func testConcurrentIssue(t *testing.T, s EmailStore) {
	u := emailUser(t, s)
	hashes := make([][]byte, concurrency)
	errs := make([]error, concurrency)
	for i := range hashes {
		hashes[i] = newTokenHash(t)
	}
	atOnce(func(i int) {
		tok := ports.EmailToken{UserID: u.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)}
		errs[i] = s.Tokens.Issue(context.Background(), hashes[i], tok, tokenMail("owner@example.com", fmt.Sprintf("%x", hashes[i])), mailNow)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("Issue %d: %v", i, err)
		}
	}
	usable := 0
	for _, h := range hashes {
		if _, err := s.Tokens.Lookup(context.Background(), h, ports.PurposeResetPassword, mailNow); err == nil {
			usable++
		}
	}
	if usable != 1 {
		t.Errorf("%d links issued at once: %d usable, want 1", concurrency, usable)
	}
	if got := len(claimAll(t, s, mailNow)); got != concurrency {
		t.Errorf("%d links issued at once: %d messages queued, want %d", concurrency, got, concurrency)
	}
}

func enqueue(t *testing.T, s EmailStore, m ports.Mail, now time.Time) {
	t.Helper()
	if err := s.Outbox.Enqueue(context.Background(), m, now); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func notice(to string) ports.Mail {
	return ports.Mail{To: to, Template: ports.TemplatePasswordChanged, Data: map[string]string{"email": to}}
}

func testClaimLease(t *testing.T, s EmailStore) {
	m := notice("lease@example.com")
	enqueue(t, s, m, mailNow)
	got := claimAll(t, s, mailNow)
	if len(got) != 1 {
		t.Fatalf("first Claim: %d messages, want 1", len(got))
	}
	wantMail(t, "first Claim", got[0], m, 0, mailNow)
	if again := claimAll(t, s, mailNow.Add(59*time.Second)); len(again) != 0 {
		t.Errorf("Claim within the lease: %d messages, want none", len(again))
	}
	wantStats(t, s, "while leased", mailNow.Add(time.Second), 1, mailNow)
	after := claimAll(t, s, mailNow.Add(time.Minute))
	if len(after) != 1 || after[0].ID != got[0].ID {
		t.Fatalf("Claim once the lease ended: %+v, want message %d again", after, got[0].ID)
	}
	wantMail(t, "Claim once the lease ended", after[0], m, 0, mailNow)
}

func testClaimDueOnly(t *testing.T, s EmailStore) {
	enqueue(t, s, notice("later@example.com"), mailNow.Add(time.Hour))
	for i := range 5 {
		enqueue(t, s, notice(fmt.Sprintf("now%d@example.com", i)), mailNow.Add(time.Duration(i)*time.Second))
	}
	got, err := s.Outbox.Claim(context.Background(), mailNow.Add(10*time.Second), 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Claim(n=3) of 5 due: %d messages", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		seen[m.Mail.To] = true
	}
	for i := range 3 { // the earliest due go first
		if to := fmt.Sprintf("now%d@example.com", i); !seen[to] {
			t.Errorf("Claim(n=3) did not take %s, one of the three earliest due: %v", to, seen)
		}
	}
	rest := claimAll(t, s, mailNow.Add(10*time.Second))
	if len(rest) != 2 {
		t.Errorf("second Claim: %d messages, want the 2 left that are due", len(rest))
	}
	for _, m := range append(got, rest...) {
		if m.Mail.To == "later@example.com" {
			t.Error("Claim returned a message that is not due yet")
		}
		if err := s.Outbox.MarkSent(context.Background(), m.ID, mailNow.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if late := claimAll(t, s, mailNow.Add(time.Hour)); len(late) != 1 || late[0].Mail.To != "later@example.com" {
		t.Errorf("Claim once it is due: %+v, want later@example.com", late)
	}
}

func testClaimInvalid(t *testing.T, s EmailStore) {
	enqueue(t, s, notice("invalid@example.com"), mailNow)
	ctx := context.Background()
	_, err := s.Outbox.Claim(ctx, mailNow, 0, time.Minute)
	assertCode(t, "Claim(n=0)", err, domain.EINVALID)
	_, err = s.Outbox.Claim(ctx, mailNow, 1, 0)
	assertCode(t, "Claim(lease=0)", err, domain.EINVALID)
	if got := claimAll(t, s, mailNow); len(got) != 1 {
		t.Errorf("Claim after the invalid ones: %d messages, want 1", len(got))
	}
}

func testRetry(t *testing.T, s EmailStore) {
	ctx := context.Background()
	m := tokenMail("retry@example.com", "tok-retry")
	enqueue(t, s, m, mailNow)
	got := claimAll(t, s, mailNow)
	if len(got) != 1 {
		t.Fatalf("Claim: %d messages", len(got))
	}
	id := got[0].ID
	next := mailNow.Add(5 * time.Minute)
	if err := s.Outbox.Retry(ctx, id, next, "451 4.3.0 try again later"); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if _, lastErr := s.Peek(t, id); lastErr != "451 4.3.0 try again later" {
		t.Errorf("last error after Retry = %q", lastErr)
	}
	if early := claimAll(t, s, next.Add(-time.Microsecond)); len(early) != 0 {
		t.Errorf("Claim before the retry time: %d messages, want none", len(early))
	}
	wantStats(t, s, "waiting for a retry", mailNow, 1, mailNow)
	again := claimAll(t, s, next)
	if len(again) != 1 || again[0].ID != id {
		t.Fatalf("Claim at the retry time: %+v, want message %d", again, id)
	}
	wantMail(t, "Claim at the retry time", again[0], m, 1, mailNow)

	// Retry ends the lease, and a long error is kept truncated.
	long := strings.Repeat("é", ports.MaxOutboxErrorLen) // 2 bytes each
	if err := s.Outbox.Retry(ctx, id, next, long); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if third := claimAll(t, s, next); len(third) != 1 || third[0].Attempts != 2 {
		t.Errorf("Claim right after a Retry due now: %+v, want it with 2 attempts", third)
	}
	_, lastErr := s.Peek(t, id)
	if len(lastErr) > ports.MaxOutboxErrorLen || !strings.HasPrefix(long, lastErr) || len(lastErr) < ports.MaxOutboxErrorLen-4 {
		t.Errorf("a %d-byte error kept as %d bytes, want a prefix of at most %d", len(long), len(lastErr), ports.MaxOutboxErrorLen)
	}
}

func testMarkSentFailed(t *testing.T, s EmailStore) {
	ctx := context.Background()
	enqueue(t, s, tokenMail("sent@example.com", "secret-token-sent"), mailNow)
	enqueue(t, s, tokenMail("failed@example.com", "secret-token-failed"), mailNow)
	got := claimAll(t, s, mailNow)
	if len(got) != 2 {
		t.Fatalf("Claim: %d messages, want 2", len(got))
	}
	ids := map[string]int64{}
	for _, m := range got {
		ids[m.Mail.To] = m.ID
	}
	if data, _ := s.Peek(t, ids["sent@example.com"]); !strings.Contains(data, "secret-token-sent") {
		t.Fatalf("stored data before sending = %q, want the link", data)
	}
	if err := s.Outbox.MarkSent(ctx, ids["sent@example.com"], mailNow.Add(time.Second)); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	if err := s.Outbox.MarkFailed(ctx, ids["failed@example.com"], mailNow.Add(time.Second), "550 5.1.1 no such user"); err != nil {
		t.Fatalf("MarkFailed: %v", err)
	}
	for to, id := range ids {
		data, _ := s.Peek(t, id)
		if strings.Contains(data, "secret-token") || strings.Contains(data, "link") {
			t.Errorf("%s: stored data after it is done = %q, want it cleared", to, data)
		}
	}
	if _, lastErr := s.Peek(t, ids["failed@example.com"]); lastErr != "550 5.1.1 no such user" {
		t.Errorf("last error after MarkFailed = %q", lastErr)
	}
	if again := claimAll(t, s, mailNow.Add(24*time.Hour)); len(again) != 0 {
		t.Errorf("Claim after MarkSent and MarkFailed, leases long over: %d messages, want none", len(again))
	}
	wantStats(t, s, "after MarkSent and MarkFailed", mailNow.Add(time.Hour), 0, time.Time{})
}

func testOutboxNotFound(t *testing.T, s EmailStore) {
	ctx := context.Background()
	const missing = int64(987654321)
	assertCode(t, "MarkSent of an unknown message", s.Outbox.MarkSent(ctx, missing, mailNow), domain.ENOTFOUND)
	assertCode(t, "Retry of an unknown message", s.Outbox.Retry(ctx, missing, mailNow, "x"), domain.ENOTFOUND)
	assertCode(t, "MarkFailed of an unknown message", s.Outbox.MarkFailed(ctx, missing, mailNow, "x"), domain.ENOTFOUND)
}

func testOutboxStats(t *testing.T, s EmailStore) {
	wantStats(t, s, "empty", mailNow, 0, time.Time{})
	for i := range 3 {
		enqueue(t, s, notice(fmt.Sprintf("stats%d@example.com", i)), mailNow.Add(time.Duration(i)*time.Minute))
	}
	wantStats(t, s, "three queued", mailNow.Add(time.Hour), 3, mailNow)
	got := claimAll(t, s, mailNow) // only the first is due
	if len(got) != 1 {
		t.Fatalf("Claim: %d messages, want 1", len(got))
	}
	if err := s.Outbox.MarkSent(context.Background(), got[0].ID, mailNow.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantStats(t, s, "the oldest sent", mailNow.Add(time.Hour), 2, mailNow.Add(time.Minute))
}

func testDeleteOld(t *testing.T, s EmailStore) {
	ctx := context.Background()
	for _, to := range []string{"old-sent@example.com", "old-failed@example.com", "pending@example.com"} {
		enqueue(t, s, notice(to), mailNow)
	}
	got := claimAll(t, s, mailNow)
	if len(got) != 3 {
		t.Fatalf("Claim: %d messages, want 3", len(got))
	}
	var pending, sent int64
	for _, m := range got {
		switch m.Mail.To {
		case "old-sent@example.com":
			sent = m.ID
			if err := s.Outbox.MarkSent(ctx, m.ID, mailNow); err != nil {
				t.Fatal(err)
			}
		case "old-failed@example.com":
			if err := s.Outbox.MarkFailed(ctx, m.ID, mailNow, "550"); err != nil {
				t.Fatal(err)
			}
		default:
			pending = m.ID
		}
	}
	if n, err := s.Outbox.DeleteOld(ctx, mailNow); err != nil || n != 0 {
		t.Errorf("DeleteOld(at the time they were done) = %d, %v; want 0", n, err)
	}
	if n, err := s.Outbox.DeleteOld(ctx, mailNow.Add(time.Second)); err != nil || n != 2 {
		t.Errorf("DeleteOld = %d, %v; want 2 (the sent and the failed)", n, err)
	}
	if n, err := s.Outbox.DeleteOld(ctx, mailNow.Add(time.Second)); err != nil || n != 0 {
		t.Errorf("DeleteOld again = %d, %v; want 0", n, err)
	}
	assertCode(t, "MarkSent of a deleted message", s.Outbox.MarkSent(ctx, sent, mailNow), domain.ENOTFOUND)
	wantStats(t, s, "after DeleteOld", mailNow, 1, mailNow)
	if left := claimAll(t, s, mailNow.Add(time.Hour)); len(left) != 1 || left[0].ID != pending {
		t.Errorf("Claim after DeleteOld: %+v, want the pending message %d", left, pending)
	}
}

// testConcurrentClaimers drains 200 messages with 4 claimers taking
// batches of 10: each message is claimed exactly once. On PostgreSQL this
// is the guarantee that several instances relay without duplicates.
func testConcurrentClaimers(t *testing.T, s EmailStore) {
	const messages, claimers, batch = 200, 4, 10
	for i := range messages {
		enqueue(t, s, notice(fmt.Sprintf("bulk%03d@example.com", i)), mailNow.Add(time.Duration(i)*time.Microsecond))
	}
	now := mailNow.Add(time.Second)
	var (
		mu      sync.Mutex
		claimed = map[int64]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, claimers)
		start   = make(chan struct{})
	)
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx := context.Background()
			for {
				got, err := s.Outbox.Claim(ctx, now, batch, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				if len(got) > batch {
					errs <- fmt.Errorf("Claim(n=%d) returned %d", batch, len(got))
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
				for _, m := range got {
					if err := s.Outbox.MarkSent(ctx, m.ID, now); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("claimer: %v", err)
	}
	if len(claimed) != messages {
		t.Errorf("%d distinct messages claimed, want %d", len(claimed), messages)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("message %d claimed %d times", id, n)
		}
	}
	wantStats(t, s, "after draining", now, 0, time.Time{})
}

// testDeleteExpired: the sweep deletes tokens used, or expiring, strictly
// before its time, and nothing still usable then.
func testDeleteExpired(t *testing.T, s EmailStore) {
	ctx := context.Background()
	used := issue(t, s, emailUser(t, s).ID(), ports.PurposeVerifyEmail, "") // used at +1m below
	owner := emailUser(t, s)
	valid := issue(t, s, owner.ID(), ports.PurposeResetPassword, "") // expires at +1h
	short := newTokenHash(t)
	tok := ports.EmailToken{UserID: emailUser(t, s).ID(), Purpose: ports.PurposeVerifyEmail, ExpiresAt: mailNow.Add(10 * time.Minute)}
	if err := s.Tokens.Issue(ctx, short, tok, tokenMail("short@example.com", "short"), mailNow); err != nil {
		t.Fatal(err)
	}
	if _, err := consume(s, used, ports.PurposeVerifyEmail, mailNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		before time.Duration
		want   int
	}{
		{30 * time.Second, 0}, // nothing used or expired yet
		{time.Minute, 0},      // used at exactly +1m: not before
		{5 * time.Minute, 1},  // the used token
		{10 * time.Minute, 0}, // expires at exactly +10m: not before
		{30 * time.Minute, 1}, // the short-lived one, expired
		{30 * time.Minute, 0}, // already gone
	} {
		n, err := s.Tokens.DeleteExpired(ctx, mailNow.Add(step.before))
		if err != nil || n != step.want {
			t.Fatalf("DeleteExpired(+%v) = %d, %v; want %d", step.before, n, err, step.want)
		}
	}
	wantConsumed(t, s, "the token still valid", valid, ports.PurposeResetPassword,
		ports.EmailToken{UserID: owner.ID(), Purpose: ports.PurposeResetPassword, ExpiresAt: mailNow.Add(time.Hour)})
}

package ports

import (
	"context"
	"time"
	"unicode/utf8"
)

// EmailTokenPurpose says what an emailed token may be used for; a token
// is consumed only for its own purpose.
type EmailTokenPurpose string

// The purposes of emailed tokens.
const (
	PurposeVerifyEmail   EmailTokenPurpose = "verify_email"
	PurposeResetPassword EmailTokenPurpose = "reset_password"
	PurposeChangeEmail   EmailTokenPurpose = "change_email"
)

// EmailToken is what is stored under the hash of a token sent by mail.
type EmailToken struct {
	UserID  int64
	Purpose EmailTokenPurpose
	// NewEmail is the address a change_email token moves the account to;
	// "" for the other purposes.
	NewEmail  string
	ExpiresAt time.Time
}

// EmailTokenRepository stores the hashes of single-use tokens sent by
// mail (verify an address, reset a password, confirm a new address); it
// never sees a token itself.
type EmailTokenRepository interface {
	// Issue stores t under hash and enqueues m in the mail outbox, in one
	// transaction: the message exists if and only if the token does. In
	// the same transaction it marks every unused token of t.UserID with
	// t.Purpose used, so only the newest token of a purpose works.
	// Returns ENOTFOUND (domain.ErrUserNotFound) when the user does not
	// exist (and then enqueues nothing), EUNAVAILABLE when storage cannot
	// answer.
	Issue(ctx context.Context, hash []byte, t EmailToken, m Mail, now time.Time) error
	// Consume atomically marks the token with that hash used at now and
	// returns it, when it exists, is unused, has purpose and expires after
	// now; of many concurrent calls with one token exactly one succeeds.
	// Returns ENOTFOUND (domain.ErrEmailTokenNotFound) for anything else:
	// unknown, already used, expired or another purpose, alike.
	// EUNAVAILABLE when storage cannot answer.
	Consume(ctx context.Context, hash []byte, purpose EmailTokenPurpose, now time.Time) (EmailToken, error)
	// Lookup returns the token with that hash, without using it, when
	// Consume would accept it at now: it exists, is unused, has purpose
	// and expires after now. A use case checks what it needs (the new
	// password against the account's policy) before it spends the token.
	// Returns ENOTFOUND (domain.ErrEmailTokenNotFound) for anything else,
	// EUNAVAILABLE when storage cannot answer.
	Lookup(ctx context.Context, hash []byte, purpose EmailTokenPurpose, now time.Time) (EmailToken, error)
	// InvalidateAll marks every unused token of userID with purpose used
	// at now (e.g. reset tokens once the password changed); none is not an
	// error. Returns EUNAVAILABLE when storage cannot answer.
	InvalidateAll(ctx context.Context, userID int64, purpose EmailTokenPurpose, now time.Time) error
	// DeleteExpired deletes the tokens used before before or expiring
	// before before, and returns how many: the periodic sweep. A token
	// that is unused and still valid at before stays. Returns
	// EUNAVAILABLE when storage cannot answer.
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// OutboxMail is a message claimed from the outbox.
type OutboxMail struct {
	ID   int64
	Mail Mail
	// Attempts counts the earlier failed deliveries (Retry calls).
	Attempts  int
	CreatedAt time.Time
}

// MaxOutboxErrorLen is how many bytes of an error the outbox keeps.
const MaxOutboxErrorLen = 500

// MailOutbox is a transactional outbox of mail: messages are written
// with the change that causes them (see EmailTokenRepository.Issue) and
// delivered afterwards by a relay that claims them, so a message is
// neither lost when delivery fails nor sent for a change that was rolled
// back. Delivery is at least once: a relay that dies after sending but
// before MarkSent lets the message be claimed again once its lease ends.
//
// A message's data can hold a link with a token until the message is sent
// or fails for good: MarkSent and MarkFailed clear it, and DeleteOld
// removes the rows. Callers pass errors (from SMTP) to Retry and
// MarkFailed, never a message's data: an error must not carry a token.
type MailOutbox interface {
	// Enqueue adds m, due at now (for notices that carry no token).
	// Returns EUNAVAILABLE when storage cannot answer.
	Enqueue(ctx context.Context, m Mail, now time.Time) error
	// Claim returns up to n messages due at now (not sent, not failed,
	// next attempt at or before now, no lease or an ended one), taking the
	// earliest due first but returning them in no particular order, and
	// leases them until now+lease: no other Claim returns them
	// before then, from this or another instance. Returns EINVALID when n
	// < 1 or lease <= 0, EUNAVAILABLE when storage cannot answer.
	Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]OutboxMail, error)
	// MarkSent records that message id was delivered at now and clears
	// its data. Returns ENOTFOUND (domain.ErrMailNotFound) when there is
	// no such message, EUNAVAILABLE when storage cannot answer.
	MarkSent(ctx context.Context, id int64, now time.Time) error
	// Retry records a failed attempt of message id: it counts it, keeps
	// lastErr (truncated to MaxOutboxErrorLen bytes), ends the lease and
	// makes the message due again at next. Returns ENOTFOUND
	// (domain.ErrMailNotFound) when there is no such message, EUNAVAILABLE
	// when storage cannot answer.
	Retry(ctx context.Context, id int64, next time.Time, lastErr string) error
	// MarkFailed gives message id up at now with lastErr (truncated to
	// MaxOutboxErrorLen bytes) and clears its data. Returns ENOTFOUND
	// (domain.ErrMailNotFound) when there is no such message, EUNAVAILABLE
	// when storage cannot answer.
	MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error
	// Stats returns how many messages are pending (neither sent nor
	// failed, leased or not) and the creation time of the oldest of them
	// (zero when none). Returns EUNAVAILABLE when storage cannot answer.
	Stats(ctx context.Context, now time.Time) (pending int, oldestPending time.Time, err error)
	// DeleteOld deletes messages sent or failed before before and returns
	// how many: the periodic sweep. Returns EUNAVAILABLE when storage
	// cannot answer.
	DeleteOld(ctx context.Context, before time.Time) (int, error)
}

// TruncateError shortens msg to at most MaxOutboxErrorLen bytes, on a
// UTF-8 boundary; the outbox stores errors through it.
func TruncateError(msg string) string {
	if len(msg) <= MaxOutboxErrorLen {
		return msg
	}
	cut := MaxOutboxErrorLen
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}

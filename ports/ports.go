// Package ports declares what the core needs from the outside world. Each
// method's comment names the domain error codes it returns; any other error
// is treated as internal.
package ports

//go:generate go tool mockgen -destination=mock/mock_ports.go -package=mock -typed . UserRepository,SessionRepository,PasswordHasher,TokenIssuer,SessionTokens,Clock,EventLog,RateLimitStore,BreachChecker,DeviceTokens,Mailer,EmailTokenRepository,MailOutbox

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
)

// UserRepository stores users.
type UserRepository interface {
	// Create stores a new user, its email not verified, and returns it
	// with its assigned ID.
	// Returns ECONFLICT (domain.ErrEmailTaken) when the email is already
	// registered, and EUNAVAILABLE when storage cannot answer.
	Create(ctx context.Context, u *domain.User) (*domain.User, error)
	// ByID returns the user with that ID. Returns ENOTFOUND when there is
	// none, and EUNAVAILABLE when storage cannot answer.
	ByID(ctx context.Context, id int64) (*domain.User, error)
	// ByEmail returns the user with that normalized email. Returns
	// ENOTFOUND when there is none, and EUNAVAILABLE when storage cannot
	// answer.
	ByEmail(ctx context.Context, email domain.Email) (*domain.User, error)
	// UpdatePasswordHash replaces the stored password hash of user id
	// (used to rehash at login when the configured cost changed). Returns
	// ENOTFOUND when there is no such user, EUNAVAILABLE when storage
	// cannot answer.
	UpdatePasswordHash(ctx context.Context, id int64, hash string) error
	// List returns up to q.Limit users with an id above q.AfterID whose
	// email starts with q.EmailPrefix, in ascending id order: a page of
	// keyset pagination, where the next page starts after the last id
	// returned. The prefix matches case-insensitively and literally (% and
	// _ are not wildcards); "" matches every user. Returns EINVALID when
	// q.Limit is not between 1 and MaxUserQueryLimit, EUNAVAILABLE when
	// storage cannot answer.
	List(ctx context.Context, q UserQuery) ([]*domain.User, error)
	// SetActive allows (active) or stops (!active) user id from logging in
	// and using its tokens; setting the state it already has is not an
	// error. It does not touch sessions. Returns ENOTFOUND when there is no
	// such user, EUNAVAILABLE when storage cannot answer.
	SetActive(ctx context.Context, id int64, active bool) error
	// Delete removes user id with its sessions and refresh tokens; its
	// email can then be registered again. Returns ENOTFOUND when there is
	// no such user, EUNAVAILABLE when storage cannot answer.
	Delete(ctx context.Context, id int64) error
	// SetEmailVerified records that user id's current email was verified
	// at at. Returns ENOTFOUND (domain.ErrUserNotFound) when there is no
	// such user, EUNAVAILABLE when storage cannot answer.
	SetEmailVerified(ctx context.Context, id int64, at time.Time) error
	// ChangeEmail replaces user id's email with email, verified at
	// verifiedAt (zero: not verified); the old email can then be
	// registered again. Returns ECONFLICT (domain.ErrEmailTaken) when
	// another user has email, ENOTFOUND (domain.ErrUserNotFound) when
	// there is no such user, EUNAVAILABLE when storage cannot answer.
	ChangeEmail(ctx context.Context, id int64, email domain.Email, verifiedAt time.Time) error
}

// MaxUserQueryLimit is the largest page UserRepository.List returns.
const MaxUserQueryLimit = 1000

// UserQuery selects a page of users for UserRepository.List.
type UserQuery struct {
	// EmailPrefix keeps users whose normalized email starts with it,
	// compared case-insensitively; "" keeps all.
	EmailPrefix string
	// AfterID keeps users with a greater id: 0 for the first page, the
	// last id of the previous page after that.
	AfterID int64
	// Limit is the most users returned, 1 to MaxUserQueryLimit.
	Limit int
}

// RateLimitStore keeps counters for rate limits. A counter counts events
// in a fixed window that opens at the key's first event (or its first
// event after the previous window closed) and lasts the window given then.
// Implementations must be safe for concurrent use, expire ended windows
// and bound their memory.
type RateLimitStore interface {
	// Hit records one event for key and returns the count in the current
	// window, this event included, and when the window closes. Returns
	// EUNAVAILABLE when the store cannot answer.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (count int, resetAt time.Time, err error)
	// Count returns key's count in its current window without recording
	// anything; (0, zero time) when there is no open window. Returns
	// EUNAVAILABLE when the store cannot answer.
	Count(ctx context.Context, key string, now time.Time) (count int, resetAt time.Time, err error)
	// Reset forgets key. Returns EUNAVAILABLE when the store cannot answer.
	Reset(ctx context.Context, key string) error
	// DeleteExpired deletes every window closed at now and returns how
	// many; a periodic sweep keeps the store from holding every key ever
	// seen. Returns EUNAVAILABLE when the store cannot answer.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// Release takes back one event that Hit recorded in key's open window:
	// a reservation made before work that then turned out not to count
	// (a login whose password was right). The count never goes below zero
	// (at zero the window is forgotten), and a closed window is left
	// alone. Under concurrent calls a release may be lost, never an
	// extra one applied: counts err on the side of refusing. Returns
	// EUNAVAILABLE when the store cannot answer.
	Release(ctx context.Context, key string, now time.Time) error
}

// BreachChecker tells whether a password is known from data breaches.
type BreachChecker interface {
	// Breached reports whether password appears in the breach corpus.
	// Returns EUNAVAILABLE when the checker cannot answer (outage, open
	// circuit, timeout).
	Breached(ctx context.Context, password string) (bool, error)
}

// RefreshTokenState is a stored refresh token as the repository sees it:
// its session, and whether it has been rotated away.
type RefreshTokenState struct {
	Session *domain.Session
	// SpentAt is when the token was rotated away; zero while it is its
	// session's current token.
	SpentAt time.Time
}

// SessionRepository stores sessions and the hashes of their refresh
// tokens; it never sees a refresh token itself.
type SessionRepository interface {
	// Create stores a new session, with its client metadata and last use,
	// and the hash of its first refresh token. Returns ENOTFOUND when the user does not exist, EUNAVAILABLE
	// when storage cannot answer.
	Create(ctx context.Context, s *domain.Session, tokenHash []byte) error
	// Rotate atomically spends the token whose hash is presented and
	// stores successor as its session's current token, but only when the
	// presented token is unspent and its session is live at now. It
	// returns the presented token's state as it was before the call and
	// whether it rotated; of many concurrent calls with one token, exactly
	// one rotates. When it rotates it also deletes the session's spent
	// tokens beyond the newest SpentTokensKept, in the same transaction.
	// Returns ENOTFOUND for an unknown token, EUNAVAILABLE when storage
	// cannot answer.
	Rotate(ctx context.Context, presented, successor []byte, now time.Time) (RefreshTokenState, bool, error)
	// Token returns the state of the token with that hash. Returns
	// ENOTFOUND for an unknown token, EUNAVAILABLE when storage cannot
	// answer.
	Token(ctx context.Context, hash []byte) (RefreshTokenState, error)
	// Revoke ends session id at now; revoking an unknown or already
	// revoked session is not an error. Returns EUNAVAILABLE.
	Revoke(ctx context.Context, id string, now time.Time) error
	// RevokeAll ends every live session of userID at now and returns how
	// many it ended. Returns EUNAVAILABLE.
	RevokeAll(ctx context.Context, userID int64, now time.Time) (int, error)
	// RevokeOthers ends, at now and in one statement, every live session
	// of userID except keepID (the session that changed the password) and
	// returns how many it ended. keepID need not exist. Returns
	// EUNAVAILABLE when storage cannot answer.
	RevokeOthers(ctx context.Context, userID int64, keepID string, now time.Time) (int, error)
	// ActiveUser returns the user of session sessionID, in one indexed
	// query, when that session belongs to userID and is live at now.
	// Returns ENOTFOUND otherwise, EUNAVAILABLE when storage cannot answer.
	ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error)
	// DeleteEnded deletes sessions (and their tokens) that expired or were
	// revoked before cutoff and returns how many. Returns EUNAVAILABLE.
	DeleteEnded(ctx context.Context, cutoff time.Time) (int, error)

	// ListLive returns the sessions of userID that are live at now, with
	// their metadata, newest (by creation) first; none is not an error.
	// Returns EUNAVAILABLE when storage cannot answer.
	ListLive(ctx context.Context, userID int64, now time.Time) ([]*domain.Session, error)
	// RevokeForUser ends session sessionID at now, in one statement, only
	// when it belongs to userID and is live at now. Returns ENOTFOUND
	// (domain.ErrSessionNotFound) otherwise, the same for a session that
	// is missing, ended or another user's; EUNAVAILABLE when storage
	// cannot answer.
	RevokeForUser(ctx context.Context, userID int64, sessionID string, now time.Time) error
	// Touch records that session sessionID was used at now, with one
	// conditional write and no read, only when its recorded last use is
	// older than now-minInterval: a busy session costs at most one write
	// per minInterval. An unknown session is not an error. Returns
	// EUNAVAILABLE when storage cannot answer.
	Touch(ctx context.Context, sessionID string, now time.Time, minInterval time.Duration) error
	// Stats returns how many sessions of userID are live at now and the
	// newest creation time of any stored session of userID (its last
	// login; zero when it has none: sessions removed by DeleteEnded no
	// longer count). An unknown user has (0, zero). Returns EUNAVAILABLE
	// when storage cannot answer.
	Stats(ctx context.Context, userID int64, now time.Time) (live int, lastLogin time.Time, err error)
	// RevokeBeyond ends, at now, the oldest live sessions of userID so that
	// at most keep (>= 0) stay live, and returns how many it ended. A login
	// that must not exceed a cap of n sessions calls it with keep n-1
	// before Create. Concurrent calls end each session once. Returns
	// EUNAVAILABLE when storage cannot answer.
	RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error)
}

// SpentTokensKept is how many spent refresh tokens a session keeps for
// reuse detection: Rotate deletes the session's older spent tokens. A
// token spent more than SpentTokensKept rotations ago is then unknown
// (ENOTFOUND) instead of a detected reuse; see the design note in
// adapters/refreshtoken.
const SpentTokensKept = 32

// SessionTokens makes session ids and opaque refresh tokens.
type SessionTokens interface {
	// NewSessionID returns a fresh random session id.
	NewSessionID() (string, error)
	// NewRefreshToken returns a fresh random token of at least 256 bits.
	NewRefreshToken() (string, error)
	// Hash returns what is stored for token; ok is false when token is not
	// well-formed, and then nothing needs to be looked up.
	Hash(token string) (hash []byte, ok bool)
	// Successor derives, deterministically and with a server-side key, the
	// token that replaces token when it is rotated.
	Successor(token string) string
}

// DeviceClaims is what an authentic device token says.
type DeviceClaims struct {
	UserID    int64
	DeviceID  string
	ExpiresAt time.Time
}

// DeviceTokens issue and check device tokens: a client's proof that it
// logged in to an account before. A login that presents one for the same
// account is judged on that device's own failure budget instead of the
// account-wide cap, so an attacker who exhausts the cap cannot lock out
// the devices the owner already uses (OWASP's "device cookies").
type DeviceTokens interface {
	// Issue returns a token for userID's device deviceID ("" starts a new
	// device with a fresh random id), valid from now. Returns EINTERNAL
	// only (no entropy).
	Issue(userID int64, deviceID string, now time.Time) (string, error)
	// Verify returns the claims of a token that is authentic and
	// unexpired at now; ok is false for anything else, and then nothing
	// needs to be looked up.
	Verify(token string, now time.Time) (claims DeviceClaims, ok bool)
}

// PasswordHasher hashes and checks passwords. It is slow on purpose.
type PasswordHasher interface {
	// Admit decides, before a request spends anything else (decoding,
	// policy checks, storage), whether the hasher will take its password
	// work, so an overloaded hasher refuses cheaply. Admitted, it returns
	// a context carrying a reservation: Hash and Compare called with it,
	// or with a context derived from it, are not refused for load.
	// release gives back a reservation no Hash or Compare used; call it
	// when the request ends (it does nothing otherwise). Admit on a
	// context that already carries a reservation returns it unchanged
	// with a release that does nothing. Returns EUNAVAILABLE, with
	// RetryAfter when the hasher knows when there will be room, when it
	// cannot take the work.
	Admit(ctx context.Context) (admitted context.Context, release func(), err error)
	// Hash returns an encoded hash of password. Returns EUNAVAILABLE when
	// the hasher cannot take the work right now.
	Hash(ctx context.Context, password string) (string, error)
	// Compare reports whether password matches hash. A mismatch is
	// (false, nil), not an error. Returns EUNAVAILABLE when the hasher
	// cannot take the work right now, EINTERNAL for a malformed hash.
	Compare(ctx context.Context, hash, password string) (bool, error)
	// NeedsRehash reports whether hash was made with parameters (such as
	// the cost) other than the hasher's current ones.
	NeedsRehash(hash string) bool
	// Cheaper reports whether checking hash takes less work than checking
	// a hash the hasher makes now (it was made at a lower cost), so a
	// caller can spend the difference and answer in the same time.
	Cheaper(hash string) bool
}

// AccessToken is a signed bearer token and how long it lives.
type AccessToken struct {
	Token     string
	ExpiresIn time.Duration
}

// AccessSubject is whom an access token is issued to.
type AccessSubject struct {
	UserID    int64
	SessionID string
	// EmailVerified becomes the token's email_verified claim.
	EmailVerified bool
}

// AccessClaims is what a verified access token says.
type AccessClaims struct {
	UserID    int64
	SessionID string
	// EmailVerified is the email_verified claim: whether the user's email
	// was verified when the token was issued.
	EmailVerified bool
	TokenID       string
	IssuedAt      time.Time
	ExpiresAt     time.Time
}

// TokenIssuer issues and verifies access tokens.
type TokenIssuer interface {
	// Issue signs an access token for sub (user, session, whether the
	// user's email is verified: the email_verified claim), issued at now, that expires at the earlier of now plus the
	// configured lifetime and notAfter (the session's end; zero for no
	// cap), so no access token outlives its session. Returns
	// EUNAUTHORIZED (domain.ErrSessionEnded) when less than a second of
	// the session is left, EINTERNAL otherwise (e.g. no entropy).
	Issue(sub AccessSubject, now, notAfter time.Time) (AccessToken, error)
	// Verify checks token as of now: signature, algorithm, issuer,
	// audience, expiry, not-before and a session id. Returns EUNAUTHORIZED
	// (domain.ErrInvalidToken) for any token that is not acceptable.
	Verify(token string, now time.Time) (AccessClaims, error)
}

// Clock tells the time, so tests can control it.
type Clock interface {
	// Now returns the current time in UTC.
	Now() time.Time
}

// Validate returns EINVALID when q.Limit is not between 1 and
// MaxUserQueryLimit or q.AfterID is negative; stores call it first.
func (q UserQuery) Validate() error {
	switch {
	case q.Limit < 1 || q.Limit > MaxUserQueryLimit:
		return domain.Errorf(domain.EINVALID, "The page size must be between 1 and %d", MaxUserQueryLimit)
	case q.AfterID < 0:
		return domain.Errorf(domain.EINVALID, "The cursor must not be negative")
	}
	return nil
}

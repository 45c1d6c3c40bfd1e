// Package ports declares what the core needs from the outside world. Each
// method's comment names the domain error codes it returns; any other error
// is treated as internal.
package ports

//go:generate go tool mockgen -destination=mock/mock_ports.go -package=mock -typed . UserRepository,SessionRepository,PasswordHasher,TokenIssuer,SessionTokens,Clock,EventLog,RateLimitStore,BreachChecker,DeviceTokens

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
)

// UserRepository stores users.
type UserRepository interface {
	// Create stores a new user and returns it with its assigned ID.
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
	// Create stores a new session with the hash of its first refresh
	// token. Returns ENOTFOUND when the user does not exist, EUNAVAILABLE
	// when storage cannot answer.
	Create(ctx context.Context, s *domain.Session, tokenHash []byte) error
	// Rotate atomically spends the token whose hash is presented and
	// stores successor as its session's current token, but only when the
	// presented token is unspent and its session is live at now. It
	// returns the presented token's state as it was before the call and
	// whether it rotated; of many concurrent calls with one token, exactly
	// one rotates. Returns ENOTFOUND for an unknown token, EUNAVAILABLE
	// when storage cannot answer.
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
	// ActiveUser returns the user of session sessionID, in one indexed
	// query, when that session belongs to userID and is live at now.
	// Returns ENOTFOUND otherwise, EUNAVAILABLE when storage cannot answer.
	ActiveUser(ctx context.Context, sessionID string, userID int64, now time.Time) (*domain.User, error)
	// DeleteEnded deletes sessions (and their tokens) that expired or were
	// revoked before cutoff and returns how many. Returns EUNAVAILABLE.
	DeleteEnded(ctx context.Context, cutoff time.Time) (int, error)
}

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
}

// AccessToken is a signed bearer token and how long it lives.
type AccessToken struct {
	Token     string
	ExpiresIn time.Duration
}

// AccessClaims is what a verified access token says.
type AccessClaims struct {
	UserID    int64
	SessionID string
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// TokenIssuer issues and verifies access tokens.
type TokenIssuer interface {
	// Issue signs an access token for userID within session sessionID,
	// issued at now. Returns EINTERNAL only (e.g. no entropy).
	Issue(userID int64, sessionID string, now time.Time) (AccessToken, error)
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

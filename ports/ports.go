// Package ports declares what the core needs from the outside world. Each
// method's comment names the domain error codes it returns; any other error
// is treated as internal.
package ports

//go:generate go tool mockgen -destination=mock/mock_ports.go -package=mock -typed . UserRepository,PasswordHasher,TokenIssuer,Clock

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
}

// AccessToken is a signed bearer token and how long it lives.
type AccessToken struct {
	Token     string
	ExpiresIn time.Duration
}

// AccessClaims is what a verified access token says.
type AccessClaims struct {
	UserID    int64
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// TokenIssuer issues and verifies access tokens.
type TokenIssuer interface {
	// Issue signs an access token for userID, issued at now.
	// Returns EINTERNAL only (e.g. no entropy).
	Issue(userID int64, now time.Time) (AccessToken, error)
	// Verify checks token as of now: signature, algorithm, issuer,
	// audience, expiry and not-before. Returns EUNAUTHORIZED
	// (domain.ErrInvalidToken) for any token that is not acceptable.
	Verify(token string, now time.Time) (AccessClaims, error)
}

// Clock tells the time, so tests can control it.
type Clock interface {
	// Now returns the current time in UTC.
	Now() time.Time
}

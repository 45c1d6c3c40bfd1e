package domain

import (
	"errors"
	"time"
)

// Session is one login: a family of refresh tokens that rotate on every
// refresh. It ends at its absolute expiry (refreshing never extends it) or
// when it is revoked (logout, logout-all, refresh-token reuse).
type Session struct {
	id        string
	userID    int64
	createdAt time.Time
	expiresAt time.Time
	revokedAt time.Time // zero while not revoked
}

// NewSession starts a session for userID at now that lasts ttl.
func NewSession(id string, userID int64, now time.Time, ttl time.Duration) (*Session, error) {
	switch {
	case id == "":
		return nil, errors.New("domain: session without an id")
	case userID <= 0:
		return nil, errors.New("domain: session without a user")
	case now.IsZero():
		return nil, errors.New("domain: session without a start time")
	case ttl <= 0:
		return nil, errors.New("domain: session lifetime must be positive")
	}
	now = now.UTC()
	return &Session{id: id, userID: userID, createdAt: now, expiresAt: now.Add(ttl)}, nil
}

// RehydrateSession rebuilds a stored session; only repository adapters call
// it. revokedAt is zero for a session that is not revoked.
func RehydrateSession(id string, userID int64, createdAt, expiresAt, revokedAt time.Time) *Session {
	s := &Session{id: id, userID: userID, createdAt: createdAt.UTC(), expiresAt: expiresAt.UTC()}
	if !revokedAt.IsZero() {
		s.revokedAt = revokedAt.UTC()
	}
	return s
}

// ID is the session's random identifier (the access token's sid claim).
func (s *Session) ID() string { return s.id }

// UserID is the account the session belongs to.
func (s *Session) UserID() int64 { return s.userID }

// CreatedAt is when the user logged in.
func (s *Session) CreatedAt() time.Time { return s.createdAt }

// ExpiresAt is the absolute end of the session.
func (s *Session) ExpiresAt() time.Time { return s.expiresAt }

// RevokedAt is when the session was revoked; zero if it was not.
func (s *Session) RevokedAt() time.Time { return s.revokedAt }

// LiveAt reports whether the session can still be used at now.
func (s *Session) LiveAt(now time.Time) bool {
	return s.revokedAt.IsZero() && now.Before(s.expiresAt)
}

// RemainingAt is how long the session has left at now (zero when ended).
func (s *Session) RemainingAt(now time.Time) time.Duration {
	if !s.LiveAt(now) {
		return 0
	}
	return s.expiresAt.Sub(now)
}

// ErrInvalidRefreshToken is the one answer for an unknown, malformed,
// expired, revoked or reused refresh token.
var ErrInvalidRefreshToken = &Error{Code: EUNAUTHORIZED, Message: "Invalid refresh token"}

// ErrSessionEnded is what a token issuer returns when asked for an access
// token capped at a session's end that has already come (or comes within
// the current second): there is no lifetime left to give the token.
var ErrSessionEnded = &Error{Code: EUNAUTHORIZED, Message: "Session has ended"}

// ErrSessionNotFound is what repositories return for a missing session or
// refresh token.
var ErrSessionNotFound = &Error{Code: ENOTFOUND, Message: "Session not found"}

package domain

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
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

	// lastUsedAt is when the session was last seen in use; the store
	// updates it at most every so often (see ports.SessionRepository.Touch),
	// so it is approximate.
	lastUsedAt time.Time
	userAgent  string
	clientAddr string
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
	return &Session{id: id, userID: userID, createdAt: now, expiresAt: now.Add(ttl), lastUsedAt: now}, nil
}

// MaxUserAgentBytes bounds the user agent a session keeps. A User-Agent
// header is whatever the client sends; the session list only needs enough
// of it for a person to recognise a device, and the bound keeps a hostile
// client from storing kilobytes per login.
const MaxUserAgentBytes = 256

// WithClient returns a copy of s that records the client that logged in:
// its User-Agent header and its network address as the HTTP adapter saw
// it. It is meant for a new session, before it is stored. userAgent is
// made valid UTF-8 without NUL bytes (PostgreSQL's text refuses both,
// and a login must not fail over a header) and is cut to
// MaxUserAgentBytes on a character boundary.
func (s *Session) WithClient(userAgent, clientAddr string) *Session {
	c := *s
	c.userAgent = truncateUTF8(cleanText(userAgent), MaxUserAgentBytes)
	c.clientAddr = truncateUTF8(cleanText(clientAddr), MaxUserAgentBytes)
	return &c
}

// cleanText replaces invalid UTF-8 and drops NUL bytes.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// truncateUTF8 cuts valid UTF-8 s to at most n bytes without splitting a
// character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RehydrateSession rebuilds a stored session without client metadata (its
// last use is its creation); only repository adapters and tests call it.
// revokedAt is zero for a session that is not revoked.
func RehydrateSession(id string, userID int64, createdAt, expiresAt, revokedAt time.Time) *Session {
	return RehydrateSessionRecord(SessionRecord{ID: id, UserID: userID, CreatedAt: createdAt, ExpiresAt: expiresAt, RevokedAt: revokedAt})
}

// SessionRecord is a stored session as a repository reads it back.
type SessionRecord struct {
	ID                              string
	UserID                          int64
	CreatedAt, ExpiresAt, RevokedAt time.Time // RevokedAt zero: not revoked
	LastUsedAt                      time.Time // zero: CreatedAt
	UserAgent, ClientAddr           string
}

// RehydrateSessionRecord rebuilds a stored session with its metadata; only
// repository adapters call it. The data is trusted to have been cleaned
// when it was written.
func RehydrateSessionRecord(r SessionRecord) *Session {
	s := &Session{
		id: r.ID, userID: r.UserID, createdAt: r.CreatedAt.UTC(), expiresAt: r.ExpiresAt.UTC(),
		lastUsedAt: r.LastUsedAt.UTC(), userAgent: r.UserAgent, clientAddr: r.ClientAddr,
	}
	if r.LastUsedAt.IsZero() {
		s.lastUsedAt = s.createdAt
	}
	if !r.RevokedAt.IsZero() {
		s.revokedAt = r.RevokedAt.UTC()
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

// LastUsedAt is about when the session was last used (its creation, until
// the store records a use).
func (s *Session) LastUsedAt() time.Time { return s.lastUsedAt }

// UserAgent is the client's User-Agent at login, at most
// MaxUserAgentBytes; "" when unknown.
func (s *Session) UserAgent() string { return s.userAgent }

// ClientAddr is the client's network address at login; "" when unknown.
func (s *Session) ClientAddr() string { return s.clientAddr }

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
var ErrInvalidRefreshToken = &Error{Code: EUNAUTHORIZED, Reason: ReasonInvalidRefreshToken, Message: "Invalid refresh token"}

// ErrSessionEnded is what a token issuer returns when asked for an access
// token capped at a session's end that has already come (or comes within
// the current second): there is no lifetime left to give the token. Only
// a refresh can meet it (a login's session has just begun), so its reason
// is the refresh token's, should it ever reach a client unchanged.
var ErrSessionEnded = &Error{Code: EUNAUTHORIZED, Reason: ReasonInvalidRefreshToken, Message: "Session has ended"}

// ErrSessionNotFound is what repositories return for a missing session or
// refresh token.
var ErrSessionNotFound = &Error{Code: ENOTFOUND, Reason: ReasonNotFound, Message: "Session not found"}

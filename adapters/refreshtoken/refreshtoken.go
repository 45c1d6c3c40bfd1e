// Package refreshtoken implements ports.SessionTokens: random session ids,
// random opaque refresh tokens, their stored hashes, and the keyed
// derivation of each token's successor.
//
// # Why successors are derived, not drawn at random
//
// Every refresh rotates the token: the presented token is spent and a
// successor is issued. Two tabs (or a client retrying after a lost
// response) often present the same token at nearly the same moment. If each
// rotation drew a fresh random successor, the second caller would either be
// refused (logging the user out) or get a second, different successor
// (forking the session into two valid tokens). Storing the successor's
// plaintext so it could be handed out again would put usable tokens in the
// database.
//
// Instead the successor is a function of the presented token and a server
// key: successor = base64url(HMAC-SHA256(key, label || token)). The database
// holds only SHA-256 hashes. The first caller spends the token and stores
// hash(successor); every later caller within the grace window recomputes the
// same successor from the token it holds, finds hash(successor) is the
// session's current token, and receives the very same string. So exactly one
// refresh token of the session is valid afterwards, whoever won the race,
// and nothing in storage can be turned back into a token. Without the key a
// stolen database dump yields neither current tokens nor successors.
//
// A spent token presented after the grace window is treated as theft by the
// use case (the whole session is revoked); this package only does the
// cryptography.
//
// # How long spent tokens are remembered
//
// Reuse detection needs the hashes of spent tokens, but a session that
// refreshes every few minutes for a month would otherwise pile up
// thousands of rows. So each rotation also deletes the session's spent
// tokens beyond the newest ports.SpentTokensKept (32), in the same
// transaction as the rotation. The trade-off: a token spent within the last
// 32 rotations is still recognised, and presenting it revokes the session;
// one spent longer ago is simply unknown and gets a plain 401, without
// reuse detection and without ending the session. A thief replaying a
// token that old has the same 401, and the session's current token
// (which the legitimate client holds) keeps rotating. Storage per session
// is then bounded at 33 token rows, whatever its age.
package refreshtoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/authd/authd/ports"
)

var _ ports.SessionTokens = (*Tokens)(nil)

const (
	// tokenBytes is the entropy of a refresh token: 256 bits.
	tokenBytes = 32
	// MinKeyBytes is the shortest successor key accepted.
	MinKeyBytes = 32
	// successorLabel separates this HMAC use from any other use of the key.
	successorLabel = "authd/refresh-token/successor/v1\x00"
)

// enc is strict so that a token has exactly one spelling: the lenient
// decoder ignores the unused low bits of the last character, which would
// let four different strings name the same token.
var enc = base64.RawURLEncoding.Strict()

// tokenLen is the length of an encoded token.
var tokenLen = enc.EncodedLen(tokenBytes)

// Tokens makes session ids and refresh tokens with one successor key.
type Tokens struct {
	key []byte
}

// New returns Tokens that derive successors with key (at least 32 bytes,
// the same on every instance that shares the database).
func New(key []byte) (*Tokens, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("refreshtoken: key must be at least %d bytes", MinKeyBytes)
	}
	return &Tokens{key: append([]byte(nil), key...)}, nil
}

// DeriveKey turns another secret (such as the JWT signing secret) into a
// successor key, so one configured secret can serve both without the two
// uses sharing a key.
func DeriveKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authd/refresh-token/successor-key/v1"))
	return m.Sum(nil)
}

// NewSessionID returns 128 random bits in hex.
func (t *Tokens) NewSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.New("refreshtoken: no randomness for a session id")
	}
	return hex.EncodeToString(b[:]), nil
}

// NewRefreshToken returns 256 random bits, base64url without padding.
func (t *Tokens) NewRefreshToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.New("refreshtoken: no randomness for a refresh token")
	}
	return enc.EncodeToString(b[:]), nil
}

// Hash returns SHA-256 of the token's bytes. A plain (unkeyed) hash is
// enough: the input has 256 bits of entropy, so it cannot be guessed from
// its hash. ok is false when token is not a well-formed refresh token (for
// example an access token presented by mistake).
func (t *Tokens) Hash(token string) ([]byte, bool) {
	raw, ok := decode(token)
	if !ok {
		return nil, false
	}
	h := sha256.Sum256(raw)
	return h[:], true
}

// Successor derives the token that replaces token; see the package comment.
// For a malformed token it returns "" (which Hash rejects).
func (t *Tokens) Successor(token string) string {
	raw, ok := decode(token)
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(successorLabel))
	m.Write(raw)
	return enc.EncodeToString(m.Sum(nil))
}

func decode(token string) ([]byte, bool) {
	if len(token) != tokenLen {
		return nil, false
	}
	raw, err := enc.DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return nil, false
	}
	return raw, true
}

// Package jwt implements ports.TokenIssuer with HS256 JSON Web Tokens
// (github.com/golang-jwt/jwt/v5).
package jwt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.TokenIssuer = (*Issuer)(nil)

// Config is what the issuer needs; cmd/authd fills it from configuration.
type Config struct {
	Secret   []byte
	Issuer   string
	Audience string
	TTL      time.Duration
}

// Issuer signs and verifies access tokens with one symmetric key.
type Issuer struct {
	cfg    Config
	method jwt.SigningMethod
}

// New returns an issuer; the secret, issuer and audience must be set and
// the lifetime a positive whole number of seconds (token times have
// one-second precision, so 500ms would give exp == iat and 1.5s would make
// ExpiresIn disagree with exp).
func New(cfg Config) (*Issuer, error) {
	switch {
	case len(cfg.Secret) == 0:
		return nil, errors.New("jwt: empty secret")
	case cfg.Issuer == "":
		return nil, errors.New("jwt: empty issuer")
	case cfg.Audience == "":
		return nil, errors.New("jwt: empty audience")
	case cfg.TTL <= 0:
		return nil, errors.New("jwt: token lifetime must be positive")
	case cfg.TTL%time.Second != 0:
		return nil, fmt.Errorf("jwt: token lifetime %v is not a whole number of seconds", cfg.TTL)
	}
	return &Issuer{cfg: cfg, method: jwt.SigningMethodHS256}, nil
}

// claims are the registered claims plus the session id, which every
// authenticated request checks against the session store.
type claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// Issue signs a token for userID in sessionID with iat = nbf = now and
// exp = now + TTL.
func (i *Issuer) Issue(userID int64, sessionID string, now time.Time) (ports.AccessToken, error) {
	if sessionID == "" {
		return ports.AccessToken{}, errors.New("jwt: access token without a session")
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return ports.AccessToken{}, fmt.Errorf("jwt: token id: %w", err)
	}
	now = now.Truncate(time.Second)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.FormatInt(userID, 10),
			Issuer:    i.cfg.Issuer,
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.cfg.TTL)),
			ID:        hex.EncodeToString(id[:]),
		},
		SessionID: sessionID,
	}
	s, err := jwt.NewWithClaims(i.method, c).SignedString(i.cfg.Secret)
	if err != nil {
		return ports.AccessToken{}, fmt.Errorf("jwt: sign: %w", err)
	}
	return ports.AccessToken{Token: s, ExpiresIn: i.cfg.TTL}, nil
}

// Verify accepts only HS256 tokens signed with the secret, naming the
// configured issuer and audience, with exp present and not passed, and
// nbf/iat (when present) not in the future. The algorithm is pinned, so an
// "alg": "none" or RS256-with-public-key-as-secret token is refused.
func (i *Issuer) Verify(token string, now time.Time) (ports.AccessClaims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{i.method.Alg()}),
		jwt.WithIssuer(i.cfg.Issuer),
		jwt.WithAudience(i.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c claims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return i.cfg.Secret, nil })
	if err != nil {
		return ports.AccessClaims{}, invalid(err)
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || uid <= 0 {
		return ports.AccessClaims{}, invalid(fmt.Errorf("jwt: bad subject %q", c.Subject))
	}
	if c.SessionID == "" {
		return ports.AccessClaims{}, invalid(errors.New("jwt: no session id"))
	}
	out := ports.AccessClaims{UserID: uid, SessionID: c.SessionID, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time.UTC()}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time.UTC()
	}
	return out, nil
}

func invalid(cause error) error {
	return &domain.Error{Code: domain.EUNAUTHORIZED, Message: domain.ErrInvalidToken.Message, Err: cause}
}

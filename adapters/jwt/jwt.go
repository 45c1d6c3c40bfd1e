// Package jwt implements ports.TokenIssuer with JSON Web Tokens
// (github.com/golang-jwt/jwt/v5), signed with an HS256 secret or with an
// Ed25519 (EdDSA) or ECDSA P-256 (ES256) private key.
//
// An issuer holds a key set: one signing key and any number of
// verification-only keys, so keys can be rotated without invalidating the
// tokens already out. Every token names its key in the "kid" header;
// verification looks the key up by kid and accepts only that key's own
// algorithm. The public keys are published as a JWK Set (JWKS), so other
// services can verify tokens without any shared secret.
//
// Tokens are typed as OAuth access tokens (RFC 9068): the "typ" header is
// "at+jwt", and verification refuses any other type, so a JWT minted for
// another purpose (an ID token, a signed link) with the same key and
// claims cannot pass as an access token.
package jwt

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var _ ports.TokenIssuer = (*Issuer)(nil)

// Config is what the issuer needs; cmd/authd fills it from configuration.
type Config struct {
	// Secret is an HS256 secret. Alone, it signs: shorthand for
	// SigningKey = HMACKey(Secret). Next to a SigningKey it only verifies,
	// as the last verification key: a deployment that moves from HS256 to
	// an asymmetric key keeps accepting the tokens signed before the
	// switch until they expire.
	Secret []byte
	// SigningKey signs every new token (and verifies them). It must hold
	// private or secret material.
	SigningKey Key
	// VerificationKeys are accepted on verification but never sign: keys
	// being introduced, or retired keys whose tokens have not expired yet.
	// A key listed twice, or also the signing key, counts once.
	VerificationKeys []Key
	Issuer           string
	Audience         string
	TTL              time.Duration
}

// Issuer signs access tokens with one key and verifies them with its key
// set.
type Issuer struct {
	cfg     Config
	signing Key
	keys    map[string]Key // by kid: the signing key and the verification-only keys
	// verifying are the verification-only keys, in configuration order
	// (a demoted Secret last), each once.
	verifying []Key
	algs      []string // every algorithm in the key set
	jwks      []byte
	verified  *verified
}

// New returns an issuer; a signing key (or secret), the issuer and the
// audience must be set and the lifetime a positive whole number of seconds
// (token times have one-second precision, so 500ms would give exp == iat
// and 1.5s would make ExpiresIn disagree with exp).
func New(cfg Config) (*Issuer, error) {
	switch {
	case cfg.Secret == nil && cfg.SigningKey.IsZero():
		return nil, errors.New("jwt: no signing key")
	case cfg.Issuer == "":
		return nil, errors.New("jwt: empty issuer")
	case cfg.Audience == "":
		return nil, errors.New("jwt: empty audience")
	case cfg.TTL <= 0:
		return nil, errors.New("jwt: token lifetime must be positive")
	case cfg.TTL%time.Second != 0:
		return nil, fmt.Errorf("jwt: token lifetime %v is not a whole number of seconds", cfg.TTL)
	}
	signing, verifying := cfg.SigningKey, slices.Clip(cfg.VerificationKeys)
	if cfg.Secret != nil {
		k, err := HMACKey(cfg.Secret)
		if err != nil {
			return nil, err
		}
		if signing.IsZero() {
			signing = k
		} else {
			verifying = append(verifying, k) // demoted: verifies only
		}
	}
	if !signing.CanSign() {
		return nil, fmt.Errorf("jwt: the signing key %s is a public key; signing needs the private key", signing.ID())
	}
	i := &Issuer{cfg: cfg, signing: signing, keys: map[string]Key{}, verified: newVerified()}
	set := JWKSet{Keys: []JWK{}}
	for n, k := range append([]Key{signing}, verifying...) {
		if k.IsZero() {
			return nil, fmt.Errorf("jwt: verification key %d is empty", n)
		}
		if prev, ok := i.keys[k.ID()]; ok {
			if prev.Algorithm() != k.Algorithm() {
				return nil, fmt.Errorf("jwt: two keys with id %s and different algorithms", k.ID())
			}
			continue
		}
		i.keys[k.ID()] = k
		if n > 0 {
			i.verifying = append(i.verifying, k)
		}
		if !slices.Contains(i.algs, k.Algorithm()) {
			i.algs = append(i.algs, k.Algorithm())
		}
		if jwk, ok := k.PublicJWK(); ok {
			set.Keys = append(set.Keys, jwk)
		}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwt: key set: %w", err)
	}
	i.jwks = jwks
	return i, nil
}

// SigningKey returns the key that signs new tokens.
func (i *Issuer) SigningKey() Key { return i.signing }

// KeyIDs names the key set for logs, as "ALG kid" (never key material):
// the signing key, and the verification-only keys in configuration order.
func (i *Issuer) KeyIDs() (signing string, verificationOnly []string) {
	verificationOnly = make([]string, 0, len(i.verifying))
	for _, k := range i.verifying {
		verificationOnly = append(verificationOnly, k.Algorithm()+" "+k.ID())
	}
	return i.signing.Algorithm() + " " + i.signing.ID(), verificationOnly
}

// JWKS returns the JWK Set document (JSON) of the public verification
// keys: the signing key's public half first, then the verification-only
// public keys, in configuration order. HS256 secrets are never in it, so
// with only a secret the set is {"keys":[]}.
func (i *Issuer) JWKS() []byte { return append([]byte(nil), i.jwks...) }

// claims are the registered claims plus the session id, which every
// authenticated request checks against the session store, and
// email_verified, always present (no omitempty) so a client reads false
// rather than a missing claim. A token issued before email_verified
// existed decodes with it false.
type claims struct {
	jwt.RegisteredClaims
	SessionID     string `json:"sid"`
	EmailVerified bool   `json:"email_verified"`
}

// TokenType is the "typ" header of every issued token (RFC 9068 2.1).
const TokenType = "at+jwt"

// Issue signs an access token for sub (sub = user id, sid = session id,
// email_verified), with iat = nbf = now and its life capped at notAfter, the end of
// its session, so no access token outlives the session it belongs to:
// exp = min(now + TTL, notAfter), and ExpiresIn = exp - iat agrees with
// the token. Times have one-second precision: now is rounded down (as iat)
// and so is notAfter, so exp is never after notAfter. A zero notAfter
// means no cap. When the capped lifetime would be under one second (the
// session ends within the current second, or has ended) no token is
// issued and the error is EUNAUTHORIZED (domain.ErrSessionEnded); any other
// error is EINTERNAL.
func (i *Issuer) Issue(sub ports.AccessSubject, now, notAfter time.Time) (ports.AccessToken, error) {
	if sub.SessionID == "" {
		return ports.AccessToken{}, errors.New("jwt: access token without a session")
	}
	now = now.Truncate(time.Second)
	exp := now.Add(i.cfg.TTL)
	if !notAfter.IsZero() {
		if end := notAfter.Truncate(time.Second); end.Before(exp) {
			exp = end
		}
		if !exp.After(now) {
			return ports.AccessToken{}, &domain.Error{
				Code:    domain.ErrSessionEnded.Code,
				Reason:  domain.ErrSessionEnded.Reason,
				Message: domain.ErrSessionEnded.Message,
				Err:     fmt.Errorf("jwt: session ends at %s, not after %s", notAfter.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339)),
			}
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return ports.AccessToken{}, fmt.Errorf("jwt: token id: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.FormatInt(sub.UserID, 10),
			Issuer:    i.cfg.Issuer,
			Audience:  jwt.ClaimStrings{i.cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        hex.EncodeToString(id[:]),
		},
		SessionID:     sub.SessionID,
		EmailVerified: sub.EmailVerified,
	}
	t := jwt.NewWithClaims(i.signing.method, c)
	t.Header["typ"] = TokenType
	t.Header["kid"] = i.signing.id
	s, err := t.SignedString(i.signing.sign)
	if err != nil {
		return ports.AccessToken{}, fmt.Errorf("jwt: sign: %w", err)
	}
	return ports.AccessToken{Token: s, ExpiresIn: exp.Sub(now)}, nil
}

// Verify accepts only tokens typed "at+jwt" (or "application/at+jwt", in
// any case, as RFC 9068 and RFC 7515 allow) whose "kid" header names a key
// of the set,
// whose "alg" header is that key's algorithm, and whose signature that key
// verifies; naming the configured issuer and audience, with exp present
// and not passed, and nbf/iat (when present) not in the future. A token
// without kid is refused. Because the algorithm is pinned per key, an
// "alg": "none" token, or an HS256 token "signed" with an Ed25519 or ECDSA
// public key as its secret, is refused.
func (i *Issuer) Verify(token string, now time.Time) (ports.AccessClaims, error) {
	if c, ok := i.verified.get(token, now); ok {
		return c, nil
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(i.algs),
		jwt.WithIssuer(i.cfg.Issuer),
		jwt.WithAudience(i.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c claims
	_, err := p.ParseWithClaims(token, &c, i.verificationKey)
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
	out := ports.AccessClaims{
		UserID:        uid,
		SessionID:     c.SessionID,
		EmailVerified: c.EmailVerified,
		TokenID:       c.ID,
		ExpiresAt:     c.ExpiresAt.Time.UTC(),
	}
	notBefore := time.Time{}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time.UTC()
		notBefore = out.IssuedAt
	}
	if c.NotBefore != nil && c.NotBefore.Time.After(notBefore) {
		notBefore = c.NotBefore.Time.UTC()
	}
	i.verified.put(token, out, notBefore)
	return out, nil
}

// verificationKey finds the key for t by its kid and refuses a token whose
// algorithm is not that key's.
func (i *Issuer) verificationKey(t *jwt.Token) (any, error) {
	if typ, _ := t.Header["typ"].(string); !isAccessTokenType(typ) {
		return nil, fmt.Errorf("jwt: typ %q is not %s", typ, TokenType)
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New("jwt: no kid header")
	}
	k, ok := i.keys[kid]
	if !ok {
		return nil, errors.New("jwt: unknown kid")
	}
	if t.Method == nil || t.Method.Alg() != k.Algorithm() {
		return nil, fmt.Errorf("jwt: kid %s is an %s key, not %v", kid, k.Algorithm(), t.Header["alg"])
	}
	return k.verify, nil
}

// isAccessTokenType reports whether typ names an RFC 9068 access token.
// A media type in "typ" may drop its "application/" prefix (RFC 7515
// 4.1.9), and media types compare case-insensitively.
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, TokenType) || strings.EqualFold(typ, "application/"+TokenType)
}

func invalid(cause error) error {
	return domain.WithCause(domain.ErrInvalidToken, cause)
}

package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms a key can have. Each key has exactly one, fixed by its
// type: an HS256 secret, an Ed25519 key (EdDSA) or an ECDSA P-256 key
// (ES256).
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// Key is one key of an issuer's key set, with its algorithm and key id
// (kid). A Key made from a private key can sign and verify; one made from a
// public key only verifies. The zero Key is no key.
type Key struct {
	id     string
	method jwt.SigningMethod
	sign   any // []byte, ed25519.PrivateKey or *ecdsa.PrivateKey; nil for a public key
	verify any // []byte, ed25519.PublicKey or *ecdsa.PublicKey
	jwk    *JWK
}

// ID returns the key id every token signed with the key carries in its
// "kid" header.
func (k Key) ID() string { return k.id }

// Algorithm returns the JWS algorithm: HS256, EdDSA or ES256.
func (k Key) Algorithm() string {
	if k.method == nil {
		return ""
	}
	return k.method.Alg()
}

// CanSign reports whether the key holds private (or secret) material.
func (k Key) CanSign() bool { return k.sign != nil }

// Symmetric reports whether the key is an HS256 secret, which is never
// published.
func (k Key) Symmetric() bool { return k.method == jwt.SigningMethodHS256 }

// PublicJWK returns the key's public half as a JWK, and false for a
// symmetric key, which has none.
func (k Key) PublicJWK() (JWK, bool) {
	if k.jwk == nil {
		return JWK{}, false
	}
	return *k.jwk, true
}

// IsZero reports whether k is the zero Key (no key).
func (k Key) IsZero() bool { return k.method == nil }

// hmacKIDLabel separates the HS256 key id from every other use of the secret.
const hmacKIDLabel = "authd/jwt/hs256-kid/v1\x00"

// HMACKey returns an HS256 key. Its id is the first 96 bits of
// SHA-256(label || secret), base64url: stable across instances and
// restarts, and revealing no more about the secret than any token's HMAC
// already does.
func HMACKey(secret []byte) (Key, error) {
	if len(secret) == 0 {
		return Key{}, errors.New("jwt: empty secret")
	}
	s := append([]byte(nil), secret...)
	sum := sha256.Sum256(append([]byte(hmacKIDLabel), s...))
	return Key{
		id:     base64.RawURLEncoding.EncodeToString(sum[:12]),
		method: jwt.SigningMethodHS256,
		sign:   s,
		verify: s,
	}, nil
}

// ParsePEM parses every PEM block in data as one key: a PKCS#8 private key
// ("PRIVATE KEY") or a PKIX public key ("PUBLIC KEY"), Ed25519 or ECDSA on
// P-256. Text outside the blocks is ignored; data without a block, or with
// a block of another type or algorithm, is an error. Errors never quote
// key material.
func ParsePEM(data []byte) ([]Key, error) {
	var keys []Key
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		k, err := parseBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block (-----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----) found")
	}
	return keys, nil
}

func parseBlock(b *pem.Block) (Key, error) {
	if len(b.Headers) > 0 {
		return Key{}, fmt.Errorf("%s has PEM headers (an encrypted key?); give an unencrypted PKCS#8 key", b.Type)
	}
	switch b.Type {
	case "PRIVATE KEY":
		raw, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("not a PKCS#8 private key: %w", err)
		}
		switch k := raw.(type) {
		case ed25519.PrivateKey:
			return ed25519Key(k, k.Public().(ed25519.PublicKey)), nil
		case *ecdsa.PrivateKey:
			return ecdsaKey(k, &k.PublicKey)
		default:
			return Key{}, fmt.Errorf("a %T is not supported; use Ed25519 or ECDSA P-256", raw)
		}
	case "PUBLIC KEY":
		raw, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("not a PKIX public key: %w", err)
		}
		switch k := raw.(type) {
		case ed25519.PublicKey:
			return ed25519Key(nil, k), nil
		case *ecdsa.PublicKey:
			return ecdsaKey(nil, k)
		default:
			return Key{}, fmt.Errorf("a %T is not supported; use Ed25519 or ECDSA P-256", raw)
		}
	case "EC PRIVATE KEY":
		return Key{}, errors.New("EC PRIVATE KEY (SEC 1) is not supported; convert it to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt")
	case "ENCRYPTED PRIVATE KEY":
		return Key{}, errors.New("encrypted private keys are not supported; give an unencrypted PKCS#8 key")
	default:
		return Key{}, fmt.Errorf("a %q block is not a key authd reads (want PRIVATE KEY or PUBLIC KEY)", b.Type)
	}
}

func ed25519Key(priv ed25519.PrivateKey, pub ed25519.PublicKey) Key {
	jwk := &JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub)}
	k := Key{method: jwt.SigningMethodEdDSA, verify: pub, jwk: jwk}
	if priv != nil {
		k.sign = priv
	}
	k.id = jwk.Thumbprint()
	jwk.Kid, jwk.Alg, jwk.Use = k.id, AlgEdDSA, "sig"
	return k
}

func ecdsaKey(priv *ecdsa.PrivateKey, pub *ecdsa.PublicKey) (Key, error) {
	if pub.Curve != elliptic.P256() {
		return Key{}, fmt.Errorf("ECDSA on %s is not supported; use P-256 (ES256)", pub.Curve.Params().Name)
	}
	point, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes
	if err != nil {
		return Key{}, fmt.Errorf("invalid P-256 public key: %w", err)
	}
	jwk := &JWK{Kty: "EC", Crv: "P-256", X: b64(point[1:33]), Y: b64(point[33:])}
	k := Key{method: jwt.SigningMethodES256, verify: pub, jwk: jwk}
	if priv != nil {
		k.sign = priv
	}
	k.id = jwk.Thumbprint()
	jwk.Kid, jwk.Alg, jwk.Use = k.id, AlgES256, "sig"
	return k, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is a public key as a JSON Web Key (RFC 7517, with RFC 8037 for
// Ed25519): kty OKP with crv Ed25519 and x, or kty EC with crv P-256, x and
// y, each base64url without padding.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// Thumbprint is the RFC 7638 JWK thumbprint: base64url(SHA-256) of the
// required members in lexicographic order, without whitespace.
func (j JWK) Thumbprint() string {
	var canonical string
	if j.Kty == "EC" {
		canonical = fmt.Sprintf(`{"crv":%s,"kty":"EC","x":%s,"y":%s}`, quote(j.Crv), quote(j.X), quote(j.Y))
	} else {
		canonical = fmt.Sprintf(`{"crv":%s,"kty":%s,"x":%s}`, quote(j.Crv), quote(j.Kty), quote(j.X))
	}
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

// quote is a JSON string; the members quoted are base64url or fixed names,
// so this never fails.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// JWKSet is a JSON Web Key Set.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

package jwt_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	authjwt "github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/ports"
)

// pemOf encodes a private key as PKCS#8 or a public key as PKIX.
func pemOf(t testing.TB, key any) []byte {
	t.Helper()
	switch k := key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	default:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
}

// parseOne parses PEM holding exactly one key.
func parseOne(t testing.TB, data []byte) authjwt.Key {
	t.Helper()
	keys, err := authjwt.ParsePEM(data)
	if err != nil {
		t.Fatalf("ParsePEM: %v", err)
	}
	if len(keys) != 1 {
		t.Fatalf("ParsePEM: %d keys, want 1", len(keys))
	}
	return keys[0]
}

func newEd25519(t testing.TB) (ed25519.PrivateKey, authjwt.Key) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, parseOne(t, pemOf(t, priv))
}

func newP256(t testing.TB) (*ecdsa.PrivateKey, authjwt.Key) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, parseOne(t, pemOf(t, priv))
}

func newKeyIssuer(t testing.TB, signing authjwt.Key, verification ...authjwt.Key) *authjwt.Issuer {
	t.Helper()
	iss, err := authjwt.New(authjwt.Config{SigningKey: signing, VerificationKeys: verification, Issuer: issuer, Audience: audience, TTL: ttl})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return iss
}

// TestEd25519KeyIDIsTheRFC8037Thumbprint uses the key of RFC 8037,
// appendix A: its JWK x and its RFC 7638 thumbprint are given there.
func TestEd25519KeyIDIsTheRFC8037Thumbprint(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	const (
		wantX   = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
		wantKID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	)
	for name, data := range map[string][]byte{
		"private": pemOf(t, priv),
		"public":  pemOf(t, priv.Public()),
	} {
		k := parseOne(t, data)
		jwk, ok := k.PublicJWK()
		if !ok {
			t.Fatalf("%s: no public JWK", name)
		}
		if k.ID() != wantKID || jwk.Kid != wantKID || jwk.X != wantX || jwk.Kty != "OKP" || jwk.Crv != "Ed25519" || jwk.Y != "" {
			t.Errorf("%s: id %s, jwk %+v; want kid %s and x %s", name, k.ID(), jwk, wantKID, wantX)
		}
		if k.Algorithm() != "EdDSA" || k.CanSign() != (name == "private") || k.Symmetric() {
			t.Errorf("%s: alg %s, can sign %v, symmetric %v", name, k.Algorithm(), k.CanSign(), k.Symmetric())
		}
	}
}

// TestP256KeyIDIsTheRFC7638Thumbprint computes the thumbprint from the
// key's DER encoding, independently of the adapter's JWK code.
func TestP256KeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	priv, k := newP256(t)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	point := der[len(der)-65:] // a P-256 SubjectPublicKeyInfo ends with 0x04 || X || Y
	if point[0] != 4 {
		t.Fatalf("unexpected DER %x", der)
	}
	x := base64.RawURLEncoding.EncodeToString(point[1:33])
	y := base64.RawURLEncoding.EncodeToString(point[33:])
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	jwk, _ := k.PublicJWK()
	if k.ID() != want || jwk.X != x || jwk.Y != y || jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ES256" || jwk.Use != "sig" {
		t.Errorf("id %s jwk %+v; want kid %s x %s y %s", k.ID(), jwk, want, x, y)
	}
	if pub := parseOne(t, pemOf(t, &priv.PublicKey)); pub.ID() != k.ID() || pub.CanSign() {
		t.Errorf("public key: id %s, can sign %v", pub.ID(), pub.CanSign())
	}
}

func TestHMACKeyID(t *testing.T) {
	a, err := authjwt.HMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := authjwt.HMACKey(append([]byte(nil), secret...))
	c, _ := authjwt.HMACKey([]byte("another-secret-0123456789abcdef0123"))
	if a.ID() == "" || a.ID() != b.ID() || a.ID() == c.ID() {
		t.Errorf("ids %q %q %q: want stable and distinct", a.ID(), b.ID(), c.ID())
	}
	if strings.Contains(a.ID(), string(secret[:8])) || len(a.ID()) != 16 {
		t.Errorf("id %q", a.ID())
	}
	if _, ok := a.PublicJWK(); ok || !a.Symmetric() || !a.CanSign() || a.Algorithm() != "HS256" {
		t.Errorf("HS256 key: %+v", a)
	}
	if _, err := authjwt.HMACKey(nil); err == nil {
		t.Error("HMACKey(nil) accepted")
	}
}

func TestAsymmetricRoundTrip(t *testing.T) {
	edPriv, ed := newEd25519(t)
	ecPriv, ec := newP256(t)
	for _, tc := range []struct {
		alg    string
		key    authjwt.Key
		public any
	}{
		{"EdDSA", ed, edPriv.Public()},
		{"ES256", ec, &ecPriv.PublicKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			iss := newKeyIssuer(t, tc.key)
			tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, tok.Token, 0)
			if header["alg"] != tc.alg || header["kid"] != tc.key.ID() || header["typ"] != "at+jwt" || len(header) != 3 {
				t.Errorf("header %v, want alg %s kid %s typ at+jwt", header, tc.alg, tc.key.ID())
			}
			c, err := iss.Verify(tok.Token, t0.Add(time.Minute))
			if err != nil || c.UserID != 42 || c.SessionID != sid {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			// Anyone with the public key verifies it.
			if _, err := gojwt.Parse(tok.Token, func(*gojwt.Token) (any, error) { return tc.public, nil },
				gojwt.WithValidMethods([]string{tc.alg}), gojwt.WithTimeFunc(func() time.Time { return t0 })); err != nil {
				t.Errorf("golang-jwt with the public key: %v", err)
			}
			wantRejected(t, iss, tok.Token[:len(tok.Token)-4]+"AAAA", t0)
		})
	}
}

// TestRotation walks the rotation at the adapter: A signs; B is added for
// verification; B signs and A only verifies; A is removed.
func TestRotation(t *testing.T) {
	_, a := newEd25519(t)
	_, b := newP256(t)
	at := t0.Add(time.Minute)
	issue := func(iss *authjwt.Issuer) string {
		t.Helper()
		tok, err := iss.Issue(ports.AccessSubject{UserID: 7, SessionID: sid}, t0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	accepts := func(iss *authjwt.Issuer, tok string) {
		t.Helper()
		if _, err := iss.Verify(tok, at); err != nil {
			t.Errorf("token of kid %v rejected: %v", decodeSegment(t, tok, 0)["kid"], err)
		}
	}

	step0 := newKeyIssuer(t, a)
	tokA := issue(step0)

	step1 := newKeyIssuer(t, a, parseOne(t, pemOf(t, mustPublic(t, b))))
	if kid := decodeSegment(t, issue(step1), 0)["kid"]; kid != a.ID() {
		t.Errorf("step 1 signs with %v, want A %s (verification-only keys never sign)", kid, a.ID())
	}
	accepts(step1, tokA)

	aPublic := parseOne(t, pemOf(t, mustPublic(t, a)))
	step2 := newKeyIssuer(t, b, aPublic)
	tokB := issue(step2)
	if kid := decodeSegment(t, tokB, 0)["kid"]; kid != b.ID() {
		t.Errorf("step 2 signs with %v, want B %s", kid, b.ID())
	}
	accepts(step2, tokA)
	accepts(step2, tokB)
	accepts(step1, tokB) // an instance not yet switched accepts the new key's tokens

	step3 := newKeyIssuer(t, b)
	accepts(step3, tokB)
	wantRejected(t, step3, tokA, at)
}

// mustPublic returns the public half of k's private key, recovered by
// parsing: the adapter does not expose key material.
func mustPublic(t testing.TB, k authjwt.Key) any {
	t.Helper()
	jwk, ok := k.PublicJWK()
	if !ok {
		t.Fatal("no public key")
	}
	x, _ := base64.RawURLEncoding.DecodeString(jwk.X)
	if jwk.Kty == "OKP" {
		return ed25519.PublicKey(x)
	}
	y, _ := base64.RawURLEncoding.DecodeString(jwk.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestAlgorithmPinnedPerKey: a known kid with another algorithm than its
// key's fails, whatever the signature; so does the classic confusion of an
// HS256 token "signed" with a public key as the HMAC secret.
func TestAlgorithmPinnedPerKey(t *testing.T) {
	edPriv, ed := newEd25519(t)
	ecPriv, ec := newP256(t)
	hs, err := authjwt.HMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	iss := newKeyIssuer(t, ed, ec, hs)
	at := t0.Add(time.Minute)

	// Controls: each key's own algorithm verifies.
	for name, tok := range map[string]string{
		"EdDSA": signKID(t, gojwt.SigningMethodEdDSA, edPriv, ed.ID(), validClaims()),
		"ES256": signKID(t, gojwt.SigningMethodES256, ecPriv, ec.ID(), validClaims()),
		"HS256": signKID(t, gojwt.SigningMethodHS256, secret, hs.ID(), validClaims()),
	} {
		if _, err := iss.Verify(tok, at); err != nil {
			t.Errorf("%s control rejected: %v", name, err)
		}
	}

	edPub := edPriv.Public().(ed25519.PublicKey)
	jwks := iss.JWKS()
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	for name, tok := range map[string]string{
		"HS256 with the Ed25519 kid, public key bytes as secret": signKID(t, gojwt.SigningMethodHS256, []byte(edPub), ed.ID(), validClaims()),
		"HS256 with the Ed25519 kid, public PEM as secret":       signKID(t, gojwt.SigningMethodHS256, pemOf(t, edPub), ed.ID(), validClaims()),
		"HS256 with the Ed25519 kid, JWKS as secret":             signKID(t, gojwt.SigningMethodHS256, jwks, ed.ID(), validClaims()),
		"HS256 with the ES256 kid, public PEM as secret":         signKID(t, gojwt.SigningMethodHS256, pemOf(t, &ecPriv.PublicKey), ec.ID(), validClaims()),
		"HS256 with the Ed25519 kid, the real secret":            signKID(t, gojwt.SigningMethodHS256, secret, ed.ID(), validClaims()),
		"EdDSA with the ES256 kid":                               signKID(t, gojwt.SigningMethodEdDSA, edPriv, ec.ID(), validClaims()),
		"EdDSA with the HS256 kid":                               signKID(t, gojwt.SigningMethodEdDSA, edPriv, hs.ID(), validClaims()),
		"ES256 with the Ed25519 kid":                             signKID(t, gojwt.SigningMethodES256, ecPriv, ed.ID(), validClaims()),
		"ES384 with the ES256 kid":                               signKID(t, gojwt.SigningMethodES384, mustP384(t), ec.ID(), validClaims()),
		"EdDSA by an unknown key with the known kid":             signKID(t, gojwt.SigningMethodEdDSA, otherPriv, ed.ID(), validClaims()),
		"EdDSA by an unknown key with its own kid":               signKID(t, gojwt.SigningMethodEdDSA, otherPriv, parseOne(t, pemOf(t, otherPriv)).ID(), validClaims()),
		"EdDSA without kid":                                      signKID(t, gojwt.SigningMethodEdDSA, edPriv, nil, validClaims()),
		"none with the Ed25519 kid":                              signKID(t, gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, ed.ID(), validClaims()),
	} {
		t.Run(name, func(t *testing.T) { wantRejected(t, iss, tok, at) })
	}
}

func mustP384(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestJWKS(t *testing.T) {
	t.Run("HS256 only publishes nothing", func(t *testing.T) {
		if got := string(newIssuer(t).JWKS()); got != `{"keys":[]}` {
			t.Errorf("JWKS = %s", got)
		}
	})

	edPriv, ed := newEd25519(t)
	ecPriv, ec := newP256(t)
	hs, _ := authjwt.HMACKey(secret)
	edPublic := parseOne(t, pemOf(t, edPriv.Public()))
	// The P-256 verification key is given as its private key, the Ed25519
	// signing key once more as its public key: neither changes the set.
	iss := newKeyIssuer(t, ed, hs, ec, edPublic, ec)
	doc := iss.JWKS()
	for _, leak := range []string{`"d"`, `"k"`, base64.RawURLEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(edPriv.Seed())} {
		if bytes.Contains(doc, []byte(leak)) {
			t.Errorf("JWKS contains %s: %s", leak, doc)
		}
	}
	var set struct{ Keys []map[string]string }
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want the signing key and the P-256 key: %s", len(set.Keys), doc)
	}
	edJWK, ecJWK := set.Keys[0], set.Keys[1]
	if edJWK["kid"] != ed.ID() || edJWK["kty"] != "OKP" || edJWK["crv"] != "Ed25519" || edJWK["alg"] != "EdDSA" || edJWK["use"] != "sig" || len(edJWK) != 6 {
		t.Errorf("Ed25519 JWK %v", edJWK)
	}
	if x, _ := base64.RawURLEncoding.DecodeString(edJWK["x"]); !bytes.Equal(x, edPriv.Public().(ed25519.PublicKey)) {
		t.Errorf("Ed25519 x %s is not the public key", edJWK["x"])
	}
	if ecJWK["kid"] != ec.ID() || ecJWK["kty"] != "EC" || ecJWK["crv"] != "P-256" || ecJWK["alg"] != "ES256" || ecJWK["use"] != "sig" || len(ecJWK) != 7 {
		t.Errorf("P-256 JWK %v", ecJWK)
	}
	point, _ := ecPriv.PublicKey.Bytes()
	if x, _ := base64.RawURLEncoding.DecodeString(ecJWK["x"]); !bytes.Equal(x, point[1:33]) {
		t.Errorf("P-256 x %s is not the public key's", ecJWK["x"])
	}
	if y, _ := base64.RawURLEncoding.DecodeString(ecJWK["y"]); !bytes.Equal(y, point[33:]) {
		t.Errorf("P-256 y %s is not the public key's", ecJWK["y"])
	}
	// The document is a copy.
	doc[0] = 'X'
	if iss.JWKS()[0] != '{' {
		t.Error("JWKS returns the issuer's own buffer")
	}
}

func TestParsePEM(t *testing.T) {
	edPriv, _ := newEd25519(t)
	ecPriv, _ := newP256(t)
	data := append([]byte("comment before\n"), pemOf(t, edPriv)...)
	data = append(data, "\nbetween\n\n"...)
	data = append(data, pemOf(t, &ecPriv.PublicKey)...)
	keys, err := authjwt.ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Algorithm() != "EdDSA" || !keys[0].CanSign() || keys[1].Algorithm() != "ES256" || keys[1].CanSign() {
		t.Errorf("keys %+v", keys)
	}
}

func TestParsePEMRejects(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384 := mustP384(t)
	ecPriv, _ := newP256(t)
	sec1, err := x509.MarshalECPrivateKey(ecPriv)
	if err != nil {
		t.Fatal(err)
	}
	good := pemOf(t, ecPriv)
	body := strings.Split(string(good), "\n")[1] // a line of key material
	corrupt := bytes.Replace(good, []byte(body), []byte(strings.Repeat("A", len(body))), 1)

	for name, data := range map[string][]byte{
		"empty":                  nil,
		"not PEM":                []byte("not a key"),
		"raw base64":             []byte(body),
		"RSA private key":        pemOf(t, rsaKey),
		"RSA public key":         pemOf(t, &rsaKey.PublicKey),
		"P-384 private key":      pemOf(t, p384),
		"P-384 public key":       pemOf(t, &p384.PublicKey),
		"SEC 1 EC private key":   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		"encrypted private key":  pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"PEM headers":            pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: sec1}),
		"certificate":            pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}),
		"corrupt key":            corrupt,
		"good key then bad one":  append(append([]byte(nil), good...), pemOf(t, rsaKey)...),
		"public key as PKCS#8":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKIX(t, &ecPriv.PublicKey)}),
		"private key as PKIX":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKCS8(t, ecPriv)}),
		"truncated PEM":          good[:len(good)/2],
		"placeholder PEM key":    []byte("-----BEGIN PRIVATE KEY-----\nchange-me\n-----END PRIVATE KEY-----\n"),
		"only an END line":       []byte("-----END PRIVATE KEY-----\n"),
		"whitespace around none": []byte("\n\n  \n"),
	} {
		t.Run(name, func(t *testing.T) {
			keys, err := authjwt.ParsePEM(data)
			if err == nil {
				t.Fatalf("accepted: %d keys", len(keys))
			}
			if strings.Contains(err.Error(), body[:16]) {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

func mustPKIX(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustPKCS8(t testing.TB, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestNewRejectsBadKeySets(t *testing.T) {
	edPriv, ed := newEd25519(t)
	edPublic := parseOne(t, pemOf(t, edPriv.Public()))
	base := authjwt.Config{Issuer: issuer, Audience: audience, TTL: ttl}
	for name, change := range map[string]func(*authjwt.Config){
		"public key as signing key":   func(c *authjwt.Config) { c.SigningKey = edPublic },
		"no signing key":              func(c *authjwt.Config) { c.VerificationKeys = []authjwt.Key{ed} },
		"zero verification key":       func(c *authjwt.Config) { c.SigningKey, c.VerificationKeys = ed, []authjwt.Key{{}} },
		"empty secret with a key":     func(c *authjwt.Config) { c.Secret, c.SigningKey = []byte{}, ed },
		"signing key and no issuer":   func(c *authjwt.Config) { c.SigningKey, c.Issuer = ed, "" },
		"signing key and 1.5s TTL":    func(c *authjwt.Config) { c.SigningKey, c.TTL = ed, 1500*time.Millisecond },
		"signing key and no audience": func(c *authjwt.Config) { c.SigningKey, c.Audience = ed, "" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			change(&cfg)
			if iss, err := authjwt.New(cfg); err == nil || iss != nil {
				t.Errorf("New = %v, %v; want an error", iss, err)
			}
		})
	}
	// A secret may verify next to a signing key.
	hs, _ := authjwt.HMACKey(secret)
	iss := newKeyIssuer(t, ed, hs)
	if _, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, validClaims()), t0.Add(time.Minute)); err != nil {
		t.Errorf("HS256 verification-only key: %v", err)
	}
	if iss.SigningKey().ID() != ed.ID() {
		t.Errorf("SigningKey = %s, want %s", iss.SigningKey().ID(), ed.ID())
	}
}

func BenchmarkAsymmetric(b *testing.B) {
	_, ed := newEd25519(b)
	_, ec := newP256(b)
	for _, k := range []authjwt.Key{ed, ec} {
		iss := newKeyIssuer(b, k)
		tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.Algorithm()+"/issue", func(b *testing.B) {
			for b.Loop() {
				if _, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.Algorithm()+"/verify", func(b *testing.B) {
			for b.Loop() {
				if _, err := iss.Verify(tok.Token, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSecretNextToSigningKeyOnlyVerifies: given both, the signing key
// signs and the secret is demoted to the last verification-only key, so
// HS256 tokens from before a switch to asymmetric keys stay valid; no
// token is signed with the secret any more.
func TestSecretNextToSigningKeyOnlyVerifies(t *testing.T) {
	_, ed := newEd25519(t)
	_, p256 := newP256(t)
	iss, err := authjwt.New(authjwt.Config{Secret: secret, SigningKey: ed, VerificationKeys: []authjwt.Key{p256}, Issuer: issuer, Audience: audience, TTL: ttl})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if iss.SigningKey().ID() != ed.ID() {
		t.Errorf("SigningKey = %s, want the Ed25519 key %s", iss.SigningKey().ID(), ed.ID())
	}
	if _, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, validClaims()), t0.Add(time.Minute)); err != nil {
		t.Errorf("token signed with the secret: %v", err)
	}
	tok, err := iss.Issue(ports.AccessSubject{UserID: 1, SessionID: "session"}, t0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if alg := decodeSegment(t, tok.Token, 0)["alg"]; alg != "EdDSA" {
		t.Errorf("new token alg %v, want EdDSA", alg)
	}
	signing, verifying := iss.KeyIDs()
	if signing != "EdDSA "+ed.ID() {
		t.Errorf("KeyIDs signing = %q", signing)
	}
	if len(verifying) != 2 || verifying[0] != "ES256 "+p256.ID() || verifying[1] != "HS256 "+hsKID(t) {
		t.Errorf("KeyIDs verification-only = %q, want the P-256 key then the secret", verifying)
	}
	if strings.Contains(strings.Join(verifying, " "), string(secret)) {
		t.Error("KeyIDs shows the secret")
	}

	// Alone, the secret signs and nothing is verification-only.
	signing, verifying = newIssuer(t).KeyIDs()
	if signing != "HS256 "+hsKID(t) || len(verifying) != 0 {
		t.Errorf("secret alone: KeyIDs = %q, %q", signing, verifying)
	}
}

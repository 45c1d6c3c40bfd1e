package main

// Asymmetric access tokens end to end: a downstream service verifying them
// with nothing but the JWKS document, the algorithm-confusion attack, and
// the key rotation procedure of docs/keys.md.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/authd/authd/docs/openapitest"
)

// testKeyPEM generates a key ("Ed25519" or "P-256") and returns its
// private key as PKCS#8 PEM and its public key as PKIX PEM.
func testKeyPEM(t testing.TB, kind string) (private, public string) {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "Ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "P-256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// asymmetricVars configures authd to sign with signingKey and no HS256
// secret, with a fixed refresh-token key (the same on every instance).
func asymmetricVars(dbURL, signingKey string) map[string]string {
	return map[string]string{
		"AUTHD_DATABASE_URL":      dbURL,
		"AUTHD_JWT_SIGNING_KEY":   signingKey,
		"AUTHD_JWT_SECRET":        "", // unset the test default
		"AUTHD_REFRESH_TOKEN_KEY": "refresh-key-shared-by-all-instances-0123456789",
	}
}

// with returns a copy of vars with kv (name, value, ...) set.
func with(vars map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range vars {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// signUp registers email and logs in, returning the login response body.
func signUp(t *testing.T, in *instance, email string) map[string]any {
	t.Helper()
	creds := `{"email":"` + email + `","password":"a long enough password"}`
	if r := in.do("POST", "/api/v1/auth/register", creds); r.status != 201 {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	return logIn(t, in, email)
}

// logIn logs email in (registered by signUp), returning the response body.
func logIn(t *testing.T, in *instance, email string) map[string]any {
	t.Helper()
	r := in.do("POST", "/api/v1/auth/login", `{"email":"`+email+`","password":"a long enough password"}`)
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	return r.json(t)
}

// me calls GET /api/v1/users/me with token and returns the status.
func me(in *instance, token string) int {
	return in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+token).status
}

// tokenHeader decodes a JWT's header.
func tokenHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// jwksKIDs fetches the instance's key set and returns its kids in order.
func jwksKIDs(t *testing.T, in *instance) []string {
	t.Helper()
	r := in.do("GET", "/.well-known/jwks.json", "")
	if r.status != 200 {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	kids := []string{}
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// ---------------------------------------------------------------------
// A downstream service: it knows authd's JWKS URL, issuer and audience,
// and nothing else; only the standard library and golang-jwt.

type downstreamKey struct {
	alg string
	key crypto.PublicKey
}

// fetchJWKS downloads a key set and builds each public key from its JWK
// members (x for Ed25519; x and y for P-256).
func fetchJWKS(t *testing.T, url string) (map[string]downstreamKey, http.Header, error) {
	res, err := openapitest.Client(t, nil).Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid, Alg, Use string
			D, K                          string
		}
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, err
	}
	keys := map[string]downstreamKey{}
	for _, k := range set.Keys {
		if k.D != "" || k.K != "" {
			return nil, nil, fmt.Errorf("key %s publishes private material", k.Kid)
		}
		if k.Use != "sig" || k.Kid == "" {
			return nil, nil, fmt.Errorf("key %q: use %q", k.Kid, k.Use)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: x: %v", k.Kid, err)
		}
		switch {
		case k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA":
			if len(x) != ed25519.PublicKeySize {
				return nil, nil, fmt.Errorf("key %s: x has %d bytes", k.Kid, len(x))
			}
			keys[k.Kid] = downstreamKey{k.Alg, ed25519.PublicKey(x)}
		case k.Kty == "EC" && k.Crv == "P-256" && k.Alg == "ES256":
			y, err := base64.RawURLEncoding.DecodeString(k.Y)
			if err != nil || len(x) != 32 || len(y) != 32 {
				return nil, nil, fmt.Errorf("key %s: bad x or y", k.Kid)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, nil, fmt.Errorf("key %s: %v", k.Kid, err)
			}
			keys[k.Kid] = downstreamKey{k.Alg, pub}
		default:
			return nil, nil, fmt.Errorf("key %s: unsupported %s/%s/%s", k.Kid, k.Kty, k.Crv, k.Alg)
		}
	}
	return keys, res.Header, nil
}

// downstreamVerify checks token as a resource server would: the key by
// kid, the algorithm that key's, the signature, then iss, aud and exp.
func downstreamVerify(keys map[string]downstreamKey, token, iss, aud string, now time.Time) (*gojwt.RegisteredClaims, error) {
	var claims gojwt.RegisteredClaims
	_, err := gojwt.ParseWithClaims(token, &claims, func(t *gojwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if t.Method.Alg() != k.alg {
			return nil, fmt.Errorf("kid %s is an %s key, token says %s", kid, k.alg, t.Method.Alg())
		}
		return k.key, nil
	},
		gojwt.WithValidMethods([]string{"EdDSA", "ES256"}),
		gojwt.WithIssuer(iss),
		gojwt.WithAudience(aud),
		gojwt.WithExpirationRequired(),
		gojwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, err
	}
	return &claims, nil
}

// TestDownstreamVerifiesWithJWKS: a token from login verifies with only
// the published key set, and the checks a downstream service makes hold.
func TestDownstreamVerifiesWithJWKS(t *testing.T) {
	for _, kind := range []string{"Ed25519", "P-256"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			priv, _ := testKeyPEM(t, kind)
			const iss, aud = "https://auth.example.test", "orders-api"
			in := start(t, with(asymmetricVars(filepath.Join(t.TempDir(), "authd.db"), priv),
				"AUTHD_JWT_ISSUER", iss, "AUTHD_JWT_AUDIENCE", aud))
			login := signUp(t, in, "downstream@example.com")
			token := str(t, login, "access_token")
			user := in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+token).json(t)

			keys, header, err := fetchJWKS(t, in.base+"/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 {
				t.Fatalf("%d keys published, want 1", len(keys))
			}
			if cc := header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Errorf("Cache-Control %q", cc)
			}
			now := time.Now()
			claims, err := downstreamVerify(keys, token, iss, aud, now)
			if err != nil {
				t.Fatalf("downstream verification: %v", err)
			}
			if claims.Subject != strconv.FormatFloat(num(t, user, "id"), 'f', -1, 64) {
				t.Errorf("sub %q, want the user id %v", claims.Subject, user["id"])
			}
			h := tokenHeader(t, token)
			wantAlg := map[string]string{"Ed25519": "EdDSA", "P-256": "ES256"}[kind]
			if h["alg"] != wantAlg || keys[str(t, h, "kid")].alg != wantAlg {
				t.Errorf("header %v", h)
			}

			// What the downstream checks refuse.
			parts := strings.Split(token, ".")
			otherKeys, _, err := fetchJWKS(t, start(t, asymmetricVars(filepath.Join(t.TempDir(), "other.db"), mustKey(t, kind))).base+"/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			for name, check := range map[string]func() error{
				"wrong audience": func() error { _, err := downstreamVerify(keys, token, iss, "billing-api", now); return err },
				"wrong issuer":   func() error { _, err := downstreamVerify(keys, token, "https://evil.example", aud, now); return err },
				"expired": func() error {
					_, err := downstreamVerify(keys, token, iss, aud, claims.ExpiresAt.Add(time.Second))
					return err
				},
				"other key set": func() error { _, err := downstreamVerify(otherKeys, token, iss, aud, now); return err },
				"tampered payload": func() error {
					_, err := downstreamVerify(keys, parts[0]+"."+strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"1"}`)), "=")+"."+parts[2], iss, aud, now)
					return err
				},
			} {
				if check() == nil {
					t.Errorf("%s: accepted", name)
				}
			}
		})
	}
}

func mustKey(t *testing.T, kind string) string {
	t.Helper()
	priv, _ := testKeyPEM(t, kind)
	return priv
}

// TestAlgorithmConfusionRejected forges the classic attack: an HS256
// token whose kid names the Ed25519 key, "signed" with the public key as
// the HMAC secret. The instance also holds an HS256 secret (so HS256 is an
// algorithm it verifies at all): only the per-key pin stops the forgery.
func TestAlgorithmConfusionRejected(t *testing.T) {
	priv, pubPEM := testKeyPEM(t, "Ed25519")
	vars := with(asymmetricVars(filepath.Join(t.TempDir(), "authd.db"), priv),
		"AUTHD_JWT_SECRET", "an-hs256-secret-kept-for-verification-only")
	in := start(t, vars)
	genuine := str(t, signUp(t, in, "confused@example.com"), "access_token")
	if s := me(in, genuine); s != 200 {
		t.Fatalf("genuine token: %d", s)
	}
	keys, _, err := fetchJWKS(t, in.base+"/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	kid := str(t, tokenHeader(t, genuine), "kid")
	rawPub := []byte(keys[kid].key.(ed25519.PublicKey))

	// The forged tokens carry the genuine claims (a live session), so
	// only the signature and algorithm can make them fail.
	parts := strings.Split(genuine, ".")
	forge := func(alg string, key []byte) string {
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"` + kid + `","typ":"JWT"}`))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(header + "." + parts[1]))
		return header + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	for name, token := range map[string]string{
		"HS256, raw public key as secret": forge("HS256", rawPub),
		"HS256, public PEM as secret":     forge("HS256", []byte(pubPEM)),
		"HS256, JWK x as secret":          forge("HS256", []byte(base64.RawURLEncoding.EncodeToString(rawPub))),
		"alg none":                        base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`","typ":"JWT"}`)) + "." + parts[1] + ".",
		"genuine signature, alg HS256":    base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
	} {
		if r := in.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+token); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %s, want a 401 challenge", name, r.status, r.body)
		}
	}
	// The HS256 secret is never published.
	if kids := jwksKIDs(t, in); len(kids) != 1 || kids[0] != kid {
		t.Errorf("JWKS kids %v, want only %s", kids, kid)
	}
}

// TestKeyRotation walks docs/keys.md on one SQLite file: A signs; B is
// introduced as verification-only; B signs and A only verifies (with the
// instances of both steps running at once, as mid-rollout); A is removed.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	aPriv, aPub := testKeyPEM(t, "Ed25519")
	bPriv, bPub := testKeyPEM(t, "P-256")
	aPubFile := writeFileIn(t, dir, "a.pub.pem", aPub)
	bPrivFile := writeFileIn(t, dir, "b.pem", bPriv)
	bPubFile := writeFileIn(t, dir, "b.pub.pem", bPub)

	// Before: A signs.
	step0 := start(t, asymmetricVars(db, aPriv))
	login := signUp(t, step0, "rotate@example.com")
	tokA, refresh := str(t, login, "access_token"), str(t, login, "refresh_token")
	kidA := str(t, tokenHeader(t, tokA), "kid")
	if kids := jwksKIDs(t, step0); strings.Join(kids, ",") != kidA {
		t.Fatalf("before: JWKS %v, want [%s]", kids, kidA)
	}

	// Step 1, on every instance: B is added for verification; A still signs.
	step1 := start(t, with(asymmetricVars(db, aPriv), "AUTHD_JWT_VERIFICATION_KEYS", bPubFile))
	step0.stop(t)
	if s := me(step1, tokA); s != 200 {
		t.Errorf("step 1: A's token: %d", s)
	}
	if kid := tokenHeader(t, str(t, logIn(t, step1, "rotate@example.com"), "access_token"))["kid"]; kid != kidA {
		t.Errorf("step 1 signs with %v, want A", kid)
	}
	kids := jwksKIDs(t, step1)
	if len(kids) != 2 || kids[0] != kidA {
		t.Fatalf("step 1: JWKS %v, want A then B", kids)
	}
	kidB := kids[1]

	// Step 2: B signs (a file path this time), A only verifies. An
	// instance still on step 1 accepts B's tokens: that is what step 1 is for.
	step2 := start(t, with(asymmetricVars(db, bPrivFile), "AUTHD_JWT_VERIFICATION_KEYS", aPubFile))
	tokB := str(t, logIn(t, step2, "rotate@example.com"), "access_token")
	if kid := tokenHeader(t, tokB)["kid"]; kid != kidB {
		t.Errorf("step 2 signs with %v, want B %s", kid, kidB)
	}
	for name, s := range map[string]int{
		"step 2, A's token": me(step2, tokA),
		"step 2, B's token": me(step2, tokB),
		"step 1, B's token": me(step1, tokB),
	} {
		if s != 200 {
			t.Errorf("%s: %d", name, s)
		}
	}
	if kids := jwksKIDs(t, step2); strings.Join(kids, ",") != kidB+","+kidA {
		t.Errorf("step 2: JWKS %v, want B then A", kids)
	}
	// Sessions do not depend on the signing key: a refresh token from
	// before the rotation still refreshes, into a B token.
	r := step2.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
	if r.status != 200 || tokenHeader(t, str(t, r.json(t), "access_token"))["kid"] != kidB {
		t.Errorf("refresh across the rotation: %d %s", r.status, r.body)
	}
	step1.stop(t)

	// Step 3, once A's tokens have expired (AUTHD_ACCESS_TOKEN_TTL): A is
	// removed. A token A signed is refused from then on, expired or not.
	step3 := start(t, asymmetricVars(db, bPrivFile))
	step2.stop(t)
	expectProblem(t, step3.do("GET", "/api/v1/users/me", "", "Authorization", "Bearer "+tokA), 401, "")
	if s := me(step3, tokB); s != 200 {
		t.Errorf("step 3: B's token: %d", s)
	}
	if kids := jwksKIDs(t, step3); strings.Join(kids, ",") != kidB {
		t.Errorf("step 3: JWKS %v, want [B]", kids)
	}
	if !strings.Contains(step3.logs.String(), `"signing":"ES256 `+kidB+`"`) {
		t.Errorf("start-up log does not name the signing key:\n%s", step3.logs.String())
	}
}

// TestSwitchFromSecretToSigningKey: moving from HS256 to an Ed25519 key,
// the secret stays as a verification-only key until the HS256 tokens have
// expired, and is never published.
func TestSwitchFromSecretToSigningKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "authd.db")
	const secret = "the-old-hs256-secret-at-least-32-bytes"
	priv, _ := testKeyPEM(t, "Ed25519")

	hs := start(t, map[string]string{"AUTHD_DATABASE_URL": db, "AUTHD_JWT_SECRET": secret})
	tokHS := str(t, signUp(t, hs, "switch@example.com"), "access_token")
	if h := tokenHeader(t, tokHS); h["alg"] != "HS256" || h["kid"] == "" {
		t.Errorf("HS256 token header %v", h)
	}
	if kids := jwksKIDs(t, hs); len(kids) != 0 {
		t.Errorf("HS256 only: JWKS %v, want no keys", kids)
	}
	hs.stop(t)

	both := start(t, with(asymmetricVars(db, priv), "AUTHD_JWT_SECRET", secret))
	tokEd := str(t, logIn(t, both, "switch@example.com"), "access_token")
	if alg := tokenHeader(t, tokEd)["alg"]; alg != "EdDSA" {
		t.Errorf("after the switch, tokens are %v", alg)
	}
	if me(both, tokHS) != 200 || me(both, tokEd) != 200 {
		t.Error("a token is refused while the secret still verifies")
	}
	if kids := jwksKIDs(t, both); len(kids) != 1 {
		t.Errorf("JWKS %v, want only the Ed25519 key", kids)
	}
	both.stop(t)

	ed := start(t, asymmetricVars(db, priv))
	if me(ed, tokHS) != 401 || me(ed, tokEd) != 200 {
		t.Errorf("after removing the secret: HS256 %d, EdDSA %d; want 401, 200", me(ed, tokHS), me(ed, tokEd))
	}
}

// TestDevelopmentGeneratesRefreshKey: with a signing key and no secret,
// development runs with a random refresh-token key and says so.
func TestDevelopmentGeneratesRefreshKey(t *testing.T) {
	in := start(t, with(asymmetricVars(filepath.Join(t.TempDir(), "authd.db"), mustKey(t, "Ed25519")), "AUTHD_REFRESH_TOKEN_KEY", ""))
	login := signUp(t, in, "dev@example.com")
	if r := in.do("POST", "/api/v1/auth/refresh", `{"refresh_token":"`+str(t, login, "refresh_token")+`"}`); r.status != 200 {
		t.Errorf("refresh: %d %s", r.status, r.body)
	}
	if !strings.Contains(in.logs.String(), "AUTHD_REFRESH_TOKEN_KEY is not set") {
		t.Error("no warning about the generated refresh-token key")
	}
	err := run(t.Context(), nil, env(map[string]string{"AUTHD_ENV": "production", "AUTHD_JWT_SIGNING_KEY": mustKey(t, "P-256")}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "AUTHD_REFRESH_TOKEN_KEY") {
		t.Errorf("production without a refresh key: %v", err)
	}
}

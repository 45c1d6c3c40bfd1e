package jwt_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	authjwt "github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

var (
	secret   = []byte("test-secret-0123456789abcdef0123456789")
	issuer   = "https://auth.example.test"
	audience = "authd-api"
	ttl      = 15 * time.Minute
	sid      = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	// t0 is a whole second; issue times in tests add a fraction to it.
	t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

func newIssuer(t testing.TB) *authjwt.Issuer {
	t.Helper()
	iss, err := authjwt.New(authjwt.Config{Secret: secret, Issuer: issuer, Audience: audience, TTL: ttl})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return iss
}

// decodeSegment decodes one base64url part of a compact JWS into a map.
func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}

// wantRejected checks that Verify refused the token with the domain's
// invalid-token error.
func wantRejected(t *testing.T, iss *authjwt.Issuer, token string, at time.Time) {
	t.Helper()
	claims, err := iss.Verify(token, at)
	if err == nil {
		t.Fatalf("Verify accepted the token: %+v", claims)
	}
	if code := domain.ErrorCode(err); code != domain.EUNAUTHORIZED {
		t.Errorf("Verify error %v has code %q, want %q", err, code, domain.EUNAUTHORIZED)
	}
	if msg := domain.ErrorMessage(err); msg != domain.ErrInvalidToken.Message {
		t.Errorf("Verify error message %q, want %q", msg, domain.ErrInvalidToken.Message)
	}
	if claims.UserID != 0 {
		t.Errorf("claims returned with the error: %+v", claims)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	iss := newIssuer(t)
	issuedAt := t0.Add(678 * time.Millisecond)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, issuedAt, time.Time{})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if tok.ExpiresIn != ttl {
		t.Errorf("ExpiresIn = %v, want %v", tok.ExpiresIn, ttl)
	}

	header := decodeSegment(t, tok.Token, 0)
	if header["alg"] != "HS256" || header["typ"] != "at+jwt" || header["kid"] != hsKID(t) || len(header) != 3 {
		t.Errorf("header = %v, want alg HS256, typ at+jwt and kid %s", header, hsKID(t))
	}
	payload := decodeSegment(t, tok.Token, 1)
	for _, k := range []string{"sub", "sid", "email_verified", "iat", "nbf", "exp", "iss", "aud", "jti"} {
		if _, ok := payload[k]; !ok {
			t.Errorf("payload %v has no %q", payload, k)
		}
	}
	if payload["sub"] != "42" || payload["iss"] != issuer || payload["sid"] != sid {
		t.Errorf("sub/iss/sid = %v/%v/%v", payload["sub"], payload["iss"], payload["sid"])
	}
	var rc gojwt.RegisteredClaims
	if _, _, err := gojwt.NewParser().ParseUnverified(tok.Token, &rc); err != nil {
		t.Fatal(err)
	}
	if len(rc.Audience) != 1 || rc.Audience[0] != audience {
		t.Errorf("aud = %v, want [%s]", rc.Audience, audience)
	}
	if rc.IssuedAt == nil || rc.NotBefore == nil || rc.ExpiresAt == nil {
		t.Fatalf("missing times: %+v", rc)
	}
	if !rc.IssuedAt.Equal(t0) || !rc.NotBefore.Equal(t0) {
		t.Errorf("iat/nbf = %v/%v, want %v", rc.IssuedAt, rc.NotBefore, t0)
	}
	if got := rc.ExpiresAt.Sub(rc.IssuedAt.Time); got != ttl {
		t.Errorf("exp - iat = %v, want exactly %v", got, ttl)
	}
	if b, err := hex.DecodeString(rc.ID); err != nil || len(b) != 16 {
		t.Errorf("jti %q is not 16 random bytes in hex", rc.ID)
	}

	claims, err := iss.Verify(tok.Token, issuedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.UserID != 42 {
		t.Errorf("UserID = %d, want 42", claims.UserID)
	}
	if claims.SessionID != sid {
		t.Errorf("SessionID = %q, want %q", claims.SessionID, sid)
	}
	if claims.TokenID != rc.ID {
		t.Errorf("TokenID = %q, want jti %q", claims.TokenID, rc.ID)
	}
	if claims.IssuedAt != t0 {
		t.Errorf("IssuedAt = %v, want %v (UTC)", claims.IssuedAt, t0)
	}
	if claims.ExpiresAt != t0.Add(ttl) {
		t.Errorf("ExpiresAt = %v, want %v (UTC)", claims.ExpiresAt, t0.Add(ttl))
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt) != ttl {
		t.Errorf("ExpiresAt - IssuedAt = %v, want %v", claims.ExpiresAt.Sub(claims.IssuedAt), ttl)
	}
}

func TestVerifyTimeWindow(t *testing.T) {
	iss := newIssuer(t)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 7, SessionID: sid}, t0.Add(500*time.Millisecond), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(ttl)
	for _, at := range []time.Time{t0, t0.Add(500 * time.Millisecond), exp.Add(-time.Second), exp.Add(-time.Nanosecond)} {
		if _, err := iss.Verify(tok.Token, at); err != nil {
			t.Errorf("Verify at %v (inside [iat, exp)): %v", at, err)
		}
	}
	for name, at := range map[string]time.Time{
		"at exp":                 exp,
		"just after exp":         exp.Add(time.Nanosecond),
		"a day after exp":        exp.Add(24 * time.Hour),
		"just before nbf":        t0.Add(-time.Nanosecond),
		"an hour before nbf":     t0.Add(-time.Hour),
		"a non-UTC instant past": exp.In(time.FixedZone("UTC+9", 9*3600)),
	} {
		t.Run(name, func(t *testing.T) { wantRejected(t, iss, tok.Token, at) })
	}
}

func TestIssueUniqueTokenIDs(t *testing.T) {
	iss := newIssuer(t)
	ids := map[string]bool{}
	tokens := map[string]bool{}
	// seen[i] collects the values byte i of the jti takes. With 16 random
	// bytes every position varies over 500 tokens (a constant position
	// has probability 256^-499), so a jti with less entropy shows up here
	// even when its IDs happen not to collide.
	var seen [16]map[byte]bool
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range 500 {
		tok, err := iss.Issue(ports.AccessSubject{UserID: 1, SessionID: sid}, t0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := iss.Verify(tok.Token, t0)
		if err != nil {
			t.Fatal(err)
		}
		if ids[c.TokenID] || tokens[tok.Token] {
			t.Fatalf("repeated jti %q", c.TokenID)
		}
		ids[c.TokenID], tokens[tok.Token] = true, true
		b, err := hex.DecodeString(c.TokenID)
		if err != nil || len(b) != len(seen) {
			t.Fatalf("jti %q is not %d bytes in hex", c.TokenID, len(seen))
		}
		for i, v := range b {
			seen[i][v] = true
		}
	}
	for i, vals := range seen {
		if len(vals) < 2 {
			t.Errorf("byte %d of the jti never varies", i)
		}
	}
}

// validClaims are the claims Issue would write for user 42 in session sid
// at t0.
func validClaims() gojwt.MapClaims {
	return gojwt.MapClaims{
		"sub": "42",
		"sid": sid,
		"iss": issuer,
		"aud": []string{audience},
		"iat": t0.Unix(),
		"nbf": t0.Unix(),
		"exp": t0.Add(ttl).Unix(),
		"jti": "0123456789abcdef0123456789abcdef",
	}
}

// hsKID is the kid of the test secret's HS256 key.
func hsKID(t testing.TB) string {
	t.Helper()
	k, err := authjwt.HMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// sign signs claims with method and key under the kid of the test secret.
func sign(t *testing.T, method gojwt.SigningMethod, key any, claims gojwt.MapClaims) string {
	t.Helper()
	return signKID(t, method, key, hsKID(t), claims)
}

// signKID signs claims with method and key, with kid in the header (nil
// for none) and typ "at+jwt", as Issue does.
func signKID(t *testing.T, method gojwt.SigningMethod, key any, kid any, claims gojwt.Claims) string {
	t.Helper()
	return signTyp(t, method, key, kid, "at+jwt", claims)
}

// signTyp is signKID with typ in the header (nil for none).
func signTyp(t *testing.T, method gojwt.SigningMethod, key any, kid, typ any, claims gojwt.Claims) string {
	t.Helper()
	tok := gojwt.NewWithClaims(method, claims)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	delete(tok.Header, "typ")
	if typ != nil {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// TestVerifyCraftedControl shows that a token crafted the way the other
// tests craft theirs is accepted when nothing is wrong with it, so each
// rejection below is caused by its one change.
func TestVerifyCraftedControl(t *testing.T) {
	iss := newIssuer(t)
	claims, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, validClaims()), t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("crafted valid token rejected: %v", err)
	}
	if claims.UserID != 42 || claims.SessionID != sid || claims.TokenID != "0123456789abcdef0123456789abcdef" {
		t.Errorf("claims = %+v", claims)
	}
	// A token without iat (optional) or jti is still acceptable.
	c := validClaims()
	delete(c, "iat")
	delete(c, "jti")
	if _, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, c), t0.Add(time.Minute)); err != nil {
		t.Errorf("token without iat/jti rejected: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	iss := newIssuer(t)
	at := t0.Add(time.Minute)
	with := func(change func(gojwt.MapClaims)) gojwt.MapClaims {
		c := validClaims()
		change(c)
		return c
	}
	good, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good.Token, ".")

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not a token"},
		{"three empty parts", ".."},
		{"two parts", parts[0] + "." + parts[1]},
		{"wrong secret", sign(t, gojwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0123"), validClaims())},
		{"secret prefix", sign(t, gojwt.SigningMethodHS256, secret[:len(secret)-1], validClaims())},
		{"alg none", sign(t, gojwt.SigningMethodNone, gojwt.UnsafeAllowNoneSignatureType, validClaims())},
		{"HS384 with the right secret", sign(t, gojwt.SigningMethodHS384, secret, validClaims())},
		{"HS512 with the right secret", sign(t, gojwt.SigningMethodHS512, secret, validClaims())},
		{"signature removed", parts[0] + "." + parts[1] + "."},
		{"payload tampered (sub changed, signature kept)", parts[0] + "." + tamper(t, parts[1], "sub", "1") + "." + parts[2]},
		{"payload tampered (exp extended, signature kept)", parts[0] + "." + tamper(t, parts[1], "exp", float64(t0.Add(100*ttl).Unix())) + "." + parts[2]},
		{"header tampered to none, signature kept", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(sign(t, gojwt.SigningMethodHS256, secret, validClaims()), ".")[2]},
		{"no kid", signKID(t, gojwt.SigningMethodHS256, secret, nil, validClaims())},
		{"empty kid", signKID(t, gojwt.SigningMethodHS256, secret, "", validClaims())},
		{"unknown kid", signKID(t, gojwt.SigningMethodHS256, secret, "another-key", validClaims())},
		{"kid not a string", signKID(t, gojwt.SigningMethodHS256, secret, 1, validClaims())},
		{"kid as a list", signKID(t, gojwt.SigningMethodHS256, secret, []string{hsKID(t)}, validClaims())},
		{"kid header tampered, signature kept", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"x`+hsKID(t)+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]},
		{"typ JWT (a plain JWT, not an access token)", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "JWT", validClaims())},
		{"no typ", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), nil, validClaims())},
		{"empty typ", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "", validClaims())},
		{"typ application/jwt", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "application/jwt", validClaims())},
		{"typ of another token kind", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "logout+jwt", validClaims())},
		{"typ with a trailing space", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "at+jwt ", validClaims())},
		{"typ with another prefix", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), "text/at+jwt", validClaims())},
		{"typ as a list", signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), []string{"at+jwt"}, validClaims())},
		{"typ header tampered to JWT, signature kept", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+hsKID(t)+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]},
		{"wrong iss", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{"missing iss", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "iss") }))},
		{"wrong aud", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["aud"] = []string{"another-api"} }))},
		{"missing aud", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "aud") }))},
		{"missing exp", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "exp") }))},
		{"exp as a string", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["exp"] = "tomorrow" }))},
		{"expired", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["exp"] = at.Add(-time.Second).Unix() }))},
		{"nbf in the future", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["iat"] = t0.Unix(); c["nbf"] = at.Add(10 * time.Second).Unix() }))},
		{"iat in the future", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "nbf"); c["iat"] = at.Add(10 * time.Second).Unix() }))},
		{"non-numeric sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "alice" }))},
		{"zero sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "0" }))},
		{"negative sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "-42" }))},
		{"fractional sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "4.2" }))},
		{"overflowing sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "9223372036854775808" }))},
		{"empty sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = "" }))},
		{"missing sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "sub") }))},
		{"numeric (not string) sub", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sub"] = 42 }))},
		{"missing sid", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { delete(c, "sid") }))},
		{"empty sid", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sid"] = "" }))},
		{"null sid", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sid"] = nil }))},
		{"numeric sid", sign(t, gojwt.SigningMethodHS256, secret, with(func(c gojwt.MapClaims) { c["sid"] = 12345 }))},
		{"sid tampered, signature kept", parts[0] + "." + tamper(t, parts[1], "sid", "another-session") + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRejected(t, iss, tt.token, at) })
	}
}

// tamper re-encodes a payload segment with one claim changed.
func tamper(t *testing.T, segment, key string, value any) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestVerifyRequiresSessionID crafts, with golang-jwt directly, a token that
// is exactly what an issuer from before sessions signed: valid in every
// other way, but without a sid. Such a token cannot be checked against the
// session store, so it must not authenticate.
func TestVerifyRequiresSessionID(t *testing.T) {
	iss := newIssuer(t)
	at := t0.Add(time.Minute)
	old := gojwt.RegisteredClaims{
		Subject:   "42",
		Issuer:    issuer,
		Audience:  gojwt.ClaimStrings{audience},
		IssuedAt:  gojwt.NewNumericDate(t0),
		NotBefore: gojwt.NewNumericDate(t0),
		ExpiresAt: gojwt.NewNumericDate(t0.Add(ttl)),
		ID:        "0123456789abcdef0123456789abcdef",
	}
	wantRejected(t, iss, signKID(t, gojwt.SigningMethodHS256, secret, hsKID(t), old), at)

	// Control: the same claims plus a sid are accepted.
	withSID := signKID(t, gojwt.SigningMethodHS256, secret, hsKID(t), struct {
		gojwt.RegisteredClaims
		SID string `json:"sid"`
	}{old, sid})
	c, err := iss.Verify(withSID, at)
	if err != nil || c.SessionID != sid || c.UserID != 42 {
		t.Errorf("Verify(same claims with sid) = %+v, %v", c, err)
	}
}

// TestEmailVerifiedClaim: email_verified is in every token, false as well
// as true, and Verify returns it.
func TestEmailVerifiedClaim(t *testing.T) {
	iss := newIssuer(t)
	for _, verified := range []bool{true, false} {
		tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid, EmailVerified: verified}, t0, time.Time{})
		if err != nil {
			t.Fatalf("Issue(verified %v): %v", verified, err)
		}
		payload := decodeSegment(t, tok.Token, 1)
		if got, ok := payload["email_verified"]; !ok || got != verified {
			t.Errorf("verified %v: payload email_verified = %v (present %v), want the boolean %v", verified, got, ok, verified)
		}
		c, err := iss.Verify(tok.Token, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("Verify(verified %v): %v", verified, err)
		}
		if c.EmailVerified != verified || c.UserID != 42 || c.SessionID != sid {
			t.Errorf("verified %v: claims = %+v", verified, c)
		}
	}
}

// TestVerifyTokenWithoutEmailVerified: a token issued before the claim
// existed (validClaims has none) still verifies, as not verified.
func TestVerifyTokenWithoutEmailVerified(t *testing.T) {
	iss := newIssuer(t)
	at := t0.Add(time.Minute)
	legacy := validClaims()
	if _, ok := legacy["email_verified"]; ok {
		t.Fatal("validClaims has email_verified; this test needs a token without it")
	}
	c, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, legacy), at)
	if err != nil {
		t.Fatalf("Verify(token without email_verified): %v", err)
	}
	if c.EmailVerified || c.UserID != 42 || c.SessionID != sid {
		t.Errorf("claims of a token without email_verified = %+v, want user 42, session %s, not verified", c, sid)
	}

	// Control: the same claims with email_verified true say so.
	withClaim := validClaims()
	withClaim["email_verified"] = true
	if c, err := iss.Verify(sign(t, gojwt.SigningMethodHS256, secret, withClaim), at); err != nil || !c.EmailVerified {
		t.Errorf("Verify(email_verified true) = %+v, %v; want EmailVerified", c, err)
	}
	// A claim that is not a boolean is not read as one.
	malformed := validClaims()
	malformed["email_verified"] = "true"
	wantRejected(t, iss, sign(t, gojwt.SigningMethodHS256, secret, malformed), at)
}

func TestIssueRequiresSessionID(t *testing.T) {
	iss := newIssuer(t)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: ""}, t0, time.Time{})
	if err == nil || tok != (ports.AccessToken{}) {
		t.Fatalf("Issue without a session = %+v, %v; want no token and an error", tok, err)
	}
	if domain.ErrorCode(err) != domain.EINTERNAL {
		t.Errorf("error %v has code %q, want %q", err, domain.ErrorCode(err), domain.EINTERNAL)
	}
}

func TestSessionIDRoundTrips(t *testing.T) {
	iss := newIssuer(t)
	for _, id := range []string{sid, "a", "session/with:odd chars é", strings.Repeat("s", 256)} {
		tok, err := iss.Issue(ports.AccessSubject{UserID: 9, SessionID: id}, t0, time.Time{})
		if err != nil {
			t.Fatalf("Issue(%q): %v", id, err)
		}
		c, err := iss.Verify(tok.Token, t0)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if c.SessionID != id || c.UserID != 9 {
			t.Errorf("claims = %+v, want user 9 in session %q", c, id)
		}
	}
}

func TestVerifyRejectsOtherIssuersTokens(t *testing.T) {
	mine := newIssuer(t)
	for name, cfg := range map[string]authjwt.Config{
		"other secret":   {Secret: []byte("a-different-secret-0123456789abcdef"), Issuer: issuer, Audience: audience, TTL: ttl},
		"other issuer":   {Secret: secret, Issuer: "https://other.example.test", Audience: audience, TTL: ttl},
		"other audience": {Secret: secret, Issuer: issuer, Audience: "other-api", TTL: ttl},
	} {
		t.Run(name, func(t *testing.T) {
			other, err := authjwt.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := other.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Verify(tok.Token, t0); err != nil {
				t.Fatalf("the other issuer rejects its own token: %v", err)
			}
			wantRejected(t, mine, tok.Token, t0)
		})
	}
}

func TestNewRejects(t *testing.T) {
	ok := authjwt.Config{Secret: secret, Issuer: issuer, Audience: audience, TTL: ttl}
	if _, err := authjwt.New(ok); err != nil {
		t.Fatalf("New(valid config): %v", err)
	}
	tests := []struct {
		name   string
		change func(*authjwt.Config)
	}{
		{"nil secret", func(c *authjwt.Config) { c.Secret = nil }},
		{"empty secret", func(c *authjwt.Config) { c.Secret = []byte{} }},
		{"empty issuer", func(c *authjwt.Config) { c.Issuer = "" }},
		{"empty audience", func(c *authjwt.Config) { c.Audience = "" }},
		{"zero TTL", func(c *authjwt.Config) { c.TTL = 0 }},
		{"negative TTL", func(c *authjwt.Config) { c.TTL = -time.Minute }},
		// Token times have whole-second precision, so a sub-second TTL
		// gives exp == iat (dead on arrival) and a fractional one makes
		// ExpiresIn disagree with exp - iat.
		{"sub-second TTL", func(c *authjwt.Config) { c.TTL = 500 * time.Millisecond }},
		{"fractional-second TTL", func(c *authjwt.Config) { c.TTL = 1500 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			iss, err := authjwt.New(cfg)
			if err == nil || iss != nil {
				t.Errorf("New(%+v) = %v, %v; want nil and an error", cfg, iss, err)
			}
		})
	}
}

func TestShortestTTLTokenIsUsable(t *testing.T) {
	iss, err := authjwt.New(authjwt.Config{Secret: secret, Issuer: issuer, Audience: audience, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	issuedAt := t0.Add(999 * time.Millisecond)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 1, SessionID: sid}, issuedAt, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != time.Second {
		t.Errorf("ExpiresIn = %v, want 1s", tok.ExpiresIn)
	}
	if _, err := iss.Verify(tok.Token, t0); err != nil {
		t.Errorf("1s token rejected at its issue second: %v", err)
	}
	wantRejected(t, iss, tok.Token, t0.Add(time.Second))
}

func BenchmarkIssue(b *testing.B) {
	iss := newIssuer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	iss := newIssuer(b)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	at := t0.Add(time.Minute)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := iss.Verify(tok.Token, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("expired", func(b *testing.B) {
		late := t0.Add(2 * ttl)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := iss.Verify(tok.Token, late); err == nil {
				b.Fatal("expired token accepted")
			}
		}
	})
}

// TestVerifyAcceptsAccessTokenTypes: RFC 9068 names the type
// "application/at+jwt" and RFC 7515 lets "typ" drop "application/"; media
// types compare case-insensitively.
func TestVerifyAcceptsAccessTokenTypes(t *testing.T) {
	iss := newIssuer(t)
	for _, typ := range []string{"at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt", "Application/AT+JWT"} {
		t.Run(typ, func(t *testing.T) {
			c, err := iss.Verify(signTyp(t, gojwt.SigningMethodHS256, secret, hsKID(t), typ, validClaims()), t0.Add(time.Minute))
			if err != nil || c.UserID != 42 {
				t.Errorf("typ %q: Verify = %+v, %v; want accepted", typ, c, err)
			}
		})
	}
}

func TestIssueCapsExpiry(t *testing.T) {
	iss := newIssuer(t) // TTL is ttl
	issuedAt := t0.Add(400 * time.Millisecond)
	tests := []struct {
		name     string
		notAfter time.Time
		wantExp  time.Time
	}{
		{"no cap (zero time)", time.Time{}, t0.Add(ttl)},
		{"session ends long after the TTL", t0.Add(100 * ttl), t0.Add(ttl)},
		{"session ends exactly at now + TTL", t0.Add(ttl), t0.Add(ttl)},
		{"session ends a second before now + TTL", t0.Add(ttl - time.Second), t0.Add(ttl - time.Second)},
		{"session ends a minute after now", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"session end is rounded down, never up", t0.Add(time.Minute + 999*time.Millisecond), t0.Add(time.Minute)},
		{"session ends one second after now", t0.Add(time.Second), t0.Add(time.Second)},
		{"session end in another zone", t0.Add(time.Minute).In(time.FixedZone("UTC-5", -5*3600)), t0.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, issuedAt, tt.notAfter)
			if err != nil {
				t.Fatalf("IssueUntil: %v", err)
			}
			var rc gojwt.RegisteredClaims
			if _, _, err := gojwt.NewParser().ParseUnverified(tok.Token, &rc); err != nil {
				t.Fatal(err)
			}
			if !rc.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("exp = %v, want %v", rc.ExpiresAt.UTC(), tt.wantExp.UTC())
			}
			if !tt.notAfter.IsZero() && rc.ExpiresAt.After(tt.notAfter) {
				t.Errorf("exp %v is after the session's end %v", rc.ExpiresAt.UTC(), tt.notAfter.UTC())
			}
			// expires_in agrees with the token.
			if want := rc.ExpiresAt.Sub(rc.IssuedAt.Time); tok.ExpiresIn != want || tok.ExpiresIn != tt.wantExp.Sub(t0) {
				t.Errorf("ExpiresIn = %v, want exp - iat = %v", tok.ExpiresIn, want)
			}
			c, err := iss.Verify(tok.Token, issuedAt)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !c.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("verified ExpiresAt = %v, want %v", c.ExpiresAt, tt.wantExp)
			}
			if _, err := iss.Verify(tok.Token, tt.wantExp.Add(-time.Nanosecond)); err != nil {
				t.Errorf("rejected just before exp: %v", err)
			}
			wantRejected(t, iss, tok.Token, tt.wantExp)
		})
	}
}

func TestIssueRefusesAnEndedSession(t *testing.T) {
	iss := newIssuer(t)
	issuedAt := t0.Add(400 * time.Millisecond)
	for name, notAfter := range map[string]time.Time{
		"ends later in the same second":     t0.Add(900 * time.Millisecond),
		"ends at the start of now's second": t0,
		"ended an hour ago":                 t0.Add(-time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, issuedAt, notAfter)
			if err == nil {
				t.Fatalf("IssueUntil = %+v, want an error", tok)
			}
			if tok.Token != "" {
				t.Errorf("a token came with the error")
			}
			if domain.ErrorCode(err) != domain.EUNAUTHORIZED || domain.ErrorMessage(err) != domain.ErrSessionEnded.Message {
				t.Errorf("error %v, want %v", err, domain.ErrSessionEnded)
			}
		})
	}
}

// TestIssueWithoutCap: Issue keeps its contract.
func TestIssueWithoutCap(t *testing.T) {
	iss := newIssuer(t)
	tok, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: sid}, t0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != ttl {
		t.Errorf("ExpiresIn = %v, want %v", tok.ExpiresIn, ttl)
	}
	if _, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: ""}, t0, t0.Add(time.Hour)); err == nil {
		t.Error("IssueUntil without a session id issued a token")
	}
}

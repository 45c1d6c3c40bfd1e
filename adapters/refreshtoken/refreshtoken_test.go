package refreshtoken_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/authd/authd/adapters/refreshtoken"
)

var (
	key      = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
	// zeroToken is the encoding of 32 zero bytes.
	zeroToken = strings.Repeat("A", 43)
)

func newTokens(t testing.TB, k []byte) *refreshtoken.Tokens {
	t.Helper()
	tk, err := refreshtoken.New(k)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tk
}

func newToken(t testing.TB, tk *refreshtoken.Tokens) string {
	t.Helper()
	s, err := tk.NewRefreshToken()
	if err != nil {
		t.Fatalf("NewRefreshToken: %v", err)
	}
	return s
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		if tk, err := refreshtoken.New(make([]byte, n)); err == nil || tk != nil {
			t.Errorf("New(%d-byte key) = %v, %v; want nil and an error", n, tk, err)
		}
	}
	for _, n := range []int{32, 33, 64} {
		if _, err := refreshtoken.New(bytes.Repeat([]byte{7}, n)); err != nil {
			t.Errorf("New(%d-byte key): %v", n, err)
		}
	}
}

func TestNewCopiesKey(t *testing.T) {
	k := bytes.Clone(key)
	tk := newTokens(t, k)
	before := tk.Successor(zeroToken)
	k[0] ^= 0xff
	if tk.Successor(zeroToken) != before {
		t.Error("changing the caller's key slice changed the successors")
	}
}

func TestNewRefreshToken(t *testing.T) {
	tk := newTokens(t, key)
	const draws = 1000
	seen := map[string]bool{}
	var values [32]map[byte]bool
	for i := range values {
		values[i] = map[byte]bool{}
	}
	for range draws {
		s := newToken(t, tk)
		if len(s) != 43 {
			t.Fatalf("token %q has %d chars, want 43", s, len(s))
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not base64url of 32 bytes: %v", s, err)
		}
		if seen[s] {
			t.Fatalf("repeated token %q", s)
		}
		seen[s] = true
		for i, b := range raw {
			values[i][b] = true
		}
		if _, ok := tk.Hash(s); !ok {
			t.Fatalf("Hash refuses a new token %q", s)
		}
	}
	// A constant position among 1000 random draws has probability 256^-999.
	for i, v := range values {
		if len(v) < 2 {
			t.Errorf("byte %d never varies", i)
		}
	}
}

func TestNewSessionID(t *testing.T) {
	tk := newTokens(t, key)
	seen := map[string]bool{}
	for range 1000 {
		id, err := tk.NewSessionID()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := hex.DecodeString(id); err != nil || len(id) != 32 || len(b) != 16 || strings.ToLower(id) != id {
			t.Fatalf("session id %q is not 32 lower-case hex chars", id)
		}
		if seen[id] {
			t.Fatalf("repeated session id %q", id)
		}
		seen[id] = true
	}
}

func TestHash(t *testing.T) {
	tk := newTokens(t, key)
	tok := newToken(t, tk)
	h1, ok1 := tk.Hash(tok)
	h2, ok2 := tk.Hash(tok)
	if !ok1 || !ok2 {
		t.Fatal("Hash refuses a well-formed token")
	}
	if len(h1) != 32 || !bytes.Equal(h1, h2) {
		t.Errorf("Hash is not a deterministic 32-byte value: %x, %x", h1, h2)
	}
	// Hash does not depend on the successor key: any instance can look a
	// token up whatever key it holds.
	if h, _ := newTokens(t, otherKey).Hash(tok); !bytes.Equal(h, h1) {
		t.Errorf("Hash depends on the key: %x vs %x", h, h1)
	}
	// What is stored is SHA-256 of the token's 32 bytes; changing that
	// would orphan every stored session.
	zero := sha256.Sum256(make([]byte, 32))
	if h, ok := tk.Hash(zeroToken); !ok || !bytes.Equal(h, zero[:]) {
		t.Errorf("Hash(32 zero bytes) = %x, %v; want %x", h, ok, zero)
	}

	hashes := map[string]bool{}
	for range 1000 {
		h, ok := tk.Hash(newToken(t, tk))
		if !ok {
			t.Fatal("Hash refuses a new token")
		}
		if hashes[string(h)] {
			t.Fatalf("two tokens hash to %x", h)
		}
		hashes[string(h)] = true
	}
}

func TestHashRejectsMalformed(t *testing.T) {
	tk := newTokens(t, key)
	good := newToken(t, tk)
	jwtLike := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInNpZCI6ImFiYyJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi0wMTIzNDU2Nzg5"
	// nonCanonical spells zeroToken's 32 bytes with the unused low bits
	// of the last character set: it decodes to the same bytes under a
	// lenient decoder, so accepting it would give one token four spellings.
	nonCanonical := zeroToken[:42] + "B"
	tests := map[string]string{
		"empty":                          "",
		"access-token-like JWT":          jwtLike,
		"JWT cut to 43 chars":            jwtLike[:43],
		"42 chars":                       good[:42],
		"44 chars":                       good + "A",
		"padded":                         good + "=",
		"'+' (std alphabet)":             "+" + good[1:],
		"'/' (std alphabet)":             good[:20] + "/" + good[21:],
		"'=' inside":                     good[:42] + "=",
		"leading space":                  " " + good[1:],
		"trailing space":                 good[:42] + " ",
		"space appended":                 good + " ",
		"tab":                            good[:10] + "\t" + good[11:],
		"newline inside":                 good[:10] + "\n" + good[11:],
		"CRLF appended":                  good[:41] + "\r\n",
		"non-ASCII":                      good[:41] + "é",
		"non-canonical final character":  nonCanonical,
		"std-encoded 32 bytes with pads": base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"hex of 32 bytes":                strings.Repeat("00", 32),
		"43 dots":                        strings.Repeat(".", 43),
		"43 NUL bytes":                   strings.Repeat("\x00", 43),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			if h, ok := tk.Hash(s); ok || h != nil {
				t.Errorf("Hash(%q) = %x, %v; want nil, false", s, h, ok)
			}
			if got := tk.Successor(s); got != "" {
				t.Errorf("Successor(%q) = %q, want \"\"", s, got)
			}
		})
	}
}

func TestSuccessor(t *testing.T) {
	tk := newTokens(t, key)
	tok := newToken(t, tk)
	s1, s2 := tk.Successor(tok), tk.Successor(tok)
	if s1 != s2 {
		t.Errorf("Successor is not deterministic: %q vs %q", s1, s2)
	}
	if s1 == tok {
		t.Error("a token is its own successor")
	}
	if again := newTokens(t, bytes.Clone(key)).Successor(tok); again != s1 {
		t.Errorf("another instance with the same key derives %q, want %q", again, s1)
	}
	if other := newTokens(t, otherKey).Successor(tok); other == s1 {
		t.Error("two keys derive the same successor")
	}
	if h, ok := tk.Hash(s1); !ok || len(h) != 32 {
		t.Errorf("successor %q is not well-formed", s1)
	}
	if h, _ := tk.Hash(s1); bytes.Equal(h, mustHash(t, tk, tok)) {
		t.Error("successor hashes like its token")
	}
	if got := tk.Successor("malformed"); got != "" {
		t.Errorf("Successor(malformed) = %q, want \"\"", got)
	}

	// The derivation is part of the stored state (hash(successor) is
	// stored on rotation), so it must not change between releases.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("authd/refresh-token/successor/v1\x00"))
	m.Write(make([]byte, 32))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); tk.Successor(zeroToken) != want {
		t.Errorf("Successor(zero token) = %q, want %q", tk.Successor(zeroToken), want)
	}
}

func TestSuccessorChainHasNoShortCycle(t *testing.T) {
	tk := newTokens(t, key)
	seen := map[string]int{}
	tok := newToken(t, tk)
	for i := range 100 {
		if j, ok := seen[tok]; ok {
			t.Fatalf("successor %d repeats successor %d", i, j)
		}
		seen[tok] = i
		if _, ok := tk.Hash(tok); !ok {
			t.Fatalf("successor %d (%q) is not well-formed", i, tok)
		}
		tok = tk.Successor(tok)
	}
}

func TestSuccessorsDifferAcrossTokens(t *testing.T) {
	tk := newTokens(t, key)
	seen := map[string]bool{}
	for range 1000 {
		s := tk.Successor(newToken(t, tk))
		if seen[s] {
			t.Fatalf("two tokens share successor %q", s)
		}
		seen[s] = true
	}
}

func TestDeriveKey(t *testing.T) {
	secret := []byte("jwt-signing-secret-0123456789abcdef")
	k1, k2 := refreshtoken.DeriveKey(secret), refreshtoken.DeriveKey(bytes.Clone(secret))
	if len(k1) != 32 || !bytes.Equal(k1, k2) {
		t.Errorf("DeriveKey is not a deterministic 32-byte key: %x, %x", k1, k2)
	}
	if bytes.Equal(k1, secret) || bytes.Contains(secret, k1) || bytes.Contains(k1, secret[:16]) {
		t.Error("the derived key reveals the secret")
	}
	if other := refreshtoken.DeriveKey([]byte("jwt-signing-secret-0123456789abcdeF")); bytes.Equal(other, k1) {
		t.Error("two secrets derive the same key")
	}
	if _, err := refreshtoken.New(k1); err != nil {
		t.Errorf("New refuses a derived key: %v", err)
	}
	// A derived key is not the key itself: successors differ.
	if newTokens(t, k1).Successor(zeroToken) == newTokens(t, bytes.Clone(secret)).Successor(zeroToken) {
		t.Error("the derived key behaves like the secret")
	}
}

func mustHash(t *testing.T, tk *refreshtoken.Tokens, s string) []byte {
	t.Helper()
	h, ok := tk.Hash(s)
	if !ok {
		t.Fatalf("Hash(%q) refused", s)
	}
	return h
}

func BenchmarkHash(b *testing.B) {
	tk := newTokens(b, key)
	tok := newToken(b, tk)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tk.Hash(tok); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkSuccessor(b *testing.B) {
	tk := newTokens(b, key)
	tok := newToken(b, tk)
	b.ReportAllocs()
	for b.Loop() {
		if tk.Successor(tok) == "" {
			b.Fatal("refused")
		}
	}
}

package bcrypt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	xbcrypt "golang.org/x/crypto/bcrypt"

	authbcrypt "github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/domain"
)

// Tests hash at MinCost (4): the cost changes how slow bcrypt is, not what
// it accepts.
func newHasher(t *testing.T) *authbcrypt.Hasher {
	t.Helper()
	h, err := authbcrypt.New(authbcrypt.MinCost)
	if err != nil {
		t.Fatalf("New(MinCost): %v", err)
	}
	return h
}

func mustHash(t *testing.T, h *authbcrypt.Hasher, password string) string {
	t.Helper()
	hash, err := h.Hash(context.Background(), password)
	if err != nil {
		t.Fatalf("Hash(%q): %v", password, err)
	}
	return hash
}

func wantCompare(t *testing.T, h *authbcrypt.Hasher, hash, password string, want bool) {
	t.Helper()
	ok, err := h.Compare(context.Background(), hash, password)
	if err != nil {
		t.Fatalf("Compare(%q): %v", password, err)
	}
	if ok != want {
		t.Errorf("Compare(%q) = %v, want %v", password, ok, want)
	}
}

func TestHashCompare(t *testing.T) {
	h := newHasher(t)
	const password = "correct horse battery staple"
	hash := mustHash(t, h, password)
	if hash == password || strings.Contains(hash, password) {
		t.Fatalf("hash %q contains the password", hash)
	}
	if !strings.HasPrefix(hash, "$2a$04$") {
		t.Errorf("hash %q is not a cost-4 bcrypt hash", hash)
	}
	wantCompare(t, h, hash, password, true)
	for _, wrong := range []string{"", "correct horse battery stapl", "correct horse battery staplE", "Correct horse battery staple", password + " ", " " + password} {
		wantCompare(t, h, hash, wrong, false)
	}

	if again := mustHash(t, h, password); again == hash {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestHashUnicode(t *testing.T) {
	h := newHasher(t)
	pw := strings.Repeat("😀", 18) // 72 bytes
	hash := mustHash(t, h, pw)
	wantCompare(t, h, hash, pw, true)
	wantCompare(t, h, hash, strings.Repeat("😀", 17)+"😁", false)
}

func TestHashEmbedsCost(t *testing.T) {
	for _, cost := range []int{authbcrypt.MinCost, 5, 6} {
		h, err := authbcrypt.New(cost)
		if err != nil {
			t.Fatalf("New(%d): %v", cost, err)
		}
		hash := mustHash(t, h, "password")
		got, err := xbcrypt.Cost([]byte(hash))
		if err != nil {
			t.Fatalf("Cost(%q): %v", hash, err)
		}
		if got != cost {
			t.Errorf("New(%d) hashed at cost %d", cost, got)
		}
	}
}

func TestCompareUsesTheStoredCost(t *testing.T) {
	// A hash made at another cost (an older setting) still verifies.
	h := newHasher(t)
	old, err := xbcrypt.GenerateFromPassword([]byte("password1"), 5)
	if err != nil {
		t.Fatal(err)
	}
	wantCompare(t, h, string(old), "password1", true)
	wantCompare(t, h, string(old), "password2", false)
}

func TestCompareRejectsLongerThan72Bytes(t *testing.T) {
	h := newHasher(t)
	pw72 := strings.Repeat("k", 40) + strings.Repeat("z", 32)
	if len(pw72) != 72 {
		t.Fatal("fixture is not 72 bytes")
	}
	hash := mustHash(t, h, pw72)
	wantCompare(t, h, hash, pw72, true)

	for _, longer := range []string{pw72 + "x", pw72 + "\x00", pw72 + strings.Repeat("y", 100)} {
		// Without the adapter's check x/crypto would accept it: it only
		// reads the first 72 bytes.
		if err := xbcrypt.CompareHashAndPassword([]byte(hash), []byte(longer)); err != nil {
			t.Fatalf("x/crypto no longer truncates (%v): revisit this test", err)
		}
		wantCompare(t, h, hash, longer, false)
	}
}

func TestHashRefusesLongerThan72Bytes(t *testing.T) {
	h := newHasher(t)
	hash, err := h.Hash(context.Background(), strings.Repeat("a", 73))
	if err == nil {
		t.Fatalf("Hash(73 bytes) = %q, want an error", hash)
	}
	if hash != "" {
		t.Errorf("Hash returned %q with its error", hash)
	}
	if code := domain.ErrorCode(err); code != domain.EINTERNAL {
		t.Errorf("code = %q, want %q", code, domain.EINTERNAL)
	}
}

func TestNULBytesAreSignificant(t *testing.T) {
	h := newHasher(t)
	const stored = "abc\x00def-long-enough"
	hash := mustHash(t, h, stored)
	wantCompare(t, h, hash, stored, true)
	// A C-string implementation would compare only "abc".
	for _, other := range []string{"abc\x00xyz-long-enough", "abc", "abc\x00", "abc\x00def-long-enougH"} {
		wantCompare(t, h, hash, other, false)
	}

	// A trailing NUL is part of the password too.
	trailing := mustHash(t, h, "password\x00")
	wantCompare(t, h, trailing, "password\x00", true)
	wantCompare(t, h, trailing, "password", false)
	wantCompare(t, h, mustHash(t, h, "password"), "password\x00", false)
}

func TestNew(t *testing.T) {
	for _, cost := range []int{authbcrypt.MinCost, authbcrypt.DefaultCost, authbcrypt.MaxCost} {
		if h, err := authbcrypt.New(cost); err != nil || h == nil {
			t.Errorf("New(%d) = %v, %v", cost, h, err)
		}
	}
	if authbcrypt.MinCost != 4 || authbcrypt.MaxCost != 31 {
		t.Errorf("cost bounds %d..%d, want 4..31", authbcrypt.MinCost, authbcrypt.MaxCost)
	}
	for _, cost := range []int{-1, 0, 3, 32, 100} {
		if h, err := authbcrypt.New(cost); err == nil || h != nil {
			t.Errorf("New(%d) = %v, %v; want nil and an error", cost, h, err)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	h := newHasher(t)
	hash := mustHash(t, h, "password")

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	for name, tc := range map[string]struct {
		ctx   context.Context
		cause error
	}{
		"cancelled":         {cancelled, context.Canceled},
		"deadline exceeded": {expired, context.DeadlineExceeded},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := h.Hash(tc.ctx, "password")
			if got != "" || domain.ErrorCode(err) != domain.EUNAVAILABLE || !errors.Is(err, tc.cause) {
				t.Errorf("Hash = %q, %v; want \"\" and EUNAVAILABLE wrapping %v", got, err, tc.cause)
			}
			// Even the right password is not confirmed once the caller
			// has gone.
			ok, err := h.Compare(tc.ctx, hash, "password")
			if ok || domain.ErrorCode(err) != domain.EUNAVAILABLE || !errors.Is(err, tc.cause) {
				t.Errorf("Compare = %v, %v; want false and EUNAVAILABLE wrapping %v", ok, err, tc.cause)
			}
		})
	}
}

func TestCompareMalformedHash(t *testing.T) {
	h := newHasher(t)
	valid := mustHash(t, h, "password")
	hashes := map[string]string{
		"empty":              "",
		"not a hash":         "not-a-bcrypt-hash",
		"truncated":          valid[:len(valid)-10],
		"unknown version":    "$9z" + valid[3:],
		"cost out of range":  "$2a$99" + valid[6:],
		"plain text, no $":   "password",
		"only the prefix":    "$2a$04$",
		"unsupported prefix": "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA",
	}
	passwords := map[string]string{
		"short password":    "password",
		"72-byte password":  strings.Repeat("p", 72),
		"73-byte password":  strings.Repeat("p", 73),
		"200-byte password": strings.Repeat("p", 200),
	}
	for hname, hash := range hashes {
		for pname, pw := range passwords {
			t.Run(hname+"/"+pname, func(t *testing.T) {
				ok, err := h.Compare(context.Background(), hash, pw)
				if ok {
					t.Fatal("malformed hash matched")
				}
				if err == nil {
					t.Fatal("malformed hash: no error, so a corrupt stored hash would look like a wrong password")
				}
				code := domain.ErrorCode(err)
				if code == domain.EUNAUTHORIZED {
					t.Errorf("malformed hash reported as %q", code)
				}
				if code != domain.EINTERNAL {
					t.Errorf("code = %q, want %q", code, domain.EINTERNAL)
				}
			})
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	h, err := authbcrypt.New(5)
	if err != nil {
		t.Fatal(err)
	}
	at := func(cost int) string { return hashAt(t, cost) }
	same := mustHash(t, h, "password")
	// The malformed hashes are built from a cost-4 hash, so reading them
	// as cost 4 would flag them.
	other := at(4)
	cases := map[string]struct {
		hash string
		want bool
	}{
		"same cost":                  {same, false},
		"same cost, x/crypto":        {at(5), false},
		"lower cost":                 {at(4), true},
		"higher cost":                {at(6), true},
		"$2b$ at another cost":       {"$2b$04$" + same[7:], true},
		"$2b$ at the same cost":      {"$2b$05$" + same[7:], false},
		"empty":                      {"", false},
		"not a hash":                 {"not-a-bcrypt-hash", false},
		"truncated":                  {other[:10], false},
		"cost out of range":          {"$2a$99" + other[6:], false},
		"cost not a number":          {"$2a$xx" + other[6:], false},
		"unknown version":            {"$9z" + other[3:], false},
		"only the prefix":            {"$2a$04$", false},
		"argon2id, not bcrypt":       {"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA", false},
		"plain text with cost shape": {"$2a$04", false},
	}
	for name, c := range cases {
		if got := h.NeedsRehash(c.hash); got != c.want {
			t.Errorf("%s: NeedsRehash(%q) = %v, want %v", name, c.hash, got, c.want)
		}
	}

	// A hash NeedsRehash flags is one the new cost replaces, and the
	// replacement is not flagged again.
	old := at(4)
	if !h.NeedsRehash(old) {
		t.Fatal("cost-4 hash not flagged for a cost-5 hasher")
	}
	wantCompare(t, h, old, "password", true)
	if h.NeedsRehash(mustHash(t, h, "password")) {
		t.Error("a fresh hash needs rehashing")
	}
}

// TestCheaper: only a hash at a lower cost is cheaper; the same or a
// higher cost, and anything malformed, is not.
func TestCheaper(t *testing.T) {
	h, err := authbcrypt.New(5)
	if err != nil {
		t.Fatal(err)
	}
	at := func(cost int) string { return hashAt(t, cost) }
	for hash, want := range map[string]bool{at(4): true, at(5): false, at(6): false, "": false, "not a hash": false} {
		if got := h.Cheaper(hash); got != want {
			t.Errorf("Cheaper(%.10q) = %v, want %v", hash, got, want)
		}
	}
}

// hashAt is x/crypto's own hash of "password" at cost.
func hashAt(t *testing.T, cost int) string {
	t.Helper()
	b, err := xbcrypt.GenerateFromPassword([]byte("password"), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

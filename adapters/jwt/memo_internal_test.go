package jwt

import (
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func memoIssuer(t *testing.T) *Issuer {
	t.Helper()
	iss, err := New(Config{Secret: []byte("test-secret-0123456789abcdef0123456789"), Issuer: "https://auth.example.test", Audience: "authd-api", TTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func (v *verified) has(token string) bool {
	s := v.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[token]
	return ok
}

// TestVerifiedMemo: a token that verified is answered from the memo with
// the same claims while its time checks hold; outside them (expired, not
// yet valid) the full check answers and refuses; a token that differs in
// one character is never answered from it.
func TestVerifiedMemo(t *testing.T) {
	iss := memoIssuer(t)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at, err := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: "sid-1", EmailVerified: true}, t0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := iss.Verify(at.Token, t0.Add(time.Second))
	if err != nil || !iss.verified.has(at.Token) {
		t.Fatalf("Verify = %v (remembered %v)", err, iss.verified.has(at.Token))
	}
	second, err := iss.Verify(at.Token, t0.Add(time.Minute))
	if err != nil || second != first {
		t.Fatalf("second Verify = %+v, %v; want %+v", second, err, first)
	}
	for name, now := range map[string]time.Time{
		"at exp":     t0.Add(15 * time.Minute),
		"after exp":  t0.Add(16 * time.Minute),
		"before iat": t0.Add(-time.Second),
	} {
		if _, err := iss.Verify(at.Token, now); !errors.Is(err, domain.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	tampered := []byte(at.Token)
	tampered[len(tampered)-2] ^= 1
	if _, err := iss.Verify(string(tampered), t0.Add(time.Second)); !errors.Is(err, domain.ErrInvalidToken) {
		t.Errorf("tampered token: %v", err)
	}
}

// TestVerifiedMemoCopiesTheToken: the token may live in a request buffer
// that is reused; the memo keeps its own copy.
func TestVerifiedMemoCopiesTheToken(t *testing.T) {
	iss := memoIssuer(t)
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at, _ := iss.Issue(ports.AccessSubject{UserID: 42, SessionID: "sid-1"}, t0, time.Time{})
	buf := []byte(at.Token)
	if _, err := iss.Verify(unsafe.String(&buf[0], len(buf)), t0); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if !iss.verified.has(at.Token) {
		t.Error("the remembered token changed with the caller's buffer")
	}
}

func TestVerifiedMemoIsBounded(t *testing.T) {
	v := newVerified()
	exp := time.Now().Add(time.Hour)
	for i := range 3 * verifiedShards * verifiedPerShard {
		v.put(fmt.Sprint("token-", i), ports.AccessClaims{UserID: 1, ExpiresAt: exp}, time.Time{})
	}
	n := 0
	for i := range v.shards {
		n += len(v.shards[i].m)
	}
	if n > verifiedShards*verifiedPerShard {
		t.Errorf("%d tokens remembered, bound %d", n, verifiedShards*verifiedPerShard)
	}
}

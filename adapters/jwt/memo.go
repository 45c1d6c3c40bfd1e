package jwt

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/ports"
)

// verified remembers access tokens that passed Verify, so a client that
// sends the same token again (every request of a session, until it is
// refreshed) costs a map lookup instead of decoding two JSON objects and
// checking a signature: in a profile of GET /users/me at 64 clients,
// Verify was a third of authd's CPU, two thirds of it JSON decoding.
//
// Only a token that verified in full is remembered, under its exact text
// (signature included), so no other text can match it; the keys do not
// change while the process runs. A remembered token is answered only
// while the time checks Verify makes still hold (not before nbf and iat,
// before exp); otherwise Verify runs in full and gives its own error.
// Memory is bounded: a full shard drops an arbitrary entry.
type verified struct {
	seed   maphash.Seed
	shards [verifiedShards]verifiedShard
}

const (
	verifiedShards = 16
	// verifiedPerShard bounds the memo at 16 × 1024 tokens, each about
	// the size of the token text (a few hundred bytes).
	verifiedPerShard = 1024
)

type verifiedShard struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	claims    ports.AccessClaims
	notBefore time.Time // the later of nbf and iat
}

func newVerified() *verified {
	v := &verified{seed: maphash.MakeSeed()}
	for i := range v.shards {
		v.shards[i].m = make(map[string]verifiedToken)
	}
	return v
}

func (v *verified) shard(token string) *verifiedShard {
	return &v.shards[maphash.String(v.seed, token)%verifiedShards]
}

// get returns the claims of token if it verified before and its time
// checks hold at now.
func (v *verified) get(token string, now time.Time) (ports.AccessClaims, bool) {
	s := v.shard(token)
	s.mu.Lock()
	t, ok := s.m[token]
	s.mu.Unlock()
	if !ok || now.Before(t.notBefore) || !now.Before(t.claims.ExpiresAt) {
		return ports.AccessClaims{}, false
	}
	return t.claims, true
}

// put remembers token, which just verified with claims, valid from
// notBefore.
func (v *verified) put(token string, claims ports.AccessClaims, notBefore time.Time) {
	s := v.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= verifiedPerShard {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	// The caller's string may point into a reused request buffer.
	s.m[strings.Clone(token)] = verifiedToken{claims: claims, notBefore: notBefore}
}

// Package devicetoken implements ports.DeviceTokens with tokens that are
// verified by key, so nothing is stored per device.
//
// A token is "dt1." + base64url(payload) + "." + base64url(mac), where
// payload is the user id (8 bytes, big-endian), a random device id (16
// bytes) and the expiry (8 bytes, Unix seconds), and mac is
// HMAC-SHA256(key', "authd/device-token/v1" || payload). key' is derived
// from the configured key with its own label, so the refresh-token key can
// serve here without one HMAC use ever standing in for another.
//
// What a token proves is narrow: that this client once logged in to this
// account (it is returned only by a successful login). It grants no
// access; it only decides which failure budget a login is judged on. So a
// stolen device token gives an attacker that device's small budget for
// the account, not a way around the password.
package devicetoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authd/authd/ports"
)

var _ ports.DeviceTokens = (*Tokens)(nil)

const (
	// MinKeyBytes is the shortest key accepted.
	MinKeyBytes = 32
	// DefaultTTL is how long a device token lasts: long enough that a
	// device the owner uses monthly keeps its standing.
	DefaultTTL = 365 * 24 * time.Hour

	prefix      = "dt1."
	deviceBytes = 16
	payloadLen  = 8 + deviceBytes + 8
	macLen      = sha256.Size
	keyLabel    = "authd/device-token/key/v1"
	macLabel    = "authd/device-token/v1\x00"
)

var enc = base64.RawURLEncoding.Strict()

// Tokens issues and verifies device tokens.
type Tokens struct {
	key []byte
	ttl time.Duration
}

// New returns device tokens keyed by key (at least MinKeyBytes); ttl 0
// means DefaultTTL.
func New(key []byte, ttl time.Duration) (*Tokens, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("devicetoken: key must be at least %d bytes", MinKeyBytes)
	}
	if ttl < 0 {
		return nil, errors.New("devicetoken: negative lifetime")
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(keyLabel))
	return &Tokens{key: m.Sum(nil), ttl: ttl}, nil
}

// Issue signs a token for userID's device deviceID (a new random one when
// deviceID is ""), expiring ttl after now.
func (t *Tokens) Issue(userID int64, deviceID string, now time.Time) (string, error) {
	if userID <= 0 {
		return "", errors.New("devicetoken: no user")
	}
	var payload [payloadLen]byte
	binary.BigEndian.PutUint64(payload[:8], uint64(userID))
	if deviceID == "" {
		if _, err := rand.Read(payload[8 : 8+deviceBytes]); err != nil {
			return "", fmt.Errorf("devicetoken: %w", err)
		}
	} else if b, err := hex.DecodeString(deviceID); err != nil || len(b) != deviceBytes {
		return "", errors.New("devicetoken: malformed device id")
	} else {
		copy(payload[8:8+deviceBytes], b)
	}
	binary.BigEndian.PutUint64(payload[8+deviceBytes:], uint64(now.Add(t.ttl).Unix()))
	return prefix + enc.EncodeToString(payload[:]) + "." + enc.EncodeToString(t.mac(payload[:])), nil
}

// Verify checks the MAC in constant time, then the expiry.
func (t *Tokens) Verify(token string, now time.Time) (ports.DeviceClaims, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) > 128 {
		return ports.DeviceClaims{}, false
	}
	p, m, ok := strings.Cut(rest, ".")
	if !ok {
		return ports.DeviceClaims{}, false
	}
	payload, err := enc.DecodeString(p)
	if err != nil || len(payload) != payloadLen {
		return ports.DeviceClaims{}, false
	}
	mac, err := enc.DecodeString(m)
	if err != nil || len(mac) != macLen || !hmac.Equal(mac, t.mac(payload)) {
		return ports.DeviceClaims{}, false
	}
	uid := int64(binary.BigEndian.Uint64(payload[:8]))
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[8+deviceBytes:])), 0).UTC()
	if uid <= 0 || !now.Before(exp) {
		return ports.DeviceClaims{}, false
	}
	return ports.DeviceClaims{UserID: uid, DeviceID: hex.EncodeToString(payload[8 : 8+deviceBytes]), ExpiresAt: exp}, true
}

func (t *Tokens) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(macLabel))
	m.Write(payload)
	return m.Sum(nil)
}

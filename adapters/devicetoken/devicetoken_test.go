package devicetoken_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/adapters/devicetoken"
)

var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func newTokens(t *testing.T, key byte, ttl time.Duration) *devicetoken.Tokens {
	t.Helper()
	d, err := devicetoken.New(bytes.Repeat([]byte{key}, 32), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	d := newTokens(t, 'k', time.Hour)
	tok, err := d.Issue(42, "", now)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := d.Verify(tok, now.Add(59*time.Minute))
	if !ok || c.UserID != 42 || len(c.DeviceID) != 32 || !c.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Verify = %+v, %v", c, ok)
	}
	// Renewal keeps the device id and moves the expiry.
	renewed, err := d.Issue(42, c.DeviceID, now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	c2, ok := d.Verify(renewed, now.Add(80*time.Minute))
	if !ok || c2.DeviceID != c.DeviceID || c2.UserID != 42 {
		t.Fatalf("renewed = %+v, %v; want device %s", c2, ok, c.DeviceID)
	}
	// Two new devices never share an id.
	other, _ := d.Issue(42, "", now)
	c3, _ := d.Verify(other, now)
	if c3.DeviceID == c.DeviceID {
		t.Fatal("two new devices got the same id")
	}
}

func TestVerifyRefuses(t *testing.T) {
	d := newTokens(t, 'k', time.Hour)
	tok, err := d.Issue(7, "", now)
	if err != nil {
		t.Fatal(err)
	}
	p, m, _ := strings.Cut(strings.TrimPrefix(tok, "dt1."), ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	otherKey := newTokens(t, 'x', time.Hour)
	forged, _ := otherKey.Issue(7, "", now)
	for name, bad := range map[string]string{
		"empty":           "",
		"expired":         "", // checked below with a later now
		"other key":       forged,
		"payload changed": "dt1." + flip(p) + "." + m,
		"mac changed":     "dt1." + p + "." + flip(m),
		"no prefix":       p + "." + m,
		"wrong version":   "dt2." + p + "." + m,
		"padding":         tok + "=",
		"trailing dot":    tok + ".",
		"huge":            "dt1." + strings.Repeat("A", 10_000),
		"refresh token":   "q2w3e4r5t6y7u8i9o0pq2w3e4r5t6y7u8i9o0pAAAA",
	} {
		if name == "expired" {
			if _, ok := d.Verify(tok, now.Add(time.Hour)); ok {
				t.Error("expired token verified")
			}
			continue
		}
		if c, ok := d.Verify(bad, now); ok {
			t.Errorf("%s: verified as %+v", name, c)
		}
	}
}

func TestNewRefusesShortKey(t *testing.T) {
	if _, err := devicetoken.New(make([]byte, 31), 0); err == nil {
		t.Fatal("31-byte key accepted")
	}
	if _, err := devicetoken.New(make([]byte, 32), -time.Second); err == nil {
		t.Fatal("negative lifetime accepted")
	}
}

func TestIssueRefusesBadInput(t *testing.T) {
	d := newTokens(t, 'k', 0)
	if _, err := d.Issue(0, "", now); err == nil {
		t.Error("user 0 accepted")
	}
	if _, err := d.Issue(1, "not-hex", now); err == nil {
		t.Error("malformed device id accepted")
	}
	tok, err := d.Issue(1, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := d.Verify(tok, now.Add(364*24*time.Hour)); !ok || !c.ExpiresAt.Equal(now.Add(devicetoken.DefaultTTL)) {
		t.Fatalf("default lifetime: %+v %v", c, ok)
	}
}

package http

// Unit tests of the client-address resolution behind rate limits and the
// access log. The end-to-end tests (a real listener, app.Test) are in
// clientip_test.go.

import (
	"net/netip"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	v6 := []netip.Prefix{netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		// The peer is not a trusted proxy: the header is the client's own
		// words and is ignored entirely.
		{"untrusted peer, XFF ignored", "203.0.113.9", []string{"1.2.3.4"}, private, "203.0.113.9"},
		{"untrusted peer, trusted-looking XFF ignored", "203.0.113.9", []string{"10.0.0.7"}, private, "203.0.113.9"},
		{"no trusted proxies at all", "10.0.0.1", []string{"1.2.3.4"}, nil, "10.0.0.1"},
		{"untrusted peer, no XFF", "203.0.113.9", nil, private, "203.0.113.9"},

		// The peer is trusted: read the chain from the right.
		{"trusted peer, one hop", "10.0.0.1", []string{"1.2.3.4"}, private, "1.2.3.4"},
		{"trusted peer, no XFF", "10.0.0.1", nil, private, "10.0.0.1"},
		{"right-most untrusted wins over a spoofed garbage prefix", "10.0.0.1", []string{"spoofed, 1.2.3.4, 10.0.0.2"}, private, "1.2.3.4"},
		{"right-most untrusted wins over a spoofed address", "10.0.0.1", []string{"9.9.9.9, 1.2.3.4, 10.0.0.2"}, private, "1.2.3.4"},
		{"spoofed trusted-looking address left of the client", "10.0.0.1", []string{"10.9.9.9, 1.2.3.4"}, private, "1.2.3.4"},
		{"whitespace around hops", "10.0.0.1", []string{"  1.2.3.4 ,\t10.0.0.2  "}, private, "1.2.3.4"},
		// Every hop is a trusted proxy: the client must be on the inside
		// too, and the leftmost hop is the furthest one seen. (It cannot
		// be spoofed: every entry right of it was written by a trusted
		// proxy.)
		{"all hops trusted: leftmost trusted hop", "10.0.0.1", []string{"10.0.0.3, 10.0.0.2"}, private, "10.0.0.3"},

		// A hop that does not parse: a trusted proxy would not write it,
		// so nothing left of it is believed; the answer is the last good
		// hop to its right (a trusted proxy, or the peer).
		{"garbage right of a valid hop: last good trusted hop", "10.0.0.1", []string{"1.2.3.4, garbage, 10.0.0.2"}, private, "10.0.0.2"},
		{"garbage as the right-most hop: the peer", "10.0.0.1", []string{"1.2.3.4, garbage"}, private, "10.0.0.1"},
		{"a hostname is garbage", "10.0.0.1", []string{"1.2.3.4, proxy.internal"}, private, "10.0.0.1"},
		{"a CIDR is garbage", "10.0.0.1", []string{"1.2.3.0/24"}, private, "10.0.0.1"},

		// Empty entries are treated like garbage: conservative, never
		// an address the client chose.
		{"empty header", "10.0.0.1", []string{""}, private, "10.0.0.1"},
		{"blank header", "10.0.0.1", []string{"  "}, private, "10.0.0.1"},
		// Empty list elements are ignored (RFC 9110 §5.6.1).
		{"trailing empty entry", "10.0.0.1", []string{"1.2.3.4,"}, private, "1.2.3.4"},
		{"leading empty entry", "10.0.0.1", []string{", 1.2.3.4"}, private, "1.2.3.4"},
		{"empty entry between trusted hops", "10.0.0.1", []string{"1.2.3.4,,10.0.0.2"}, private, "1.2.3.4"},

		// Several header lines are one list, in order (RFC 9110 §5.3).
		{"header lines joined in order", "10.0.0.1", []string{"5.5.5.5", "6.6.6.6"}, private, "6.6.6.6"},
		{"header lines joined in order, client in the first", "10.0.0.1", []string{"9.9.9.9, 1.2.3.4", "10.0.0.2"}, private, "1.2.3.4"},
		{"header lines joined in order, trusted hops in the second", "10.0.0.1", []string{"1.2.3.4", "10.0.0.3, 10.0.0.2"}, private, "1.2.3.4"},

		// IPv6 and IPv4-mapped IPv6.
		{"IPv6 trusted peer, IPv6 client", "fd00::1", []string{"2001:db8::7"}, v6, "2001:db8::7"},
		{"IPv6 trusted peer, IPv4 client", "fd00::1", []string{"1.2.3.4"}, v6, "1.2.3.4"},
		{"IPv6 untrusted peer", "2001:db8::9", []string{"1.2.3.4"}, v6, "2001:db8::9"},
		{"IPv6 hops, trusted skipped", "fd00::1", []string{"2001:db8::7, fd00::2"}, v6, "2001:db8::7"},
		{"IPv4-mapped peer matches an IPv4 prefix", "::ffff:10.0.0.1", []string{"1.2.3.4"}, private, "1.2.3.4"},
		{"IPv4-mapped untrusted peer is reported unmapped", "::ffff:203.0.113.9", []string{"1.2.3.4"}, private, "203.0.113.9"},
		{"IPv4-mapped client hop is reported unmapped", "10.0.0.1", []string{"::ffff:1.2.3.4"}, private, "1.2.3.4"},
		{"IPv4-mapped trusted hop is skipped", "10.0.0.1", []string{"1.2.3.4, ::ffff:10.0.0.2"}, private, "1.2.3.4"},

		// Hops with ports.
		{"IPv4 hop with a port", "10.0.0.1", []string{"1.2.3.4:5678"}, private, "1.2.3.4"},
		{"IPv6 hop with a port", "10.0.0.1", []string{"[2001:db8::1]:443"}, private, "2001:db8::1"},
		{"trusted hop with a port is skipped", "10.0.0.1", []string{"1.2.3.4, 10.0.0.2:80"}, private, "1.2.3.4"},
		{"bracketed IPv6 without a port is garbage", "10.0.0.1", []string{"[2001:db8::1]"}, private, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientIP(netip.MustParseAddr(tt.peer), tt.xff, tt.trusted)
			if got.String() != tt.want {
				t.Errorf("clientIP(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 1},
		{-time.Second, 1},
		{time.Millisecond, 1},
		{time.Second, 1},
		{1500 * time.Millisecond, 2},
		{time.Minute, 60},
		{15 * time.Minute, 900},
	}
	for _, tt := range tests {
		if got := retryAfterHeader(tt.d); got != tt.want {
			t.Errorf("retryAfterHeader(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

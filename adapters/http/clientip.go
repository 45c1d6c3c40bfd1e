package http

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/ports"
)

// clientIP is the address rate limits and logs attribute a request to: the
// TCP peer, unless the peer is a trusted proxy. Then the X-Forwarded-For
// chain is read from the right, skipping trusted proxies, and the first
// untrusted address is the client: the leftmost entries are whatever the
// client chose to send and are never believed. No header is trusted from
// an untrusted peer.
func clientIP(peer netip.Addr, forwardedFor []string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range forwardedFor {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		if strings.TrimSpace(hops[i]) == "" {
			continue // RFC 9110 §5.6.1: empty list elements are ignored
		}
		addr, ok := parseHop(hops[i])
		if !ok {
			// A trusted proxy would not write garbage: the chain is
			// unreliable from here on, so stop at the last good hop.
			return client
		}
		client = addr
		if !isTrusted(addr, trusted) {
			return addr
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an IP, optionally with a port
// ("1.2.3.4:5678", "[::1]:80").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// identifyClient resolves the client address once per request and hands
// it to the use cases (rate limits) and the access log.
func (s *server) identifyClient(c *fiber.Ctx) error {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var xff []string
	if len(s.cfg.TrustedProxies) > 0 {
		for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
			xff = append(xff, string(v))
		}
	}
	if s.cfg.WarnUntrustedForwarded && !isTrusted(peer.Unmap(), s.cfg.TrustedProxies) {
		s.warnUntrustedForwarded(c, peer.Unmap())
	}
	ip := clientIP(peer, xff, s.cfg.TrustedProxies).String()
	c.Locals(localClientIP, ip)
	c.SetUserContext(ports.WithClient(c.UserContext(), ip))
	return c.Next()
}

// budget spends one unit of the client's auth request budget.
func (s *server) budget(c *fiber.Ctx) error {
	if err := s.svc.AllowClient(c.UserContext()); err != nil {
		return err
	}
	return c.Next()
}

// warnUntrustedForwarded logs, once per process, that X-Forwarded-For
// came from a peer authd does not trust. The header is ignored either
// way; in production it usually means a proxy is missing from
// AUTHD_TRUSTED_PROXIES, so every client looks like the proxy and shares
// one rate-limit budget.
func (s *server) warnUntrustedForwarded(c *fiber.Ctx, peer netip.Addr) {
	if len(c.Request().Header.Peek(fiber.HeaderXForwardedFor)) == 0 {
		return
	}
	s.forwardedWarning.Do(func() {
		s.log.Warn("X-Forwarded-For arrived from a peer that is not a trusted proxy and was ignored; if a proxy fronts authd, add it to AUTHD_TRUSTED_PROXIES, or all its clients share one rate-limit budget",
			"peer", peer.String())
	})
}

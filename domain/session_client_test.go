package domain_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/domain"
)

func TestNewSessionLastUsedIsCreation(t *testing.T) {
	s, err := domain.NewSession("sid", 42, sessionStart, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !s.LastUsedAt().Equal(sessionStart) || s.LastUsedAt().Location() != time.UTC {
		t.Errorf("LastUsedAt = %v, want %v in UTC", s.LastUsedAt(), sessionStart.UTC())
	}
	if s.UserAgent() != "" || s.ClientAddr() != "" {
		t.Errorf("new session has client %q/%q, want none", s.UserAgent(), s.ClientAddr())
	}
}

func TestSessionWithClient(t *testing.T) {
	s, err := domain.NewSession("sid", 42, sessionStart, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := s.WithClient("curl/8.5.0", "203.0.113.7")
	if c.UserAgent() != "curl/8.5.0" || c.ClientAddr() != "203.0.113.7" {
		t.Errorf("WithClient: %q/%q", c.UserAgent(), c.ClientAddr())
	}
	if s.UserAgent() != "" || s.ClientAddr() != "" {
		t.Errorf("WithClient changed the original session: %q/%q", s.UserAgent(), s.ClientAddr())
	}
	if c.ID() != s.ID() || c.UserID() != s.UserID() || !c.CreatedAt().Equal(s.CreatedAt()) ||
		!c.ExpiresAt().Equal(s.ExpiresAt()) || !c.LastUsedAt().Equal(s.LastUsedAt()) {
		t.Errorf("WithClient changed more than the client: %+v vs %+v", c, s)
	}
}

func TestSessionWithClientTruncatesOnRuneBoundary(t *testing.T) {
	s, err := domain.NewSession("sid", 42, sessionStart, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ua string
		wantLen  int
	}{
		{"ascii at the limit", strings.Repeat("a", domain.MaxUserAgentBytes), domain.MaxUserAgentBytes},
		{"ascii over the limit", strings.Repeat("a", 1000), domain.MaxUserAgentBytes},
		// 255 ASCII bytes then a 3-byte rune straddling the limit: the rune goes.
		{"rune across the limit", strings.Repeat("a", 255) + "€€", 255},
		// 254 + "€" (3 bytes) = 257: cut before the euro sign.
		{"rune ending past the limit", strings.Repeat("a", 254) + "€", 254},
		{"rune ending at the limit", strings.Repeat("a", 253) + "€x", domain.MaxUserAgentBytes},
		{"four-byte runes", strings.Repeat("😀", 100), 256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := s.WithClient(tt.ua, "").UserAgent()
			if len(got) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(got), tt.wantLen)
			}
			if !utf8.ValidString(got) || !strings.HasPrefix(tt.ua, got) {
				t.Errorf("got %q, not a valid prefix of the input", got)
			}
		})
	}
}

func TestSessionWithClientCleansText(t *testing.T) {
	s, err := domain.NewSession("sid", 42, sessionStart, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := s.WithClient("a\x00b\xffc", "10.0.0.1\x00")
	if c.UserAgent() != "ab\uFFFDc" {
		t.Errorf("UserAgent = %q, want %q", c.UserAgent(), "ab\uFFFDc")
	}
	if c.ClientAddr() != "10.0.0.1" {
		t.Errorf("ClientAddr = %q", c.ClientAddr())
	}
}

func TestRehydrateSessionRecord(t *testing.T) {
	used := sessionStart.Add(time.Minute)
	s := domain.RehydrateSessionRecord(domain.SessionRecord{
		ID: "sid", UserID: 7, CreatedAt: sessionStart, ExpiresAt: sessionStart.Add(time.Hour),
		LastUsedAt: used, UserAgent: "ua", ClientAddr: "::1",
	})
	if !s.LastUsedAt().Equal(used) || s.LastUsedAt().Location() != time.UTC || s.UserAgent() != "ua" || s.ClientAddr() != "::1" {
		t.Errorf("metadata %v %q %q", s.LastUsedAt(), s.UserAgent(), s.ClientAddr())
	}
	if !s.RevokedAt().IsZero() {
		t.Errorf("RevokedAt = %v, want zero", s.RevokedAt())
	}
	old := domain.RehydrateSession("sid", 7, sessionStart, sessionStart.Add(time.Hour), time.Time{})
	if !old.LastUsedAt().Equal(sessionStart) {
		t.Errorf("RehydrateSession: LastUsedAt = %v, want the creation", old.LastUsedAt())
	}
}

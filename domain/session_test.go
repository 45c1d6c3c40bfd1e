package domain_test

import (
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

// sessionStart has sub-second precision and a non-UTC zone, so a session
// that drops either shows up.
var sessionStart = time.Date(2025, 3, 4, 14, 6, 7, 890123000, time.FixedZone("UTC+9", 9*3600))

func TestNewSession(t *testing.T) {
	const ttl = 30 * 24 * time.Hour
	s, err := domain.NewSession("sid-1", 42, sessionStart, ttl)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if s.ID() != "sid-1" || s.UserID() != 42 {
		t.Errorf("id/user = %q/%d, want sid-1/42", s.ID(), s.UserID())
	}
	if !s.CreatedAt().Equal(sessionStart) || s.CreatedAt().Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", s.CreatedAt(), sessionStart.UTC())
	}
	if !s.ExpiresAt().Equal(sessionStart.Add(ttl)) || s.ExpiresAt().Location() != time.UTC {
		t.Errorf("ExpiresAt = %v, want %v in UTC", s.ExpiresAt(), sessionStart.Add(ttl).UTC())
	}
	if !s.RevokedAt().IsZero() {
		t.Errorf("RevokedAt = %v, want zero", s.RevokedAt())
	}
	if !s.LiveAt(sessionStart) {
		t.Error("a new session is not live at its start")
	}
}

func TestNewSessionRejects(t *testing.T) {
	tests := []struct {
		name string
		id   string
		uid  int64
		now  time.Time
		ttl  time.Duration
	}{
		{"empty id", "", 42, sessionStart, time.Hour},
		{"zero user", "sid", 0, sessionStart, time.Hour},
		{"negative user", "sid", -1, sessionStart, time.Hour},
		{"zero start", "sid", 42, time.Time{}, time.Hour},
		{"zero ttl", "sid", 42, sessionStart, 0},
		{"negative ttl", "sid", 42, sessionStart, -time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := domain.NewSession(tt.id, tt.uid, tt.now, tt.ttl)
			if err == nil || s != nil {
				t.Errorf("NewSession = %+v, %v; want nil and an error", s, err)
			}
		})
	}
}

func TestSessionLiveAtAndRemainingAt(t *testing.T) {
	const ttl = time.Hour
	s, err := domain.NewSession("sid", 42, sessionStart, ttl)
	if err != nil {
		t.Fatal(err)
	}
	exp := sessionStart.Add(ttl)
	tests := []struct {
		name     string
		at       time.Time
		live     bool
		leftover time.Duration
	}{
		{"at start", sessionStart, true, ttl},
		{"midway", sessionStart.Add(20 * time.Minute), true, 40 * time.Minute},
		{"a nanosecond before expiry", exp.Add(-time.Nanosecond), true, time.Nanosecond},
		{"at expiry", exp, false, 0},
		{"at expiry, other zone", exp.UTC(), false, 0},
		{"after expiry", exp.Add(time.Hour), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.LiveAt(tt.at); got != tt.live {
				t.Errorf("LiveAt = %v, want %v", got, tt.live)
			}
			if got := s.RemainingAt(tt.at); got != tt.leftover {
				t.Errorf("RemainingAt = %v, want %v", got, tt.leftover)
			}
		})
	}
}

func TestRevokedSessionIsNotLive(t *testing.T) {
	created := sessionStart.UTC()
	expires := created.Add(time.Hour)
	revoked := created.Add(10 * time.Minute)
	s := domain.RehydrateSession("sid", 42, created, expires, revoked)
	for _, at := range []time.Time{revoked, revoked.Add(time.Minute), expires.Add(-time.Nanosecond)} {
		if s.LiveAt(at) {
			t.Errorf("revoked session live at %v", at)
		}
		if got := s.RemainingAt(at); got != 0 {
			t.Errorf("RemainingAt(%v) = %v, want 0", at, got)
		}
	}
}

func TestRehydrateSession(t *testing.T) {
	zone := time.FixedZone("UTC-5", -5*3600)
	created := time.Date(2025, 1, 1, 7, 0, 0, 0, zone)
	expires := created.Add(24 * time.Hour)

	t.Run("not revoked", func(t *testing.T) {
		s := domain.RehydrateSession("sid", 7, created, expires, time.Time{})
		if s.ID() != "sid" || s.UserID() != 7 {
			t.Errorf("id/user = %q/%d", s.ID(), s.UserID())
		}
		if !s.CreatedAt().Equal(created) || s.CreatedAt().Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v in UTC", s.CreatedAt(), created.UTC())
		}
		if !s.ExpiresAt().Equal(expires) || s.ExpiresAt().Location() != time.UTC {
			t.Errorf("ExpiresAt = %v, want %v in UTC", s.ExpiresAt(), expires.UTC())
		}
		if !s.RevokedAt().IsZero() {
			t.Errorf("RevokedAt = %v, want zero", s.RevokedAt())
		}
		if !s.LiveAt(created.Add(time.Hour)) {
			t.Error("a stored, unrevoked, unexpired session is not live")
		}
	})

	t.Run("revoked", func(t *testing.T) {
		revoked := created.Add(time.Hour)
		s := domain.RehydrateSession("sid", 7, created, expires, revoked)
		if !s.RevokedAt().Equal(revoked) || s.RevokedAt().Location() != time.UTC {
			t.Errorf("RevokedAt = %v, want %v in UTC", s.RevokedAt(), revoked.UTC())
		}
		if s.LiveAt(created.Add(2 * time.Hour)) {
			t.Error("a revoked session is live")
		}
	})
}

package domain_test

import (
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

func mustEmail(t *testing.T, raw string) domain.Email {
	t.Helper()
	e, err := domain.ParseEmail(raw)
	if err != nil {
		t.Fatalf("ParseEmail(%q): %v", raw, err)
	}
	return e
}

func TestNewUser(t *testing.T) {
	email := mustEmail(t, "alice@example.com")
	// 12:30 in UTC+05:30 is 07:00 UTC.
	created := time.Date(2025, 6, 1, 12, 30, 0, 123456000, time.FixedZone("IST", 5*3600+1800))

	u, err := domain.NewUser(email, "$2a$04$hash", created)
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	if u.ID() != 0 {
		t.Errorf("ID = %d, want 0 before storage", u.ID())
	}
	if u.Email() != email {
		t.Errorf("Email = %q, want %q", u.Email(), email)
	}
	if u.PasswordHash() != "$2a$04$hash" {
		t.Errorf("PasswordHash = %q", u.PasswordHash())
	}
	if !u.IsActive() {
		t.Error("a new user is not active")
	}
	if !u.CreatedAt().Equal(created) {
		t.Errorf("CreatedAt = %v, want the instant %v", u.CreatedAt(), created)
	}
	if u.CreatedAt().Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", u.CreatedAt().Location())
	}
	if want := time.Date(2025, 6, 1, 7, 0, 0, 123456000, time.UTC); u.CreatedAt() != want {
		t.Errorf("CreatedAt = %#v, want %#v", u.CreatedAt(), want)
	}

	u.Deactivate()
	if u.IsActive() {
		t.Error("still active after Deactivate")
	}
}

func TestNewUserRejects(t *testing.T) {
	email := mustEmail(t, "alice@example.com")
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		email   domain.Email
		hash    string
		created time.Time
	}{
		{"zero email", domain.Email{}, "$2a$04$hash", now},
		{"empty hash", email, "", now},
		{"zero time", email, "$2a$04$hash", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := domain.NewUser(tt.email, tt.hash, tt.created)
			if err == nil {
				t.Fatalf("NewUser accepted it: %+v", u)
			}
			if u != nil {
				t.Errorf("NewUser returned a user with its error: %+v", u)
			}
		})
	}
}

func TestRehydrateUser(t *testing.T) {
	created := time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.FixedZone("minus-three", -3*3600))
	for _, active := range []bool{true, false} {
		u := domain.RehydrateUser(7, "bob@example.org", "stored-hash", active, created)
		if u.ID() != 7 {
			t.Errorf("ID = %d", u.ID())
		}
		if u.Email() != mustEmail(t, "bob@example.org") || u.Email().String() != "bob@example.org" {
			t.Errorf("Email = %q", u.Email())
		}
		if u.PasswordHash() != "stored-hash" {
			t.Errorf("PasswordHash = %q", u.PasswordHash())
		}
		if u.IsActive() != active {
			t.Errorf("IsActive = %v, want %v", u.IsActive(), active)
		}
		if !u.CreatedAt().Equal(created) || u.CreatedAt().Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v in UTC", u.CreatedAt(), created)
		}
	}

	// What a repository reads back from what it was given to store is the
	// same user, apart from the ID the store assigns.
	n, err := domain.NewUser(mustEmail(t, "carol@example.net"), "h", created)
	if err != nil {
		t.Fatal(err)
	}
	r := domain.RehydrateUser(99, n.Email().String(), n.PasswordHash(), n.IsActive(), n.CreatedAt())
	if r.ID() != 99 || r.Email() != n.Email() || r.PasswordHash() != n.PasswordHash() || r.IsActive() != n.IsActive() || r.CreatedAt() != n.CreatedAt() {
		t.Errorf("round trip: stored %+v, read back %+v", n, r)
	}
}

func TestEmailVerified(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n, err := domain.NewUser(mustEmail(t, "dan@example.org"), "h", created)
	if err != nil {
		t.Fatal(err)
	}
	if n.EmailVerified() || !n.EmailVerifiedAt().IsZero() {
		t.Errorf("new user: verified %v at %v, want not verified", n.EmailVerified(), n.EmailVerifiedAt())
	}
	u := domain.RehydrateUser(3, "dan@example.org", "h", true, created)
	if u.EmailVerified() {
		t.Error("RehydrateUser: verified, want not verified")
	}
	at := time.Date(2026, 1, 3, 4, 5, 6, 7000, time.FixedZone("plus-two", 2*3600))
	v := u.WithEmailVerifiedAt(at)
	if !v.EmailVerified() || !v.EmailVerifiedAt().Equal(at) || v.EmailVerifiedAt().Location() != time.UTC {
		t.Errorf("WithEmailVerifiedAt: verified %v at %v, want true at %v in UTC", v.EmailVerified(), v.EmailVerifiedAt(), at)
	}
	if u.EmailVerified() {
		t.Error("WithEmailVerifiedAt changed the receiver")
	}
	if v.ID() != 3 || v.Email() != u.Email() || v.PasswordHash() != "h" || !v.IsActive() || v.CreatedAt() != created {
		t.Errorf("WithEmailVerifiedAt lost fields: %+v", v)
	}
	if v.WithEmailVerifiedAt(time.Time{}).EmailVerified() {
		t.Error("WithEmailVerifiedAt(zero): verified, want not verified")
	}
}

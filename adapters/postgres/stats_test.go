package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/authd/authd/adapters/postgres"
	"github.com/authd/authd/domain"
)

func TestLiveSessionsAndStats(t *testing.T) {
	ctx := context.Background()
	db, _ := postgres.OpenMigratedForTest(t)
	email, err := domain.ParseEmail("live@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	nu, err := domain.NewUser(email, "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.Users().Create(ctx, nu)
	if err != nil {
		t.Fatal(err)
	}
	sessions := db.Sessions()
	start := func(at time.Time) *domain.Session {
		t.Helper()
		var id, hash [16]byte
		_, _ = rand.Read(id[:])
		_, _ = rand.Read(hash[:])
		s, err := domain.NewSession(hex.EncodeToString(id[:]), u.ID(), at, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := sessions.Create(ctx, s, hash[:]); err != nil {
			t.Fatal(err)
		}
		return s
	}

	if n, err := db.LiveSessions(ctx, now); err != nil || n != 0 {
		t.Fatalf("LiveSessions on an empty table = %d, %v", n, err)
	}
	start(now)
	start(now.Add(-12 * time.Hour))
	start(now.Add(-25 * time.Hour)) // expired
	if err := sessions.Revoke(ctx, start(now).ID(), now); err != nil {
		t.Fatal(err)
	}
	if n, err := db.LiveSessions(ctx, now); err != nil || n != 2 {
		t.Errorf("LiveSessions = %d, %v; want 2", n, err)
	}
	if n, err := db.LiveSessions(ctx, now.Add(13*time.Hour)); err != nil || n != 1 {
		t.Errorf("LiveSessions 13h later = %d, %v; want 1", n, err)
	}

	s := db.Stats()
	if s.MaxConns() != 30 || s.TotalConns() < 1 || s.AcquireCount() < 1 {
		t.Errorf("Stats: max %d total %d acquires %d; want max 30 and some use", s.MaxConns(), s.TotalConns(), s.AcquireCount())
	}
}

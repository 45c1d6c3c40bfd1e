package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

func TestLiveSessionsAndStats(t *testing.T) {
	ctx := context.Background()
	db := repoOpenMigrated(t, repoTempPath(t))
	sessions := db.Sessions()
	u := repoCreate(t, db.Users(), "live@example.com")
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	if n, err := db.LiveSessions(ctx, now); err != nil || n != 0 {
		t.Fatalf("LiveSessions on an empty table = %d, %v", n, err)
	}
	repoStartSession(t, sessions, u.ID(), now)                    // live
	repoStartSession(t, sessions, u.ID(), now.Add(-12*time.Hour)) // live, older
	repoStartSession(t, sessions, u.ID(), now.Add(-25*time.Hour)) // expired (24h sessions)
	revoked, _ := repoStartSession(t, sessions, u.ID(), now)      // revoked below
	if err := sessions.Revoke(ctx, revoked.ID(), now); err != nil {
		t.Fatal(err)
	}
	if n, err := db.LiveSessions(ctx, now); err != nil || n != 2 {
		t.Errorf("LiveSessions = %d, %v; want 2", n, err)
	}
	if n, err := db.LiveSessions(ctx, now.Add(13*time.Hour)); err != nil || n != 1 {
		t.Errorf("LiveSessions 13h later = %d, %v; want 1", n, err)
	}

	if s := db.Stats(); s.MaxOpenConnections < 1 || s.OpenConnections < 1 {
		t.Errorf("Stats = %+v, want an open pool with a bound", s)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LiveSessions(ctx, now); domain.ErrorCode(err) != domain.EUNAVAILABLE {
		t.Errorf("LiveSessions on a closed database: %v, want EUNAVAILABLE", err)
	}
}

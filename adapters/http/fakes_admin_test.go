package http_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The in-memory fakes' methods for account administration and session
// listing; they follow the port contracts that ports/porttest checks on
// the real stores.

func (s *fakeSession) session(id string) *domain.Session {
	return domain.RehydrateSessionRecord(domain.SessionRecord{
		ID: id, UserID: s.userID, CreatedAt: s.createdAt, ExpiresAt: s.expiresAt, RevokedAt: s.revokedAt,
		LastUsedAt: s.lastUsedAt, UserAgent: s.userAgent, ClientAddr: s.client,
	})
}

func (f *fakeUsers) List(_ context.Context, q ports.UserQuery) ([]*domain.User, error) {
	f.reads.Add(1)
	if err := f.fail(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := strings.ToLower(q.EmailPrefix)
	var out []*domain.User
	for _, u := range f.byID {
		if u.ID() > q.AfterID && strings.HasPrefix(u.Email().String(), prefix) {
			out = append(out, cloneUser(u))
		}
	}
	slices.SortFunc(out, func(a, b *domain.User) int { return cmp.Compare(a.ID(), b.ID()) })
	return out[:min(len(out), q.Limit)], nil
}

func (f *fakeUsers) SetActive(_ context.Context, id int64, active bool) error {
	return f.update(id, func(u *domain.User) (*domain.User, error) {
		return with(u, u.Email().String(), u.PasswordHash(), active), nil
	})
}

// Delete removes the user only: fakeSessions checks the user on every
// read that needs one, which is what the cascade amounts to here.
func (f *fakeUsers) Delete(_ context.Context, id int64) error {
	f.creates.Add(1)
	if err := f.fail(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byID[id]; !ok {
		return domain.ErrUserNotFound
	}
	delete(f.byID, id)
	return nil
}

func (f *fakeSessions) ListLive(_ context.Context, userID int64, now time.Time) ([]*domain.Session, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return nil, err
	}
	var out []*domain.Session
	for id, s := range f.sessions {
		if s.userID == userID && s.liveAt(now) {
			out = append(out, s.session(id))
		}
	}
	slices.SortFunc(out, func(a, b *domain.Session) int {
		return cmp.Or(b.CreatedAt().Compare(a.CreatedAt()), strings.Compare(b.ID(), a.ID()))
	})
	return out, nil
}

func (f *fakeSessions) RevokeForUser(_ context.Context, userID int64, sessionID string, now time.Time) error {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	s, ok := f.sessions[sessionID]
	if !ok || s.userID != userID || !s.liveAt(now) {
		return domain.ErrSessionNotFound
	}
	s.revokedAt = now
	return nil
}

func (f *fakeSessions) Touch(_ context.Context, sessionID string, now time.Time, minInterval time.Duration) error {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return err
	}
	if s, ok := f.sessions[sessionID]; ok && s.lastUsedAt.Before(now.Add(-max(minInterval, 0))) {
		s.lastUsedAt = now
	}
	return nil
}

func (f *fakeSessions) Stats(_ context.Context, userID int64, now time.Time) (int, time.Time, error) {
	defer f.mu.Unlock()
	if err := f.begin(); err != nil {
		return 0, time.Time{}, err
	}
	live, last := 0, time.Time{}
	for _, s := range f.sessions {
		if s.userID != userID {
			continue
		}
		if s.liveAt(now) {
			live++
		}
		if s.createdAt.After(last) {
			last = s.createdAt
		}
	}
	return live, last, nil
}

func (f *fakeSessions) RevokeBeyond(ctx context.Context, userID int64, keep int, now time.Time) (int, error) {
	if keep < 0 {
		return 0, errors.New("fakeSessions: negative keep")
	}
	live, err := f.ListLive(ctx, userID, now)
	if err != nil || len(live) <= keep {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range live[keep:] {
		if st := f.sessions[s.ID()]; st != nil && st.liveAt(now) {
			st.revokedAt = now
			n++
		}
	}
	return n, nil
}

package app

import (
	"context"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// SessionView is one of the caller's own sessions.
type SessionView struct {
	Session *domain.Session
	// Current is the session of the access token that asked.
	Current bool
}

// MySessions lists the live sessions of the user an access token belongs
// to, newest first, marking the caller's own. Errors as for Authenticate.
func (s *Service) MySessions(ctx context.Context, accessToken string) ([]SessionView, error) {
	u, claims, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	list, err := s.sessions.ListLive(ctx, u.ID(), s.clock.Now())
	if err != nil {
		return nil, err
	}
	views := make([]SessionView, 0, len(list))
	for _, sess := range list {
		views = append(views, SessionView{Session: sess, Current: sess.ID() == claims.SessionID})
	}
	return views, nil
}

// RevokeMySession ends one of the caller's sessions ("sign out that
// device"); its access and refresh tokens are refused at once. A session
// that is missing, ended or another user's is the same ENOTFOUND
// (domain.ErrSessionNotFound), from one statement, so neither the answer
// nor its timing tells them apart. Errors as for Authenticate otherwise.
func (s *Service) RevokeMySession(ctx context.Context, accessToken, sessionID string) error {
	u, _, err := s.Authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := s.sessions.RevokeForUser(ctx, u.ID(), sessionID, s.clock.Now()); err != nil {
		return orIfNotFound(err, domain.ErrSessionNotFound)
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: u.ID(), SessionID: sessionID, Reason: ports.ReasonOwnSession})
	return nil
}

// DeleteMyAccount deletes the account an access token belongs to, with
// its sessions, when password is its current password; the email can
// register again. A wrong password is EFORBIDDEN (domain.ErrWrongPassword)
// and counts against the account like a failed login (its throttle and
// cap), so a stolen access token cannot be used to guess the password.
func (s *Service) DeleteMyAccount(ctx context.Context, accessToken, password string) error {
	u, _, _, err := s.authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, u, password); err != nil {
		return err
	}
	if err := s.users.Delete(ctx, u.ID()); err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeleted, UserID: u.ID(), Email: u.Email().String(), Reason: ports.ReasonSelfDeleted})
	return nil
}

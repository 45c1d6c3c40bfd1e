package app

import (
	"context"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Logout ends the session a refresh token belongs to. It is idempotent: a
// malformed, unknown or already-ended token is not an error. Storage
// failures are EUNAVAILABLE.
func (s *Service) Logout(ctx context.Context, token string) error {
	h, ok := s.sessionTokens.Hash(token)
	if !ok {
		return nil
	}
	st, err := s.sessions.Token(ctx, h)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return nil
	case err != nil:
		return err
	case !st.Session.RevokedAt().IsZero():
		return nil
	}
	if err := s.sessions.Revoke(ctx, st.Session.ID(), s.clock.Now()); err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: st.Session.UserID(), SessionID: st.Session.ID(), Reason: ports.ReasonLogout})
	return nil
}

// LogoutAll ends every session of the user an access token belongs to;
// the token itself stops working at once. Errors as for Authenticate.
func (s *Service) LogoutAll(ctx context.Context, accessToken string) error {
	u, _, _, err := s.authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	n, err := s.sessions.RevokeAll(ctx, u.ID(), s.clock.Now())
	if err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: u.ID(), Reason: ports.ReasonLogoutAll(n)})
	return nil
}

package app

import (
	"context"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Authenticate verifies an access token and checks, in one indexed
// lookup, that its session is still live and its user exists and is
// active: logout and reuse detection end access at once. Any failure is
// domain.ErrInvalidToken to the client; the token verifier's own reason
// stays wrapped inside for the logs. Storage failures are EUNAVAILABLE.
func (s *Service) Authenticate(ctx context.Context, token string) (*domain.User, ports.AccessClaims, error) {
	u, claims, now, err := s.authenticate(ctx, token)
	if err == nil {
		s.touch(ctx, claims.SessionID, now)
	}
	return u, claims, err
}

// authenticate is Authenticate without recording the session's use, for
// use cases that are about to end the session anyway.
func (s *Service) authenticate(ctx context.Context, token string) (*domain.User, ports.AccessClaims, time.Time, error) {
	now := s.clock.Now()
	claims, err := s.tokens.Verify(token, now)
	if err != nil {
		if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			return nil, ports.AccessClaims{}, now, domain.WithCause(domain.ErrInvalidToken, err)
		}
		return nil, ports.AccessClaims{}, now, err
	}
	u, err := s.sessions.ActiveUser(ctx, claims.SessionID, claims.UserID, now)
	switch {
	case err != nil:
		return nil, ports.AccessClaims{}, now, orIfNotFound(err, domain.ErrInvalidToken)
	case !u.IsActive():
		return nil, ports.AccessClaims{}, now, domain.ErrInvalidToken
	}
	return u, claims, now, nil
}

// CurrentUser returns the user an access token belongs to; see
// Authenticate for the errors.
func (s *Service) CurrentUser(ctx context.Context, token string) (*domain.User, error) {
	u, _, err := s.Authenticate(ctx, token)
	return u, err
}

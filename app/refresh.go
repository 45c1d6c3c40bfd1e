package app

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// maxSuccessorWalk bounds how far a grace-window retry follows the chain
// of successors to the session's current token.
const maxSuccessorWalk = 8

// Refresh rotates a refresh token: it spends the presented token and
// returns its successor with a new access token.
//
// Concurrent or repeated refreshes with one token inside the reuse grace
// window all receive the same successor (see adapters/refreshtoken for why
// that needs no stored plaintext), so two tabs never log the user out and
// never fork the session. A spent token presented after the window is
// taken as theft: the whole session is revoked, so the thief's and the
// victim's newest tokens both stop working, and a security event is
// recorded. Every refusal is domain.ErrInvalidRefreshToken; storage
// failures are EUNAVAILABLE.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	presented, ok := s.sessionTokens.Hash(token)
	if !ok {
		return nil, domain.ErrInvalidRefreshToken
	}
	successor := s.sessionTokens.Successor(token)
	successorHash, ok := s.sessionTokens.Hash(successor)
	if !ok {
		return nil, errors.New("app: a derived refresh token is not well-formed")
	}
	now := s.clock.Now()
	st, rotated, err := s.sessions.Rotate(ctx, presented, successorHash, now)
	switch {
	case err != nil:
		return nil, orIfNotFound(err, domain.ErrInvalidRefreshToken)
	case !st.Session.LiveAt(now):
		return nil, domain.ErrInvalidRefreshToken
	}
	if !rotated {
		if s.cfg.StrictRotation || now.Sub(st.SpentAt) > s.cfg.ReuseGrace {
			return nil, s.revokeForReuse(ctx, st.Session, now)
		}
		// A retry inside the grace window: hand out the session's current
		// token, which is this token's successor (or, if that was refreshed
		// too in the meantime, its successor's successor).
		if successor, err = s.currentSuccessor(ctx, successor); err != nil {
			return nil, err
		}
	}
	user, err := s.users.ByID(ctx, st.Session.UserID())
	switch {
	case err != nil:
		return nil, orIfNotFound(err, domain.ErrInvalidRefreshToken)
	case !user.IsActive():
		return nil, domain.ErrInvalidRefreshToken
	}
	tokens, err := s.issue(user, st.Session, successor, now)
	if errors.Is(err, domain.ErrSessionEnded) {
		// Under a second of the session left: nothing worth issuing.
		return nil, domain.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	reason := ports.ReasonRotated
	if !rotated {
		reason = ports.ReasonGraceRetry
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventTokenRefreshed, UserID: user.ID(), Email: user.Email().String(), SessionID: st.Session.ID(), Reason: reason})
	return tokens, nil
}

// currentSuccessor follows the chain of successors from token until it
// reaches the one that is not yet spent.
func (s *Service) currentSuccessor(ctx context.Context, token string) (string, error) {
	for range maxSuccessorWalk {
		h, ok := s.sessionTokens.Hash(token)
		if !ok {
			return "", errors.New("app: a derived refresh token is not well-formed")
		}
		st, err := s.sessions.Token(ctx, h)
		switch {
		case err != nil:
			return "", orIfNotFound(err, domain.ErrInvalidRefreshToken)
		case st.SpentAt.IsZero():
			return token, nil
		}
		token = s.sessionTokens.Successor(token)
	}
	return "", domain.ErrInvalidRefreshToken
}

func (s *Service) revokeForReuse(ctx context.Context, session *domain.Session, now time.Time) error {
	// Record the theft first, so it leaves a trace even if revoking fails.
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventTokenReuseDetected, UserID: session.UserID(), SessionID: session.ID(), Reason: ports.ReasonSpentAfterGrace})
	if err := s.sessions.Revoke(ctx, session.ID(), now); err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: session.UserID(), SessionID: session.ID(), Reason: ports.ReasonRefreshTokenReuse})
	return domain.ErrInvalidRefreshToken
}

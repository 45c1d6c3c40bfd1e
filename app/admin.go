package app

import (
	"context"
	"strconv"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The operator's use cases. Two drivers call them: the command line
// (`authd users ...`) and the admin HTTP API. Each action is a security
// event; the driver names itself with ports.WithActor.

// UserDetails is a user as an operator sees it.
type UserDetails struct {
	User *domain.User
	// LiveSessions counts the sessions that can still be used.
	LiveSessions int
	// LastLogin is when the newest stored session started; zero when
	// none is stored.
	LastLogin time.Time
}

// ListUsers returns a page of users (see ports.UserQuery). Returns
// EINVALID for a page size out of range, EUNAVAILABLE.
func (s *Service) ListUsers(ctx context.Context, q ports.UserQuery) ([]*domain.User, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return s.users.List(ctx, q)
}

// FindUser resolves an operator's reference to a user: a decimal id, or
// an email address. Returns ENOTFOUND (domain.ErrUserNotFound) when there
// is none, EUNAVAILABLE.
func (s *Service) FindUser(ctx context.Context, ref string) (*domain.User, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if id <= 0 {
			return nil, domain.ErrUserNotFound
		}
		return s.users.ByID(ctx, id)
	}
	email, err := domain.ParseEmail(ref)
	if err != nil {
		return nil, domain.ErrUserNotFound
	}
	return s.users.ByEmail(ctx, email)
}

// UserDetails returns user id with its live-session count and last login.
// Returns ENOTFOUND, EUNAVAILABLE.
func (s *Service) UserDetails(ctx context.Context, id int64) (*UserDetails, error) {
	u, err := s.users.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	live, last, err := s.sessions.Stats(ctx, id, s.clock.Now())
	if err != nil {
		return nil, err
	}
	return &UserDetails{User: u, LiveSessions: live, LastLogin: last}, nil
}

// DeactivateUser stops user id from logging in and ends every session at
// once: its access and refresh tokens are refused on their next use, on
// every instance. Returns ENOTFOUND, EUNAVAILABLE.
func (s *Service) DeactivateUser(ctx context.Context, id int64) (*domain.User, error) {
	if err := s.users.SetActive(ctx, id, false); err != nil {
		return nil, err
	}
	n, err := s.sessions.RevokeAll(ctx, id, s.clock.Now())
	if err != nil {
		return nil, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeactivated, UserID: id, Reason: ports.ReasonOperator})
	if n > 0 {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: id, Reason: ports.ReasonDeactivated})
	}
	return s.users.ByID(ctx, id)
}

// ActivateUser lets user id log in again. Returns ENOTFOUND, EUNAVAILABLE.
func (s *Service) ActivateUser(ctx context.Context, id int64) (*domain.User, error) {
	if err := s.users.SetActive(ctx, id, true); err != nil {
		return nil, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventUserActivated, UserID: id, Reason: ports.ReasonOperator})
	return s.users.ByID(ctx, id)
}

// RevokeUserSessions ends every live session of user id and returns how
// many. Returns ENOTFOUND for an unknown user, EUNAVAILABLE.
func (s *Service) RevokeUserSessions(ctx context.Context, id int64) (int, error) {
	if _, err := s.users.ByID(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.sessions.RevokeAll(ctx, id, s.clock.Now())
	if err != nil {
		return 0, err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: id, Reason: ports.ReasonOperator})
	return n, nil
}

// DeleteUser removes user id with its sessions; its email can register
// again. Returns ENOTFOUND, EUNAVAILABLE.
func (s *Service) DeleteUser(ctx context.Context, id int64) error {
	if err := s.users.Delete(ctx, id); err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventUserDeleted, UserID: id, Reason: ports.ReasonOperator})
	return nil
}

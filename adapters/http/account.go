package http

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// sessionResponse is one of the caller's sessions. The id is the session
// id (the access token's sid claim), not a token: it cannot authenticate.
type sessionResponse struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	ClientIP   string `json:"client_ip"`
	Current    bool   `json:"current"`
}

type sessionsResponse struct {
	Sessions []sessionResponse `json:"sessions"`
}

// mySessions is GET /api/v1/users/me/sessions.
func (s *server) mySessions(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	views, err := s.svc.MySessions(c.UserContext(), token)
	if err != nil {
		return s.challenge(c, err)
	}
	out := sessionsResponse{Sessions: make([]sessionResponse, 0, len(views))}
	for _, v := range views {
		out.Sessions = append(out.Sessions, sessionResponse{
			ID:         v.Session.ID(),
			CreatedAt:  v.Session.CreatedAt().UTC().Format(time.RFC3339),
			LastUsedAt: v.Session.LastUsedAt().UTC().Format(time.RFC3339),
			ExpiresAt:  v.Session.ExpiresAt().UTC().Format(time.RFC3339),
			UserAgent:  v.Session.UserAgent(),
			ClientIP:   v.Session.ClientAddr(),
			Current:    v.Current,
		})
	}
	return c.JSON(out)
}

// revokeMySession is DELETE /api/v1/users/me/sessions/{id}.
func (s *server) revokeMySession(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	// The id is copied out of Fiber's reused buffer before it outlives
	// the handler in a use case.
	id := string([]byte(c.Params("id")))
	if err := s.svc.RevokeMySession(c.UserContext(), token, id); err != nil {
		return s.challenge(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deleteMe is DELETE /api/v1/users/me with {"password"}.
func (s *server) deleteMe(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	f, err := jsonStrings(c, "password")
	if err != nil {
		return err
	}
	if err := requireFields(f, "password"); err != nil {
		return err
	}
	if err := s.svc.DeleteMyAccount(c.UserContext(), token, f["password"]); err != nil {
		return s.challenge(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

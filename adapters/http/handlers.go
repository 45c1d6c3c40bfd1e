package http

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/app"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// userResponse is the public shape of a user; the password hash has no
// field here, so it cannot be serialised by accident.
type userResponse struct {
	ID            int64  `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	IsActive      bool   `json:"is_active"`
	CreatedAt     string `json:"created_at"`
}

func newUserResponse(u *domain.User) userResponse {
	return userResponse{
		ID:            u.ID(),
		Email:         u.Email().String(),
		EmailVerified: u.EmailVerified(),
		IsActive:      u.IsActive(),
		CreatedAt:     u.CreatedAt().UTC().Format(time.RFC3339),
	}
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	DeviceToken      string `json:"device_token,omitempty"`
}

func writeTokens(c *fiber.Ctx, t *app.Tokens) error {
	c.Locals(localUserID, t.User.ID())
	return c.JSON(tokenResponse{
		AccessToken:      t.AccessToken.Token,
		TokenType:        "bearer",
		ExpiresIn:        int64(t.AccessToken.ExpiresIn / time.Second),
		RefreshToken:     t.RefreshToken,
		RefreshExpiresIn: int64(t.RefreshExpiresIn / time.Second),
		DeviceToken:      t.DeviceToken,
	})
}

// refreshTokenBody reads {"refresh_token": "..."}.
func refreshTokenBody(c *fiber.Ctx) (string, error) {
	f, err := jsonStrings(c, "refresh_token")
	if err != nil {
		return "", err
	}
	if err := requireFields(f, "refresh_token"); err != nil {
		return "", err
	}
	return f["refresh_token"], nil
}

// credentials reads {"email", "password"}; both must be present strings.
func credentials(c *fiber.Ctx) (email, password string, err error) {
	f, err := jsonStrings(c, "email", "password")
	if err != nil {
		return "", "", err
	}
	if err := requireFields(f, "email", "password"); err != nil {
		return "", "", err
	}
	return f["email"], f["password"], nil
}

func (s *server) register(c *fiber.Ctx) error {
	email, password, err := credentials(c)
	if err != nil {
		return err
	}
	if s.svc.EnumerationSafe() {
		if err := s.svc.RegisterQuietly(c.UserContext(), email, password); err != nil {
			return err
		}
		return accepted(c, "If the address can be registered, a message is on its way to it")
	}
	u, err := s.svc.Register(c.UserContext(), email, password)
	if err != nil {
		return err
	}
	c.Locals(localUserID, u.ID())
	return c.Status(fiber.StatusCreated).JSON(newUserResponse(u))
}

func (s *server) login(c *fiber.Ctx) error {
	f, err := jsonStrings(c, "email", "password", "device_token")
	if err != nil {
		return err
	}
	if err := requireFields(f, "email", "password"); err != nil {
		return err
	}
	// The new session records the User-Agent, so its owner can tell their
	// devices apart (string() copies it out of Fiber's reused buffer).
	ctx := ports.WithUserAgent(c.UserContext(), string(c.Request().Header.UserAgent()))
	res, err := s.svc.Login(ctx, app.Credentials{Email: f["email"], Password: f["password"], DeviceToken: f["device_token"]})
	if err != nil {
		return err
	}
	return writeTokens(c, res)
}

func (s *server) refresh(c *fiber.Ctx) error {
	token, err := refreshTokenBody(c)
	if err != nil {
		return err
	}
	res, err := s.svc.Refresh(c.UserContext(), token)
	if err != nil {
		return err
	}
	return writeTokens(c, res)
}

func (s *server) logout(c *fiber.Ctx) error {
	token, err := refreshTokenBody(c)
	if err != nil {
		return err
	}
	if err := s.svc.Logout(c.UserContext(), token); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) logoutAll(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	if err := s.svc.LogoutAll(c.UserContext(), token); err != nil {
		return s.challenge(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) me(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	u, err := s.svc.CurrentUser(c.UserContext(), token)
	if err != nil {
		return s.challenge(c, err)
	}
	c.Locals(localUserID, u.ID())
	return c.JSON(newUserResponse(u))
}

// bearer returns the request's bearer token, or a 401 with a challenge.
func (s *server) bearer(c *fiber.Ctx) (string, error) {
	token, ok := bearerToken(c.Get(fiber.HeaderAuthorization))
	if !ok {
		// RFC 6750 §3.1: no error code when the request had no token.
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="authd"`)
		return "", &requestError{status: fiber.StatusUnauthorized, code: codeTokenRequired, detail: "A bearer access token is required"}
	}
	return token, nil
}

// challenge adds the RFC 6750 invalid_token challenge to a refused token.
func (s *server) challenge(c *fiber.Ctx, err error) error {
	if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="authd", error="invalid_token"`)
	}
	return err
}

// bearerToken extracts the token from an Authorization header of the form
// "Bearer <token>" (scheme case-insensitive, RFC 6750 §2.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

func (s *server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readinessTimeout bounds the readiness probe so a hung database makes
// /readyz answer 503 quickly instead of hanging the probe.
const readinessTimeout = 2 * time.Second

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), readinessTimeout)
	defer cancel()
	checks, ready := readiness(ctx, s.cfg.Ready)
	if ready {
		return c.JSON(fiber.Map{"status": "ready", "checks": checks})
	}
	var notOK []string
	for name, state := range checks {
		if state != "ok" {
			notOK = append(notOK, name+" "+state)
		}
	}
	sort.Strings(notOK)
	p := newProblem(c, fiber.StatusServiceUnavailable, codeNotReady, "Not ready: "+strings.Join(notOK, ", "))
	p.Checks = checks
	return writeProblem(c, p)
}

func (s *server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(s.cfg.OpenAPI)
}

// jwksMaxAge is how long verifiers may cache the key set. A key must be
// published at least this long before it signs (docs/keys.md).
const jwksMaxAge = "public, max-age=300"

func (s *server) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, jwksMaxAge)
	if s.cfg.JWKS == nil {
		return c.SendString(`{"keys":[]}`)
	}
	return c.Send(s.cfg.JWKS)
}

package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/app"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// The admin API: the operator's use cases (app/admin.go) over HTTP, on a
// listener of its own that cmd/authd never shares with the public API.
// One bearer key, the same for every operator, authorizes every request;
// the security events it causes carry the actor "admin_api".

// AdminConfig is what the admin API needs; cmd/authd fills it.
type AdminConfig struct {
	// Token is the admin key a request presents as
	// "Authorization: Bearer <key>". It must not be empty.
	Token []byte
	// OpenAPI is the document served at GET /admin/v1/openapi.yaml.
	OpenAPI []byte
	// RequestTimeout, ReadTimeout, WriteTimeout, IdleTimeout and HSTS mean
	// what they mean in Config.
	RequestTimeout                         time.Duration
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	HSTS                                   bool
}

const (
	// adminDefaultLimit is GET /admin/v1/users's page size when the
	// request names none.
	adminDefaultLimit = 50
	// adminActor names the admin API in security events.
	adminActor = "admin_api"
	// adminRealm is the challenge of a refused request (RFC 6750 §3).
	adminRealm = `Bearer realm="authd-admin"`
)

type admin struct {
	*server
	digest [sha256.Size]byte // of the admin key
}

// NewAdmin returns the Fiber app serving the admin API. It shares the
// public app's error handling, request ids, access log and security
// headers; logger receives its access lines, which never carry the key.
func NewAdmin(cfg AdminConfig, svc *app.Service, logger *slog.Logger) (*fiber.App, error) {
	switch {
	case svc == nil:
		return nil, errors.New("http: nil service")
	case logger == nil:
		return nil, errors.New("http: nil logger")
	case len(cfg.Token) == 0:
		return nil, errors.New("http: empty admin key")
	}
	a := &admin{
		server: &server{svc: svc, log: logger, cfg: Config{
			OpenAPI:        cfg.OpenAPI,
			RequestTimeout: cfg.RequestTimeout,
			ReadTimeout:    cfg.ReadTimeout,
			WriteTimeout:   cfg.WriteTimeout,
			IdleTimeout:    cfg.IdleTimeout,
			HSTS:           cfg.HSTS,
		}},
		digest: sha256.Sum256(cfg.Token),
	}
	f := a.newApp("authd-admin")
	v1 := f.Group("/admin/v1", a.authorize, noStore)
	v1.Get("/openapi.yaml", a.openapi)
	v1.Get("/users", a.listUsers)
	v1.Get("/users/:id", perUser(a.showUser))
	v1.Post("/users/:id/deactivate", perUser(a.deactivate))
	v1.Post("/users/:id/activate", perUser(a.activate))
	v1.Post("/users/:id/revoke-sessions", perUser(a.revokeSessions))
	v1.Delete("/users/:id", perUser(a.deleteUser))
	a.finish(f)
	return f, nil
}

// authorize lets a request through when it presents the admin key. A
// missing key and a wrong one take the same path and get the same
// response; the comparison is of SHA-256 digests in constant time, so
// neither the key's bytes nor its length can be timed.
func (a *admin) authorize(c *fiber.Ctx) error {
	c.SetUserContext(ports.WithActor(c.UserContext(), adminActor))
	presented, _ := bearerToken(c.Get(fiber.HeaderAuthorization))
	digest := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(digest[:], a.digest[:]) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, adminRealm)
		return &requestError{status: fiber.StatusUnauthorized, code: codeAdminTokenRequired, detail: "A valid admin key is required as a bearer token"}
	}
	return c.Next()
}

// adminUserResponse is a user as GET /admin/v1/users/{id} shows it.
type adminUserResponse struct {
	userResponse
	LiveSessions int     `json:"live_sessions"`
	LastLogin    *string `json:"last_login"`
}

type userPage struct {
	Users      []userResponse `json:"users"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// userQuery reads GET /admin/v1/users's parameters; each bad one is a
// field error, all reported together.
func userQuery(c *fiber.Ctx) (ports.UserQuery, error) {
	q := ports.UserQuery{EmailPrefix: c.Query("email_prefix"), Limit: adminDefaultLimit}
	var fields []domain.FieldError
	if v := c.Query("after"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 0 {
			fields = append(fields, domain.FieldError{Field: "after", Reason: codeInvalidParameter, Message: "after must be the next_cursor of a previous page"})
		}
		q.AfterID = id
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ports.MaxUserQueryLimit {
			fields = append(fields, domain.FieldError{Field: "limit", Reason: codeInvalidParameter,
				Message: "limit must be a whole number from 1 to " + strconv.Itoa(ports.MaxUserQueryLimit)})
		}
		q.Limit = n
	}
	if len(fields) > 0 {
		return q, domain.Invalid(fields...)
	}
	return q, nil
}

func (a *admin) listUsers(c *fiber.Ctx) error {
	var users []*domain.User
	q, err := userQuery(c)
	if err == nil {
		users, err = a.svc.ListUsers(c.UserContext(), q)
	}
	if err != nil {
		return err
	}
	page := userPage{Users: make([]userResponse, 0, len(users))}
	for _, u := range users {
		page.Users = append(page.Users, newUserResponse(u))
	}
	// A full page may have a successor; the last page can be empty.
	if len(users) == q.Limit {
		page.NextCursor = strconv.FormatInt(users[len(users)-1].ID(), 10)
	}
	return c.JSON(page)
}

// perUser adapts a handler of one user to a route with an :id. Anything
// but a positive decimal integer names no user, so it is the same 404 as
// an unknown id.
func perUser(h func(c *fiber.Ctx, id int64) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := strconv.ParseInt(c.Params("id"), 10, 64)
		if err != nil || id <= 0 {
			return domain.ErrUserNotFound
		}
		c.Locals(localUserID, id)
		return h(c, id)
	}
}

// userResult answers a use case's (user, error) with the user.
func userResult(c *fiber.Ctx) func(*domain.User, error) error {
	return func(u *domain.User, err error) error {
		if err != nil {
			return err
		}
		return c.JSON(newUserResponse(u))
	}
}

func (a *admin) showUser(c *fiber.Ctx, id int64) error {
	d, err := a.svc.UserDetails(c.UserContext(), id)
	if err != nil {
		return err
	}
	res := adminUserResponse{userResponse: newUserResponse(d.User), LiveSessions: d.LiveSessions}
	if !d.LastLogin.IsZero() {
		last := d.LastLogin.UTC().Format(time.RFC3339)
		res.LastLogin = &last
	}
	return c.JSON(res)
}

func (a *admin) deactivate(c *fiber.Ctx, id int64) error {
	return userResult(c)(a.svc.DeactivateUser(c.UserContext(), id))
}

func (a *admin) activate(c *fiber.Ctx, id int64) error {
	return userResult(c)(a.svc.ActivateUser(c.UserContext(), id))
}

func (a *admin) revokeSessions(c *fiber.Ctx, id int64) error {
	n, err := a.svc.RevokeUserSessions(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"revoked": n})
}

func (a *admin) deleteUser(c *fiber.Ctx, id int64) error {
	if err := a.svc.DeleteUser(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

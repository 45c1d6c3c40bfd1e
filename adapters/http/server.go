// Package http is authd's REST API on Fiber v2. It drives the use cases in
// app and owns everything about HTTP: routes, JSON shapes, the error table,
// request ids and the access log.
package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	nethttp "net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/valyala/fasthttp"

	"github.com/authd/authd/app"
	"github.com/authd/authd/ports"
)

// BodyLimit is the largest request body accepted; larger gets 413.
const BodyLimit = 64 << 10

// Config is what the HTTP adapter needs; cmd/authd fills it.
type Config struct {
	// CORSOrigins lists the browser origins allowed to call the API.
	// Empty means no CORS headers at all. Credentials are never allowed,
	// so "*" is safe: authd uses bearer tokens, not cookies.
	CORSOrigins []string
	// OpenAPI is the document served at /openapi.yaml.
	OpenAPI []byte
	// JWKS is the JSON Web Key Set served at /.well-known/jwks.json: the
	// public keys that verify access tokens. Nil serves an empty set (an
	// HS256-only deployment has no public key).
	JWKS []byte
	// Ready are the readiness checks, run in order on each /readyz: the
	// instance takes traffic when every one is ok, and /readyz shows each
	// check's state either way. None means always ready.
	Ready []Check
	// RequestTimeout bounds each request's context, and so every database
	// call made for it; 0 means no deadline.
	RequestTimeout time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Observe, when set, is called once per request, as its access line
	// is written, with the route template ("unmatched" when no route
	// serves the path; never the raw path, which may hold anything), the
	// final status and the time taken.
	Observe func(method, route string, status int, d time.Duration)
	// Metrics, when set, is served at GET /metrics.
	Metrics nethttp.Handler
	// HSTS adds Strict-Transport-Security (one year) to every response;
	// for production, where a TLS-terminating proxy fronts authd.
	HSTS bool
	// NoDocs leaves out GET /docs and GET /openapi.yaml.
	NoDocs bool
	// WarnUntrustedForwarded logs one warning the first time a request
	// carries X-Forwarded-For from a peer outside TrustedProxies.
	WarnUntrustedForwarded bool
	// RefusalHold is how long a refusal for hashing overload (the 503 of
	// register and login when the hasher does not admit the request) is
	// held before it is sent. A client that retries a 503 at once
	// then cannot turn the refusals into a storm that takes the CPU the
	// hashes need; the hold is a timer, it costs no CPU, and it ends early
	// when the request's deadline passes or the server shuts down. 0 sends
	// refusals at once.
	RefusalHold time.Duration
	// Requests, when set, counts requests as the first middleware sees
	// them and as their handlers return; cmd/authd logs both once drained.
	Requests *RequestCounts
}

// RequestCounts counts requests the server has read (Started) and
// finished handling (Completed); after a graceful drain they are equal.
type RequestCounts struct{ Started, Completed atomic.Int64 }

type server struct {
	svc     *app.Service
	log     *slog.Logger
	cfg     Config
	allowed map[string]string // path -> Allow header, for 405s

	forwardedWarning sync.Once
}

// New returns the Fiber app serving the API. logger receives one access
// line per request; it never sees passwords, tokens or hashes.
func New(cfg Config, svc *app.Service, logger *slog.Logger) (*fiber.App, error) {
	if svc == nil {
		return nil, errors.New("http: nil service")
	}
	if logger == nil {
		return nil, errors.New("http: nil logger")
	}
	if err := validChecks(cfg.Ready); err != nil {
		return nil, err
	}
	for _, o := range cfg.CORSOrigins {
		if strings.TrimSpace(o) == "" {
			return nil, errors.New("http: empty CORS origin")
		}
	}
	s := &server{svc: svc, log: logger, cfg: cfg}
	f := s.newApp("authd")
	if len(cfg.CORSOrigins) > 0 {
		f.Use(cors.New(cors.Config{
			AllowOrigins:     strings.Join(cfg.CORSOrigins, ","),
			AllowMethods:     "GET,POST,DELETE,OPTIONS",
			AllowHeaders:     "Authorization,Content-Type,X-Request-ID",
			ExposeHeaders:    "X-Request-ID,Retry-After,WWW-Authenticate",
			AllowCredentials: false,
			MaxAge:           600,
		}))
	}

	f.Get("/healthz", s.healthz)
	f.Get("/readyz", s.readyz)
	f.Get("/.well-known/jwks.json", s.jwks)
	if cfg.Metrics != nil {
		f.Get("/metrics", adaptor.HTTPHandler(cfg.Metrics))
	}
	if !cfg.NoDocs {
		f.Get("/openapi.yaml", s.openapi)
		if err := routeDocs(f); err != nil {
			return nil, err
		}
	}
	api := f.Group("/api/v1", noStore)
	api.Post("/auth/register", s.admit, s.budget, s.register)
	api.Post("/auth/login", s.admit, s.budget, s.login)
	api.Post("/auth/refresh", s.budget, s.refresh)
	api.Post("/auth/logout", s.budget, s.logout)
	api.Post("/auth/logout/all", s.budget, s.logoutAll)
	api.Get("/users/me", s.me)
	api.Delete("/users/me", s.budget, s.deleteMe)
	api.Get("/users/me/sessions", s.mySessions)
	api.Delete("/users/me/sessions/:id", s.revokeMySession)
	api.Post("/users/me/password", s.budget, s.changePassword)
	api.Post("/users/me/email", s.mailOn, s.budget, s.changeEmail)
	api.Post("/auth/email/verify", s.mailOn, s.budget, s.verifyEmail)
	api.Post("/auth/email/verification", s.mailOn, s.budget, s.requestVerification)
	api.Post("/auth/password/forgot", s.mailOn, s.budget, s.forgotPassword)
	api.Post("/auth/password/reset", s.mailOn, s.budget, s.resetPassword)

	s.finish(f)
	return f, nil
}

// newApp returns a Fiber app with the settings and the middleware every
// listener of authd shares: the error handler, body limit, timeouts,
// request ids, client address, access log, panic recovery, security
// headers and request deadline. The caller adds its routes, then calls
// finish.
func (s *server) newApp(name string) *fiber.App {
	cfg := s.cfg
	f := fiber.New(fiber.Config{
		AppName: name,
		// Every method Fiber does not know is rewritten to methodOther
		// (see answerUnknownMethods), which must be routable for the
		// middleware to run.
		RequestMethods: append(slices.Clone(fiber.DefaultMethods), methodOther),
		ErrorHandler:   s.errorHandler,
		BodyLimit:      BodyLimit,
		// The API takes JSON only. Left on, fasthttp parses any multipart
		// body before routing, so a malformed one is a 400 instead of the
		// documented 415, and a well-formed one is parsed for nothing.
		DisablePreParseMultipartForm: true,
		CaseSensitive:                true,
		DisableStartupMessage:        true,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
	})
	if c := cfg.Requests; c != nil {
		f.Use(func(ctx *fiber.Ctx) error { c.Started.Add(1); defer c.Completed.Add(1); return ctx.Next() })
	}
	f.Use(s.requestID, s.identifyClient, s.accessLog, recover.New(), s.securityHeaders, s.deadline)
	return f
}

// finish completes an app once its routes are in place: 405s name the
// allowed methods, and unknown methods take the ordinary error path.
func (s *server) finish(f *fiber.App) {
	s.allowed = allowHeaders(f)
	answerUnknownMethods(f)
}

// methodOther stands in for every request method Fiber does not know
// (PROPFIND, BREW, ...). Fiber would answer those itself with a plain-text
// 400 before any middleware: no problem body, request id, security
// headers, access line or metric. Rewritten to this one registered
// method, they take the same path as every request and end in the error
// handler as 405 (a known path, with Allow) or 501 (no such path).
const methodOther = "AUTHD-UNKNOWN-METHOD"

// answerUnknownMethods installs the rewrite in front of Fiber's handler.
// The original method is not kept: it is client-chosen text, and the log
// and metrics name it "OTHER".
func answerUnknownMethods(f *fiber.App) {
	inner := f.Server().Handler
	f.Server().Handler = func(rc *fasthttp.RequestCtx) {
		switch string(rc.Method()) {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete,
			fiber.MethodConnect, fiber.MethodOptions, fiber.MethodTrace, fiber.MethodPatch:
		default:
			rc.Request.Header.SetMethod(methodOther)
		}
		inner(rc)
	}
}

// loggedMethod is the request's method for logs and metrics.
func loggedMethod(c *fiber.Ctx) string {
	if m := c.Method(); m != methodOther {
		return m
	}
	return "OTHER"
}

// allowHeaders precomputes the Allow header value for each route path.
func allowHeaders(f *fiber.App) map[string]string {
	methods := map[string][]string{}
	for _, r := range f.GetRoutes(true) {
		methods[r.Path] = append(methods[r.Path], r.Method)
	}
	out := make(map[string]string, len(methods))
	for p, ms := range methods {
		sort.Strings(ms)
		out[p] = strings.Join(ms, ", ")
	}
	return out
}

// Locals keys.
const (
	localRequestID = "authd.request_id"
	localUserID    = "authd.user_id"
	localRoute     = "authd.route"
	localCause     = "authd.cause"
	localClientIP  = "authd.client_ip"
	localShed      = "authd.shed"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-ID"

// validRequestID accepts a client's id only when it is a short token of
// characters that are safe in logs and headers.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *server) requestID(c *fiber.Ctx) error {
	assignRequestID(c)
	// The use cases' security events carry it too (see adapters/audit).
	c.SetUserContext(ports.WithRequestID(c.UserContext(), requestID(c)))
	return c.Next()
}

// assignRequestID adopts the client's X-Request-ID when it is valid, or
// generates one, and puts it in Locals and on the response.
func assignRequestID(c *fiber.Ctx) {
	id := c.Get(HeaderRequestID)
	if validRequestID(id) {
		id = strings.Clone(id) // Fiber reuses the header buffer after the request.
	} else {
		id = newRequestID()
	}
	c.Locals(localRequestID, id)
	c.Set(HeaderRequestID, id)
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// accessLog writes one line per request. Errors from the rest of the chain
// are rendered here (through the app's error handler) so the line records
// the final status.
func (s *server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	s.logAccess(c, start)
	return nil
}

// logAccess writes the access line for a request that started at start.
func (s *server) logAccess(c *fiber.Ctx, start time.Time) {
	d := time.Since(start)
	status := c.Response().StatusCode()
	route, _ := c.Locals(localRoute).(string)
	if route == "" {
		route = c.Route().Path
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID(c)),
		slog.String("method", loggedMethod(c)),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("client_ip", loggedClientIP(c)),
	}
	if uid, ok := c.Locals(localUserID).(int64); ok {
		attrs = append(attrs, slog.Int64("user_id", uid))
	}
	level := slog.LevelInfo
	if cause, ok := c.Locals(localCause).(string); ok {
		attrs = append(attrs, slog.String("error", cause))
		level = slog.LevelError
		if shed, _ := c.Locals(localShed).(bool); shed {
			level = slog.LevelWarn
		}
	}
	s.log.LogAttrs(c.UserContext(), level, "request", attrs...)
	if s.cfg.Observe != nil {
		s.cfg.Observe(loggedMethod(c), route, status, d)
	}
}

// deadline gives the request's context a deadline, so a stuck database
// call ends as a 503 instead of holding the connection.
func (s *server) deadline(c *fiber.Ctx) error {
	if s.cfg.RequestTimeout <= 0 {
		return c.Next()
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// loggedClientIP is the resolved client address, or the peer for requests
// rejected before the middleware ran.
func loggedClientIP(c *fiber.Ctx) string {
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	return c.IP()
}

func (s *server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

func (s *server) setSecurityHeaders(c *fiber.Ctx) {
	if s.cfg.HSTS {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	}
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
}

// noStore keeps tokens and personal data out of every cache.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	return c.Next()
}

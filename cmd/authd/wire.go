package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/breaker"
	"github.com/authd/authd/adapters/clock"
	"github.com/authd/authd/adapters/devicetoken"
	"github.com/authd/authd/adapters/hibp"
	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/metrics"
	"github.com/authd/authd/adapters/ratelimit"
	"github.com/authd/authd/adapters/refreshtoken"
	"github.com/authd/authd/adapters/sessioncache"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// service is one wired authd: the API, the admin API, its metrics, and the readiness
// check that turns it away from traffic while it drains.
type service struct {
	api      *fiber.App
	admin    *fiber.App // nil unless AUTHD_ADMIN_ADDR is set
	metrics  *metrics.Metrics
	draining *httpapi.Draining
	// requests counts the requests the server read and answered, for the
	// shutdown log (and the test that holds drain to it).
	requests *httpapi.RequestCounts
	// mailDone closes when the mail relay has stopped.
	mailDone <-chan struct{}
	// background is the work behind answered requests (mail behind a
	// 202), which must finish before the store closes.
	background interface{ Wait(context.Context) error }
}

// wire constructs every adapter around st and the use cases, and starts
// the background work that lives until ctx ends.
func wire(ctx context.Context, cfg config, st store, logger *slog.Logger) (*service, error) {
	hasher, err := bcrypt.NewWithPool(cfg.BcryptCost, bcrypt.Pool{Workers: cfg.HashWorkers, Queue: cfg.HashQueue, MaxWait: cfg.HashMaxWait})
	if err != nil {
		return nil, fmt.Errorf("AUTHD_BCRYPT_COST: %w", err)
	}
	tokens, err := newTokenIssuer(cfg, logger)
	if err != nil {
		return nil, err
	}
	sessionTokens, err := refreshtoken.New(cfg.RefreshKey)
	if err != nil {
		return nil, err
	}
	// Every call to the database and to the breach checker goes through a
	// circuit breaker, so a sick dependency fails fast (503) instead of
	// piling up requests.
	breakers := breaker.NewSet(logger)
	users, sessions, cache, err := repositories(ctx, cfg, st, breakers)
	if err != nil {
		return nil, err
	}
	limits := rateLimits(st, breakers, cfg)
	breaches, err := breachChecker(cfg, breakers)
	if err != nil {
		return nil, err
	}
	// Before newMetrics, which lists the circuits.
	outbox := breakers.Outbox(st.Outbox(), cfg.Breaker)
	emailTokens := breakers.EmailTokens(st.EmailTokens(), cfg.Breaker)
	breakers.Watch(ctx, time.Second, logger)
	m := newMetrics(ctx, st, cfg.Database.Driver, hasher, breakers.Circuits())
	observeSessionCache(m, cache)
	events := metrics.Events(audit.New(logger), m)
	mailer, mailDone, err := startMail(ctx, cfg.Mail, outbox, m, events, logger)
	if err != nil {
		return nil, err
	}
	devices, err := devicetoken.New(cfg.RefreshKey, 0)
	if err != nil {
		return nil, err
	}
	p := app.Ports{
		Users: users, Sessions: sessions, RateLimits: limits, Breaches: breaches,
		Hasher: hasher, Tokens: tokens, SessionTokens: sessionTokens, Devices: devices,
		Clock: clock.System{}, Events: events,
	}
	if mailer != nil { // the flows are on only with a way to send their mail
		p.EmailTokens, p.Outbox = emailTokens, outbox
	}
	svc, err := app.New(p, appConfig(cfg, logger))
	if err != nil {
		return nil, err
	}
	go svc.RunSweeper(ctx, cfg.SweepInterval, sweepLogger(logger))
	in := &service{metrics: m, draining: &httpapi.Draining{}, requests: &httpapi.RequestCounts{}, mailDone: mailDone, background: svc}
	if err := in.apps(cfg, svc, st, breakers, tokens.JWKS(), logger); err != nil {
		return nil, err
	}
	return in, nil
}

// repositories are the user and session repositories behind their
// circuits, with the session cache (AUTHD_SESSION_CACHE_SIZE) in front: a
// hit costs no hystrix command, and a miss or a bypass reaches the
// database through the breaker like every other call.
func repositories(ctx context.Context, cfg config, st store, breakers *breaker.Set) (ports.UserRepository, ports.SessionRepository, *sessioncache.Cache, error) {
	sessions, cache, err := sessioncache.New(ctx, breakers.Sessions(st.Sessions(), cfg.Breaker), st, cfg.Database.SessionCacheSize)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("session cache: %w", err)
	}
	return cache.Users(breakers.Users(st.Users(), cfg.Breaker)), sessions, cache, nil
}

// sweepLogger reports each sweep: failures at WARN, counts at DEBUG.
func sweepLogger(logger *slog.Logger) func(app.SweepResult, error) {
	return func(r app.SweepResult, err error) {
		if err != nil {
			logger.Warn("sweep failed", "error", err.Error())
		}
		logger.Debug("sweep", "sessions", r.Sessions, "rate_limits", r.RateLimits, "email_tokens", r.EmailTokens, "mail", r.Mail)
	}
}

// observeSessionCache exports the session cache's counts; a no-op when
// AUTHD_SESSION_CACHE_SIZE=0 left it off.
func observeSessionCache(m *metrics.Metrics, c *sessioncache.Cache) {
	if c == nil {
		return
	}
	m.SessionCache(func() metrics.SessionCacheStats {
		hits, misses, bypasses := c.Counts()
		return metrics.SessionCacheStats{Hits: hits, Misses: misses, Bypasses: bypasses, Entries: c.Len()}
	})
}

// apps builds the public API and, when AUTHD_ADMIN_ADDR is set, the admin
// API: two Fiber apps over the same use cases.
func (in *service) apps(cfg config, svc *app.Service, st store, breakers *breaker.Set, jwks []byte, logger *slog.Logger) error {
	ready := []httpapi.Check{
		{Name: "database", Run: st.ReadyDatabase},
		{Name: "migrations", Run: st.ReadyMigrations},
		{Name: "circuit", Run: breakers.Ready},
		{Name: "shutdown", Run: in.draining.Check},
	}
	hc := httpConfig(cfg, jwks, ready, in.metrics)
	hc.Requests = in.requests
	var err error
	if in.api, err = httpapi.New(hc, svc, logger); err != nil || cfg.AdminAddr == "" {
		return err
	}
	in.admin, err = httpapi.NewAdmin(httpapi.AdminConfig{
		Token:          cfg.AdminToken,
		OpenAPI:        docs.AdminOpenAPI,
		RequestTimeout: cfg.RequestTimeout,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		HSTS:           cfg.Env == envProduction,
	}, svc, logger)
	return err
}

// rateLimits picks where rate-limit counters live: in the database when it
// has a store every instance shares (behind a circuit, like the
// repositories), else in memory, bounded to AUTHD_RATE_LIMIT_MAX_KEYS.
func rateLimits(st store, breakers *breaker.Set, cfg config) ports.RateLimitStore {
	shared, ok := st.SharedRateLimits()
	if !ok {
		return ratelimit.New(cfg.RateLimitKeys)
	}
	return breakers.RateLimits(shared, cfg.Breaker)
}

// breachChecker is the breached-password check behind its circuit, or nil
// when AUTHD_BREACH_CHECK is off.
func breachChecker(cfg config, breakers *breaker.Set) (ports.BreachChecker, error) {
	if !cfg.BreachCheck {
		return nil, nil
	}
	c, err := hibp.New(hibp.Config{BaseURL: cfg.BreachURL})
	if err != nil {
		return nil, fmt.Errorf("AUTHD_BREACH_CHECK_URL: %w", err)
	}
	return breakers.Breaches(c, cfg.BreachBreaker), nil
}

// newTokenIssuer builds the access-token issuer and logs its key ids
// (never key material), so an operator can follow a rotation.
func newTokenIssuer(cfg config, logger *slog.Logger) (*jwt.Issuer, error) {
	tokens, err := jwt.New(jwt.Config{
		Secret:           cfg.JWTSecret,
		SigningKey:       cfg.JWTSigningKey,
		VerificationKeys: cfg.JWTVerificationKeys,
		Issuer:           cfg.JWTIssuer,
		Audience:         cfg.JWTAudience,
		TTL:              cfg.AccessTokenTTL,
	})
	if err != nil {
		return nil, err
	}
	signing, verifying := tokens.KeyIDs()
	logger.Info("access token keys", "signing", signing, "verification_only", verifying)
	return tokens, nil
}

func appConfig(cfg config, logger *slog.Logger) app.Config {
	return app.Config{
		Mail:           appMailConfig(cfg.Mail, logger),
		Policy:         domain.PasswordPolicy{MinLength: cfg.MinPasswordLen},
		SessionTTL:     cfg.RefreshTokenTTL,
		ReuseGrace:     cfg.ReuseGrace,
		StrictRotation: cfg.StrictRotation,
		MaxSessions:    cfg.MaxSessions,
		Limits: app.Limits{
			Enabled:          cfg.RateLimit,
			IPRequests:       cfg.IPRequests,
			IPWindow:         cfg.IPWindow,
			AccountFailures:  cfg.AcctFailures,
			AccountWindow:    cfg.AcctWindow,
			AccountCap:       cfg.AcctCap,
			AccountCapWindow: cfg.AcctCapWindow,
			DeviceFailures:   cfg.DeviceFailures,
		},
		BreachFailClosed: cfg.BreachFailClosed,
	}
}

func httpConfig(cfg config, jwks []byte, ready []httpapi.Check, m *metrics.Metrics) httpapi.Config {
	hc := httpapi.Config{
		CORSOrigins:    cfg.CORSOrigins,
		OpenAPI:        docs.OpenAPI,
		JWKS:           jwks,
		Ready:          ready,
		RequestTimeout: cfg.RequestTimeout,
		TrustedProxies: cfg.TrustedProxies,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		Observe:        m.ObserveHTTP,
		HSTS:           cfg.Env == envProduction,
		NoDocs:         !cfg.Docs,
		RefusalHold:    cfg.HashRefusalHold,

		WarnUntrustedForwarded: cfg.Env == envProduction,
	}
	// /metrics is on the API's own port unless AUTHD_METRICS_ADDR gives
	// it a listener of its own.
	if cfg.MetricsAddr == "" {
		hc.Metrics = m.Handler()
	}
	return hc
}

// warnAboutConfig logs the settings that are fine for development only.
func warnAboutConfig(ctx context.Context, cfg config, logger *slog.Logger) {
	warnAboutMail(cfg, logger)
	if cfg.JWTSecretRandom {
		logger.Warn("AUTHD_JWT_SECRET is not set: using a random secret, so tokens stop working at restart; set it (at least 32 random bytes), or AUTHD_JWT_SIGNING_KEY, for anything but development")
	}
	if cfg.RefreshKeyRandom {
		logger.Warn("AUTHD_REFRESH_TOKEN_KEY is not set and there is no AUTHD_JWT_SECRET to derive it from: using a random key, so instances disagree on refresh-token successors; set it (at least 32 random bytes, the same on every instance) for anything but development")
	}
	if !cfg.RateLimit {
		level := slog.LevelInfo
		if cfg.Env == envProduction {
			level = slog.LevelWarn
		}
		logger.Log(ctx, level, "rate limits are off (AUTHD_RATE_LIMIT=off): nothing stops credential stuffing or brute force")
	}
	if cfg.Env == envProduction && cfg.MetricsAddr == "" {
		logger.Warn("AUTHD_METRICS_PUBLIC=true: /metrics is served on the public API listener; anyone who can reach the API can read it")
	}
}

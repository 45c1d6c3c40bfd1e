// Command authd serves the authd REST API, and migrates its database.
//
//	authd                      serve (migrating first unless AUTHD_AUTO_MIGRATE=false)
//	authd migrate up           apply every pending migration
//	authd migrate down [N]     roll back N migrations (default 1)
//	authd migrate version      print the schema version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/afex/hystrix-go/hystrix"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/breaker"
	"github.com/authd/authd/adapters/clock"
	"github.com/authd/authd/adapters/hibp"
	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/metrics"
	"github.com/authd/authd/adapters/refreshtoken"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authd:", err)
		stop()
		os.Exit(1)
	}
}

// run is the whole program; main only supplies the process's environment,
// and tests call it directly. It returns when ctx is cancelled (after a
// graceful shutdown) or on a start-up error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))

	if len(args) > 0 {
		switch args[0] {
		case "migrate":
			return runMigrate(ctx, cfg, args[1:], stdout)
		case "serve":
			args = args[1:]
		default:
			return fmt.Errorf("unknown command %q (want serve or migrate)", args[0])
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; configure it with AUTHD_* variables")
	}
	return serve(ctx, cfg, logger, stderr)
}

func serve(ctx context.Context, cfg config, logger *slog.Logger, _ io.Writer) error {
	if cfg.JWTSecretRandom {
		logger.Warn("AUTHD_JWT_SECRET is not set: using a random secret, so tokens stop working at restart; set it (at least 32 random bytes), or AUTHD_JWT_SIGNING_KEY, for anything but development")
	}
	if cfg.RefreshKeyRandom {
		logger.Warn("AUTHD_REFRESH_TOKEN_KEY is not set and there is no AUTHD_JWT_SECRET to derive it from: using a random key, so instances disagree on refresh-token successors; set it (at least 32 random bytes, the same on every instance) for anything but development")
	}

	st, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.AutoMigrate {
		if err := migrateUp(st, logger); err != nil {
			return err
		}
	}

	hasher, err := bcrypt.NewWithPool(cfg.BcryptCost, bcrypt.Pool{Workers: cfg.HashWorkers, Queue: cfg.HashQueue, MaxWait: cfg.HashMaxWait})
	if err != nil {
		return fmt.Errorf("AUTHD_BCRYPT_COST: %w", err)
	}
	tokens, err := newTokenIssuer(cfg, logger)
	if err != nil {
		return err
	}
	sessionTokens, err := refreshtoken.New(cfg.RefreshKey)
	if err != nil {
		return err
	}
	// Every repository call goes through a circuit breaker, so a sick
	// database fails fast (503) instead of piling up requests.
	// hystrix's logger is one unsynchronised global: install it once per
	// process (tests run several instances in one).
	hystrixLogger.Do(func() { hystrix.SetLogger(breaker.SlogLogger{Logger: logger}) })
	names := breakerNames()
	users := breaker.Users(st.Users(), names.users, cfg.Breaker)
	sessions := breaker.Sessions(st.Sessions(), names.sessions, cfg.Breaker)
	rawLimits := rateLimitStore(st.store, cfg.RateLimitKeys)
	limits := ports.RateLimitStore(rawLimits)
	if _, shared := st.store.(postgresStore); shared {
		limits = breaker.RateLimits(rawLimits, names.limits, cfg.Breaker)
	}
	watched := []string{names.users, names.sessions}
	if limits != ports.RateLimitStore(rawLimits) {
		watched = append(watched, names.limits)
	}
	breaker.Watch(ctx, watched, time.Second, logger)
	if !cfg.RateLimit {
		level := slog.LevelInfo
		if cfg.Env == envProduction {
			level = slog.LevelWarn
		}
		logger.Log(ctx, level, "rate limits are off (AUTHD_RATE_LIMIT=off): nothing stops credential stuffing or brute force")
	}
	var breaches ports.BreachChecker
	if cfg.BreachCheck {
		if breaches, err = hibp.New(hibp.Config{BaseURL: cfg.BreachURL, Timeout: cfg.BreachTimeout}); err != nil {
			return fmt.Errorf("AUTHD_BREACH_CHECK_URL: %w", err)
		}
	}
	circuits := append([]string(nil), watched...)
	if breaches != nil {
		circuits = append(circuits, hibp.DefaultCommandName)
	}
	m := newMetrics(ctx, st.store, hasher, circuits)
	svc, err := app.New(app.Ports{
		Users:         users,
		Sessions:      sessions,
		Hasher:        hasher,
		Tokens:        tokens,
		SessionTokens: sessionTokens,
		Clock:         clock.System{},
		Events:        metrics.Events(audit.New(logger), m),
		RateLimits:    limits,
		Breaches:      breaches,
	}, app.Config{
		Policy:     domain.PasswordPolicy{MinLength: cfg.MinPasswordLen},
		SessionTTL: cfg.RefreshTokenTTL,
		ReuseGrace: cfg.ReuseGrace,
		Limits: app.Limits{
			Enabled:         cfg.RateLimit,
			IPRequests:      cfg.IPRequests,
			IPWindow:        cfg.IPWindow,
			AccountFailures: cfg.AcctFailures,
			AccountWindow:   cfg.AcctWindow,
		},
		BreachFailClosed: cfg.BreachFailClosed,
	})
	if err != nil {
		return err
	}
	go svc.RunSweeper(ctx, cfg.SweepInterval, func(r app.SweepResult, err error) {
		if err != nil {
			logger.Warn("sweep failed", "error", err.Error())
		}
		logger.Debug("sweep", "sessions", r.Sessions, "rate_limits", r.RateLimits)
	})
	// A probe through each breaker lets an open circuit's half-open trial
	// happen even when the load balancer has stopped sending traffic
	// because of this very readiness answer. Each probe is a cheap read
	// whose "not found" counts as success.
	probes := map[string]func(ctx context.Context){
		names.users:    func(ctx context.Context) { _, _ = users.ByID(ctx, 0) },
		names.sessions: func(ctx context.Context) { _, _ = sessions.ActiveUser(ctx, "readiness-probe", 0, time.Now()) },
		names.limits:   func(ctx context.Context) { _, _, _ = limits.Count(ctx, "readiness-probe", time.Now()) },
	}
	ready := &readiness{store: st, circuits: watched, probes: probes}
	var requests httpapi.RequestCounts
	api, err := httpapi.New(httpapi.Config{
		CORSOrigins:    cfg.CORSOrigins,
		OpenAPI:        docs.OpenAPI,
		JWKS:           tokens.JWKS(),
		Ready:          ready.check,
		RequestTimeout: cfg.RequestTimeout,
		TrustedProxies: cfg.TrustedProxies,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		Observe:        m.ObserveHTTP,
		Metrics:        metricsOnAPI(cfg, m),
		Requests:       &requests,
	}, svc, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AUTHD_ADDR: %w", err)
	}
	var ms *metricsServer
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return errors.Join(fmt.Errorf("AUTHD_METRICS_ADDR: %w", err), ln.Close())
		}
		ms = serveMetrics(mln, m.Handler())
		logger.Info("serving metrics", "addr", mln.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "env", cfg.Env, "database", cfg.Database.Driver)

	served := make(chan error, 1)
	// During shutdown, answer in-flight requests with "Connection: close"
	// so keep-alive clients do not send a new request on a connection that
	// is about to be closed under them.
	api.Server().CloseOnShutdown = true
	go func() { served <- api.Listener(ln) }()
	var metricsServed <-chan error // nil, never ready, without a metrics listener
	if ms != nil {
		metricsServed = ms.served
	}
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case err := <-metricsServed:
		return fmt.Errorf("metrics server stopped: %w", err)
	case <-ctx.Done():
	}
	// Turn /readyz to 503 first, so load balancers stop sending new
	// requests, then let in-flight ones finish; the pools close last
	// (deferred above).
	ready.draining.Store(true)
	logger.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "drain_timeout", cfg.ShutdownTimeout.String(), "requests_in_flight", requests.Started.Load()-requests.Completed.Load())
	time.Sleep(cfg.ShutdownDelay)
	if err := api.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// fasthttp's Shutdown closes only the listeners Serve has registered:
	// a signal that arrives before the serving goroutine got that far would
	// leave Serve running on ln for ever. Closing ln ourselves ends it
	// either way (Serve then returns net.ErrClosed, ignored below).
	_ = ln.Close()
	if ms != nil {
		// Scrapes went on during the drain; the metrics listener closes last.
		if err := ms.shutdown(cfg.ShutdownTimeout); err != nil {
			return fmt.Errorf("metrics shutdown: %w", err)
		}
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	logger.Info("stopped", "requests_started", requests.Started.Load(), "requests_completed", requests.Completed.Load())
	return nil
}

// newTokenIssuer builds the access-token issuer: HS256 with the secret, or
// the asymmetric signing key with the secret (when set) demoted to a
// verification-only key, so tokens signed before the switch stay valid. It
// logs the key ids (never key material), so an operator can follow a
// rotation.
func newTokenIssuer(cfg config, logger *slog.Logger) (*jwt.Issuer, error) {
	jc := jwt.Config{
		VerificationKeys: cfg.JWTVerificationKeys,
		Issuer:           cfg.JWTIssuer,
		Audience:         cfg.JWTAudience,
		TTL:              cfg.AccessTokenTTL,
	}
	switch {
	case cfg.JWTSigningKey.IsZero():
		jc.Secret = cfg.JWTSecret
	case cfg.JWTSecret != nil:
		hs, err := jwt.HMACKey(cfg.JWTSecret)
		if err != nil {
			return nil, err
		}
		jc.SigningKey = cfg.JWTSigningKey
		jc.VerificationKeys = append(slices.Clip(cfg.JWTVerificationKeys), hs)
	default:
		jc.SigningKey = cfg.JWTSigningKey
	}
	tokens, err := jwt.New(jc)
	if err != nil {
		return nil, err
	}
	verifying := make([]string, 0, len(jc.VerificationKeys))
	for _, k := range jc.VerificationKeys {
		verifying = append(verifying, k.Algorithm()+" "+k.ID())
	}
	signing := tokens.SigningKey()
	logger.Info("access token keys", "signing", signing.Algorithm()+" "+signing.ID(), "verification_only", verifying)
	return tokens, nil
}

// readiness is /readyz: the store's checks, "circuit": "open" while a
// database circuit breaker is open, and "shutdown": "draining" once SIGTERM
// arrived.
type readiness struct {
	store    *opened
	circuits []string
	probes   map[string]func(ctx context.Context)
	draining atomic.Bool
}

func (r *readiness) check(ctx context.Context) (map[string]string, bool) {
	checks, ok := r.store.readiness(ctx)
	checks["circuit"] = "ok"
	for _, name := range r.circuits {
		if !breaker.Open(name) {
			continue
		}
		if probe := r.probes[name]; probe != nil {
			probe(ctx)
		}
		if breaker.Open(name) {
			checks["circuit"] = "open"
			ok = false
		}
	}
	if r.draining.Load() {
		checks["shutdown"] = "draining"
		ok = false
	}
	return checks, ok
}

var (
	breakerRuns   atomic.Int64
	hystrixLogger sync.Once
)

// breakerNames returns the hystrix command names of one run. Circuits are
// global to the process; a second run in the same process (tests) gets
// its own names so one instance's outage cannot open another's circuit.
func breakerNames() (n struct{ users, sessions, limits string }) {
	suffix := ""
	if run := breakerRuns.Add(1); run > 1 {
		suffix = fmt.Sprintf(".%d", run)
	}
	n.users, n.sessions, n.limits = "db.users"+suffix, "db.sessions"+suffix, "db.rate_limits"+suffix
	return n
}

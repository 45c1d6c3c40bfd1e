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
	"syscall"
	"time"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/adapters/bcrypt"
	"github.com/authd/authd/adapters/clock"
	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/adapters/jwt"
	"github.com/authd/authd/adapters/refreshtoken"
	"github.com/authd/authd/app"
	"github.com/authd/authd/docs"
	"github.com/authd/authd/domain"
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
		logger.Warn("AUTHD_JWT_SECRET is not set: using a random secret, so tokens stop working at restart; set it (at least 32 random bytes) for anything but development")
	}

	st, err := openStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.AutoMigrate {
		if err := migrateUp(st); err != nil {
			return err
		}
	}

	hasher, err := bcrypt.New(cfg.BcryptCost)
	if err != nil {
		return fmt.Errorf("AUTHD_BCRYPT_COST: %w", err)
	}
	tokens, err := jwt.New(jwt.Config{Secret: cfg.JWTSecret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL})
	if err != nil {
		return err
	}
	sessionTokens, err := refreshtoken.New(cfg.RefreshKey)
	if err != nil {
		return err
	}
	svc, err := app.New(app.Ports{
		Users:         st.Users(),
		Sessions:      st.Sessions(),
		Hasher:        hasher,
		Tokens:        tokens,
		SessionTokens: sessionTokens,
		Clock:         clock.System{},
		Events:        audit.New(logger),
	}, app.Config{
		Policy:     domain.PasswordPolicy{MinLength: cfg.MinPasswordLen},
		SessionTTL: cfg.RefreshTokenTTL,
		ReuseGrace: cfg.ReuseGrace,
	})
	if err != nil {
		return err
	}
	go sweepSessions(ctx, svc, cfg.SweepInterval, logger)
	api, err := httpapi.New(httpapi.Config{
		CORSOrigins:    cfg.CORSOrigins,
		OpenAPI:        docs.OpenAPI,
		Ready:          st.readiness,
		RequestTimeout: cfg.RequestTimeout,
		ReadTimeout:    cfg.ReadTimeout,
		WriteTimeout:   cfg.WriteTimeout,
		IdleTimeout:    cfg.IdleTimeout,
	}, svc, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AUTHD_ADDR: %w", err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "env", cfg.Env, "database", cfg.Database.Driver)

	served := make(chan error, 1)
	go func() { served <- api.Listener(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout.String())
	if err := api.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// sweepSessions deletes ended sessions every interval until ctx ends, so
// the session tables do not grow without bound.
func sweepSessions(ctx context.Context, svc *app.Service, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := svc.SweepSessions(ctx)
			if err != nil {
				logger.Warn("session sweep failed", "error", err.Error())
				continue
			}
			logger.Debug("session sweep", "deleted", n)
		}
	}
}

// Command authd serves the authd REST API, and migrates its database.
//
//	authd                      serve (migrating first unless AUTHD_AUTO_MIGRATE=false)
//	authd migrate up           apply every pending migration
//	authd migrate down [N]     roll back N migrations (default 1)
//	authd migrate version      print the schema version
//	authd users ...            find, deactivate, activate, sign out or delete users (authd users for help)
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authd:", err)
		stop()
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
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
		case "users":
			return runUsers(ctx, cfg, args[1:], stdout, stderr)
		case "serve":
			args = args[1:]
		default:
			return usageError{fmt.Sprintf("unknown command %q (want serve, migrate or users)", args[0])}
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; configure it with AUTHD_* variables")
	}
	return serve(ctx, cfg, logger, stderr)
}

func serve(ctx context.Context, cfg config, logger *slog.Logger, _ io.Writer) error {
	warnAboutConfig(ctx, cfg, logger)
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
	in, err := wire(ctx, cfg, st, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AUTHD_ADDR: %w", err)
	}
	as, err := listenAdmin(cfg.AdminAddr, in.admin, logger)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	var ms *metricsServer
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return errors.Join(fmt.Errorf("AUTHD_METRICS_ADDR: %w", err), ln.Close(), as.shutdown(0))
		}
		ms = serveMetrics(mln, in.metrics.Handler())
		logger.Info("serving metrics", "addr", mln.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "env", cfg.Env, "database", cfg.Database.Driver)

	served := make(chan error, 1)
	// During shutdown, answer in-flight requests with "Connection: close"
	// so keep-alive clients do not send a new request on a connection that
	// is about to be closed under them.
	in.api.Server().CloseOnShutdown = true
	go func() { served <- in.api.Listener(ln) }()
	var metricsServed <-chan error // nil, never ready, without a metrics listener
	if ms != nil {
		metricsServed = ms.served
	}
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case err := <-metricsServed:
		return fmt.Errorf("metrics server stopped: %w", err)
	case err := <-as.stopped():
		return fmt.Errorf("admin server stopped: %w", err)
	case <-ctx.Done():
	}
	return drain(cfg, in, ln, served, ms, as, logger)
}

// drain shuts down gracefully: /readyz turns 503 first, so load balancers
// stop sending new requests, then in-flight ones finish; the pools close
// last (deferred in serve).
func drain(cfg config, in *service, ln net.Listener, served <-chan error, ms *metricsServer, as *adminServer, logger *slog.Logger) error {
	in.draining.Start()
	logger.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "drain_timeout", cfg.ShutdownTimeout.String(),
		"requests_in_flight", in.requests.Started.Load()-in.requests.Completed.Load())
	time.Sleep(cfg.ShutdownDelay)
	if err := in.api.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// fasthttp's Shutdown closes only the listeners Serve has registered:
	// a signal that arrives before the serving goroutine got that far would
	// leave Serve running on ln for ever. Closing ln ourselves ends it
	// either way (Serve then returns net.ErrClosed, ignored below).
	_ = ln.Close()
	// Operators could still act during the drain; the admin API closes
	// after the public one.
	if err := as.shutdown(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("admin shutdown: %w", err)
	}
	if ms != nil {
		// Scrapes went on during the drain; the metrics listener closes last.
		if err := ms.shutdown(cfg.ShutdownTimeout); err != nil {
			return fmt.Errorf("metrics shutdown: %w", err)
		}
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	// Mail accepted behind a 202 reaches the outbox, and the relay (which
	// stopped claiming when ctx ended) finishes a send under way, before
	// the store closes (deferred in serve).
	waitBackground(in.background, cfg.ShutdownTimeout, logger)
	waitMail(in.mailDone, cfg.ShutdownTimeout, logger)
	logger.Info("stopped", "requests_started", in.requests.Started.Load(), "requests_completed", in.requests.Completed.Load())
	return nil
}

package main

import (
	"context"
	"errors"
	"net"
	"os/signal"
	"syscall"

	"github.com/gofiber/fiber/v2"
)

// serveBare is the reference server (authbench -serve-bare -addr ADDR): a
// Fiber app with default settings and one handler, GET /, answering the
// same small JSON as authd's /healthz, with no middleware. authbench runs
// it as a child process on the same loopback path and load as authd, so
// the ratio authd/bare is what authd's own work costs.
func serveBare(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	if err := app.Shutdown(); err != nil {
		return err
	}
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// adminServer serves the admin API on AUTHD_ADMIN_ADDR, a listener of its
// own. A nil *adminServer is the admin API switched off.
type adminServer struct {
	app    *fiber.App
	ln     net.Listener
	served chan error
}

// listenAdmin starts serving app on addr; nil, nil when app is nil (no
// AUTHD_ADMIN_ADDR).
func listenAdmin(addr string, app *fiber.App, logger *slog.Logger) (*adminServer, error) {
	if app == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("AUTHD_ADMIN_ADDR: %w", err)
	}
	s := &adminServer{app: app, ln: ln, served: make(chan error, 1)}
	app.Server().CloseOnShutdown = true
	go func() { s.served <- app.Listener(ln) }()
	logger.Info("serving admin", "addr", ln.Addr().String())
	return s, nil
}

// stopped reports the server's end; nil (never ready) when it is off.
func (s *adminServer) stopped() <-chan error {
	if s == nil {
		return nil
	}
	return s.served
}

// shutdown lets in-flight admin requests finish within timeout (0: no
// limit) and closes the listener.
func (s *adminServer) shutdown(timeout time.Duration) error {
	if s == nil {
		return nil
	}
	err := s.app.ShutdownWithTimeout(timeout)
	// As in drain: Shutdown closes only the listeners Serve registered.
	_ = s.ln.Close()
	if served := <-s.served; served != nil && !errors.Is(served, net.ErrClosed) {
		err = errors.Join(err, served)
	}
	return err
}

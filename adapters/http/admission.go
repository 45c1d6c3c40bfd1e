package http

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/domain"
)

// admit asks, before the body is read or the client's budget counted,
// whether the hasher takes this request's password work (register,
// login): an overload is refused for the price of a header parse. The
// admitted request carries the reservation in its context, which the use
// case then uses, and gives it back when it ends.
func (s *server) admit(c *fiber.Ctx) error {
	ctx, release, err := s.svc.AdmitPasswordWork(c.UserContext())
	if err != nil {
		// Shedding load is the pool working as designed, not a fault:
		// its access line is a warning, so at AUTHD_LOG_LEVEL=error a
		// flood of refusals writes nothing (a /healthz request writes
		// nothing either), and at info it is one line like any other.
		c.Locals(localShed, true)
		s.holdRefusal(c, err)
		return err
	}
	defer release()
	c.SetUserContext(ctx)
	return c.Next()
}

// holdRefusal delays the refusal err for Config.RefusalHold on a timer:
// the handler's goroutine sleeps, no worker is taken. It is the full hold,
// not the predicted time until there is room (often a few ms, one hash):
// held that briefly, a client that retries at once still sent 12 refusals
// a second (7,790 in 5 s at 128 naive clients); the refusal's Retry-After
// (at least 1 s) already tells a client that obeys it to wait longer. It ends early
// when the request's context ends (its deadline, the client gone when the
// context says so) or the server shuts down, so a drain is never held up.
func (s *server) holdRefusal(c *fiber.Ctx, err error) {
	hold := s.cfg.RefusalHold
	if hold <= 0 || domain.ErrorCode(err) != domain.EUNAVAILABLE || c.UserContext().Err() != nil {
		return
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.UserContext().Done():
	case <-c.Context().Done(): // closed when the server shuts down
	}
}

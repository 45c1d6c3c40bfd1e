package app

import (
	"context"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// ErrBreachedPassword refuses a password found in known data breaches.
var ErrBreachedPassword = domain.Invalid(domain.FieldError{Field: "password", Reason: domain.ReasonPasswordBreached, Message: "Password has appeared in a data breach; choose another"})

// checkBreached asks the breach checker, if one is configured. When it
// cannot answer, the registration proceeds unless BreachFailClosed is set,
// in which case it is EUNAVAILABLE (503); either way the outage is
// recorded.
func (s *Service) checkBreached(ctx context.Context, password string) error {
	if s.breaches == nil {
		return nil
	}
	breached, err := s.breaches.Breached(ctx, password)
	switch {
	case err != nil:
		reason := ports.ReasonBreachFailOpen
		if s.cfg.BreachFailClosed {
			reason = ports.ReasonBreachFailClosed
		}
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventBreachCheckUnavailable, Reason: reason})
		if s.cfg.BreachFailClosed {
			return err
		}
		return nil
	case breached:
		return ErrBreachedPassword
	}
	return nil
}

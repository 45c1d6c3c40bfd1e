// Package clock is the system-time adapter for ports.Clock.
package clock

import (
	"time"

	"github.com/authd/authd/ports"
)

var _ ports.Clock = System{}

// System reads the machine clock. Times are UTC and truncated to the
// microsecond, the finest resolution every store keeps, so a value read
// back from storage equals the value written.
type System struct{}

// Now returns the current time.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

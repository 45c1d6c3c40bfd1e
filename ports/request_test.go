package ports

import (
	"context"
	"testing"
	"time"
)

func TestWithRequestID(t *testing.T) {
	ctx := context.Background()
	if got := RequestIDFrom(ctx); got != "" {
		t.Errorf("RequestIDFrom(no id) = %q, want empty", got)
	}
	ctx = WithRequestID(ctx, "req-1")
	if got := RequestIDFrom(ctx); got != "req-1" {
		t.Errorf("RequestIDFrom = %q, want req-1", got)
	}
	// The two values live side by side, and survive a derived context.
	derived, cancel := context.WithTimeout(WithClient(ctx, "192.0.2.1"), time.Minute)
	defer cancel()
	if RequestIDFrom(derived) != "req-1" || ClientFrom(derived) != "192.0.2.1" {
		t.Errorf("derived context: request id %q, client %q", RequestIDFrom(derived), ClientFrom(derived))
	}
}

func TestWithClient(t *testing.T) {
	ctx := context.Background()
	if got := ClientFrom(ctx); got != "" {
		t.Errorf("ClientFrom(no client) = %q, want empty", got)
	}
	if got := ClientFrom(WithClient(ctx, "2001:db8::1")); got != "2001:db8::1" {
		t.Errorf("ClientFrom = %q, want 2001:db8::1", got)
	}
}

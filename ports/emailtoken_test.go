package ports

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateError(t *testing.T) {
	short := "451 4.3.0 try again later"
	if got := TruncateError(short); got != short {
		t.Errorf("TruncateError(short) = %q", got)
	}
	exact := strings.Repeat("a", MaxOutboxErrorLen)
	if got := TruncateError(exact); got != exact {
		t.Errorf("TruncateError(%d bytes) changed it", len(exact))
	}
	// "€" is 3 bytes: 500 is not a boundary, so the cut goes back to 498.
	long := strings.Repeat("€", MaxOutboxErrorLen)
	got := TruncateError(long)
	if len(got) != 498 || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Errorf("TruncateError(%d bytes of €) = %d bytes, valid %v; want 498 valid bytes", len(long), len(got), utf8.ValidString(got))
	}
}

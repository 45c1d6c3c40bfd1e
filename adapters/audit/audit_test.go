package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/ports"
)

type ctxKey struct{}

// record runs Record once through a JSON handler and decodes the line.
func record(t *testing.T, e ports.SecurityEvent) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	l := audit.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.Record(context.WithValue(context.Background(), ctxKey{}, "v"), e)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want 1: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %v: %q", err, lines[0])
	}
	return m
}

func TestRecordAllFields(t *testing.T) {
	m := record(t, ports.SecurityEvent{Name: "token.reuse_detected", UserID: 42, SessionID: "sid-1", Reason: "spent token after grace"})
	want := map[string]any{
		"level":      "WARN",
		"msg":        "security event",
		"event":      "token.reuse_detected",
		"user_id":    float64(42),
		"session_id": "sid-1",
		"reason":     "spent token after grace",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if _, ok := m["time"]; !ok {
		t.Error("no time attribute")
	}
	if len(m) != len(want)+1 {
		t.Errorf("record %v has attributes beyond %v and time", m, want)
	}
}

func TestRecordOmitsEmptyFields(t *testing.T) {
	m := record(t, ports.SecurityEvent{Name: "session.revoked"})
	if m["event"] != "session.revoked" || m["level"] != "WARN" {
		t.Errorf("record = %v", m)
	}
	for _, k := range []string{"user_id", "session_id", "reason"} {
		if v, ok := m[k]; ok {
			t.Errorf("empty %s written as %#v", k, v)
		}
	}

	m = record(t, ports.SecurityEvent{Name: "session.revoked", UserID: 7, Reason: "logout from all devices (3 sessions)"})
	if m["user_id"] != float64(7) || m["reason"] != "logout from all devices (3 sessions)" {
		t.Errorf("record = %v", m)
	}
	if _, ok := m["session_id"]; ok {
		t.Errorf("empty session_id written: %v", m)
	}
}

func TestRecordRespectsHandlerLevel(t *testing.T) {
	// WARN passes a handler set to WARN and is dropped at ERROR, so the
	// level really is WARN and not something higher.
	for level, wantLines := range map[slog.Level]int{slog.LevelWarn: 1, slog.LevelError: 0} {
		var buf bytes.Buffer
		l := audit.New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})))
		l.Record(context.Background(), ports.SecurityEvent{Name: "session.revoked", UserID: 1})
		if got := strings.Count(buf.String(), "\n"); got != wantLines {
			t.Errorf("handler at %v: %d lines, want %d", level, got, wantLines)
		}
	}
}

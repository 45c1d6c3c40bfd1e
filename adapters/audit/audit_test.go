package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/authd/authd/adapters/audit"
	"github.com/authd/authd/ports"
)

type ctxKey struct{}

// record runs Record once with ctx through a JSON handler at DEBUG and
// returns the raw line and its decoded attributes.
func record(t *testing.T, ctx context.Context, e ports.SecurityEvent) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	l := audit.New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Record(ctx, e)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("wrote %d lines, want 1: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %v: %q", err, lines[0])
	}
	return lines[0], m
}

// wantExactly checks m has the time and exactly the attributes in want.
func wantExactly(t *testing.T, m, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if _, ok := m["time"]; !ok {
		t.Error("no time attribute")
	}
	for k := range m {
		if _, ok := want[k]; !ok && k != "time" {
			t.Errorf("unexpected attribute %s = %#v", k, m[k])
		}
	}
}

func requestCtx() context.Context {
	ctx := context.WithValue(context.Background(), ctxKey{}, "unrelated value")
	return ports.WithClient(ports.WithRequestID(ctx, "req-7f3a"), "203.0.113.9")
}

func TestRecordAllFields(t *testing.T) {
	line, m := record(t, requestCtx(), ports.SecurityEvent{
		Name: "login.failed", UserID: 42, Email: "jane.doe+work@example.com", SessionID: "sid-1", Reason: "password mismatch",
	})
	wantExactly(t, m, map[string]any{
		"level":      "WARN",
		"msg":        "security event",
		"event":      "login.failed",
		"request_id": "req-7f3a",
		"client_ip":  "203.0.113.9",
		"user_id":    float64(42),
		"email":      "j***@example.com",
		"session_id": "sid-1",
		"reason":     "password mismatch",
	})
	for _, part := range []string{"jane", "doe", "work", "unrelated value"} {
		if strings.Contains(line, part) {
			t.Errorf("the record holds %q: %s", part, line)
		}
	}
}

func TestRecordOmitsEmptyFields(t *testing.T) {
	_, m := record(t, context.Background(), ports.SecurityEvent{Name: "session.revoked"})
	wantExactly(t, m, map[string]any{"level": "INFO", "msg": "security event", "event": "session.revoked"})

	_, m = record(t, ports.WithClient(context.Background(), "2001:db8::1"), ports.SecurityEvent{Name: "ratelimit.exceeded", Reason: "client request budget spent"})
	wantExactly(t, m, map[string]any{
		"level": "WARN", "msg": "security event", "event": "ratelimit.exceeded",
		"client_ip": "2001:db8::1", "reason": "client request budget spent",
	})

	_, m = record(t, ports.WithRequestID(context.Background(), "r1"), ports.SecurityEvent{Name: "session.revoked", UserID: 7, Reason: "logout from all devices (3 sessions)"})
	wantExactly(t, m, map[string]any{
		"level": "INFO", "msg": "security event", "event": "session.revoked",
		"request_id": "r1", "user_id": float64(7), "reason": "logout from all devices (3 sessions)",
	})
}

func TestMaskEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"john@example.com", "j***@example.com"},
		{"j@example.com", "j***@example.com"}, // one character: the mask does not reveal the length
		{"jo@example.com", "j***@example.com"},
		{"john.smith+newsletter@example.com", "j***@example.com"},
		{"alice@mail.example.co.uk", "a***@mail.example.co.uk"},
		{"1@xn--bcher-kva.example", "1***@xn--bcher-kva.example"},
		{"a@b@example.com", "a***@example.com"}, // the domain is after the last "@"
		{"José@example.com", "J***@example.com"},
		// Not an address: nothing of it is kept.
		{"", "***"},
		{"not an email", "***"},
		{"hunter2", "***"},
		{"trailing@", "***"},
		{"@example.com", "***"},
		{"@@example.com", "***"},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "***"},
		{"pass word@evil domain", "***"},
		{"user@exa mple.com", "***"},
		{"user@example.com\n{\"event\":\"forged\"}", "***"},
		{"\xff@example.com", "***"},
		{"\x00@example.com", "***"},
	}
	for _, tt := range tests {
		if got := audit.MaskEmail(tt.in); got != tt.want {
			t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRecordMasksEmail(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":        "a***@example.com",
		"b@example.com":            "b***@example.com",
		"carol+promo@example.com":  "c***@example.com",
		"not-an-email-but-private": "***",
	} {
		line, m := record(t, requestCtx(), ports.SecurityEvent{Name: "user.registered", UserID: 1, Email: in})
		if m["email"] != want {
			t.Errorf("email %q logged as %#v, want %q", in, m["email"], want)
		}
		if strings.Contains(line, in) {
			t.Errorf("the record holds the unmasked %q: %s", in, line)
		}
	}

	// No email: no attribute, not an empty or masked one.
	_, m := record(t, requestCtx(), ports.SecurityEvent{Name: "user.registered", UserID: 1})
	if v, ok := m["email"]; ok {
		t.Errorf("empty email written as %#v", v)
	}
}

// events are the events app records, with their levels.
var events = map[ports.EventName]slog.Level{
	"user.deactivated":             slog.LevelWarn,
	"user.activated":               slog.LevelInfo,
	"user.deleted":                 slog.LevelWarn,
	"account.locked":               slog.LevelWarn,
	"user.registered":              slog.LevelInfo,
	"login.succeeded":              slog.LevelInfo,
	"token.refreshed":              slog.LevelInfo,
	"session.revoked":              slog.LevelInfo,
	"login.failed":                 slog.LevelWarn,
	"ratelimit.exceeded":           slog.LevelWarn,
	"token.reuse_detected":         slog.LevelWarn,
	"breach_check.unavailable":     slog.LevelWarn,
	"mail.failed":                  slog.LevelWarn,
	"password.reset_requested":     slog.LevelInfo,
	"password.reset":               slog.LevelWarn,
	"password.changed":             slog.LevelWarn,
	"email.verified":               slog.LevelInfo,
	"email.change_requested":       slog.LevelInfo,
	"email.changed":                slog.LevelWarn,
	"email.verification_requested": slog.LevelInfo,
	"mail.suppressed":              slog.LevelInfo,
	"register.existing_email":      slog.LevelInfo,
}

// TestEveryEventHasALevel: each name in ports.EventNames is classified
// here, so none falls to the default by being forgotten.
func TestEveryEventHasALevel(t *testing.T) {
	for _, n := range ports.EventNames {
		if _, ok := events[n]; !ok {
			t.Errorf("event %q is in ports.EventNames but not in this test's table", n)
		}
	}
	if len(events) != len(ports.EventNames) {
		t.Errorf("table has %d events, ports.EventNames %d", len(events), len(ports.EventNames))
	}
}

func TestRecordLevels(t *testing.T) {
	tests := maps.Clone(events)
	// An event not yet classified is not lost at WARN.
	tests["something.new"] = slog.LevelWarn
	for name, want := range tests {
		t.Run(string(name), func(t *testing.T) {
			if got := audit.Level(name); got != want {
				t.Errorf("Level = %v, want %v", got, want)
			}
			_, m := record(t, context.Background(), ports.SecurityEvent{Name: name})
			if m["level"] != want.String() {
				t.Errorf("written at %v, want %v", m["level"], want)
			}
			// The level really is want: the record passes a handler set
			// to want and is dropped by one set just above it.
			for level, wantLines := range map[slog.Level]int{want: 1, want + 1: 0} {
				var buf bytes.Buffer
				l := audit.New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})))
				l.Record(context.Background(), ports.SecurityEvent{Name: name, UserID: 1})
				if got := strings.Count(buf.String(), "\n"); got != wantLines {
					t.Errorf("handler at %v: %d lines, want %d", level, got, wantLines)
				}
			}
		})
	}
}

// TestDocsListEveryEvent keeps docs/audit.md in step with the code: each
// event has its section, headed with its level.
func TestDocsListEveryEvent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, level := range events {
		heading := "### `" + string(name) + "` (" + level.String() + ")"
		if !strings.Contains(string(doc), heading+"\n") {
			t.Errorf("docs/audit.md has no section %q", heading)
		}
		if !strings.Contains(string(doc), `"event":"`+string(name)+`"`) {
			t.Errorf("docs/audit.md has no example line for %s", name)
		}
	}
}

// TestActor: an operator action names its tool, from the event or from
// the context the driver set; an owner's own action names none.
func TestActor(t *testing.T) {
	_, m := record(t, ports.WithActor(context.Background(), "cli"), ports.SecurityEvent{Name: "user.deactivated", UserID: 4})
	if m["actor"] != "cli" {
		t.Errorf("actor = %v, want cli from the context", m["actor"])
	}
	_, m = record(t, context.Background(), ports.SecurityEvent{Name: "user.deleted", UserID: 4, Actor: "admin_api"})
	if m["actor"] != "admin_api" {
		t.Errorf("actor = %v, want admin_api from the event", m["actor"])
	}
	_, m = record(t, context.Background(), ports.SecurityEvent{Name: "login.succeeded", UserID: 4})
	if _, ok := m["actor"]; ok {
		t.Errorf("actor written for an owner's action: %v", m["actor"])
	}
}

// TestDocsLevelTableIsComplete: docs/audit.md's table of levels names
// every event with the level the adapter writes it at.
func TestDocsLevelTableIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, level := range events {
		row := "| `" + string(name) + "` | " + level.String() + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/audit.md's level table lacks %q", row)
		}
	}
}

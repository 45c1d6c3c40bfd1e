// Package audit records security events as structured log/slog records:
// the audit trail that docs/audit.md describes.
package audit

import (
	"context"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/ports"
)

var _ ports.EventLog = (*Log)(nil)

// Msg is the message of every audit record; the "event" attribute says
// which event it is.
const Msg = "security event"

// levels gives each event its level: INFO for the normal life of an
// account, WARN for what an operator may want to alert on. An event not
// listed here is WARN, so a new one is never dropped by a WARN-level
// handler before it is classified.
var levels = map[ports.EventName]slog.Level{
	ports.EventUserRegistered:         slog.LevelInfo,
	ports.EventLoginSucceeded:         slog.LevelInfo,
	ports.EventTokenRefreshed:         slog.LevelInfo,
	ports.EventSessionRevoked:         slog.LevelInfo,
	ports.EventLoginFailed:            slog.LevelWarn,
	ports.EventAccountLocked:          slog.LevelWarn,
	ports.EventRateLimitExceeded:      slog.LevelWarn,
	ports.EventTokenReuseDetected:     slog.LevelWarn,
	ports.EventBreachCheckUnavailable: slog.LevelWarn,
	ports.EventUserDeactivated:        slog.LevelWarn,
	ports.EventUserActivated:          slog.LevelInfo,
	ports.EventUserDeleted:            slog.LevelWarn,
	ports.EventMailFailed:             slog.LevelWarn,
	ports.EventPasswordResetRequested: slog.LevelInfo,
	ports.EventPasswordReset:          slog.LevelWarn,
	ports.EventPasswordChanged:        slog.LevelWarn,
	ports.EventEmailVerified:          slog.LevelInfo,
	ports.EventEmailChangeRequested:   slog.LevelInfo,
	ports.EventEmailChanged:           slog.LevelWarn,
	ports.EventVerificationRequested:  slog.LevelInfo,
	ports.EventMailSuppressed:         slog.LevelInfo,
	ports.EventRegisterExisting:       slog.LevelInfo,
}

// Level returns the level an event named name is written at.
func Level(name ports.EventName) slog.Level {
	if l, ok := levels[name]; ok {
		return l
	}
	return slog.LevelWarn
}

// Log writes one record per event with a stable "event" attribute, the
// request id and client address from the context, and the event's ids and
// masked email. Events carry ids only: never a token, password or hash,
// and never a whole email address.
type Log struct{ logger *slog.Logger }

// New returns an event log writing to logger.
func New(logger *slog.Logger) *Log { return &Log{logger: logger} }

// Record writes e. Empty fields are left out.
func (l *Log) Record(ctx context.Context, e ports.SecurityEvent) {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("event", string(e.Name)))
	if id := ports.RequestIDFrom(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	if ip := ports.ClientFrom(ctx); ip != "" {
		attrs = append(attrs, slog.String("client_ip", ip))
	}
	if e.UserID != 0 {
		attrs = append(attrs, slog.Int64("user_id", e.UserID))
	}
	if e.Email != "" {
		attrs = append(attrs, slog.String("email", MaskEmail(e.Email)))
	}
	if e.SessionID != "" {
		attrs = append(attrs, slog.String("session_id", e.SessionID))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", string(e.Reason)))
	}
	actor := e.Actor
	if actor == "" {
		actor = ports.ActorFrom(ctx)
	}
	if actor != "" {
		attrs = append(attrs, slog.String("actor", actor))
	}
	l.logger.LogAttrs(ctx, Level(e.Name), Msg, attrs...)
}

// MaskEmail hides an address's local part behind its first character and
// a fixed "***", keeping the domain: "jane+tag@example.com" becomes
// "j***@example.com". The mask's length never depends on the local part's,
// so a one-character local part ("j@example.com") is "j***@example.com" as
// well and is not told apart from a longer one. Anything that does not
// look like local@domain (no "@", nothing before or after the last one, a
// domain with characters other than letters, digits, "." and "-", or a
// local part that does not start with a printable character) becomes
// "***", so nothing of it reaches the log.
func MaskEmail(email string) string {
	const mask = "***"
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || !isDomain(email[at+1:]) {
		return mask
	}
	first, size := utf8.DecodeRuneInString(email)
	if first == utf8.RuneError || first == '@' || !unicode.IsPrint(first) {
		return mask
	}
	return email[:size] + mask + email[at:]
}

// isDomain reports whether s is non-empty and made of the characters of a
// hostname only.
func isDomain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Package audit records security events as structured log/slog records.
package audit

import (
	"context"
	"log/slog"

	"github.com/authd/authd/ports"
)

var _ ports.EventLog = (*Log)(nil)

// Log writes one record per event at WARN level with a stable "event"
// attribute, so operators can alert on it. Events carry ids only: never a
// token, password or hash.
type Log struct{ logger *slog.Logger }

// New returns an event log writing to logger.
func New(logger *slog.Logger) *Log { return &Log{logger: logger} }

// Record writes e.
func (l *Log) Record(ctx context.Context, e ports.SecurityEvent) {
	attrs := []slog.Attr{slog.String("event", e.Name)}
	if e.UserID != 0 {
		attrs = append(attrs, slog.Int64("user_id", e.UserID))
	}
	if e.SessionID != "" {
		attrs = append(attrs, slog.String("session_id", e.SessionID))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	l.logger.LogAttrs(ctx, slog.LevelWarn, "security event", attrs...)
}

package metrics

import (
	"context"

	"github.com/authd/authd/ports"
)

// knownEvents are the security event names the app records; any other
// name is counted as "other", so the event label stays bounded.
var knownEvents = map[string]bool{
	"user.registered":          true,
	"login.succeeded":          true,
	"login.failed":             true,
	"token.refreshed":          true,
	"token.reuse_detected":     true,
	"session.revoked":          true,
	"ratelimit.exceeded":       true,
	"breach_check.unavailable": true,
}

// loginFailures maps the reason of a login.failed event to its outcome.
// The reasons are app's; adapters/http's metrics test runs the real app,
// so a renamed reason (counted as "other") fails it.
var loginFailures = map[string]string{
	"wrong password":    OutcomeWrongPassword,
	"password mismatch": OutcomeWrongPassword,
	"unknown email":     OutcomeUnknownAccount,
	"inactive account":  OutcomeInactive,
}

// eventLog counts each event, then hands it on.
type eventLog struct {
	next ports.EventLog
	m    *Metrics
}

var _ ports.EventLog = eventLog{}

// Events returns an EventLog that counts every event in m and then
// records it in next:
//
//	user.registered       authd_registrations_total{outcome="success"}
//	login.succeeded       authd_logins_total{outcome="success"}
//	login.failed          authd_logins_total{outcome=wrong_password|unknown_account|inactive}, by Reason
//	token.refreshed       authd_refreshes_total{outcome="success"}
//	token.reuse_detected  authd_refresh_token_reuse_total
//
// and every event, these and the others (session.revoked,
// ratelimit.exceeded, breach_check.unavailable), in
// authd_security_events_total{event}. Rate-limited and shed logins are
// not events: ObserveHTTP counts them from the login route's status.
func Events(next ports.EventLog, m *Metrics) ports.EventLog {
	return eventLog{next: next, m: m}
}

func (l eventLog) Record(ctx context.Context, e ports.SecurityEvent) {
	l.m.countEvent(e)
	l.next.Record(ctx, e)
}

func (m *Metrics) countEvent(e ports.SecurityEvent) {
	name := e.Name
	if !knownEvents[name] {
		name = "other"
	}
	m.events.WithLabelValues(name).Inc()
	switch e.Name {
	case "user.registered":
		m.registrations.WithLabelValues(OutcomeSuccess).Inc()
	case "login.succeeded":
		m.logins.WithLabelValues(OutcomeSuccess).Inc()
	case "login.failed":
		outcome, ok := loginFailures[e.Reason]
		if !ok {
			outcome = OutcomeOther
		}
		m.logins.WithLabelValues(outcome).Inc()
	case "token.refreshed":
		m.refreshes.WithLabelValues(OutcomeSuccess).Inc()
	case "token.reuse_detected":
		m.reuse.Inc()
	}
}

package metrics

import (
	"context"

	"github.com/authd/authd/ports"
)

// knownEvents are the security event names the app records; any other
// name is counted as "other", so the event label stays bounded.
var knownEvents = func() map[ports.EventName]bool {
	m := make(map[ports.EventName]bool, len(ports.EventNames))
	for _, n := range ports.EventNames {
		m[n] = true
	}
	return m
}()

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
//	login.failed          authd_logins_total{outcome="failure"}, whatever the reason
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
	name := string(e.Name)
	if !knownEvents[e.Name] {
		name = "other"
	}
	m.events.WithLabelValues(name).Inc()
	switch e.Name {
	case ports.EventUserRegistered:
		m.registrations.WithLabelValues(OutcomeSuccess).Inc()
	case ports.EventLoginSucceeded:
		m.logins.WithLabelValues(OutcomeSuccess).Inc()
	case ports.EventLoginFailed:
		m.logins.WithLabelValues(OutcomeFailure).Inc()
	case ports.EventTokenRefreshed:
		m.refreshes.WithLabelValues(OutcomeSuccess).Inc()
	case ports.EventTokenReuseDetected:
		m.reuse.Inc()
	}
}

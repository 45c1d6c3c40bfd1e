package ports

import (
	"context"
	"fmt"
)

// EventName names a security event. The names are stable: operators
// search logs for them and docs/audit.md lists them. app records them,
// adapters/audit writes them, adapters/metrics counts them; all three use
// these constants, so a rename is a compile error, not a silent drift.
type EventName string

// The security events.
const (
	EventUserRegistered         EventName = "user.registered"
	EventLoginSucceeded         EventName = "login.succeeded"
	EventLoginFailed            EventName = "login.failed"
	EventAccountLocked          EventName = "account.locked"
	EventTokenRefreshed         EventName = "token.refreshed"
	EventTokenReuseDetected     EventName = "token.reuse_detected"
	EventSessionRevoked         EventName = "session.revoked"
	EventRateLimitExceeded      EventName = "ratelimit.exceeded"
	EventBreachCheckUnavailable EventName = "breach_check.unavailable"
	EventUserDeactivated        EventName = "user.deactivated"
	EventUserActivated          EventName = "user.activated"
	EventUserDeleted            EventName = "user.deleted"
	EventMailFailed             EventName = "mail.failed"
	EventPasswordResetRequested EventName = "password.reset_requested"
	EventPasswordReset          EventName = "password.reset"
	EventPasswordChanged        EventName = "password.changed"
	EventEmailVerified          EventName = "email.verified"
	EventEmailChangeRequested   EventName = "email.change_requested"
	EventEmailChanged           EventName = "email.changed"
	EventVerificationRequested  EventName = "email.verification_requested"
	EventMailSuppressed         EventName = "mail.suppressed"
	// EventRegisterExisting: an enumeration-safe registration named an
	// address that has an account; its owner is told by mail.
	EventRegisterExisting EventName = "register.existing_email"
)

// EventNames is every EventName, for adapters that keep a bounded set of
// labels.
var EventNames = []EventName{
	EventUserRegistered, EventLoginSucceeded, EventLoginFailed, EventAccountLocked,
	EventTokenRefreshed, EventTokenReuseDetected, EventSessionRevoked,
	EventRateLimitExceeded, EventBreachCheckUnavailable,
	EventUserDeactivated, EventUserActivated, EventUserDeleted,
	EventMailFailed, EventPasswordResetRequested, EventPasswordReset,
	EventPasswordChanged, EventEmailVerified, EventEmailChangeRequested,
	EventEmailChanged, EventVerificationRequested, EventMailSuppressed, EventRegisterExisting,
}

// Reason says why an event happened, for operators. Like names, reasons
// are stable text.
type Reason string

// The reasons.
const (
	// login.failed
	ReasonUnknownEmail     Reason = "unknown email"
	ReasonPasswordMismatch Reason = "password mismatch"
	ReasonInactiveAccount  Reason = "inactive account"
	ReasonEmailNotVerified Reason = "email not verified"
	// token.refreshed
	ReasonRotated    Reason = "rotated"
	ReasonGraceRetry Reason = "grace retry"
	// token.reuse_detected, session.revoked
	ReasonSpentAfterGrace   Reason = "spent refresh token presented after the grace window"
	ReasonRefreshTokenReuse Reason = "refresh token reuse"
	ReasonLogout            Reason = "logout"
	ReasonOperator          Reason = "operator"
	ReasonDeactivated       Reason = "account deactivated"
	ReasonOwnSession        Reason = "signed out from the session list"
	ReasonSessionCap        Reason = "oldest session beyond the per-user cap"
	ReasonSelfDeleted       Reason = "account deleted by its owner"
	// ratelimit.exceeded, account.locked
	ReasonClientBudget     Reason = "client request budget spent"
	ReasonThrottledAccount Reason = "failed logins on a throttled account"
	ReasonAccountCap       Reason = "account-wide failure cap reached"
	ReasonDeviceBudget     Reason = "device failure budget spent"
	// password.reset_requested, email.verification_requested: no mail
	// went out because the address has no account (or, for verification,
	// its account is inactive or already verified). The client was told
	// the same as when one did.
	ReasonNoAccount       Reason = "no account for the address"
	ReasonAlreadyVerified Reason = "email already verified"
	// mail.suppressed: a mail flow's message was not sent because the
	// recipient had one of that kind within the cooldown, or reached the
	// daily cap.
	ReasonMailCooldown Reason = "recipient cooldown"
	ReasonMailDailyCap Reason = "recipient daily cap reached"
	// password.changed, session.revoked: ended by a password change or
	// reset, or by an email change.
	ReasonPasswordChanged Reason = "password changed"
	ReasonPasswordReset   Reason = "password reset"
	// breach_check.unavailable
	ReasonBreachFailOpen   Reason = "fail closed: false"
	ReasonBreachFailClosed Reason = "fail closed: true"
)

// ReasonMailRejected is mail.failed's reason when the mailer refused a
// message of template for good (EINVALID: the server refused the
// recipient, an unknown template). It names the template, never the
// message's data.
func ReasonMailRejected(template string) Reason {
	return Reason(fmt.Sprintf("rejected: %s", template))
}

// ReasonMailGaveUp is mail.failed's reason when delivery of a message of
// template failed temporarily attempts times and the relay stopped
// trying.
func ReasonMailGaveUp(template string, attempts int) Reason {
	return Reason(fmt.Sprintf("gave up after %d attempts: %s", attempts, template))
}

// ReasonLogoutAll is session.revoked's reason for logout from all
// devices, with how many sessions it ended.
func ReasonLogoutAll(sessions int) Reason {
	return Reason(fmt.Sprintf("logout from all devices (%d sessions)", sessions))
}

// SecurityEvent is something an operator must be able to find later
// (docs/audit.md lists them). It never holds a password, token or hash.
// The request id and client address travel in the context (see
// RequestIDFrom and ClientFrom), not in the event.
type SecurityEvent struct {
	Name EventName
	// UserID is the account's id; 0 when no account is known.
	UserID int64
	// Email is the account's normalized address, or the address a login
	// named when it parsed; "" when there is none. It is personal data:
	// the EventLog must mask it before it reaches a log.
	Email     string
	SessionID string
	Reason    Reason
	// Actor is who acted, for operator actions: "cli", "admin_api"; ""
	// for the account's owner or the service itself. See WithActor.
	Actor string
}

// EventLog records security events. It never fails the use case.
type EventLog interface {
	Record(ctx context.Context, e SecurityEvent)
}

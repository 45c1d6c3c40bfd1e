// Package domain holds what a user is and what a valid email and password
// are. It imports the standard library and golang.org/x/text (Unicode
// normalization of passwords and emails), nothing else.
package domain

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. The HTTP adapter owns the one table that maps them to
// statuses; everything here is transport-agnostic.
const (
	// EINVALID: the input breaks a rule of the domain (bad email, weak
	// password). Carries per-field messages.
	EINVALID = "invalid"
	// ECONFLICT: the change clashes with existing state (email taken).
	ECONFLICT = "conflict"
	// ENOTFOUND: the thing asked for does not exist.
	ENOTFOUND = "not_found"
	// EUNAUTHORIZED: credentials or token are not acceptable.
	EUNAUTHORIZED = "unauthorized"
	// EFORBIDDEN: the caller is who they say, but this action needs a
	// proof they did not give (the current password).
	EFORBIDDEN = "forbidden"
	// EUNSUPPORTED: the server is not configured for this operation (mail
	// flows without a mailer).
	EUNSUPPORTED = "unsupported"
	// EUNAVAILABLE: a dependency (the database) cannot answer right now;
	// the caller may retry later.
	EUNAVAILABLE = "unavailable"
	// ERATELIMITED: too many attempts; RetryAfter says when to try again.
	ERATELIMITED = "rate_limited"
	// EINTERNAL: anything else. Its message is never shown to a client.
	EINTERNAL = "internal"
)

// Reasons: the stable, machine-readable names of what went wrong, which a
// client can switch on (the HTTP adapter sends them as a problem's `code`
// and in each field error). Where Code is a broad category that picks a
// status, a reason says which rule or refusal it was. Reasons are part of
// the API: docs/errors.md lists each one, and a reason once published is
// never renamed or reused for something else. The reasons of the email and
// password rules sit beside their messages, in email.go and password.go.
const (
	// ReasonValidationFailed is an EINVALID error with several field
	// errors (each names its own reason) or none.
	ReasonValidationFailed = "validation_failed"
	// ReasonFieldRequired: a required field is missing or empty.
	ReasonFieldRequired       = "field_required"
	ReasonEmailTaken          = "email_taken"
	ReasonInvalidCredentials  = "invalid_credentials"
	ReasonInvalidToken        = "invalid_token"
	ReasonInvalidRefreshToken = "invalid_refresh_token"
	// ReasonNotFound: the user, session or resource asked for does not
	// exist.
	ReasonNotFound = "not_found"
	// ReasonWrongPassword: an action on one's own account needs the
	// current password, and the one given is not it.
	ReasonWrongPassword = "wrong_password"
	ReasonUnavailable   = "unavailable"
	// ReasonEmailNotVerified: login needs a verified email
	// (AUTHD_REQUIRE_VERIFIED_EMAIL) and the account's is not.
	ReasonEmailNotVerified = "email_not_verified"
	// ReasonInvalidEmailToken: an emailed token (verification, reset,
	// email change) is unknown, used, expired or for another purpose.
	ReasonInvalidEmailToken = "invalid_email_token"
	// ReasonMailDisabled: a mail flow was asked for, and the server has
	// no way to send mail.
	ReasonMailDisabled = "mail_disabled"
	ReasonRateLimited  = "rate_limited"
	ReasonInternal     = "internal"
)

// Reasons is every reason the domain defines, so a test can hold the
// published list (docs/errors.md, docs/openapi.yaml) to it.
var Reasons = []string{
	ReasonValidationFailed, ReasonFieldRequired, ReasonEmailTaken,
	ReasonInvalidCredentials, ReasonInvalidToken, ReasonInvalidRefreshToken,
	ReasonNotFound, ReasonWrongPassword, ReasonUnavailable, ReasonRateLimited, ReasonInternal,
	ReasonEmailNotVerified, ReasonInvalidEmailToken, ReasonMailDisabled,
	ReasonInvalidEmail, ReasonEmailTooLong, ReasonEmailNotASCII,
	ReasonPasswordNotUTF8, ReasonPasswordTooLong, ReasonPasswordTooShort,
	ReasonPasswordTooCommon, ReasonPasswordRepeated, ReasonPasswordSequential,
	ReasonPasswordContainsEmail, ReasonPasswordBreached,
}

// FieldError names one rejected input field, the reason (one of Reasons)
// and why in words fit for the person who typed it.
type FieldError struct {
	Field   string
	Reason  string
	Message string
}

// Error is the one error type of the domain. Message is safe to show to a
// client; Err is the underlying cause, for logs only. Reason is the stable
// name of the refusal (one of Reasons); when it is empty, ErrorReason
// derives one from Code.
type Error struct {
	Code    string
	Reason  string
	Message string
	Fields  []FieldError
	Err     error
	// RetryAfter, for ERATELIMITED, is how long until the client may try
	// again; for EUNAVAILABLE, when set, how long until there is
	// predicted to be room (0 leaves the transport's default).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes a sentinel match the copies WithCause makes of it: target
// matches when it is an *Error without a cause and e has its code and
// message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Code == e.Code && t.Message == e.Message
}

// WithCause returns a copy of e that keeps cause for the logs; the client
// still sees e's code and message, and errors.Is(copy, e) holds.
func WithCause(e *Error, cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// Errorf returns a domain error with a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a storage or dependency failure so that callers see
// EUNAVAILABLE while logs keep the cause.
func Unavailable(cause error) *Error {
	return &Error{Code: EUNAVAILABLE, Reason: ReasonUnavailable, Message: "Service temporarily unavailable", Err: cause}
}

// RateLimited says the client must wait retryAfter before trying again.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Code: ERATELIMITED, Reason: ReasonRateLimited, Message: "Too many attempts; try again later", RetryAfter: retryAfter}
}

// ErrorRetryAfter returns how long a refused client should wait, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorCode returns the code of the first domain error in err's chain,
// EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorReason returns the reason of the first domain error in err's
// chain, ReasonInternal for any other non-nil error, and "" for nil. A
// domain error without a reason gets its code's: ReasonValidationFailed
// for EINVALID, the code itself otherwise (ENOTFOUND is "not_found",
// EUNAVAILABLE "unavailable", ...). ECONFLICT and EUNAUTHORIZED have no
// published reason of their own, so an error of theirs must name one.
func ErrorReason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return ReasonInternal
	}
	switch {
	case e.Reason != "":
		return e.Reason
	case e.Code == EINVALID:
		return ReasonValidationFailed
	}
	return e.Code
}

// ErrorMessage returns the client-safe message of a domain error, or a
// generic one for anything else so internal detail never leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Internal error"
}

// ErrorFields returns the per-field messages of a domain error, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Sentinel-shaped errors used across the core. They are values of *Error so
// ErrorCode works on them; compare with errors.Is only on the code via
// ErrorCode, never by identity after wrapping.
var (
	// ErrEmailTaken is returned when registering an email that exists.
	ErrEmailTaken = &Error{Code: ECONFLICT, Reason: ReasonEmailTaken, Message: "Email already registered"}
	// ErrInvalidCredentials is the one answer for unknown email, wrong
	// password and inactive account alike.
	ErrInvalidCredentials = &Error{Code: EUNAUTHORIZED, Reason: ReasonInvalidCredentials, Message: "Invalid credentials"}
	// ErrInvalidToken is returned for any access token that is not
	// acceptable, or whose user is gone or inactive.
	ErrInvalidToken = &Error{Code: EUNAUTHORIZED, Reason: ReasonInvalidToken, Message: "Invalid or expired access token"}
	// ErrUserNotFound is what repositories return for a missing user.
	ErrUserNotFound = &Error{Code: ENOTFOUND, Reason: ReasonNotFound, Message: "User not found"}
	// ErrWrongPassword refuses an action on one's own account (deleting
	// it) when the current password given with it is not right.
	ErrWrongPassword = &Error{Code: EFORBIDDEN, Reason: ReasonWrongPassword, Message: "The password is not correct"}
	// ErrEmailNotVerified refuses a login with the right password while
	// verified emails are required and the account's is not.
	ErrEmailNotVerified = &Error{Code: EFORBIDDEN, Reason: ReasonEmailNotVerified, Message: "Email not verified"}
	// ErrMailDisabled answers the mail flows when no mailer is configured.
	ErrMailDisabled = &Error{Code: EUNSUPPORTED, Reason: ReasonMailDisabled, Message: "Email delivery is not configured"}
	// ErrInvalidEmailToken is the one answer for an emailed token that
	// cannot be used, whatever the reason.
	ErrInvalidEmailToken = &Error{Code: EINVALID, Reason: ReasonInvalidEmailToken, Message: "The link is invalid or has expired",
		Fields: []FieldError{{Field: "token", Reason: ReasonInvalidEmailToken, Message: "The link is invalid or has expired; ask for a new one"}}}
)

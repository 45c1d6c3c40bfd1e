package domain_test

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/domain"
)

func TestErrorHelpers(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user \"authd\" at 10.0.0.5")
	fields := []domain.FieldError{{Field: "email", Message: "bad email"}}
	invalid := domain.Invalid(fields...)

	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantMsg    string
		wantFields []domain.FieldError
	}{
		{"nil", nil, "", "Internal error", nil},
		{"plain error", secret, domain.EINTERNAL, "Internal error", nil},
		{"wrapped plain error", fmt.Errorf("store: %w", secret), domain.EINTERNAL, "Internal error", nil},
		{"domain error", domain.ErrEmailTaken, domain.ECONFLICT, "Email already registered", nil},
		{"wrapped domain error", fmt.Errorf("register: %w", domain.ErrEmailTaken), domain.ECONFLICT, "Email already registered", nil},
		{"twice-wrapped domain error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", domain.ErrInvalidCredentials)), domain.EUNAUTHORIZED, "Invalid credentials", nil},
		{"joined errors, domain one second", errors.Join(secret, domain.ErrUserNotFound), domain.ENOTFOUND, "User not found", nil},
		{"validation error", invalid, domain.EINVALID, "bad email", fields},
		{"wrapped validation error", fmt.Errorf("x: %w", invalid), domain.EINVALID, "bad email", fields},
		{"unavailable hides its cause", domain.Unavailable(secret), domain.EUNAVAILABLE, "Service temporarily unavailable", nil},
		{"domain error with no message", &domain.Error{Code: domain.ECONFLICT}, domain.ECONFLICT, "Internal error", nil},
		{"Errorf", domain.Errorf(domain.ENOTFOUND, "No user %d", 42), domain.ENOTFOUND, "No user 42", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tt.wantCode)
			}
			msg := domain.ErrorMessage(tt.err)
			if msg != tt.wantMsg {
				t.Errorf("ErrorMessage = %q, want %q", msg, tt.wantMsg)
			}
			if strings.Contains(msg, "10.0.0.5") || strings.Contains(msg, "pq:") {
				t.Errorf("ErrorMessage %q leaks the internal cause", msg)
			}
			if got := domain.ErrorFields(tt.err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("ErrorFields = %+v, want %+v", got, tt.wantFields)
			}
		})
	}
}

func TestErrorStringAndUnwrap(t *testing.T) {
	e := domain.Unavailable(io.ErrUnexpectedEOF)
	if got, want := e.Error(), "unavailable: Service temporarily unavailable: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Error("Unavailable does not unwrap to its cause")
	}
	if !errors.Is(fmt.Errorf("w: %w", e), io.ErrUnexpectedEOF) {
		t.Error("wrapped Unavailable does not unwrap to its cause")
	}
	if got, want := domain.ErrEmailTaken.Error(), "conflict: Email already registered"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if domain.ErrEmailTaken.Unwrap() != nil {
		t.Error("sentinel has a cause")
	}
}

func TestSentinelCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code string
	}{
		{domain.ErrEmailTaken, domain.ECONFLICT},
		{domain.ErrInvalidCredentials, domain.EUNAUTHORIZED},
		{domain.ErrInvalidToken, domain.EUNAUTHORIZED},
		{domain.ErrUserNotFound, domain.ENOTFOUND},
	} {
		if got := domain.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
	}
}

// TestErrorReason: the reason a client switches on is the first domain
// error's, derived from its code when it names none, and "internal" for
// anything that is not a domain error.
func TestErrorReason(t *testing.T) {
	secret := errors.New("driver: connection refused")
	email := domain.FieldError{Field: "email", Reason: domain.ReasonInvalidEmail, Message: "bad email"}
	password := domain.FieldError{Field: "password", Reason: domain.ReasonPasswordTooShort, Message: "short"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", secret, "internal"},
		{"email taken", fmt.Errorf("register: %w", domain.ErrEmailTaken), "email_taken"},
		{"invalid credentials", domain.ErrInvalidCredentials, "invalid_credentials"},
		{"invalid token with a cause", domain.WithCause(domain.ErrInvalidToken, secret), "invalid_token"},
		{"invalid refresh token", domain.ErrInvalidRefreshToken, "invalid_refresh_token"},
		{"session ended", domain.ErrSessionEnded, "invalid_refresh_token"},
		{"user not found", domain.ErrUserNotFound, "not_found"},
		{"session not found", domain.ErrSessionNotFound, "not_found"},
		{"unavailable", domain.Unavailable(secret), "unavailable"},
		{"rate limited", domain.RateLimited(0), "rate_limited"},
		{"one field: its reason", domain.Invalid(email), "invalid_email"},
		{"two fields", domain.Invalid(email, password), "validation_failed"},
		{"merged into two fields", domain.MergeInvalid(domain.Invalid(email), domain.Invalid(password)), "validation_failed"},
		{"merged into one field", domain.MergeInvalid(nil, domain.Invalid(password)), "password_too_short"},
		{"EINVALID without fields or reason", domain.Errorf(domain.EINVALID, "The page size must be between 1 and 100"), "validation_failed"},
		{"ENOTFOUND without a reason", domain.Errorf(domain.ENOTFOUND, "No user %d", 42), "not_found"},
		{"EINTERNAL without a reason", domain.Errorf(domain.EINTERNAL, "boom"), "internal"},
		{"explicit reason wins", &domain.Error{Code: domain.EINVALID, Reason: "field_required"}, "field_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.ErrorReason(tt.err); got != tt.want {
				t.Errorf("ErrorReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestReasons: the list the published documents are checked against
// holds each reason once, in snake_case, including every sentinel's.
func TestReasons(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, r := range domain.Reasons {
		if !snake.MatchString(r) {
			t.Errorf("reason %q is not snake_case", r)
		}
		if seen[r] {
			t.Errorf("reason %q is listed twice", r)
		}
		seen[r] = true
	}
	for _, e := range []*domain.Error{
		domain.ErrEmailTaken, domain.ErrInvalidCredentials, domain.ErrInvalidToken, domain.ErrUserNotFound,
		domain.ErrInvalidRefreshToken, domain.ErrSessionEnded, domain.ErrSessionNotFound, domain.ErrPasswordNotUTF8,
		domain.Unavailable(nil), domain.RateLimited(0),
	} {
		if e.Reason == "" || !seen[e.Reason] {
			t.Errorf("%v: reason %q is not in domain.Reasons", e, e.Reason)
		}
	}
}

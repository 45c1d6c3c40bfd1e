package domain

import (
	"fmt"
	"unicode/utf8"
)

// MaxPasswordBytes is bcrypt's input limit. Longer passwords are rejected,
// never silently truncated.
const MaxPasswordBytes = 72

// DefaultMinPasswordLength is the minimum number of Unicode code points.
const DefaultMinPasswordLength = 8

// PasswordPolicy is the rule a new password must meet: a length range and
// nothing else (no composition rules, per NIST SP 800-63B). Any bytes are
// allowed, NUL included.
type PasswordPolicy struct {
	// MinLength counts Unicode code points; values below 1 mean the default.
	MinLength int
}

// Validate returns an EINVALID *Error with one field error for
// "password", or nil when the password is acceptable.
func (p PasswordPolicy) Validate(password string) error {
	if f := p.check(password); f != nil {
		return Invalid(*f)
	}
	return nil
}

func (p PasswordPolicy) check(password string) *FieldError {
	minLen := p.MinLength
	if minLen < 1 {
		minLen = DefaultMinPasswordLength
	}
	if len(password) > MaxPasswordBytes {
		return &FieldError{Field: "password", Message: fmt.Sprintf("Password must be at most %d bytes (it is %d bytes long)", MaxPasswordBytes, len(password))}
	}
	if utf8.RuneCountInString(password) < minLen {
		return &FieldError{Field: "password", Message: fmt.Sprintf("Password must be at least %d characters", minLen)}
	}
	return nil
}

// Invalid builds an EINVALID error from field errors. Its message names
// every field so a client that reads only `detail` still learns what to fix.
func Invalid(fields ...FieldError) *Error {
	msg := "Validation failed"
	for i, f := range fields {
		if i == 0 {
			msg = f.Message
		} else {
			msg += "; " + f.Message
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// MergeInvalid combines the field errors of several validation results
// into one EINVALID error. It returns nil when all are nil and the first
// non-validation error unchanged if there is one.
func MergeInvalid(errs ...error) error {
	var fields []FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		if ErrorCode(err) != EINVALID {
			return err
		}
		fields = append(fields, ErrorFields(err)...)
	}
	if len(fields) == 0 {
		return nil
	}
	return Invalid(fields...)
}

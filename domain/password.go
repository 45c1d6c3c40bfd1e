package domain

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxPasswordBytes is bcrypt's input limit. Longer passwords are rejected,
// never silently truncated.
const MaxPasswordBytes = 72

// DefaultMinPasswordLength is the minimum number of Unicode code points.
const DefaultMinPasswordLength = 8

// minEmailLocalPartInPassword is the shortest local part (the name before
// the @) that a password may not contain. Shorter ones ("bob", "jo") occur
// in too many good passwords by chance; the whole address is still refused.
const minEmailLocalPartInPassword = 4

// Messages for the rules after the length checks. They say which rule
// failed and never repeat the password.
const (
	msgCommonPassword   = "Password is among the most commonly used passwords; choose another"
	msgPasswordHasEmail = "Password must not contain your email address or the name before its @"
)

// commonPasswordsFile holds the most common passwords, most common first,
// one per line. Its source, licence (commonpasswords.LICENSE beside it)
// and how it was extracted are in docs/passwords.md.
//
//go:embed commonpasswords.txt
var commonPasswordsFile string

// commonPasswords is the embedded list as a set of passwordKey values,
// built the first time a password is checked.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordsFile, "\n")+1)
	for line := range strings.SplitSeq(commonPasswordsFile, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line != "" {
			set[passwordKey(line)] = struct{}{}
		}
	}
	return set
})

// passwordKey is the form in which passwords, list entries and email
// addresses are compared: NFKC-normalised (so full-width letters, ligatures
// and other compatibility characters match their plain forms), then
// lower-cased. It does not allocate for input that is already
// lower-case and normalised.
func passwordKey(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

// PasswordPolicy is the rule a new password must meet, per NIST SP 800-63B
// and OWASP ASVS 5.0 V6: a length range, not among the most common
// passwords, and not containing the account's email address. There are no
// composition rules. Any bytes are allowed, NUL included.
type PasswordPolicy struct {
	// MinLength counts Unicode code points; values below 1 mean the default.
	MinLength int
}

// Validate returns an EINVALID *Error with one field error for
// "password", or nil when the password is acceptable for the account with
// this email. The rules are checked in order and the first that fails is
// reported: at most MaxPasswordBytes bytes, at least MinLength code points,
// not on the embedded list of common passwords, and containing neither the
// whole email nor its local part when that has at least 4 characters (both
// compared after NFKC normalisation, ignoring case). A zero email skips the
// email rule.
func (p PasswordPolicy) Validate(password string, email Email) error {
	if f := p.check(password, email); f != nil {
		return Invalid(*f)
	}
	return nil
}

func (p PasswordPolicy) check(password string, email Email) *FieldError {
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
	key := passwordKey(password)
	if _, common := commonPasswords()[key]; common {
		return &FieldError{Field: "password", Message: msgCommonPassword}
	}
	if containsEmail(key, email) {
		return &FieldError{Field: "password", Message: msgPasswordHasEmail}
	}
	return nil
}

// containsEmail reports whether the password key contains the whole email
// or a local part of at least minEmailLocalPartInPassword characters.
func containsEmail(key string, email Email) bool {
	if email.IsZero() {
		return false
	}
	addr := passwordKey(email.String())
	if strings.Contains(key, addr) {
		return true
	}
	local, _, _ := strings.Cut(addr, "@")
	return utf8.RuneCountInString(local) >= minEmailLocalPartInPassword && strings.Contains(key, local)
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

package domain

import "strings"

// Limits from RFC 5321 (path and local-part lengths).
const (
	MaxEmailBytes     = 254
	MaxEmailLocalPart = 64
	maxDomainLabel    = 63
)

// The reasons an email is refused (an empty one is ReasonFieldRequired).
const (
	// ReasonInvalidEmail: not one addr-spec with a valid domain name.
	ReasonInvalidEmail = "invalid_email"
	// ReasonEmailTooLong: over 254 bytes, or over 64 before the @.
	ReasonEmailTooLong = "email_too_long"
	// ReasonEmailNotASCII: a character outside ASCII.
	ReasonEmailNotASCII = "email_not_ascii"
)

// Email is a normalized email address: trimmed, lower-cased, and one bare
// addr-spec (no display name, no comments, no quoted local part, no IP
// literal). The zero value is not a valid Email.
type Email struct{ s string }

// ParseEmail normalizes and validates raw. It returns an EINVALID *Error
// with one field error for "email" when raw is not acceptable.
func ParseEmail(raw string) (Email, error) {
	s := strings.TrimSpace(raw)
	// Only ASCII is accepted (internationalized domains in their xn-- form),
	// and it is checked before lower-casing: strings.ToLower would turn the
	// Kelvin sign into "k" and a dotted capital I into "i", letting two
	// different inputs name one account.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return Email{}, Invalid(FieldError{Field: "email", Reason: ReasonEmailNotASCII, Message: "Email must use ASCII characters only (write an internationalized domain in its xn-- form)"})
		}
	}
	s = strings.ToLower(s)
	if reason, msg := emailProblem(s); msg != "" {
		return Email{}, Invalid(FieldError{Field: "email", Reason: reason, Message: msg})
	}
	return Email{s: s}, nil
}

// String returns the normalized address.
func (e Email) String() string { return e.s }

// IsZero reports whether e is the zero Email.
func (e Email) IsZero() bool { return e.s == "" }

// emailProblem returns the reason and message for the first rule s
// breaks, or two empty strings.
func emailProblem(s string) (reason, msg string) {
	if s == "" {
		return ReasonFieldRequired, "Email is required"
	}
	if len(s) > MaxEmailBytes {
		return ReasonEmailTooLong, "Email must be at most 254 bytes"
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return ReasonInvalidEmail, "Email must be a single address of the form name@example.com"
	}
	local, host := s[:at], s[at+1:]
	if local == "" {
		return ReasonInvalidEmail, "Email must have a name before the @"
	}
	if len(local) > MaxEmailLocalPart {
		return ReasonEmailTooLong, "The part of the email before the @ must be at most 64 bytes"
	}
	if !validDotAtom(local) {
		return ReasonInvalidEmail, "Email must be a single address of the form name@example.com"
	}
	if !validHostname(host) {
		return ReasonInvalidEmail, "Email must end in a valid domain name such as example.com"
	}
	return "", ""
}

// validDotAtom checks RFC 5322 dot-atom text: atext runs separated by
// single dots, with no dot at either end.
func validDotAtom(s string) bool {
	if s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	prevDot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		prevDot = false
		if !isAtext(c) {
			return false
		}
	}
	return true
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+/=?^_`{|}~-", c) >= 0
}

// validHostname requires at least two LDH labels of 1-63 bytes that neither
// start nor end with a hyphen, and a top-level label that is not all digits
// (so no bare IP addresses). Internationalized domains are accepted in
// their ASCII (xn--) form.
func validHostname(h string) bool {
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > maxDomainLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	for i := 0; i < len(tld); i++ {
		if tld[i] < '0' || tld[i] > '9' {
			return true
		}
	}
	return false
}

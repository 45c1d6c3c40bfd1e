package domain

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
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

// The reasons a password is refused, one per rule (docs/errors.md).
const (
	ReasonPasswordNotUTF8       = "password_not_utf8"
	ReasonPasswordTooLong       = "password_too_long"
	ReasonPasswordTooShort      = "password_too_short"
	ReasonPasswordTooCommon     = "password_too_common" // listed, or listed with digits or symbols added
	ReasonPasswordRepeated      = "password_repeated"
	ReasonPasswordSequential    = "password_sequential"
	ReasonPasswordContainsEmail = "password_contains_email"
	// ReasonPasswordBreached is app's breached-password check, which is
	// not part of the policy but refuses on the same field.
	ReasonPasswordBreached = "password_breached"
)

// Messages for the rules after the length checks. They say which rule
// failed and never repeat the password; the examples in them are fixed
// text.
const (
	msgPasswordNotUTF8    = "Password must be valid UTF-8 text"
	msgCommonPassword     = "Password is among the most commonly used passwords; choose another"
	msgCommonWithSuffix   = "Password is a commonly used password with digits or symbols added at the end; choose another"
	msgRepeatedPassword   = "Password is mostly one character or a short group of characters repeated (like aaaaaaaa or abcabcabc); choose another"
	msgSequentialPassword = "Password is mostly a run of consecutive letters or digits (like 12345678 or abcdefgh); choose another"
	msgPasswordHasEmail   = "Password must not contain your email address or the name before its @"
)

// minCommonStem is the fewest code points the stem of a password (what is
// left after its trailing digits, symbols and spaces are cut off) must have
// for the stem to be looked up in the common-password list. Shorter stems
// ("abc", "xyz") are not words a guesser starts from.
const minCommonStem = 4

// maxRepeatUnit is the longest group of code points whose repetition
// counts as a pattern ("abcd" in "abcdabcd").
const maxRepeatUnit = 4

// minPatternRun is the shortest repeat or sequence that counts towards
// the pattern rule: "aa" and "12" occur in too many good passwords.
const minPatternRun = 3

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

// NormalizePassword returns the form of a password that is hashed,
// compared and checked by the policy: its Unicode NFKC normalisation, as
// NIST SP 800-63B (5.1.1.2) asks. The same password typed as precomposed
// (NFC) or decomposed (NFD) characters, or with compatibility characters
// such as full-width letters, has one normalised form and so one hash.
// Case is kept: the form is a secret, not a comparison key.
//
// A password that is not valid UTF-8 is refused with an EINVALID error on
// the field "password": bytes that are not text cannot be normalised, and
// replacing them (with U+FFFD, as many decoders do) would make many
// different byte strings the same password. It does not allocate when the
// password is already NFKC (all ASCII passwords are).
func NormalizePassword(raw string) (string, error) {
	n, ok := normalizePassword(raw)
	if !ok {
		return "", ErrPasswordNotUTF8
	}
	return n, nil
}

// ErrPasswordNotUTF8 is the EINVALID error, on the field "password", for a
// password that is not valid UTF-8. NormalizePassword and the policy return
// it; a decoder that would otherwise repair the bytes (encoding/json turns
// them into U+FFFD) returns it too, so the client gets one answer.
var ErrPasswordNotUTF8 = Invalid(passwordError(ReasonPasswordNotUTF8, msgPasswordNotUTF8))

// passwordError is the field error of a password rule.
func passwordError(reason, msg string) FieldError {
	return FieldError{Field: "password", Reason: reason, Message: msg}
}

func normalizePassword(raw string) (string, bool) {
	if !utf8.ValidString(raw) {
		return "", false
	}
	return norm.NFKC.String(raw), true
}

// PasswordPolicy is the rule a new password must meet, per NIST SP 800-63B
// and OWASP ASVS 5.0 V6: valid text, a length range, not among the most
// common passwords nor one of them with digits or symbols appended, not
// mostly repeats or sequences, and not containing the account's email
// address. There are no composition rules. Any character is allowed, NUL
// included. docs/passwords.md states each rule precisely.
type PasswordPolicy struct {
	// MinLength counts Unicode code points; values below 1 mean the default.
	MinLength int
}

// Validate returns an EINVALID *Error with one field error for
// "password", or nil when the password is acceptable for the account with
// this email. Every rule looks at NormalizePassword(password), the form
// that is hashed. The rules are checked in order and the first that fails
// is reported:
//
//  1. valid UTF-8;
//  2. at most MaxPasswordBytes bytes;
//  3. at least MinLength code points;
//  4. not on the embedded list of common passwords;
//  5. not a listed password of at least 4 code points followed by digits,
//     symbols, punctuation or spaces ("password1234567", "dragon2024!");
//  6. not mostly repeats or sequences ("aaaaaaaa", "abcabcabc",
//     "12345678abc"), reported as whichever of the two covers more;
//  7. containing neither the whole email nor its local part when that has
//     at least 4 characters. A zero email skips this rule.
//
// Rules 4 to 7 compare case-insensitively (passwordKey).
func (p PasswordPolicy) Validate(password string, email Email) error {
	if f := p.check(password, email); f.Reason != "" {
		return Invalid(f)
	}
	return nil
}

// check returns the field error of the first rule raw breaks, or the zero
// FieldError.
func (p PasswordPolicy) check(raw string, email Email) FieldError {
	minLen := p.MinLength
	if minLen < 1 {
		minLen = DefaultMinPasswordLength
	}
	password, ok := normalizePassword(raw)
	if !ok {
		return passwordError(ReasonPasswordNotUTF8, msgPasswordNotUTF8)
	}
	if len(password) > MaxPasswordBytes {
		return passwordError(ReasonPasswordTooLong, fmt.Sprintf("Password must be at most %d bytes (it is %d bytes long)", MaxPasswordBytes, len(password)))
	}
	if utf8.RuneCountInString(password) < minLen {
		return passwordError(ReasonPasswordTooShort, fmt.Sprintf("Password must be at least %d characters", minLen))
	}
	key := passwordKey(password)
	common := commonPasswords()
	if _, ok := common[key]; ok {
		return passwordError(ReasonPasswordTooCommon, msgCommonPassword)
	}
	if stem := commonStem(key); len(stem) < len(key) && utf8.RuneCountInString(stem) >= minCommonStem {
		if _, ok := common[stem]; ok {
			return passwordError(ReasonPasswordTooCommon, msgCommonWithSuffix)
		}
	}
	switch patternRule(key, minLen) {
	case msgRepeatedPassword:
		return passwordError(ReasonPasswordRepeated, msgRepeatedPassword)
	case msgSequentialPassword:
		return passwordError(ReasonPasswordSequential, msgSequentialPassword)
	}
	if containsEmail(key, email) {
		return passwordError(ReasonPasswordContainsEmail, msgPasswordHasEmail)
	}
	return FieldError{}
}

// commonStem cuts off the longest tail of key made of characters that are
// neither letters nor combining marks: digits, punctuation, symbols
// (emoji included) and spaces, which is what people append to a word to
// get past a policy.
func commonStem(key string) string {
	end := len(key)
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(key[:end])
		if unicode.IsLetter(r) || unicode.IsMark(r) {
			break
		}
		end -= size
	}
	return key[:end]
}

// patternRule returns msgRepeatedPassword or msgSequentialPassword when
// key (a passwordKey of at most MaxPasswordBytes code points) is mostly
// repeats or sequences, and "" otherwise.
//
// A repeat is a stretch in which every code point equals the one u
// positions before it, for a unit length u of 1 to maxRepeatUnit, at least
// two units and minPatternRun code points long ("aaa", "abab", "xyzxyz").
// A sequence is a stretch of at least minPatternRun ASCII digits or ASCII
// letters, all digits or all letters, each one more than the one before
// ("345", "abcd") or each one less ("987"). The key is refused when the
// code points inside some repeat or some sequence are at least three
// quarters of all its code points, or when the whole key is one unit
// shorter than minLen repeated ("sunsetsunset" with minLen 8): repeating
// adds nothing a guesser needs to search.
func patternRule(key string, minLen int) string {
	var runes [MaxPasswordBytes]rune
	n := 0
	for _, r := range key {
		if n == len(runes) {
			return "" // cannot happen after the length rule; never refuse on it
		}
		runes[n] = r
		n++
	}
	r := runes[:n]
	if n == 0 {
		return ""
	}
	if wholeRepeat(r, minLen) {
		return msgRepeatedPassword
	}
	var rep, seq [MaxPasswordBytes]bool
	for u := 1; u <= maxRepeatUnit; u++ {
		start := -1
		for k := u; k <= n; k++ {
			if k < n && r[k] == r[k-u] {
				if start < 0 {
					start = k - u
				}
				continue
			}
			if start >= 0 && k-start >= max(2*u, minPatternRun) {
				for i := start; i < k; i++ {
					rep[i] = true
				}
			}
			start = -1
		}
	}
	start, dir := 0, 0
	for k := 1; k <= n; k++ {
		d := 0
		if k < n {
			d = step(r[k-1], r[k])
		}
		if d != 0 && (dir == 0 || d == dir) {
			if dir == 0 {
				start, dir = k-1, d
			}
			continue
		}
		if dir != 0 && k-start >= minPatternRun {
			for i := start; i < k; i++ {
				seq[i] = true
			}
		}
		start, dir = k-1, d
	}
	nRep, nSeq, nAny := 0, 0, 0
	for i := range n {
		if rep[i] {
			nRep++
		}
		if seq[i] {
			nSeq++
		}
		if rep[i] || seq[i] {
			nAny++
		}
	}
	switch {
	case 4*nAny < 3*n:
		return ""
	case nRep >= nSeq:
		return msgRepeatedPassword
	default:
		return msgSequentialPassword
	}
}

// wholeRepeat reports whether r is one unit of fewer than minLen code
// points written out two or more times.
func wholeRepeat(r []rune, minLen int) bool {
	n := len(r)
outer:
	for u := 1; u <= n/2 && u < minLen; u++ {
		if n%u != 0 {
			continue
		}
		for k := u; k < n; k++ {
			if r[k] != r[k-u] {
				continue outer
			}
		}
		return true
	}
	return false
}

// step returns +1 when b follows a in the alphabet or among the digits,
// -1 when it precedes it, and 0 otherwise (including across the two).
func step(a, b rune) int {
	digits := isASCIIDigit(a) && isASCIIDigit(b)
	letters := isASCIILower(a) && isASCIILower(b)
	if !digits && !letters {
		return 0
	}
	switch b - a {
	case 1:
		return 1
	case -1:
		return -1
	}
	return 0
}

func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }
func isASCIILower(r rune) bool { return 'a' <= r && r <= 'z' }

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
// every field so a client that reads only `detail` still learns what to fix,
// and its reason is the one field's, or ReasonValidationFailed for several.
func Invalid(fields ...FieldError) *Error {
	msg := "Validation failed"
	for i, f := range fields {
		if i == 0 {
			msg = f.Message
		} else {
			msg += "; " + f.Message
		}
	}
	reason := ReasonValidationFailed
	if len(fields) == 1 {
		reason = fields[0].Reason
	}
	return &Error{Code: EINVALID, Reason: reason, Message: msg, Fields: fields}
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

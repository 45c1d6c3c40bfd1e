package domain_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/authd/authd/domain"
)

// The messages a password can be refused with, pinned word for word: a
// message is one of these (the length ones with numbers filled in) and so
// can never repeat the password.
const (
	msgCommon   = "Password is among the most commonly used passwords; choose another"
	msgHasEmail = "Password must not contain your email address or the name before its @"
)

var lengthMessage = regexp.MustCompile(`^Password must be (at most 72 bytes \(it is [0-9]+ bytes long\)|at least [0-9]+ characters)$`)

// key is the comparison form the policy promises: NFKC, then lower case.
// The tests compute it themselves rather than trusting the package's.
func key(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

// commonList reads the embedded list from disk (go test runs in the
// package folder) and returns its lines, in order.
func commonList(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile("commonpasswords.txt")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		t.Fatal("commonpasswords.txt does not end in a newline")
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// commonSet is commonList as a set of keys.
func commonSet(t testing.TB) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, line := range commonList(t) {
		set[key(line)] = true
	}
	return set
}

func TestPasswordPolicyValidate(t *testing.T) {
	common := commonSet(t)
	tests := []struct {
		name   string
		policy domain.PasswordPolicy
		// email is parsed before the call; empty means the zero Email.
		email    string
		password string
		// wantMsg is the exact message of a rejection; empty means the
		// password must be accepted. A length message is matched by
		// prefix, since it names numbers.
		wantMsg string
	}{
		// Length (unchanged rules).
		{name: "8 lowercase letters, no composition rules", password: "abcdefgh"},
		{name: "8 spaces", password: "        "},
		{name: "7 characters", password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "empty", password: "", wantMsg: "Password must be at least 8 characters"},
		{name: "8 two-byte code points (16 bytes)", password: strings.Repeat("é", 8)},
		{name: "7 four-byte code points (28 bytes) are 7 characters", password: strings.Repeat("😀", 7), wantMsg: "Password must be at least 8 characters"},
		{name: "8 four-byte code points", password: strings.Repeat("😀", 8)},
		{name: "exactly 72 bytes", password: strings.Repeat("a", 72)},
		{name: "73 bytes", password: strings.Repeat("a", 73), wantMsg: "Password must be at most 72 bytes (it is 73 bytes long)"},
		{name: "18 emoji are exactly 72 bytes", password: strings.Repeat("😀", 18)},
		{name: "19 emoji are 76 bytes", password: strings.Repeat("😀", 19), wantMsg: "Password must be at most 72 bytes (it is 76 bytes long)"},
		{name: "1000 bytes", password: strings.Repeat("a", 1000), wantMsg: "Password must be at most 72 bytes (it is 1000 bytes long)"},
		{name: "NUL bytes inside", password: "abc\x00def\x00gh"},
		{name: "only NUL bytes", password: strings.Repeat("\x00", 8)},
		{name: "invalid UTF-8 counts byte by byte", password: strings.Repeat("\xff", 8)},
		{name: "MinLength 12 rejects 11", policy: domain.PasswordPolicy{MinLength: 12}, password: "elevenchars", wantMsg: "Password must be at least 12 characters"},
		{name: "MinLength 12 accepts 12", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 12)},
		{name: "MinLength 12 counts code points", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("é", 11), wantMsg: "Password must be at least 12 characters"},
		{name: "MinLength 12 still caps at 72 bytes", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 73), wantMsg: "Password must be at most 72 bytes (it is 73 bytes long)"},
		{name: "MinLength 1 accepts one character", policy: domain.PasswordPolicy{MinLength: 1}, password: "a"},
		{name: "MinLength 1 rejects empty", policy: domain.PasswordPolicy{MinLength: 1}, password: "", wantMsg: "Password must be at least 1 characters"},
		{name: "MinLength 0 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: 0}, password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "MinLength 0 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: 0}, password: "abcdefgh"},
		{name: "MinLength -5 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: -5}, password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "MinLength -5 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: -5}, password: "abcdefgh"},

		// Common passwords, in several spellings of one entry.
		{name: "common: password", password: "password", wantMsg: msgCommon},
		{name: "common: password123", password: "password123", wantMsg: msgCommon},
		{name: "common: upper case", password: "PASSWORD123", wantMsg: msgCommon},
		{name: "common: mixed case", password: "PassWord123", wantMsg: msgCommon},
		{name: "common: full-width", password: "ｐａｓｓｗｏｒｄ１２３", wantMsg: msgCommon},
		{name: "common: full-width upper case", password: "ＰＡＳＳＷＯＲＤ１２３", wantMsg: msgCommon},
		{name: "common: circled letters", password: "ⓟⓐⓢⓢⓦⓞⓡⓓ", wantMsg: msgCommon},
		{name: "common: superscript digit", password: "password¹", wantMsg: msgCommon},
		{name: "common: fi ligature (swordfish)", password: "sword\ufb01sh", wantMsg: msgCommon},
		{name: "common: fi ligature first (fisherman)", password: "\ufb01sherman", wantMsg: msgCommon},
		{name: "common: iloveyou", password: "ILoveYou", wantMsg: msgCommon},
		{name: "common: keyboard walk", password: "1qaz2wsx", wantMsg: msgCommon},
		{name: "common: qwerty123", password: "Qwerty123", wantMsg: msgCommon},
		{name: "common: 12 characters under MinLength 12", policy: domain.PasswordPolicy{MinLength: 12}, password: "qwertyuiop12", wantMsg: msgCommon},
		{name: "common entry, short: length is reported, not the list", password: "123456", wantMsg: "Password must be at least 8 characters"},
		{name: "common entry under MinLength 12: length first", policy: domain.PasswordPolicy{MinLength: 12}, password: "password123", wantMsg: "Password must be at least 12 characters"},
		{name: "rare passphrase", password: "correct horse battery staple"},
		{name: "rare password", password: "tulip-quartz-9-harbor"},
		{name: "common entry with a suffix is not an entry", password: "password1234567"},
		{name: "common entry with a space is not an entry", password: "password 123"},

		// The email rule.
		{name: "email: contains the local part", email: "alice@example.com", password: "alice-rocks-2024", wantMsg: msgHasEmail},
		{name: "email: local part in upper case", email: "alice@example.com", password: "ALICE-rocks-2024", wantMsg: msgHasEmail},
		{name: "email: email typed in upper case", email: "ALICE@Example.com", password: "i am alice!", wantMsg: msgHasEmail},
		{name: "email: local part in full-width letters", email: "alice@example.com", password: "ｍｙＡｌｉｃｅ2024", wantMsg: msgHasEmail},
		{name: "email: local part at the end", email: "alice@example.com", password: "2024-rocks-alice", wantMsg: msgHasEmail},
		{name: "email: password is the whole email", email: "alice@example.com", password: "alice@example.com", wantMsg: msgHasEmail},
		{name: "email: near miss is fine", email: "alice@example.com", password: "alic3-rocks-2024"},
		{name: "email: domain alone is fine", email: "alice@example.com", password: "example.com rocks"},
		{name: "email: 4-character local part applies", email: "dave@example.com", password: "dave-and-the-bees", wantMsg: msgHasEmail},
		{name: "email: 3-character local part does not apply", email: "bob@example.com", password: "bobsled-racing"},
		{name: "email: 3-character local part, whole email contained", email: "bob@example.com", password: "x bob@example.com", wantMsg: msgHasEmail},
		{name: "email: 3-character local part, whole email in upper case", email: "bob@example.com", password: "BOB@EXAMPLE.COM!", wantMsg: msgHasEmail},
		{name: "email: 1-character local part, whole email contained", email: "a@b.co", password: "my a@b.co pw", wantMsg: msgHasEmail},
		{name: "email: dotted local part contained", email: "first.last@example.com", password: "first.last.2024", wantMsg: msgHasEmail},
		{name: "email: dotted local part without its dot is fine", email: "first.last@example.com", password: "firstlast2024"},
		{name: "email: plus-addressed local part contained", email: "carol+news@example.com", password: "carol+news 2024", wantMsg: msgHasEmail},
		{name: "email: zero email skips the rule", password: "alice-rocks-2024"},
		{name: "email: zero email skips the rule for a whole address", password: "alice@example.com"},

		// Ordering: length before the list before the email.
		{name: "order: short and containing the email", email: "alice@example.com", password: "alice", wantMsg: "Password must be at least 8 characters"},
		{name: "order: too long and containing the email", email: "alice@example.com", password: "alice" + strings.Repeat("!", 68), wantMsg: "Password must be at most 72 bytes (it is 73 bytes long)"},
		{name: "order: common and containing the email", email: "password@example.com", password: "Password", wantMsg: msgCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var email domain.Email
			if tt.email != "" {
				email = mustEmail(t, tt.email)
			}
			// Pin each case to the list it was written against.
			inList := common[key(tt.password)]
			if (tt.wantMsg == msgCommon) != inList && (tt.wantMsg == "" || tt.wantMsg == msgCommon || tt.wantMsg == msgHasEmail) {
				t.Fatalf("fixture: %q in list = %v, but the case expects %q", tt.password, inList, tt.wantMsg)
			}

			err := tt.policy.Validate(tt.password, email)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Validate(%q, %q) = %v, want nil (%d bytes, %d code points)", tt.password, email, err, len(tt.password), utf8.RuneCountInString(tt.password))
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%q, %q) = nil, want %q (%d bytes, %d code points)", tt.password, email, tt.wantMsg, len(tt.password), utf8.RuneCountInString(tt.password))
			}
			if msg := assertFieldError(t, err, "password"); msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
			assertNoEcho(t, err, tt.password)
		})
	}
}

// assertNoEcho checks that the error's message is one of the policy's
// fixed messages, so it cannot carry any part of the password. (A plain
// substring check would not do: "password" is in "passwords".)
func assertNoEcho(t testing.TB, err error, password string) {
	t.Helper()
	msg := domain.ErrorMessage(err)
	if msg != msgCommon && msg != msgHasEmail && !lengthMessage.MatchString(msg) {
		t.Errorf("Validate(%q): message %q is not one of the policy's fixed messages", password, msg)
	}
}

// TestCommonPasswordList checks the embedded data file: its size, its
// shape, and that every entry is refused in every spelling the policy
// promises to catch.
func TestCommonPasswordList(t *testing.T) {
	lines := commonList(t)
	unique := map[string]bool{}
	atLeast8 := 0
	for i, line := range lines {
		if line == "" || strings.ContainsAny(line, "\r\n") || strings.TrimSpace(line) != line {
			t.Fatalf("line %d is %q: want one password, no blank lines or surrounding space", i+1, line)
		}
		unique[key(line)] = true
		if utf8.RuneCountInString(line) >= domain.DefaultMinPasswordLength {
			atLeast8++
		}
	}
	if len(unique) < 10_000 {
		t.Errorf("%d unique normalised entries, want at least 10,000", len(unique))
	}
	if len(unique) != len(lines) {
		t.Errorf("%d lines but %d unique normalised entries", len(lines), len(unique))
	}
	// ASVS 5.0 6.2.4 asks for at least the top 3,000 passwords that meet
	// the length policy; entries shorter than that can never be chosen.
	if atLeast8 < 3000 {
		t.Errorf("%d entries have at least %d characters, want at least 3,000", atLeast8, domain.DefaultMinPasswordLength)
	}
	// Ranked most common first (docs/passwords.md names the source).
	if got := lines[:3]; !slices.Equal(got, []string{"123456", "password", "12345678"}) {
		t.Errorf("first entries = %q, want the source's ranking", got)
	}

	// Every entry that fits bcrypt is refused by the list rule, as typed
	// and in upper case; with MinLength 1 no entry is too short.
	p := domain.PasswordPolicy{MinLength: 1}
	for _, line := range lines {
		if len(line) > domain.MaxPasswordBytes {
			continue
		}
		for _, pw := range []string{line, strings.ToUpper(line)} {
			err := p.Validate(pw, domain.Email{})
			if domain.ErrorMessage(err) != msgCommon {
				t.Fatalf("Validate(%q) = %v, want %q", pw, err, msgCommon)
			}
		}
	}
}

func TestValidateOfAnOrdinaryPasswordDoesNotAllocate(t *testing.T) {
	email := mustEmail(t, "alice@example.com")
	var p domain.PasswordPolicy
	if err := p.Validate("correct horse battery staple", email); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Validate("correct horse battery staple", email) }); n != 0 {
		t.Errorf("Validate of an accepted lower-case password allocates %v times per call, want 0", n)
	}
}

func FuzzPasswordPolicy(f *testing.F) {
	common := commonSet(f)
	for _, s := range []string{
		"", "a", "abcdefg", "abcdefgh", "password", "PASSWORD", "password123", "ｐａｓｓｗｏｒｄ１２３",
		"sword\ufb01sh", "ⓟⓐⓢⓢⓦⓞⓡⓓ", "correct horse battery staple", "alice-rocks-2024", "x alice@example.com",
		strings.Repeat("é", 8), strings.Repeat("😀", 7), strings.Repeat("😀", 18), strings.Repeat("😀", 19),
		strings.Repeat("a", 72), strings.Repeat("a", 73), "abc\x00def\x00gh", strings.Repeat("\xff", 8),
		"\xe2\x82", strings.Repeat("é", 36) + "a", "\u212aelvin123", "İstanbul1",
	} {
		f.Add(s, 0)
		f.Add(s, 12)
	}
	f.Add("abcdefgh", -1)
	f.Add("a", 1)
	f.Add(strings.Repeat("a", 72), 72)
	f.Add(strings.Repeat("a", 72), 73)
	alice := domain.Email{}
	if e, err := domain.ParseEmail("alice@example.com"); err == nil {
		alice = e
	} else {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, password string, minLength int) {
		minLen := minLength
		if minLen < 1 {
			minLen = domain.DefaultMinPasswordLength
		}
		lengthOK := utf8.RuneCountInString(password) >= minLen && len(password) <= domain.MaxPasswordBytes
		k := key(password)

		// With a zero email: accepted iff the length rules pass and the
		// password is not a common one.
		want := lengthOK && !common[k]
		err := domain.PasswordPolicy{MinLength: minLength}.Validate(password, domain.Email{})
		if (err == nil) != want {
			t.Fatalf("MinLength %d: Validate(%q) = %v; want accepted=%v (%d bytes, %d code points, common %v)",
				minLength, password, err, want, len(password), utf8.RuneCountInString(password), common[k])
		}
		if err != nil {
			if fields := domain.ErrorFields(err); domain.ErrorCode(err) != domain.EINVALID || len(fields) != 1 || fields[0].Field != "password" {
				t.Fatalf("Validate(%q) error %v has fields %+v", password, err, fields)
			}
			assertNoEcho(t, err, password)
		}

		// With an email, the email rule is added and nothing else changes.
		want = want && !strings.Contains(k, "alice")
		err = domain.PasswordPolicy{MinLength: minLength}.Validate(password, alice)
		if (err == nil) != want {
			t.Fatalf("MinLength %d, email %s: Validate(%q) = %v; want accepted=%v", minLength, alice, password, err, want)
		}
		if err != nil {
			assertNoEcho(t, err, password)
		}
	})
}

func BenchmarkPasswordPolicyValidate(b *testing.B) {
	email, err := domain.ParseEmail("alice@example.com")
	if err != nil {
		b.Fatal(err)
	}
	inputs := []struct {
		name, password string
		email          domain.Email
	}{
		{"ok ascii", "correct horse battery staple", domain.Email{}},
		{"ok ascii with email", "correct horse battery staple", email},
		{"ok mixed case with email", "Correct Horse Battery Staple", email},
		{"ok multibyte", strings.Repeat("😀", 18), email},
		{"ok full-width", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ", email},
		{"common", "password123", email},
		{"contains email", "alice-rocks-2024", email},
		{"too short", "abc", email},
		{"too long", strings.Repeat("a", 73), email},
	}
	var p domain.PasswordPolicy
	_ = p.Validate("warm up the list", domain.Email{})
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Validate(in.password, in.email)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	e := domain.Invalid(domain.FieldError{Field: "email", Message: "bad email"}, domain.FieldError{Field: "password", Message: "bad password"})
	if e.Code != domain.EINVALID {
		t.Errorf("code = %q", e.Code)
	}
	if e.Message != "bad email; bad password" {
		t.Errorf("message = %q, want both field messages", e.Message)
	}
	if len(e.Fields) != 2 {
		t.Errorf("fields = %+v", e.Fields)
	}
	if got := domain.Invalid().Message; got != "Validation failed" {
		t.Errorf("Invalid() message = %q", got)
	}
}

func TestMergeInvalid(t *testing.T) {
	emailErr := domain.Invalid(domain.FieldError{Field: "email", Message: "bad email"})
	pwErr := domain.Invalid(domain.FieldError{Field: "password", Message: "bad password"})
	plain := errors.New("disk on fire")
	unavailable := domain.Unavailable(io.ErrUnexpectedEOF)

	t.Run("all nil", func(t *testing.T) {
		if err := domain.MergeInvalid(nil, nil); err != nil {
			t.Errorf("MergeInvalid(nil, nil) = %v", err)
		}
		if err := domain.MergeInvalid(); err != nil {
			t.Errorf("MergeInvalid() = %v", err)
		}
	})

	t.Run("fields from both, in order", func(t *testing.T) {
		err := domain.MergeInvalid(emailErr, pwErr)
		if domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("code = %q", domain.ErrorCode(err))
		}
		want := []domain.FieldError{{Field: "email", Message: "bad email"}, {Field: "password", Message: "bad password"}}
		if got := domain.ErrorFields(err); !slices.Equal(got, want) {
			t.Errorf("fields = %+v, want %+v", got, want)
		}
		if msg := domain.ErrorMessage(err); !strings.Contains(msg, "bad email") || !strings.Contains(msg, "bad password") {
			t.Errorf("message %q does not name both problems", msg)
		}
	})

	t.Run("real validation results", func(t *testing.T) {
		_, e := domain.ParseEmail("nope")
		err := domain.MergeInvalid(e, domain.PasswordPolicy{}.Validate("short", domain.Email{}))
		fields := domain.ErrorFields(err)
		if len(fields) != 2 || fields[0].Field != "email" || fields[1].Field != "password" {
			t.Errorf("fields = %+v, want email then password", fields)
		}
	})

	t.Run("one nil", func(t *testing.T) {
		for _, args := range [][]error{{nil, pwErr}, {pwErr, nil}} {
			err := domain.MergeInvalid(args...)
			if fields := domain.ErrorFields(err); len(fields) != 1 || fields[0].Field != "password" {
				t.Errorf("MergeInvalid(%v) fields = %+v", args, fields)
			}
		}
	})

	t.Run("wrapped validation errors are merged", func(t *testing.T) {
		err := domain.MergeInvalid(fmt.Errorf("parse: %w", emailErr), pwErr)
		if fields := domain.ErrorFields(err); len(fields) != 2 {
			t.Errorf("fields = %+v, want 2", fields)
		}
	})

	t.Run("non-validation error is returned unchanged", func(t *testing.T) {
		for _, args := range [][]error{{emailErr, plain}, {plain, emailErr}, {nil, plain}} {
			if err := domain.MergeInvalid(args...); err != plain {
				t.Errorf("MergeInvalid(%v) = %v, want the plain error itself", args, err)
			}
		}
		if err := domain.MergeInvalid(emailErr, unavailable, plain); err != unavailable {
			t.Errorf("got %v, want the first non-validation error (unavailable)", err)
		}
	})
}

package domain_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd/authd/domain"
)

func TestPasswordPolicyValidate(t *testing.T) {
	tests := []struct {
		name     string
		policy   domain.PasswordPolicy
		password string
		ok       bool
		// msgContains pins why a rejected password is rejected.
		msgContains string
	}{
		{name: "8 lowercase letters, no composition rules", password: "abcdefgh", ok: true},
		{name: "a common word is not this policy's business", password: "password", ok: true},
		{name: "8 spaces", password: "        ", ok: true},
		{name: "7 characters", password: "abcdefg", msgContains: "at least 8"},
		{name: "empty", password: "", msgContains: "at least 8"},
		{name: "8 two-byte code points (16 bytes)", password: strings.Repeat("é", 8), ok: true},
		{name: "7 four-byte code points (28 bytes) are 7 characters", password: strings.Repeat("😀", 7), msgContains: "at least 8"},
		{name: "8 four-byte code points", password: strings.Repeat("😀", 8), ok: true},
		{name: "exactly 72 bytes", password: strings.Repeat("a", 72), ok: true},
		{name: "73 bytes", password: strings.Repeat("a", 73), msgContains: "72"},
		{name: "18 emoji are exactly 72 bytes", password: strings.Repeat("😀", 18), ok: true},
		{name: "19 emoji are 76 bytes", password: strings.Repeat("😀", 19), msgContains: "72"},
		{name: "1000 bytes", password: strings.Repeat("a", 1000), msgContains: "72"},
		{name: "NUL bytes inside", password: "abc\x00def\x00gh", ok: true},
		{name: "only NUL bytes", password: strings.Repeat("\x00", 8), ok: true},
		{name: "invalid UTF-8 counts byte by byte", password: strings.Repeat("\xff", 8), ok: true},
		{name: "MinLength 12 rejects 11", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 11), msgContains: "at least 12"},
		{name: "MinLength 12 accepts 12", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 12), ok: true},
		{name: "MinLength 12 counts code points", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("é", 11), msgContains: "at least 12"},
		{name: "MinLength 12 still caps at 72 bytes", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 73), msgContains: "72"},
		{name: "MinLength 1 accepts one character", policy: domain.PasswordPolicy{MinLength: 1}, password: "a", ok: true},
		{name: "MinLength 1 rejects empty", policy: domain.PasswordPolicy{MinLength: 1}, password: "", msgContains: "at least 1"},
		{name: "MinLength 0 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: 0}, password: "abcdefg", msgContains: "at least 8"},
		{name: "MinLength 0 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: 0}, password: "abcdefgh", ok: true},
		{name: "MinLength -5 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: -5}, password: "abcdefg", msgContains: "at least 8"},
		{name: "MinLength -5 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: -5}, password: "abcdefgh", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate(tt.password)
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil (%d bytes, %d code points)", tt.password, err, len(tt.password), utf8.RuneCountInString(tt.password))
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%q) = nil, want an error (%d bytes, %d code points)", tt.password, len(tt.password), utf8.RuneCountInString(tt.password))
			}
			msg := assertFieldError(t, err, "password")
			if !strings.Contains(msg, tt.msgContains) {
				t.Errorf("message %q does not mention %q", msg, tt.msgContains)
			}
			if strings.Contains(msg, tt.password) && tt.password != "" && strings.TrimSpace(tt.password) != "" {
				t.Errorf("message %q repeats the password", msg)
			}
		})
	}
}

func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{
		"", "a", "abcdefg", "abcdefgh", "password", strings.Repeat("é", 8), strings.Repeat("😀", 7),
		strings.Repeat("😀", 18), strings.Repeat("😀", 19), strings.Repeat("a", 72), strings.Repeat("a", 73),
		"abc\x00def\x00gh", strings.Repeat("\xff", 8), "\xe2\x82", strings.Repeat("é", 36) + "a",
	} {
		f.Add(s, 0)
		f.Add(s, 12)
	}
	f.Add("abcdefgh", -1)
	f.Add("a", 1)
	f.Add(strings.Repeat("a", 72), 72)
	f.Add(strings.Repeat("a", 72), 73)
	f.Fuzz(func(t *testing.T, password string, minLength int) {
		want := utf8.RuneCountInString(password) >= 8 && len(password) <= domain.MaxPasswordBytes
		err := domain.PasswordPolicy{}.Validate(password)
		if (err == nil) != want {
			t.Fatalf("default policy: Validate(%q) = %v; want accepted=%v (%d bytes, %d code points)",
				password, err, want, len(password), utf8.RuneCountInString(password))
		}
		if err != nil {
			if fields := domain.ErrorFields(err); domain.ErrorCode(err) != domain.EINVALID || len(fields) != 1 || fields[0].Field != "password" {
				t.Fatalf("Validate(%q) error %v has fields %+v", password, err, fields)
			}
		}

		minLen := minLength
		if minLen < 1 {
			minLen = domain.DefaultMinPasswordLength
		}
		want = utf8.RuneCountInString(password) >= minLen && len(password) <= domain.MaxPasswordBytes
		if err := (domain.PasswordPolicy{MinLength: minLength}).Validate(password); (err == nil) != want {
			t.Fatalf("MinLength %d: Validate(%q) = %v; want accepted=%v", minLength, password, err, want)
		}
	})
}

func BenchmarkPasswordPolicyValidate(b *testing.B) {
	inputs := []struct{ name, password string }{
		{"ok ascii", "correct horse battery staple"},
		{"ok multibyte", strings.Repeat("😀", 18)},
		{"too short", "abc"},
		{"too long", strings.Repeat("a", 73)},
	}
	var p domain.PasswordPolicy
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Validate(in.password)
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
		err := domain.MergeInvalid(e, domain.PasswordPolicy{}.Validate("short"))
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

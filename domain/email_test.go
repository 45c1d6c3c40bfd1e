package domain_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authd/authd/domain"
)

// longestEmail is exactly MaxEmailBytes (254) long and otherwise valid: a
// 64-byte local part, "@", and a 189-byte domain of labels no longer than
// 63 bytes.
var longestEmail = strings.Repeat("l", 64) + "@" +
	strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 57) + ".com"

// tooLongEmail is 255 bytes, every part otherwise valid, so the only thing
// wrong with it is the total length.
var tooLongEmail = strings.Repeat("l", 64) + "@" +
	strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 58) + ".com"

func TestParseEmailAccepts(t *testing.T) {
	if len(longestEmail) != domain.MaxEmailBytes || len(tooLongEmail) != domain.MaxEmailBytes+1 {
		t.Fatalf("fixture lengths are %d and %d", len(longestEmail), len(tooLongEmail))
	}
	tests := []struct {
		name, raw, want string
	}{
		{"ordinary", "alice@example.com", "alice@example.com"},
		{"upper case is lowered", "Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"surrounding whitespace is trimmed", " \t\n alice@example.com \r\n", "alice@example.com"},
		{"trim and lower together", "  BOB@EXAMPLE.ORG  ", "bob@example.org"},
		{"plus addressing", "alice+newsletter@example.com", "alice+newsletter@example.com"},
		{"subdomains", "a@mail.eu.example.co.uk", "a@mail.eu.example.co.uk"},
		{"punycode domain", "user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"punycode TLD", "user@xn--80ak6aa92e.xn--p1ai", "user@xn--80ak6aa92e.xn--p1ai"},
		{"hyphen and digits in labels", "x@my-host1.example2.com", "x@my-host1.example2.com"},
		{"digits in the local part", "1234567@example.com", "1234567@example.com"},
		{"alphanumeric TLD", "a@example.c0m", "a@example.c0m"},
		{"dots inside the local part", "first.middle.last@example.com", "first.middle.last@example.com"},
		{"every atext symbol", "!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com"},
		{"shortest", "a@b.co", "a@b.co"},
		{"local part of exactly 64 bytes", strings.Repeat("x", 64) + "@example.com", strings.Repeat("x", 64) + "@example.com"},
		{"domain label of exactly 63 bytes", "a@" + strings.Repeat("d", 63) + ".com", "a@" + strings.Repeat("d", 63) + ".com"},
		{"exactly 254 bytes", longestEmail, longestEmail},
		{"over 254 before trimming, 254 after", "   " + strings.ToUpper(longestEmail) + "\n", longestEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.ParseEmail(tt.raw)
			if err != nil {
				t.Fatalf("ParseEmail(%q) error = %v", tt.raw, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseEmail(%q) = %q, want %q", tt.raw, got.String(), tt.want)
			}
			if got.IsZero() {
				t.Errorf("ParseEmail(%q) returned a zero Email", tt.raw)
			}
		})
	}
}

func TestParseEmailRejects(t *testing.T) {
	tests := []struct {
		name, raw string
		// msgContains, when set, pins the reason: the case must fail for
		// this rule and not some other.
		msgContains string
		// reason is the published reason (docs/errors.md).
		reason string
	}{
		{"empty", "", "required", "field_required"},
		{"whitespace only", " \t\n ", "required", "field_required"},
		{"display name", "John <john@example.com>", "", "invalid_email"},
		{"display name, quoted", `"John Smith" <john@example.com>`, "", "invalid_email"},
		{"trailing comment", "john@example.com (John)", "", "invalid_email"},
		{"leading comment", "(John)john@example.com", "", "invalid_email"},
		{"quoted local part", `"john"@example.com`, "", "invalid_email"},
		{"quoted local part with space", `"john smith"@example.com`, "", "invalid_email"},
		{"IPv4 literal", "john@[192.168.0.1]", "", "invalid_email"},
		{"IPv6 literal", "john@[IPv6:2001:db8::1]", "", "invalid_email"},
		{"bare IPv4 address", "john@192.168.0.1", "", "invalid_email"},
		{"no dot in domain", "john@localhost", "domain", "invalid_email"},
		{"numeric TLD", "john@example.123", "domain", "invalid_email"},
		{"leading dot in local part", ".john@example.com", "", "invalid_email"},
		{"trailing dot in local part", "john.@example.com", "", "invalid_email"},
		{"double dot in local part", "jo..hn@example.com", "", "invalid_email"},
		{"leading dot in domain", "john@.example.com", "domain", "invalid_email"},
		{"trailing dot in domain", "john@example.com.", "domain", "invalid_email"},
		{"double dot in domain", "john@example..com", "domain", "invalid_email"},
		{"label starts with hyphen", "john@-example.com", "domain", "invalid_email"},
		{"label ends with hyphen", "john@example-.com", "domain", "invalid_email"},
		{"domain label of 64 bytes", "a@" + strings.Repeat("d", 64) + ".com", "domain", "invalid_email"},
		{"underscore in domain", "john@exam_ple.com", "domain", "invalid_email"},
		{"local part of 65 bytes", strings.Repeat("x", 65) + "@example.com", "64", "email_too_long"},
		{"255 bytes", tooLongEmail, "254", "email_too_long"},
		{"far too long", strings.Repeat("a", 1000) + "@example.com", "254", "email_too_long"},
		{"two @", "john@doe@example.com", "single address", "invalid_email"},
		{"adjacent @@", "john@@example.com", "single address", "invalid_email"},
		{"space in local part", "john smith@example.com", "", "invalid_email"},
		{"space in domain", "john@exam ple.com", "", "invalid_email"},
		{"tab inside", "john\t@example.com", "", "invalid_email"},
		{"NUL inside", "john\x00@example.com", "", "invalid_email"},
		{"NUL at the end (not trimmed)", "john@example.com\x00", "", "invalid_email"},
		{"no @", "johnexample.com", "", "invalid_email"},
		{"nothing before @", "@example.com", "", "invalid_email"},
		{"nothing after @", "john@", "", "invalid_email"},
		{"non-ASCII local part", "jöhn@example.com", "", "email_not_ascii"},
		{"non-ASCII domain (not punycode)", "john@bücher.de", "", "email_not_ascii"},
		{"two addresses", "a@example.com,b@example.com", "", "invalid_email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.ParseEmail(tt.raw)
			if err == nil {
				t.Fatalf("ParseEmail(%q) = %q, want an error", tt.raw, got.String())
			}
			if !got.IsZero() {
				t.Errorf("ParseEmail(%q) returned non-zero Email %q with its error", tt.raw, got.String())
			}
			msg := assertFieldError(t, err, "email")
			if got := domain.ErrorFields(err)[0].Reason; got != tt.reason {
				t.Errorf("ParseEmail(%q) reason = %q, want %q", tt.raw, got, tt.reason)
			}
			if got := domain.ErrorReason(err); got != tt.reason {
				t.Errorf("ParseEmail(%q) ErrorReason = %q, want the field's %q", tt.raw, got, tt.reason)
			}
			if tt.msgContains != "" && !strings.Contains(msg, tt.msgContains) {
				t.Errorf("ParseEmail(%q) message %q does not mention %q", tt.raw, msg, tt.msgContains)
			}
		})
	}
}

// assertFieldError checks err is a *domain.Error with code EINVALID and
// exactly one field error, for field, and returns that field's message.
func assertFieldError(t *testing.T, err error, field string) string {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *domain.Error", err, err)
	}
	if de.Code != domain.EINVALID {
		t.Errorf("code = %q, want %q", de.Code, domain.EINVALID)
	}
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("ErrorCode = %q, want %q", domain.ErrorCode(err), domain.EINVALID)
	}
	if len(de.Fields) != 1 {
		t.Fatalf("fields = %+v, want exactly one", de.Fields)
	}
	if de.Fields[0].Field != field {
		t.Errorf("field = %q, want %q", de.Fields[0].Field, field)
	}
	if de.Fields[0].Message == "" {
		t.Errorf("field error for %q has no message", field)
	}
	if de.Message != de.Fields[0].Message {
		t.Errorf("error message %q differs from its only field message %q", de.Message, de.Fields[0].Message)
	}
	return de.Fields[0].Message
}

func TestEmailZeroValue(t *testing.T) {
	var e domain.Email
	if !e.IsZero() || e.String() != "" {
		t.Errorf("zero Email: IsZero = %v, String = %q", e.IsZero(), e.String())
	}
	a, err := domain.ParseEmail("A@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.ParseEmail("a@example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two spellings of one address differ: %q vs %q", a, b)
	}
}

func FuzzParseEmail(f *testing.F) {
	seeds := []string{
		"", " ", "a@b.co", "alice@example.com", " Alice@Example.COM ", "alice+tag@example.com",
		"a@mail.sub.example.co.uk", "user@xn--bcher-kva.example", "user@xn--80ak6aa92e.xn--p1ai",
		"John <john@example.com>", "john@example.com (John)", `"john"@example.com`,
		"john@[192.168.0.1]", "john@192.168.0.1", "john@localhost", "john@example.123",
		".john@example.com", "john.@example.com", "jo..hn@example.com", "john@example..com",
		"john@example.com.", "john@doe@example.com", "john smith@example.com", "@", "@@", ".@.",
		strings.Repeat("x", 64) + "@example.com", strings.Repeat("x", 65) + "@example.com",
		longestEmail, tooLongEmail, " " + longestEmail + " ",
		"jöhn@example.com", "john@bücher.de", "\xff@example.com", "john@example.com\x00",
		// Non-ASCII letters whose lower case is ASCII (KELVIN SIGN -> k)
		// or longer than the original (İ -> i̇).
		"\u212aate@example.com", "\u0130@example.com", "a@EXAMPLE.\u212aZ",
		"\u00a0a@example.com\u00a0", "\u2028a@example.com\u2029",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := domain.ParseEmail(raw)
		if err != nil {
			if !e.IsZero() {
				t.Fatalf("ParseEmail(%q) returned %q with error %v", raw, e.String(), err)
			}
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Fatalf("ParseEmail(%q) error code %q, want %q", raw, domain.ErrorCode(err), domain.EINVALID)
			}
			fields := domain.ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != "email" {
				t.Fatalf("ParseEmail(%q) fields = %+v", raw, fields)
			}
			return
		}
		for _, r := range strings.TrimSpace(raw) {
			if r >= 0x80 {
				t.Fatalf("ParseEmail(%q) accepted non-ASCII input as %q", raw, e.String())
			}
		}
		s := e.String()
		if e.IsZero() || s == "" {
			t.Fatalf("ParseEmail(%q) succeeded with a zero Email", raw)
		}
		if s != strings.ToLower(s) {
			t.Fatalf("ParseEmail(%q) = %q, not lower-case", raw, s)
		}
		if s != strings.TrimSpace(s) {
			t.Fatalf("ParseEmail(%q) = %q, not trimmed", raw, s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf || s[i] <= ' ' {
				t.Fatalf("ParseEmail(%q) = %q, has byte %#x (non-ASCII, space or control)", raw, s, s[i])
			}
		}
		if len(s) > domain.MaxEmailBytes {
			t.Fatalf("ParseEmail(%q) = %q, %d bytes", raw, s, len(s))
		}
		if strings.Count(s, "@") != 1 {
			t.Fatalf("ParseEmail(%q) = %q, want exactly one @", raw, s)
		}
		local, host, _ := strings.Cut(s, "@")
		if local == "" || len(local) > domain.MaxEmailLocalPart {
			t.Fatalf("ParseEmail(%q) = %q, local part of %d bytes", raw, s, len(local))
		}
		if !strings.Contains(host, ".") {
			t.Fatalf("ParseEmail(%q) = %q, domain without a dot", raw, s)
		}
		again, err := domain.ParseEmail(s)
		if err != nil {
			t.Fatalf("ParseEmail(%q) = %q, but that is rejected: %v", raw, s, err)
		}
		if again != e {
			t.Fatalf("ParseEmail not idempotent: %q -> %q -> %q", raw, s, again.String())
		}
		upper, err := domain.ParseEmail(" " + strings.ToUpper(s) + "\t")
		if err != nil || upper != e {
			t.Fatalf("ParseEmail of upper-cased, padded %q = %q, %v; want %q", s, upper.String(), err, s)
		}
	})
}

func BenchmarkParseEmail(b *testing.B) {
	inputs := []struct{ name, raw string }{
		{"valid", "  Alice.Smith+news@Mail.Example.COM "},
		{"invalid", "John <john@example.com>"},
		{"longest", longestEmail},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = domain.ParseEmail(in.raw)
			}
		})
	}
}

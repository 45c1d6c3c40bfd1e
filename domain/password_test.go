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
	msgNotUTF8     = "Password must be valid UTF-8 text"
	msgCommon      = "Password is among the most commonly used passwords; choose another"
	msgCommonAdded = "Password is a commonly used password with digits or symbols added at the end; choose another"
	msgRepeated    = "Password is mostly one character or a short group of characters repeated (like aaaaaaaa or abcabcabc); choose another"
	msgSequential  = "Password is mostly a run of consecutive letters or digits (like 12345678 or abcdefgh); choose another"
	msgHasEmail    = "Password must not contain your email address or the name before its @"
)

// fixedMessages are the messages that carry no numbers.
var fixedMessages = []string{msgNotUTF8, msgCommon, msgCommonAdded, msgRepeated, msgSequential, msgHasEmail}

// the72 is 72 ASCII bytes with no repeats or sequences.
const the72 = "The quick brown fox jumps over the lazy dog; pack my box with 5 dozen!!?"

// emoji returns n distinct emoji (4 bytes each), consecutive code points:
// sequences are ASCII-only, so they form none.
func emoji(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteRune(rune(0x1F600 + i))
	}
	return b.String()
}

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
		// Length.
		{name: "8 lowercase letters, no composition rules", password: "kqzvmwtx"},
		{name: "8 spaces are one character repeated", password: "        ", wantMsg: msgRepeated},
		{name: "8 characters with spaces", password: "k q z v "},
		{name: "7 characters", password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "empty", password: "", wantMsg: "Password must be at least 8 characters"},
		{name: "8 two-byte code points (16 bytes)", password: "éàçñöüßø"},
		{name: "7 four-byte code points (28 bytes) are 7 characters", password: strings.Repeat("😀", 7), wantMsg: "Password must be at least 8 characters"},
		{name: "8 four-byte code points", password: emoji(8)},
		{name: "exactly 72 bytes", password: the72},
		{name: "73 bytes", password: strings.Repeat("a", 73), wantMsg: "Password must be at most 72 bytes (it is 73 bytes long)"},
		{name: "18 emoji are exactly 72 bytes", password: emoji(18)},
		{name: "19 emoji are 76 bytes", password: strings.Repeat("😀", 19), wantMsg: "Password must be at most 72 bytes (it is 76 bytes long)"},
		{name: "1000 bytes", password: strings.Repeat("a", 1000), wantMsg: "Password must be at most 72 bytes (it is 1000 bytes long)"},
		{name: "NUL bytes inside", password: "abc\x00def\x00gh"},
		{name: "only NUL bytes are one character repeated", password: strings.Repeat("\x00", 8), wantMsg: msgRepeated},
		{name: "NUL bytes between letters", password: "k\x00q\x00z\x00v\x00"},
		{name: "MinLength 12 rejects 11", policy: domain.PasswordPolicy{MinLength: 12}, password: "elevenchars", wantMsg: "Password must be at least 12 characters"},
		{name: "MinLength 12 accepts 12", policy: domain.PasswordPolicy{MinLength: 12}, password: "kqzvmwtxbrlp"},
		{name: "MinLength 12 counts code points", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("é", 11), wantMsg: "Password must be at least 12 characters"},
		{name: "MinLength 12 still caps at 72 bytes", policy: domain.PasswordPolicy{MinLength: 12}, password: strings.Repeat("a", 73), wantMsg: "Password must be at most 72 bytes (it is 73 bytes long)"},
		{name: "MinLength 1 accepts one character", policy: domain.PasswordPolicy{MinLength: 1}, password: "a"},
		{name: "MinLength 1 rejects empty", policy: domain.PasswordPolicy{MinLength: 1}, password: "", wantMsg: "Password must be at least 1 characters"},
		{name: "MinLength 0 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: 0}, password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "MinLength 0 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: 0}, password: "kqzvmwtx"},
		{name: "MinLength -5 means 8: rejects 7", policy: domain.PasswordPolicy{MinLength: -5}, password: "abcdefg", wantMsg: "Password must be at least 8 characters"},
		{name: "MinLength -5 means 8: accepts 8", policy: domain.PasswordPolicy{MinLength: -5}, password: "kqzvmwtx"},

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
		{name: "common entry inside a passphrase is not an entry", password: "my password is long"},
		{name: "common entry followed by letters is not an entry", password: "password horse"},

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

		// Invalid UTF-8 is refused before anything else, however long.
		{name: "utf-8: one invalid byte", password: "kqzvmwtx\xff", wantMsg: msgNotUTF8},
		{name: "utf-8: only invalid bytes", password: strings.Repeat("\xff", 8), wantMsg: msgNotUTF8},
		{name: "utf-8: truncated sequence", password: "kqzvmwt\xc3", wantMsg: msgNotUTF8},
		{name: "utf-8: encoded surrogate", password: "kqzvmwtx\xed\xa0\x80", wantMsg: msgNotUTF8},
		{name: "utf-8: overlong slash", password: "kqzvmwtx\xc0\xaf", wantMsg: msgNotUTF8},
		{name: "utf-8: beyond U+10FFFF", password: "kqzvmwtx\xf4\x90\x80\x80", wantMsg: msgNotUTF8},
		{name: "utf-8: before length", password: "\xff", wantMsg: msgNotUTF8},
		{name: "utf-8: before the byte limit", password: strings.Repeat("\xff", 100), wantMsg: msgNotUTF8},
		{name: "utf-8: U+FFFD itself is a character", password: "kqzv\ufffdmwt"},

		// Lengths are measured on the normalised form.
		{name: "normalised: 7 NFD letters with accents are 7 characters", password: strings.Repeat("e\u0301", 4) + "kqz", wantMsg: "Password must be at least 8 characters"},
		{name: "normalised: 8 NFD letters with accents are 8 characters", password: "e\u0301a\u0300kqzvmw"},
		{name: "normalised: a ligature that expands to 33 bytes", password: "kqzv\ufdfa\ufdfa\ufdfa", wantMsg: "Password must be at most 72 bytes (it is 103 bytes long)"},
		{name: "normalised: full-width digits count as one character each", password: "kq１２", wantMsg: "Password must be at least 8 characters"},

		// A common password followed by digits, symbols or spaces.
		{name: "added: digits", password: "password1234567", wantMsg: msgCommonAdded},
		{name: "added: space and digits", password: "password 123", wantMsg: msgCommonAdded},
		{name: "added: digits and punctuation", password: "Dragon2024!", wantMsg: msgCommonAdded},
		{name: "added: symbols only", password: "dragon!!!", wantMsg: msgCommonAdded},
		{name: "added: emoji", password: "dragon" + emoji(2), wantMsg: msgCommonAdded},
		{name: "added: full-width", password: "ｐａｓｓｗｏｒｄ１２３４５６７", wantMsg: msgCommonAdded},
		{name: "added: upper case", password: "PASSWORD1234567", wantMsg: msgCommonAdded},
		{name: "added: 4-character stem applies", password: "love-83920571", wantMsg: msgCommonAdded},
		{name: "added: 3-character stem does not apply", password: "sex-83920571"},
		{name: "added: prefix is not looked at", password: "83920571-dragon"},
		{name: "added: letters after the digits end the suffix", password: "dragon2024x"},
		{name: "added: uncommon stem", password: "tulipquartz2024!"},

		// Repeats: a unit of 1 to 4 characters, two or more times.
		{name: "repeated: one letter", password: "aaaaaaaa", wantMsg: msgRepeated},
		{name: "repeated: upper and lower case alike", password: "aAaAaAaA", wantMsg: msgRepeated},
		{name: "repeated: three letters", password: "abcabcabc", wantMsg: msgRepeated},
		{name: "repeated: two digits", password: "12121212", wantMsg: msgRepeated},
		{name: "repeated: four digits", password: "12341234", wantMsg: msgRepeated},
		{name: "repeated: non-ASCII", password: "éàéàéàéà", wantMsg: msgRepeated},
		{name: "repeated: NFD and NFC alike", password: "e\u0301\u00e9e\u0301\u00e9e\u0301\u00e9e\u0301\u00e9", wantMsg: msgRepeated},
		{name: "repeated: 6 of 8 is three quarters", password: "aaaaaa12", wantMsg: msgRepeated},
		{name: "repeated: 5 of 8 is less", password: "aaaaa12x"},
		{name: "repeated: 9 of 12", password: "xyzxyzxyz!k#", wantMsg: msgRepeated},
		{name: "repeated: 8 of 12 is less", password: "qwrtqwrt!k#p"},
		{name: "repeated: a unit of 4 needs two full copies", password: "abcdabc!k#"},
		{name: "repeated: a unit of 5 does not count as a pattern", password: "kqzvmkqzvmx"},
		{name: "repeated: whole password, unit shorter than MinLength", password: "sunsetsunset", wantMsg: msgRepeated},
		{name: "repeated: whole password, unit as long as MinLength", password: "kqzvmwtxkqzvmwtx"},
		{name: "repeated: whole password, unit shorter than MinLength 12", policy: domain.PasswordPolicy{MinLength: 12}, password: "kqzvmwtxkqzvmwtx", wantMsg: msgRepeated},
		{name: "repeated: pairs of letters are not a pattern", password: "bookkeeper"},

		// Sequences: ASCII letters or digits, one apart, up or down.
		{name: "sequential: letters", password: "abcdefgh", wantMsg: msgSequential},
		{name: "sequential: descending digits", password: "87654321", wantMsg: msgSequential},
		{name: "sequential: descending letters", password: "zyxwvuts", wantMsg: msgSequential},
		{name: "sequential: upper case", password: "ABCDEFGH", wantMsg: msgSequential},
		{name: "sequential: full-width digits", password: "８７６５４３２１", wantMsg: msgSequential},
		{name: "sequential: digits then letters", password: "12345678abc", wantMsg: msgSequential},
		{name: "sequential: up then down", password: "345676543", wantMsg: msgSequential},
		{name: "sequential: no wrap from 9 to 0", password: "0987654321", wantMsg: msgSequential},
		{name: "sequential: 6 of 8 is three quarters", password: "abcdef!k", wantMsg: msgSequential},
		{name: "sequential: 5 of 8 is less", password: "abcde!kq"},
		{name: "sequential: runs of 2 do not count", password: "ab!de!gh"},
		{name: "sequential: letter to digit is no step", password: "xyz-correct"},
		{name: "sequential: non-ASCII code points are not a sequence", password: emoji(10)},
		{name: "sequential: steps of 2 are not a sequence", password: "13579bdf"},
		{name: "pattern: repeats and sequences together", password: "aaaa1234", wantMsg: msgRepeated},
		{name: "pattern: sequences cover more", password: "zzz345678", wantMsg: msgSequential},

		// Reasonable passwords and passphrases pass.
		{name: "passes: correct horse battery", password: "correct horse battery"},
		{name: "passes: Tr0ub4dor&3", password: "Tr0ub4dor&3"},
		{name: "passes: words with abc, rst, stu and def", password: "first study undefined abc"},
		{name: "passes: a sequence in a passphrase", password: "12345678 tulip quartz harbor"},
		{name: "passes: a repeat in a passphrase", password: "aaaaaaaa tulip quartz harbor"},

		// Ordering: UTF-8, length, the list, the list with a suffix,
		// patterns, the email.
		{name: "order: common before pattern", password: "12345678", wantMsg: msgCommon},
		{name: "order: added before pattern", password: "abcxyz123", wantMsg: msgCommonAdded},
		{name: "order: short and a pattern", password: "aaaaaaa", wantMsg: "Password must be at least 8 characters"},
		{name: "order: pattern before the email", email: "abcd@example.com", password: "abcdefghij", wantMsg: msgSequential},
		{name: "order: added before the email", email: "dragon@example.com", password: "dragon2024!", wantMsg: msgCommonAdded},
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
			if (tt.wantMsg == msgCommon) != inList && tt.wantMsg != msgNotUTF8 && !lengthMessage.MatchString(tt.wantMsg) {
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
			want := reasonOf(tt.wantMsg)
			if got := domain.ErrorFields(err)[0].Reason; got != want {
				t.Errorf("field reason = %q, want %q", got, want)
			}
			if got := domain.ErrorReason(err); got != want {
				t.Errorf("ErrorReason = %q, want the field's %q", got, want)
			}
			assertNoEcho(t, err, tt.password)
		})
	}
}

// reasonOf is the reason published for a refusal with message msg
// (docs/errors.md), spelled out so a renamed constant fails here.
func reasonOf(msg string) string {
	switch msg {
	case msgNotUTF8:
		return "password_not_utf8"
	case msgCommon, msgCommonAdded:
		return "password_too_common"
	case msgRepeated:
		return "password_repeated"
	case msgSequential:
		return "password_sequential"
	case msgHasEmail:
		return "password_contains_email"
	}
	if strings.HasPrefix(msg, "Password must be at most") {
		return "password_too_long"
	}
	if strings.HasPrefix(msg, "Password must be at least") {
		return "password_too_short"
	}
	return "no reason for " + msg
}

// assertNoEcho checks that the error's message is one of the policy's
// fixed messages, so it cannot carry any part of the password. (A plain
// substring check would not do: "password" is in "passwords".)
func assertNoEcho(t testing.TB, err error, password string) {
	t.Helper()
	msg := domain.ErrorMessage(err)
	if !slices.Contains(fixedMessages, msg) && !lengthMessage.MatchString(msg) {
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
		"password1234567", "Dragon2024!", "aaaaaa12", "aaaaa12x", "12345678abc", "87654321", "sunsetsunset",
		"e\u0301e\u0301e\u0301e\u0301kqzv", "kqzv\ufdfa", "Tr0ub4dor&3", "alice2024", "abcdalice",
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
	// The rules after the list may refuse with these messages only.
	pattern := []string{msgCommonAdded, msgRepeated, msgSequential}
	f.Fuzz(func(t *testing.T, password string, minLength int) {
		minLen := minLength
		if minLen < 1 {
			minLen = domain.DefaultMinPasswordLength
		}
		policy := domain.PasswordPolicy{MinLength: minLength}
		err := policy.Validate(password, domain.Email{})
		if err != nil {
			if fields := domain.ErrorFields(err); domain.ErrorCode(err) != domain.EINVALID || len(fields) != 1 || fields[0].Field != "password" {
				t.Fatalf("Validate(%q) error %v has fields %+v", password, err, fields)
			}
			assertNoEcho(t, err, password)
		}
		msg := ""
		if err != nil {
			msg = domain.ErrorMessage(err)
		}
		withEmail := policy.Validate(password, alice)
		emailMsg := ""
		if withEmail != nil {
			emailMsg = domain.ErrorMessage(withEmail)
			assertNoEcho(t, withEmail, password)
		}

		// Invalid UTF-8 is refused first, with and without an email.
		if !utf8.ValidString(password) {
			if msg != msgNotUTF8 || emailMsg != msgNotUTF8 {
				t.Fatalf("Validate(%q) = %q, %q; want %q", password, msg, emailMsg, msgNotUTF8)
			}
			if _, err := domain.NormalizePassword(password); domain.ErrorMessage(err) != msgNotUTF8 {
				t.Fatalf("NormalizePassword(%q) error %v", password, err)
			}
			return
		}
		normal := norm.NFKC.String(password)
		if n, err := domain.NormalizePassword(password); err != nil || n != normal {
			t.Fatalf("NormalizePassword(%q) = %q, %v; want %q", password, n, err, normal)
		}
		// Every rule looks at the normalised form, so the password and
		// its normalised, NFC and NFD spellings are judged alike.
		for _, same := range []string{normal, norm.NFC.String(password), norm.NFD.String(password)} {
			got := ""
			if err := policy.Validate(same, domain.Email{}); err != nil {
				got = domain.ErrorMessage(err)
			}
			if got != msg {
				t.Fatalf("Validate(%q) = %q but Validate(%q) = %q", password, msg, same, got)
			}
		}

		// The length rules and the list are decided exactly; the rules
		// after them only ever refuse with their own messages.
		k := key(password)
		lengthOK := utf8.RuneCountInString(normal) >= minLen && len(normal) <= domain.MaxPasswordBytes
		switch {
		case !lengthOK:
			if !lengthMessage.MatchString(msg) || emailMsg != msg {
				t.Fatalf("MinLength %d: Validate(%q) = %q, %q; want a length message (%d bytes, %d code points normalised)",
					minLength, password, msg, emailMsg, len(normal), utf8.RuneCountInString(normal))
			}
		case common[k]:
			if msg != msgCommon || emailMsg != msgCommon {
				t.Fatalf("Validate(%q) = %q, %q; want %q", password, msg, emailMsg, msgCommon)
			}
		default:
			if msg != "" && !slices.Contains(pattern, msg) {
				t.Fatalf("Validate(%q) = %q; want nil or one of %q", password, msg, pattern)
			}
			// The email rule comes last and changes nothing else.
			want := msg
			if msg == "" && strings.Contains(k, "alice") {
				want = msgHasEmail
			}
			if emailMsg != want {
				t.Fatalf("email %s: Validate(%q) = %q; want %q", alice, password, emailMsg, want)
			}
		}
	})
}

func TestNormalizePassword(t *testing.T) {
	same := []struct{ name, a, b string }{
		{"NFC and NFD é", "caf\u00e9 au lait", "cafe\u0301 au lait"},
		{"NFC and NFD Hangul", "\ud55c\uae00 password", "\u1112\u1161\u11ab\u1100\u1173\u11af password"},
		{"Ångström sign and Å", "\u212bngstr\u00f6m", "\u00c5ngstr\u00f6m"},
		{"full-width and ASCII", "ｋｑｚｖ１２３", "kqzv123"},
		{"ligature and letters", "\ufb01sh and chips", "fish and chips"},
		{"NFD with two marks in either order", "a\u0323\u0302", "a\u0302\u0323"},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == tt.b {
				t.Fatal("fixture: the two spellings are the same bytes")
			}
			na, errA := domain.NormalizePassword(tt.a)
			nb, errB := domain.NormalizePassword(tt.b)
			if errA != nil || errB != nil {
				t.Fatalf("errors %v, %v", errA, errB)
			}
			if na != nb {
				t.Errorf("NormalizePassword(%q) = %q, NormalizePassword(%q) = %q; want equal", tt.a, na, tt.b, nb)
			}
			if !norm.NFKC.IsNormalString(na) {
				t.Errorf("%q is not NFKC", na)
			}
			if again, _ := domain.NormalizePassword(na); again != na {
				t.Errorf("not idempotent: %q then %q", na, again)
			}
		})
	}

	t.Run("case and ASCII are kept", func(t *testing.T) {
		for _, pw := range []string{"PassWord 123!", "Tr0ub4dor&3", "a\x00b", ""} {
			if got, err := domain.NormalizePassword(pw); err != nil || got != pw {
				t.Errorf("NormalizePassword(%q) = %q, %v; want it unchanged", pw, got, err)
			}
		}
	})

	t.Run("different passwords stay different", func(t *testing.T) {
		a, _ := domain.NormalizePassword("caf\u00e9")
		b, _ := domain.NormalizePassword("cafe")
		c, _ := domain.NormalizePassword("CAF\u00c9")
		if a == b || a == c {
			t.Errorf("%q, %q, %q: want three different forms", a, b, c)
		}
	})

	t.Run("invalid UTF-8 is refused", func(t *testing.T) {
		// Ten byte strings that a decoder replacing bad bytes with U+FFFD
		// would all turn into the same password "kqzv\ufffd...".
		bad := []string{
			"kqzv\xff", "kqzv\xfe", "kqzv\x80", "kqzv\xc3", "kqzv\xe2\x82",
			"kqzv\xed\xa0\x80", "kqzv\xed\xbf\xbf", "kqzv\xc0\xaf", "kqzv\xf4\x90\x80\x80", "kqzv\xf8\x88\x80\x80\x80",
		}
		for _, pw := range bad {
			if utf8.ValidString(pw) {
				t.Fatalf("fixture %q is valid UTF-8", pw)
			}
			got, err := domain.NormalizePassword(pw)
			if got != "" || domain.ErrorCode(err) != domain.EINVALID {
				t.Fatalf("NormalizePassword(%q) = %q, %v; want an EINVALID error", pw, got, err)
			}
			want := []domain.FieldError{{Field: "password", Reason: "password_not_utf8", Message: msgNotUTF8}}
			if fields := domain.ErrorFields(err); !slices.Equal(fields, want) {
				t.Errorf("NormalizePassword(%q) fields = %+v, want %+v", pw, fields, want)
			}
			// It merges with an email error like any validation error.
			_, emailErr := domain.ParseEmail("nope")
			if fields := domain.ErrorFields(domain.MergeInvalid(emailErr, err)); len(fields) != 2 || fields[1].Field != "password" {
				t.Errorf("merged fields = %+v", fields)
			}
		}
	})
}

func TestNormalizePasswordOfASCIIDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = domain.NormalizePassword("correct horse battery staple") }); n != 0 {
		t.Errorf("NormalizePassword of ASCII allocates %v times per call, want 0", n)
	}
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

func TestErrPasswordNotUTF8(t *testing.T) {
	want := []domain.FieldError{{Field: "password", Reason: "password_not_utf8", Message: msgNotUTF8}}
	if domain.ErrorCode(domain.ErrPasswordNotUTF8) != domain.EINVALID || !slices.Equal(domain.ErrorFields(domain.ErrPasswordNotUTF8), want) {
		t.Errorf("ErrPasswordNotUTF8 = %v, fields %+v", domain.ErrPasswordNotUTF8, domain.ErrorFields(domain.ErrPasswordNotUTF8))
	}
	err := domain.PasswordPolicy{}.Validate("kqzvmwtx\xff", domain.Email{})
	if domain.ErrorMessage(err) != domain.ErrorMessage(domain.ErrPasswordNotUTF8) || !slices.Equal(domain.ErrorFields(err), want) {
		t.Errorf("Validate of invalid UTF-8 = %v, want the same answer as ErrPasswordNotUTF8", err)
	}
}

package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/adapters/mail"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func TestFileWritesParseableEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox", "mail") // created on demand
	r, _ := mail.NewRenderer("")
	f, err := mail.NewFile(dir, "authd <no-reply@example.com>", r)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", fi.Mode(), err)
	}
	at := time.Date(2026, 12, 3, 9, 55, 1, 123456789, time.UTC)
	f.Now = func() time.Time { return at }
	// Same instant twice: the names must still differ.
	for range 2 {
		if err := f.Send(context.Background(), verifyMail()); err != nil {
			t.Fatal(err)
		}
	}
	f.Now = func() time.Time { return at.Add(time.Second) }
	if err := f.Send(context.Background(), verifyMail()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Fatalf("files %v, want 3 (and no temporary file left)", names)
	}
	sort.Strings(names)
	for i, n := range names {
		prefix := "20261203T095501.123456789Z-"
		if i == 2 {
			prefix = "20261203T095502.123456789Z-"
		}
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ".eml") {
			t.Errorf("name %q, want %s<random>.eml", n, prefix)
		}
		fi, _ := os.Stat(filepath.Join(dir, n))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", n, fi.Mode().Perm())
		}
		raw, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		checkMessage(t, raw)
	}
	if names[0] == names[1] {
		t.Error("names collide")
	}
}

func TestFileUnknownTemplateWritesNothing(t *testing.T) {
	dir := t.TempDir()
	r, _ := mail.NewRenderer("")
	f, err := mail.NewFile(dir, "no-reply@example.com", r)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Send(context.Background(), ports.Mail{To: "ann@example.com", Template: "nope"})
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("err %v, want EINVALID", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

// TestPlainASCIIMailIsReadableRaw: the embedded templates are ASCII, so
// a message is unencoded (8bit) and its link stands on one line of the raw file (a
// newcomer finds it with grep); a template with non-ASCII text is
// quoted-printable and still decodes to the same link.
func TestPlainASCIIMailIsReadableRaw(t *testing.T) {
	for name, templates := range map[string]string{"embedded": "", "non-ASCII override": nonASCIITemplates(t)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := mail.NewRenderer(templates)
			if err != nil {
				t.Fatal(err)
			}
			f, err := mail.NewFile(dir, "authd <no-reply@example.com>", r)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Send(context.Background(), verifyMail()); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			raw, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
			if err != nil {
				t.Fatal(err)
			}
			link := verifyMail().Data["link"]
			sevenBit := strings.Contains(string(raw), "Content-Transfer-Encoding: 8bit")
			if want := templates == ""; sevenBit != want || strings.Contains(string(raw), link) != want {
				t.Errorf("8bit %v, link on one raw line %v; want %v:\n%s", sevenBit, strings.Contains(string(raw), link), want, raw)
			}
			checkMessage(t, raw)
		})
	}
}

// nonASCIITemplates writes a verify_email override with non-ASCII text.
func nonASCIITemplates(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"verify_email.txt":  "{{define \"subject\"}}Confirm your email address{{end}}Grüße: {{.link}}\n",
		"verify_email.html": "{{define \"subject\"}}Confirm your email address{{end}}<p>Grüße: <a href=\"{{.link}}\">{{.link}}</a></p>\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

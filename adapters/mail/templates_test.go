package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/adapters/mail"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

func sampleData() map[string]string {
	return map[string]string{
		"link":      "https://app.example.com/verify-email?token=tok123",
		"email":     "ann@example.com",
		"new_email": "ann.new@example.com",
	}
}

func TestEveryTemplateRendersBothForms(t *testing.T) {
	r, err := mail.NewRenderer("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ports.Templates {
		t.Run(name, func(t *testing.T) {
			m, err := r.Render(name, sampleData())
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q: want one non-empty line", m.Subject)
			}
			if strings.TrimSpace(m.Text) == "" || !strings.Contains(m.HTML, "<html>") {
				t.Errorf("empty form: text %q html %q", m.Text, m.HTML)
			}
			for _, form := range []string{m.Text, m.HTML} {
				if strings.Contains(form, "<no value>") {
					t.Errorf("a missing key printed <no value>: %q", form)
				}
			}
			// The link, where the template shows it, is the one given,
			// unchanged (the query's = is not escaped away).
			if strings.Contains(m.Text, "https://") && !strings.Contains(m.Text, sampleData()["link"]) {
				t.Errorf("text has a link other than Data[link]: %q", m.Text)
			}
			if strings.Contains(m.HTML, "https://") && !strings.Contains(m.HTML, `href="https://app.example.com/verify-email?token=tok123"`) {
				t.Errorf("html has a link other than Data[link]: %q", m.HTML)
			}
		})
	}
}

func TestLinkTemplatesShowTheLink(t *testing.T) {
	r, _ := mail.NewRenderer("")
	for _, name := range []string{ports.TemplateVerifyEmail, ports.TemplateResetPassword, ports.TemplateEmailChange} {
		m, err := r.Render(name, sampleData())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, sampleData()["link"]) || !strings.Contains(m.HTML, sampleData()["link"]) {
			t.Errorf("%s: link missing", name)
		}
		delete := sampleData()
		delete["link"] = ""
		if _, err := r.Render(name, delete); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%s without link: err %v, want EINVALID", name, err)
		}
	}
}

func TestHTMLEscapesHostileData(t *testing.T) {
	r, _ := mail.NewRenderer("")
	data := sampleData()
	data["email"] = `<script>alert(1)</script>@example.com`
	data["new_email"] = `"><img src=x onerror=alert(1)>`
	data["link"] = `javascript:alert(1)`
	for _, name := range ports.Templates {
		m, err := r.Render(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<script>", "<img", `href="javascript`} {
			if strings.Contains(m.HTML, bad) {
				t.Errorf("%s: html contains %q unescaped: %s", name, bad, m.HTML)
			}
		}
	}
	m, _ := r.Render(ports.TemplateVerifyEmail, data)
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("html does not show the escaped value: %s", m.HTML)
	}
	if !strings.Contains(m.Text, "<script>") {
		t.Errorf("text should carry the value as is: %s", m.Text)
	}
}

func TestUnknownTemplateIsInvalid(t *testing.T) {
	r, _ := mail.NewRenderer("")
	if _, err := r.Render("nope", nil); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("err %v, want EINVALID", err)
	}
}

func TestDirectoryOverridesTemplate(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "verify_email.txt"), `{{define "subject"}}Custom {{.email}}{{end}}Go to {{.link}} now`)
	write(t, filepath.Join(dir, "unrelated.txt"), `{{ broken`)
	r, err := mail.NewRenderer(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Render(ports.TemplateVerifyEmail, sampleData())
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Custom ann@example.com" || m.Text != "Go to "+sampleData()["link"]+" now" {
		t.Errorf("override not used: %+v", m)
	}
	// The HTML form, not overridden, is still the embedded one.
	if !strings.Contains(m.HTML, "Confirm my email address") {
		t.Errorf("html: %s", m.HTML)
	}
}

func TestDirectoryTemplateThatDoesNotParseIsRefused(t *testing.T) {
	for file, src := range map[string]string{
		"reset_password.html": `<p>{{.link</p>`,
		"reset_password.txt":  `{{define "subject"}}x{{end}}{{if}}`,
		"email_changed.txt":   `no subject block {{.email}}`,
	} {
		dir := t.TempDir()
		write(t, filepath.Join(dir, file), src)
		_, err := mail.NewRenderer(dir)
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: err %v, want one naming the file", file, err)
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

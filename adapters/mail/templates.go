// Package mail holds the adapters of ports.Mailer: SMTP (through
// github.com/wneessen/go-mail) and a directory of .eml files for
// development, and the templates both render.
//
// Each template in ports.Templates has a plain-text form (templates/NAME.txt,
// text/template) and an HTML form (templates/NAME.html, html/template,
// which escapes the data). The text form defines the subject line in a
// {{define "subject"}} block. Data values are plain strings; links come
// from Data["link"], built by the flows: the templates never invent URLs.
package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

//go:embed templates/*.txt templates/*.html
var embedded embed.FS

// linkTemplates need Data["link"]: a message asking the reader to open a
// link is useless without it.
var linkTemplates = map[string]bool{
	ports.TemplateVerifyEmail:   true,
	ports.TemplateResetPassword: true,
	ports.TemplateEmailChange:   true,
}

// Message is a rendered template: what a transport carries.
type Message struct {
	Subject string
	Text    string
	HTML    string
}

// Renderer renders the templates of ports.Templates. It is safe for
// concurrent use.
type Renderer struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// NewRenderer parses every template of ports.Templates. When dir is not
// empty, a file there named like an embedded one (verify_email.txt,
// verify_email.html, ...) replaces it; other files are ignored. A
// template that does not parse, or a text template without a "subject"
// block, is refused with an error naming the file.
func NewRenderer(dir string) (*Renderer, error) {
	r := &Renderer{
		text: make(map[string]*texttemplate.Template, len(ports.Templates)),
		html: make(map[string]*htmltemplate.Template, len(ports.Templates)),
	}
	for _, name := range ports.Templates {
		src, where, err := templateSource(dir, name+".txt")
		if err != nil {
			return nil, err
		}
		tt, err := texttemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail template %s: %w", where, err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail template %s: no {{define \"subject\"}} block", where)
		}
		r.text[name] = tt

		src, where, err = templateSource(dir, name+".html")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail template %s: %w", where, err)
		}
		r.html[name] = ht
	}
	return r, nil
}

// templateSource reads file from dir when it is there, else the embedded
// copy, and says where it came from for error messages.
func templateSource(dir, file string) (src, where string, err error) {
	if dir != "" {
		p := filepath.Join(dir, file)
		b, err := os.ReadFile(p)
		switch {
		case err == nil:
			return string(b), p, nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", p, fmt.Errorf("mail template %s: %w", p, err)
		}
	}
	b, err := embedded.ReadFile("templates/" + file)
	if err != nil {
		return "", "embedded " + file, fmt.Errorf("mail template embedded %s: %w", file, err)
	}
	return string(b), "embedded " + file, nil
}

// Render renders template name with data. An unknown name, a missing
// link for a template that needs one, or a template that fails to execute
// is EINVALID: the message can never be sent as it is.
func (r *Renderer) Render(name string, data map[string]string) (Message, error) {
	tt, ok := r.text[name]
	if !ok {
		return Message{}, domain.Errorf(domain.EINVALID, "unknown mail template %q", name)
	}
	if linkTemplates[name] && data["link"] == "" {
		return Message{}, domain.Errorf(domain.EINVALID, "mail template %q needs a link", name)
	}
	if data == nil {
		data = map[string]string{}
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Message{}, renderError(name, err)
	}
	if err := tt.Execute(&text, data); err != nil {
		return Message{}, renderError(name, err)
	}
	if err := r.html[name].Execute(&html, data); err != nil {
		return Message{}, renderError(name, err)
	}
	return Message{
		// A subject is one line: a newline in the data must not start
		// a header.
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    strings.TrimLeft(text.String(), "\r\n"),
		HTML:    html.String(),
	}, nil
}

func renderError(name string, err error) error {
	return domain.WithCause(domain.Errorf(domain.EINVALID, "mail template %q failed to render", name), err)
}

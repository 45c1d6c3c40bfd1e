package mail

import (
	"fmt"
	netmail "net/mail"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// checkFrom refuses a From address that does not parse, at construction.
func checkFrom(from string) error {
	if _, err := netmail.ParseAddress(from); err != nil {
		return fmt.Errorf("mail from address %q: %w", from, err)
	}
	return nil
}

// buildMsg renders m and builds the MIME message: multipart/alternative
// with the text part first and the HTML part second.
func buildMsg(r *Renderer, from string, now time.Time, m ports.Mail) (*gomail.Msg, error) {
	rendered, err := r.Render(m.Template, m.Data)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, domain.WithCause(domain.Errorf(domain.EINVALID, "invalid recipient address"), err)
	}
	msg.Subject(rendered.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, rendered.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, rendered.HTML)
	return msg, nil
}

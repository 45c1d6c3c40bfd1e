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
	enc := gomail.WithPartEncoding(partEncoding(rendered.Text, rendered.HTML))
	msg.SetBodyString(gomail.TypeTextPlain, rendered.Text, enc)
	msg.AddAlternativeString(gomail.TypeTextHTML, rendered.HTML, enc)
	return msg, nil
}

// partEncoding is no encoding when every part is plain ASCII in lines
// SMTP carries as they are (at most 998 bytes, no bare CR): the message
// then reads as written, and its link can be copied from the raw text or
// found with grep. Anything else (a template with non-ASCII text) is
// quoted-printable. (go-mail labels unencoded parts 8bit, which covers
// ASCII; its 7bit label still writes quoted-printable, so it is not used.)
func partEncoding(parts ...string) gomail.Encoding {
	for _, p := range parts {
		line := 0
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case c >= 0x80, c == 0, c == '\r':
				return gomail.EncodingQP
			case c == '\n':
				line = 0
			default:
				if line++; line > 998 {
					return gomail.EncodingQP
				}
			}
		}
	}
	return gomail.NoEncoding
}

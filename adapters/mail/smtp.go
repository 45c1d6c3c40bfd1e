package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// Security is how an SMTP connection is protected.
type Security int

const (
	// STARTTLS: connect in clear, then STARTTLS, which the server must
	// offer (go-mail's TLSMandatory). smtp://, default port 587.
	STARTTLS Security = iota
	// ImplicitTLS: TLS from the first byte. smtps://, default port 465.
	ImplicitTLS
	// NoTLS: plain text. smtp://...?tls=none, default port 25. For a
	// local relay or a test server such as Mailpit; the caller should
	// refuse it in production unless SMTPConfig.Loopback.
	NoTLS
)

func (s Security) String() string {
	switch s {
	case STARTTLS:
		return "starttls"
	case ImplicitTLS:
		return "tls"
	case NoTLS:
		return "none"
	}
	return "unknown"
}

// DefaultSMTPTimeout bounds connecting and each command when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 15 * time.Second

// SMTPConfig is where and how to reach the SMTP server. ParseSMTPURL
// builds it from a URL.
type SMTPConfig struct {
	Host     string
	Port     int
	Security Security
	// Username and Password, when Username is set, authenticate with
	// SMTP AUTH. Over TLS the best mechanism the server offers is used;
	// over a plain connection only PLAIN, which go-mail refuses to send
	// to any host but localhost, 127.0.0.1 or ::1.
	Username string
	Password string
	// Loopback reports that Host is localhost or a loopback IP, where a
	// plain connection does not cross the network.
	Loopback bool
	// Timeout bounds connecting and each SMTP command; zero means
	// DefaultSMTPTimeout.
	Timeout time.Duration
	// TLSConfig, when not nil, replaces the default TLS configuration
	// (the system roots, ServerName = Host, TLS 1.2 at least). Tests set
	// it to trust a self-signed certificate; the service never does.
	TLSConfig *tls.Config
}

// String describes the configuration as a URL without the password, fit
// for logs.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	switch c.Security {
	case ImplicitTLS:
		u.Scheme = "smtps"
	case NoTLS:
		u.RawQuery = "tls=none"
	}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	return u.String()
}

// ParseSMTPURL reads an SMTP server URL:
//
//	smtp://user:pass@host:587      STARTTLS required (port 587 by default)
//	smtps://user:pass@host:465     implicit TLS (port 465 by default)
//	smtp://127.0.0.1:1025?tls=none plain text (port 25 by default)
//
// The user name and password are percent-decoded. The only query
// parameter is tls (none or starttls, smtp:// only). Errors never quote
// the URL, which may hold the password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, and its cause may quote a part of
		// it: say only that it failed.
		return SMTPConfig{}, errors.New("smtp url: does not parse (want smtp[s]://[user[:password]@]host[:port][?tls=none]; percent-encode special characters of the user name and password)")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Security, c.Port = STARTTLS, 587
	case "smtps":
		c.Security, c.Port = ImplicitTLS, 465
	case "":
		return SMTPConfig{}, errors.New("smtp url: no scheme (want smtp:// or smtps://)")
	default:
		return SMTPConfig{}, fmt.Errorf("smtp url: scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return SMTPConfig{}, errors.New("smtp url: want scheme://host[:port]")
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, errors.New("smtp url: a path is not allowed")
	}
	if u.Fragment != "" {
		return SMTPConfig{}, errors.New("smtp url: a fragment is not allowed")
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, errors.New("smtp url: no host")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return SMTPConfig{}, errors.New("smtp url: the query does not parse")
	}
	for k, v := range q {
		if k != "tls" {
			return SMTPConfig{}, fmt.Errorf("smtp url: unknown parameter %q (only tls)", k)
		}
		if len(v) != 1 {
			return SMTPConfig{}, errors.New("smtp url: tls given more than once")
		}
		switch v[0] {
		case "none":
			if c.Security == ImplicitTLS {
				return SMTPConfig{}, errors.New("smtp url: tls=none contradicts smtps://")
			}
			c.Security, c.Port = NoTLS, 25
		case "starttls":
			if c.Security == ImplicitTLS {
				return SMTPConfig{}, errors.New("smtp url: tls=starttls contradicts smtps://")
			}
		default:
			return SMTPConfig{}, fmt.Errorf("smtp url: tls=%q is not none or starttls", v[0])
		}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("smtp url: port %q is not between 1 and 65535", p)
		}
		c.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return SMTPConfig{}, errors.New("smtp url: empty port")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, errors.New("smtp url: a password without a user name")
		}
	}
	c.Loopback = isLoopback(c.Host)
	return c, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var _ ports.Mailer = (*SMTP)(nil)

// SMTP sends mail through one SMTP server, one connection per message.
type SMTP struct {
	cfg      SMTPConfig
	from     string
	renderer *Renderer
	// Now stamps the Date header; time.Now unless a test sets it.
	Now func() time.Time
}

// NewSMTP returns a Mailer that delivers through the server of cfg, from
// the address from (e.g. "authd <no-reply@example.com>"), with the
// templates of r.
func NewSMTP(cfg SMTPConfig, from string, r *Renderer) (*SMTP, error) {
	if r == nil {
		return nil, errors.New("mail: nil renderer")
	}
	if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 {
		return nil, errors.New("mail: smtp host and port are required")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mail: smtp password without a user name")
	}
	if err := checkFrom(from); err != nil {
		return nil, err
	}
	if _, err := gomail.NewClient(cfg.Host, cfg.options()...); err != nil {
		return nil, fmt.Errorf("mail: smtp client: %w", err)
	}
	return &SMTP{cfg: cfg, from: from, renderer: r, Now: time.Now}, nil
}

func (c SMTPConfig) options() []gomail.Option {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(timeout)}
	switch c.Security {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.TLSConfig != nil {
		tc := c.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = c.Host
		}
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
	}
	if c.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if c.Security == NoTLS {
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	return opts
}

// Send renders m and delivers it. It returns EINVALID for an unknown
// template or a recipient the server refuses for good (a 5xx reply to
// RCPT TO or to the message), and EUNAVAILABLE for anything worth
// retrying: no connection, a timeout, a TLS or authentication failure
// (a configuration fault, not this message's), a 4xx reply.
func (s *SMTP) Send(ctx context.Context, m ports.Mail) error {
	msg, err := buildMsg(s.renderer, s.from, s.Now(), m)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(s.cfg.Host, s.cfg.options()...)
	if err != nil {
		return fmt.Errorf("mail: smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err)
	}
	return nil
}

// classify maps a go-mail error to a domain error.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent:
			return domain.WithCause(domain.Errorf(domain.EINVALID, "the mail server refused the message"), err)
		}
	}
	// A refused sender (MAIL FROM), a 5xx to EHLO or AUTH, a 4xx, a
	// network or TLS error: the same for every message until someone or
	// something fixes it, so keep the message and retry.
	return domain.Unavailable(err)
}

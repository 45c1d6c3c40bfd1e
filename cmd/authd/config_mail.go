package main

import (
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	mailadapter "github.com/authd/authd/adapters/mail"
)

// Mail transports: which Mailer delivers the outbox.
const (
	mailOff  = ""     // production without AUTHD_SMTP_URL: the mail flows are off
	mailSMTP = "smtp" // AUTHD_SMTP_URL
	mailFile = "file" // .eml files into AUTHD_MAIL_DIR (development only)
)

// mailConfig is how authd sends mail and what the mail flows may do. It
// holds settings only: the Mailer is built from it at start-up (newMailer),
// so reading the configuration (as migrate and users do) touches nothing.
type mailConfig struct {
	// Transport is mailSMTP, mailFile or mailOff.
	Transport string
	// SMTP is the server of AUTHD_SMTP_URL (Transport mailSMTP); its
	// String() omits the password.
	SMTP mailadapter.SMTPConfig
	// Dir is AUTHD_MAIL_DIR (Transport mailFile).
	Dir string
	// From is the sender (AUTHD_MAIL_FROM).
	From string
	// Templates is AUTHD_MAIL_TEMPLATES: a directory whose NAME.txt and
	// NAME.html replace the embedded templates; "" keeps them all.
	Templates string
	// AppURL is AUTHD_APP_URL without a trailing slash: links in mail are
	// AppURL+"/verify-email?token=..." and AppURL+"/reset-password?token=...".
	AppURL string
	// VerifyTTL and ResetTTL are how long a verification (and email
	// change) token and a password-reset token live.
	VerifyTTL time.Duration
	ResetTTL  time.Duration
	// RequireVerified makes login refuse unverified addresses
	// (AUTHD_REQUIRE_VERIFIED_EMAIL); EnumerationSafe makes register
	// answer 202 whether or not the email exists
	// (AUTHD_REGISTER_ENUMERATION_SAFE). Both need mail.
	RequireVerified bool
	EnumerationSafe bool
	// Cooldown is the least time between two mails of one purpose to one
	// recipient (0: none); DailyCap the most mails to one recipient per
	// day (0: no cap).
	Cooldown time.Duration
	DailyCap int
	// Relay tunes the outbox relay (AUTHD_MAIL_POLL_INTERVAL,
	// AUTHD_MAIL_LEASE, AUTHD_MAIL_RETRY_BASE, AUTHD_MAIL_RETRY_MAX,
	// AUTHD_MAIL_MAX_ATTEMPTS).
	Poll, Lease, RetryBase, RetryMax time.Duration
	MaxAttempts                      int
}

// On reports whether mail can be sent: the flows that mail answer 501
// otherwise.
func (m mailConfig) On() bool { return m.Transport != mailOff }

// mailFromDevelopment is the sender in development when AUTHD_MAIL_FROM
// is unset; production asks for a real one.
const mailFromDevelopment = "authd <no-reply@localhost>"

// mail reads the mail settings. It runs after server (it needs AUTHD_ENV).
func (e *envReader) mail(c *config) {
	m := &c.Mail
	e.mailTransport(m, c.Env)
	m.Templates = e.str("AUTHD_MAIL_TEMPLATES", "")
	m.VerifyTTL = e.dur("AUTHD_EMAIL_VERIFY_TTL", 24*time.Hour)
	m.ResetTTL = e.dur("AUTHD_PASSWORD_RESET_TTL", 30*time.Minute)
	m.RequireVerified = e.boolean("AUTHD_REQUIRE_VERIFIED_EMAIL", false)
	m.EnumerationSafe = e.boolean("AUTHD_REGISTER_ENUMERATION_SAFE", false)
	m.Cooldown = e.durOrZero("AUTHD_MAIL_COOLDOWN", time.Minute)
	m.DailyCap = e.integer("AUTHD_MAIL_DAILY_CAP", 10, 0, 1_000_000)
	m.Poll = e.dur("AUTHD_MAIL_POLL_INTERVAL", 2*time.Second)
	m.Lease = e.dur("AUTHD_MAIL_LEASE", 5*time.Minute)
	m.RetryBase = e.dur("AUTHD_MAIL_RETRY_BASE", 30*time.Second)
	m.RetryMax = e.dur("AUTHD_MAIL_RETRY_MAX", time.Hour)
	m.MaxAttempts = e.integer("AUTHD_MAIL_MAX_ATTEMPTS", 8, 1, 1000)
	if m.RetryMax < m.RetryBase {
		e.bad("AUTHD_MAIL_RETRY_MAX", "%v is below AUTHD_MAIL_RETRY_BASE (%v)", m.RetryMax, m.RetryBase)
	}
	if !m.On() {
		if m.RequireVerified {
			e.bad("AUTHD_REQUIRE_VERIFIED_EMAIL", "needs mail, which is off in production without AUTHD_SMTP_URL: set AUTHD_SMTP_URL")
		}
		if m.EnumerationSafe {
			e.bad("AUTHD_REGISTER_ENUMERATION_SAFE", "needs mail, which is off in production without AUTHD_SMTP_URL: set AUTHD_SMTP_URL")
		}
		return
	}
	m.From = e.mailFrom(c.Env)
	m.AppURL = e.appURL(c.Env)
}

// mailTransport picks the Mailer: SMTP when AUTHD_SMTP_URL is set, else
// (development only) .eml files into AUTHD_MAIL_DIR, ./mail by default.
// Production without AUTHD_SMTP_URL has no mail.
func (e *envReader) mailTransport(m *mailConfig, env string) {
	raw := strings.TrimSpace(e.getenv("AUTHD_SMTP_URL"))
	dir := e.str("AUTHD_MAIL_DIR", "")
	switch {
	case raw != "" && dir != "":
		e.bad("AUTHD_MAIL_DIR", "is set together with AUTHD_SMTP_URL; set one of them")
	case raw != "":
		smtp, err := mailadapter.ParseSMTPURL(raw)
		if err != nil {
			// ParseSMTPURL never quotes the URL, which may hold a password.
			e.bad("AUTHD_SMTP_URL", "%v", err)
			return
		}
		if env == envProduction && smtp.Security == mailadapter.NoTLS && !smtp.Loopback {
			e.bad("AUTHD_SMTP_URL", "tls=none sends mail (and the SMTP password) in clear text; production allows it only to a loopback host such as 127.0.0.1, not %q", smtp.Host)
			return
		}
		m.Transport, m.SMTP = mailSMTP, smtp
	case env == envProduction && dir != "":
		e.bad("AUTHD_MAIL_DIR", "the file mailer is for development; production sends mail through AUTHD_SMTP_URL")
	case env == envProduction:
		m.Transport = mailOff
	default:
		m.Transport, m.Dir = mailFile, dir
		if m.Dir == "" {
			m.Dir = "mail"
		}
	}
}

// mailFrom is the sender address: required in production, where a
// made-up sender would be refused or filed as spam.
func (e *envReader) mailFrom(env string) string {
	from := e.str("AUTHD_MAIL_FROM", "")
	if from == "" {
		if env == envProduction {
			e.bad("AUTHD_MAIL_FROM", "is required in production when mail is on, such as \"Example <no-reply@example.com>\"")
		}
		return mailFromDevelopment
	}
	if _, err := mail.ParseAddress(from); err != nil {
		e.bad("AUTHD_MAIL_FROM", "%q is not an address such as no-reply@example.com or \"Example <no-reply@example.com>\"", from)
	}
	return from
}

// appURL is where the links in mail point: the application, which POSTs
// the token to authd. Production requires it, over https unless the host
// is a loopback address, since the link carries a token.
func (e *envReader) appURL(env string) string {
	const name = "AUTHD_APP_URL"
	raw := e.str(name, "")
	if raw == "" {
		if env == envProduction {
			e.bad(name, "is required in production when mail is on: the application's address, such as https://app.example.com, that links in mail point to")
		}
		return "http://localhost:3000"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		e.bad(name, "%q is not an absolute http(s) URL such as https://app.example.com", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		e.bad(name, "%q has a query, a fragment or user info; links add their own ?token=", raw)
	case env == envProduction && u.Scheme != "https" && !loopbackHost(u.Hostname()):
		e.bad(name, "%q is not https; links in mail carry tokens, so production needs https (http only to a loopback host)", raw)
	}
	return strings.TrimRight(raw, "/")
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

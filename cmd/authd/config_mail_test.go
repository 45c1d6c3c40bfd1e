package main

import (
	"strings"
	"testing"
	"time"

	mailadapter "github.com/authd/authd/adapters/mail"
)

// prodMail is a valid production environment apart from mail.
func prodMail(kv ...string) map[string]string {
	return with(map[string]string{
		"AUTHD_ENV":          "production",
		"AUTHD_METRICS_ADDR": "127.0.0.1:9090",
		"AUTHD_JWT_SECRET":   "prod-secret-Zq8vN3xR7tL2mK9pW4hJ6bF1cD5gS0yE",
	}, kv...)
}

func TestMailConfigDevelopmentDefaults(t *testing.T) {
	c, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := mailConfig{
		Transport: mailFile, Dir: "mail", From: "authd <no-reply@localhost>", AppURL: "http://localhost:3000",
		VerifyTTL: 24 * time.Hour, ResetTTL: 30 * time.Minute, Cooldown: time.Minute, DailyCap: 10,
		Poll: 2 * time.Second, Lease: 5 * time.Minute, RetryBase: 30 * time.Second, RetryMax: time.Hour, MaxAttempts: 8,
	}
	if c.Mail != want || !c.Mail.On() {
		t.Errorf("development defaults:\n got %+v\nwant %+v", c.Mail, want)
	}
}

func TestMailConfigValues(t *testing.T) {
	c, err := loadConfig(env(prodMail(
		"AUTHD_SMTP_URL", "smtps://u:p%40ss@smtp.example.com",
		"AUTHD_MAIL_FROM", "Example <no-reply@example.com>",
		"AUTHD_MAIL_TEMPLATES", "/etc/authd/templates",
		"AUTHD_APP_URL", "https://app.example.com/accounts/",
		"AUTHD_EMAIL_VERIFY_TTL", "48h",
		"AUTHD_PASSWORD_RESET_TTL", "15m",
		"AUTHD_REQUIRE_VERIFIED_EMAIL", "true",
		"AUTHD_REGISTER_ENUMERATION_SAFE", "true",
		"AUTHD_MAIL_COOLDOWN", "0s",
		"AUTHD_MAIL_DAILY_CAP", "0",
		"AUTHD_MAIL_POLL_INTERVAL", "50ms",
		"AUTHD_MAIL_LEASE", "3s",
		"AUTHD_MAIL_RETRY_BASE", "100ms",
		"AUTHD_MAIL_RETRY_MAX", "1s",
		"AUTHD_MAIL_MAX_ATTEMPTS", "3",
	)))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Mail
	if m.Transport != mailSMTP || m.SMTP.Host != "smtp.example.com" || m.SMTP.Port != 465 || m.SMTP.Security != mailadapter.ImplicitTLS || m.SMTP.Password != "p@ss" {
		t.Errorf("smtp %+v", m.SMTP)
	}
	if m.From != "Example <no-reply@example.com>" || m.Templates != "/etc/authd/templates" || m.AppURL != "https://app.example.com/accounts" {
		t.Errorf("from %q templates %q app %q", m.From, m.Templates, m.AppURL)
	}
	if m.VerifyTTL != 48*time.Hour || m.ResetTTL != 15*time.Minute || !m.RequireVerified || !m.EnumerationSafe || m.Cooldown != 0 || m.DailyCap != 0 {
		t.Errorf("flows %+v", m)
	}
	if m.Poll != 50*time.Millisecond || m.Lease != 3*time.Second || m.RetryBase != 100*time.Millisecond || m.RetryMax != time.Second || m.MaxAttempts != 3 {
		t.Errorf("relay %+v", m)
	}
	if m.Dir != "" {
		t.Errorf("dir %q with SMTP", m.Dir)
	}
}

// TestMailConfigProduction: without AUTHD_SMTP_URL production starts with
// mail off, and refuses the settings that need mail; with it, it needs a
// sender and an https application URL, and plain SMTP only to loopback.
func TestMailConfigProduction(t *testing.T) {
	c, err := loadConfig(env(prodMail()))
	if err != nil {
		t.Fatalf("production without mail settings must start: %v", err)
	}
	if c.Mail.On() || c.Mail.Transport != mailOff {
		t.Errorf("production without AUTHD_SMTP_URL: transport %q, want off", c.Mail.Transport)
	}
	smtp := []string{"AUTHD_SMTP_URL", "smtp://user:pw@smtp.example.com:587", "AUTHD_MAIL_FROM", "no-reply@example.com", "AUTHD_APP_URL", "https://app.example.com"}
	if c, err := loadConfig(env(prodMail(smtp...))); err != nil || c.Mail.Transport != mailSMTP || c.Mail.SMTP.Security != mailadapter.STARTTLS {
		t.Errorf("production with SMTP: %+v, %v", c.Mail, err)
	}
	for _, ok := range [][]string{
		{"AUTHD_SMTP_URL", "smtp://127.0.0.1:1025?tls=none", "AUTHD_MAIL_FROM", "a@example.com", "AUTHD_APP_URL", "https://app.example.com"},
		{"AUTHD_SMTP_URL", "smtp://localhost:1025?tls=none", "AUTHD_MAIL_FROM", "a@example.com", "AUTHD_APP_URL", "http://localhost:3000"},
		{"AUTHD_SMTP_URL", "smtp://[::1]:1025?tls=none", "AUTHD_MAIL_FROM", "a@example.com", "AUTHD_APP_URL", "http://127.0.0.1:3000"},
	} {
		if _, err := loadConfig(env(prodMail(ok...))); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	// set is smtp with name set to value ("" unsets it).
	set := func(kv ...string) map[string]string {
		vars := prodMail(smtp...)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(vars, kv[i])
			} else {
				vars[kv[i]] = kv[i+1]
			}
		}
		return vars
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{prodMail("AUTHD_REQUIRE_VERIFIED_EMAIL", "true"), "AUTHD_REQUIRE_VERIFIED_EMAIL: needs mail"},
		{prodMail("AUTHD_REGISTER_ENUMERATION_SAFE", "true"), "AUTHD_REGISTER_ENUMERATION_SAFE: needs mail"},
		{prodMail("AUTHD_MAIL_DIR", "/var/mail"), "AUTHD_MAIL_DIR: the file mailer is for development"},
		{set("AUTHD_SMTP_URL", "smtp://mailpit:1025?tls=none"), `AUTHD_SMTP_URL: tls=none sends mail (and the SMTP password) in clear text; production allows it only to a loopback host such as 127.0.0.1, not "mailpit"`},
		{set("AUTHD_SMTP_URL", "smtp://10.0.0.5?tls=none"), "AUTHD_SMTP_URL: tls=none"},
		{set("AUTHD_MAIL_FROM", ""), "AUTHD_MAIL_FROM: is required in production"},
		{set("AUTHD_APP_URL", ""), "AUTHD_APP_URL: is required in production"},
		{set("AUTHD_APP_URL", "http://app.example.com"), "AUTHD_APP_URL: \"http://app.example.com\" is not https"},
		{set("AUTHD_MAIL_DIR", "/var/mail"), "AUTHD_MAIL_DIR: is set together with AUTHD_SMTP_URL"},
	} {
		_, err := loadConfig(env(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.vars, err, tc.want)
		}
	}
}

func TestMailConfigRejectsBadValuesNamingTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"AUTHD_SMTP_URL", "http://smtp.example.com", "AUTHD_SMTP_URL: smtp url: scheme"},
		{"AUTHD_MAIL_FROM", "not an address", "AUTHD_MAIL_FROM"},
		{"AUTHD_APP_URL", "ftp://app.example.com", "AUTHD_APP_URL"},
		{"AUTHD_APP_URL", "/relative", "AUTHD_APP_URL"},
		{"AUTHD_APP_URL", "app.example.com", "AUTHD_APP_URL"},
		{"AUTHD_APP_URL", "https://app.example.com/?x=1", "AUTHD_APP_URL"},
		{"AUTHD_APP_URL", "https://app.example.com/#top", "AUTHD_APP_URL"},
		{"AUTHD_EMAIL_VERIFY_TTL", "0s", "AUTHD_EMAIL_VERIFY_TTL"},
		{"AUTHD_PASSWORD_RESET_TTL", "soon", "AUTHD_PASSWORD_RESET_TTL"},
		{"AUTHD_REQUIRE_VERIFIED_EMAIL", "maybe", "AUTHD_REQUIRE_VERIFIED_EMAIL"},
		{"AUTHD_REGISTER_ENUMERATION_SAFE", "yes please", "AUTHD_REGISTER_ENUMERATION_SAFE"},
		{"AUTHD_MAIL_COOLDOWN", "-1s", "AUTHD_MAIL_COOLDOWN"},
		{"AUTHD_MAIL_DAILY_CAP", "-1", "AUTHD_MAIL_DAILY_CAP"},
		{"AUTHD_MAIL_POLL_INTERVAL", "0s", "AUTHD_MAIL_POLL_INTERVAL"},
		{"AUTHD_MAIL_LEASE", "x", "AUTHD_MAIL_LEASE"},
		{"AUTHD_MAIL_RETRY_MAX", "1s", "AUTHD_MAIL_RETRY_MAX: 1s is below AUTHD_MAIL_RETRY_BASE"},
		{"AUTHD_MAIL_MAX_ATTEMPTS", "0", "AUTHD_MAIL_MAX_ATTEMPTS"},
	} {
		_, err := loadConfig(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
	// The SMTP password never appears in an error.
	_, err := loadConfig(env(map[string]string{"AUTHD_SMTP_URL": "smtp://user:s3cret-pw@host:99999"}))
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("err = %v: want an error without the password", err)
	}
	_, err = loadConfig(env(prodMail("AUTHD_SMTP_URL", "smtp://user:s3cret-pw@mail.example.com?tls=none")))
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("err = %v: want an error without the password", err)
	}
}

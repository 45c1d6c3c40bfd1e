package http_test

// The password policy through the HTTP API: common passwords, the email
// in the password, and the optional breach check.

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/authd/authd/domain"
)

// wantPasswordRefused checks r is a 422 naming only the password field
// with message msg, in errors and in detail, and that neither repeats the
// password.
func wantPasswordRefused(t *testing.T, r *response, password, msg string) {
	t.Helper()
	p := wantProblem(t, r, http.StatusUnprocessableEntity)
	wantFields(t, p, "password")
	got := p["errors"].([]any)[0].(map[string]any)["message"].(string)
	if got != msg {
		t.Errorf("errors[0].message = %q, want %q", got, msg)
	}
	if p["detail"] != msg {
		t.Errorf("detail = %v, want %q", p["detail"], msg)
	}
	if strings.Contains(strings.ToLower(string(r.body)), strings.ToLower(password)) {
		t.Errorf("the 422 repeats the password %q: %s", password, r.body)
	}
}

const (
	msgCommonPassword = "Password is among the most commonly used passwords; choose another"
	msgPasswordEmail  = "Password must not contain your email address or the name before its @"
	msgBreached       = "Password has appeared in a data breach; choose another"
)

func TestRegisterCommonPassword(t *testing.T) {
	list, err := os.ReadFile("../../domain/commonpasswords.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\n"+string(list), "\npassword123\n") {
		t.Fatal("test setup: password123 is not in domain/commonpasswords.txt")
	}
	breaches := newFakeBreaches()
	h := newHarness(t, withBreaches(breaches))
	// The list is matched ignoring case, after NFKC (full-width forms).
	for _, pw := range []string{"password123", "PassWord123", "ｐａｓｓｗｏｒｄ１２３"} {
		wantPasswordRefused(t, h.post(registerPath, credsJSON("new@example.com", pw)), pw, msgCommonPassword)
	}
	// A bad email is reported too; the common-password rule does not need
	// the email.
	r := h.post(registerPath, credsJSON("not-an-email", "password123"))
	wantFields(t, wantProblem(t, r, http.StatusUnprocessableEntity), "email", "password")

	h.wantUntouched(t)
	if n := breaches.calls.Load(); n != 0 {
		t.Errorf("a locally refused password was sent to the breach checker %d times", n)
	}
}

func TestRegisterPasswordContainsEmail(t *testing.T) {
	h := newHarness(t)
	const email = "marguerite.d@example.com"
	for _, pw := range []string{
		"marguerite.d2026",             // the local part
		"my name is MARGUERITE.D!",     // ignoring case
		"x-marguerite.d@example.com-x", // the whole address
	} {
		wantPasswordRefused(t, h.post(registerPath, credsJSON(email, pw)), pw, msgPasswordEmail)
	}
	// The email is normalized before the comparison, whatever its case.
	pw := "marguerite.d-is-me"
	wantPasswordRefused(t, h.post(registerPath, credsJSON("Marguerite.D@Example.com", pw)), pw, msgPasswordEmail)
	h.wantUntouched(t)

	// A local part under 4 characters is not looked for on its own.
	h.register("bob@example.com", "bob-likes-tea-42")
}

func TestRegisterBreachedPassword(t *testing.T) {
	const breached = "Tr0ub4dor&3xyz"
	breaches := newFakeBreaches(breached)
	h := newHarness(t, withBreaches(breaches))

	wantPasswordRefused(t, h.post(registerPath, credsJSON("new@example.com", breached)), breached, msgBreached)
	h.wantUntouched(t)
	if n := breaches.calls.Load(); n != 1 {
		t.Errorf("breach checker called %d times, want 1", n)
	}

	h.register("new@example.com", "kx7-Qm2z-long")
	if n := breaches.calls.Load(); n != 2 {
		t.Errorf("breach checker called %d times, want 2", n)
	}

	// The checker is optional: by default an outage lets registration
	// proceed, and operators hear about it.
	breaches.setErr(domain.Unavailable(errors.New("pwned passwords: circuit open")))
	h.register("later@example.com", breached)
	if countOf(h.events.names(), "breach_check.unavailable") != 1 {
		t.Errorf("security events %v, want one breach_check.unavailable", h.events.names())
	}
	if strings.Contains(h.logs.String(), breached) || strings.Contains(h.security.String(), breached) {
		t.Error("a log holds the password")
	}
}

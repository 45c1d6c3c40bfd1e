package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/app"
	"github.com/authd/authd/ports"
)

const (
	verifyPath        = "/api/v1/auth/email/verify"
	verificationPath  = "/api/v1/auth/email/verification"
	forgotPath        = "/api/v1/auth/password/forgot"
	resetPath         = "/api/v1/auth/password/reset"
	myPasswordPath    = "/api/v1/users/me/password"
	myEmailPath       = "/api/v1/users/me/email"
	testAppURL        = "https://app.example"
	emailTestPassword = "correct horse battery staple"
)

func mailHarness(t *testing.T, opts ...option) *harness {
	return newHarness(t, append([]option{withMail(app.MailConfig{AppURL: testAppURL})}, opts...)...)
}

func jsonBody(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// settle waits for the work behind the 202s sent so far.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.svc.Wait(ctx); err != nil {
		h.t.Fatalf("background work: %v", err)
	}
}

// linkToken returns the token of the only (or last) mail of template to
// to, checking that its link points at the application's page.
func (h *harness) linkToken(to, template, page string) string {
	h.t.Helper()
	h.settle()
	ms := h.mail.mails(to, template)
	if len(ms) == 0 {
		h.t.Fatalf("no %s mail to %s", template, to)
	}
	link := ms[len(ms)-1].Data["link"]
	prefix := testAppURL + page + "?token="
	if !strings.HasPrefix(link, prefix) || len(link) == len(prefix) {
		h.t.Fatalf("link %q does not point at %s with a token", link, testAppURL+page)
	}
	return strings.TrimPrefix(link, prefix)
}

func bearerH(access string) []string { return []string{"Authorization", "Bearer " + access} }

func TestRegisterThenVerify(t *testing.T) {
	h := mailHarness(t)
	u := h.register("alice@example.com", emailTestPassword)
	if u["email_verified"] != false {
		t.Fatalf("new user %v, want email_verified false", u)
	}
	token := h.linkToken("alice@example.com", ports.TemplateVerifyEmail, "/verify-email")
	access := h.login("alice@example.com", emailTestPassword) // usable before verification

	r := h.post(verifyPath, jsonBody("token", token))
	wantStatus(t, r, http.StatusOK)
	if got := decodeObject(t, r); got["email_verified"] != true || got["email"] != "alice@example.com" {
		t.Errorf("verify answered %v", got)
	}
	me := decodeObject(t, h.get(mePath, bearerH(access)...))
	if me["email_verified"] != true {
		t.Errorf("/users/me = %v, want email_verified true", me)
	}
	// Single use.
	p := wantProblem(t, h.post(verifyPath, jsonBody("token", token)), http.StatusUnprocessableEntity)
	if p["code"] != "invalid_email_token" {
		t.Errorf("reused token: %v", p)
	}
	// The new access token carries the claim.
	c, err := h.tokens.Verify(h.login("alice@example.com", emailTestPassword), h.clock.Now())
	if err != nil || !c.EmailVerified {
		t.Errorf("access token claims %+v, %v: want email_verified", c, err)
	}
}

// TestEmailTokensAreBoundToTheirPurpose: a verification token is no reset
// token and the other way round; an expired or superseded token is
// refused; a refusal spends nothing.
func TestEmailTokensAreBoundToTheirPurpose(t *testing.T) {
	h := mailHarness(t)
	h.register("alice@example.com", emailTestPassword)
	verify := h.linkToken("alice@example.com", ports.TemplateVerifyEmail, "/verify-email")
	wantStatus(t, h.post(forgotPath, jsonBody("email", "alice@example.com")), http.StatusAccepted)
	reset := h.linkToken("alice@example.com", ports.TemplateResetPassword, "/reset-password")

	for name, r := range map[string]*response{
		"verification token as reset": h.post(resetPath, jsonBody("token", verify, "password", "another long passphrase")),
		"reset token as verification": h.post(verifyPath, jsonBody("token", reset)),
		"garbage":                     h.post(verifyPath, jsonBody("token", "not-a-token")),
		"empty":                       h.post(resetPath, jsonBody("token", "", "password", "another long passphrase")),
	} {
		if p := wantProblem(t, r, http.StatusUnprocessableEntity); p["code"] != "invalid_email_token" {
			t.Errorf("%s: %v", name, p)
		}
	}
	// Neither was spent by the wrong use.
	wantStatus(t, h.post(verifyPath, jsonBody("token", verify)), http.StatusOK)

	// A newer reset link voids the older one (after the cooldown).
	h.clock.advance(2 * time.Minute)
	wantStatus(t, h.post(forgotPath, jsonBody("email", "alice@example.com")), http.StatusAccepted)
	newer := h.linkToken("alice@example.com", ports.TemplateResetPassword, "/reset-password")
	if newer == reset {
		t.Fatal("the second link has the same token")
	}
	wantProblem(t, h.post(resetPath, jsonBody("token", reset, "password", "another long passphrase")), http.StatusUnprocessableEntity)
	// Expiry: 30 minutes by default.
	h.clock.advance(31 * time.Minute)
	wantProblem(t, h.post(resetPath, jsonBody("token", newer, "password", "another long passphrase")), http.StatusUnprocessableEntity)
}

// TestForgotThenReset: a weak password is refused without spending the
// token; the reset ends every session at once; the new password logs in,
// the old one does not; the owner is told.
func TestForgotThenReset(t *testing.T) {
	h := mailHarness(t)
	h.register("alice@example.com", emailTestPassword)
	old := h.loginTokens("alice@example.com", emailTestPassword)
	wantStatus(t, h.post(forgotPath, jsonBody("email", "ALICE@example.com")), http.StatusAccepted)
	token := h.linkToken("alice@example.com", ports.TemplateResetPassword, "/reset-password")

	p := wantProblem(t, h.post(resetPath, jsonBody("token", token, "password", "short")), http.StatusUnprocessableEntity)
	if p["code"] != "password_too_short" {
		t.Errorf("weak password: %v", p)
	}
	wantStatus(t, h.post(resetPath, jsonBody("token", token, "password", "a brand new passphrase")), http.StatusNoContent)

	wantProblem(t, h.get(mePath, bearerH(old.access)...), http.StatusUnauthorized)
	wantProblem(t, h.refresh(old.refresh), http.StatusUnauthorized)
	wantProblem(t, h.post(loginPath, credsJSON("alice@example.com", emailTestPassword)), http.StatusUnauthorized)
	h.login("alice@example.com", "a brand new passphrase")
	if n := len(h.mail.mails("alice@example.com", ports.TemplatePasswordChanged)); n != 1 {
		t.Errorf("%d password-changed notices, want 1", n)
	}
	wantProblem(t, h.post(resetPath, jsonBody("token", token, "password", "yet another passphrase")), http.StatusUnprocessableEntity)
	for _, buf := range []*syncBuffer{h.logs, h.security} {
		if strings.Contains(buf.String(), token) {
			t.Error("the reset token is in a log")
		}
	}
}

// TestAnonymousMailAnswersAlike: forgot and resend answer the same
// status and body for an account, an unknown address, an inactive
// account and a verified one; only the mails differ.
func TestAnonymousMailAnswersAlike(t *testing.T) {
	h := mailHarness(t)
	h.register("alice@example.com", emailTestPassword)
	h.settle()
	before := h.mail.count()
	for _, path := range []string{forgotPath, verificationPath} {
		var bodies []string
		for _, email := range []string{"alice@example.com", "nobody@example.com"} {
			r := h.post(path, jsonBody("email", email))
			wantStatus(t, r, http.StatusAccepted)
			bodies = append(bodies, string(r.body))
		}
		if bodies[0] != bodies[1] {
			t.Errorf("%s: bodies differ: %s / %s", path, bodies[0], bodies[1])
		}
	}
	h.settle()
	// alice: a reset link and a new verification link. nobody: nothing.
	if got := h.mail.count() - before; got != 2 {
		t.Errorf("%d mails sent, want 2", got)
	}
	if len(h.mail.mails("nobody@example.com", ports.TemplateResetPassword)) != 0 || len(h.mail.mails("nobody@example.com", ports.TemplateVerifyEmail)) != 0 {
		t.Error("a mail went to an address without an account")
	}
	// Once verified, a resend sends nothing, and answers the same.
	token := h.linkToken("alice@example.com", ports.TemplateVerifyEmail, "/verify-email")
	wantStatus(t, h.post(verifyPath, jsonBody("token", token)), http.StatusOK)
	before = h.mail.count()
	wantStatus(t, h.post(verificationPath, jsonBody("email", "alice@example.com")), http.StatusAccepted)
	h.settle()
	if got := h.mail.count() - before; got != 0 {
		t.Errorf("a verified address got %d more mails", got)
	}
}

func TestChangePassword(t *testing.T) {
	h := mailHarness(t)
	h.register("alice@example.com", emailTestPassword)
	laptop := h.loginTokens("alice@example.com", emailTestPassword)
	phone := h.loginTokens("alice@example.com", emailTestPassword)

	p := wantProblem(t, h.post(myPasswordPath, jsonBody("current_password", "wrong wrong wrong", "new_password", "a brand new passphrase"), bearerH(laptop.access)...), http.StatusForbidden)
	if p["code"] != "wrong_password" {
		t.Errorf("wrong current password: %v", p)
	}
	p = wantProblem(t, h.post(myPasswordPath, jsonBody("current_password", emailTestPassword, "new_password", "short"), bearerH(laptop.access)...), http.StatusUnprocessableEntity)
	if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "new_password" {
		t.Errorf("weak new password: %v", p)
	}
	wantProblem(t, h.post(myPasswordPath, jsonBody("current_password", emailTestPassword), bearerH(laptop.access)...), http.StatusUnprocessableEntity)
	wantProblem(t, h.post(myPasswordPath, jsonBody("current_password", emailTestPassword, "new_password", "a brand new passphrase")), http.StatusUnauthorized)
	// Nothing so far changed anything.
	h.login("alice@example.com", emailTestPassword)

	wantStatus(t, h.post(myPasswordPath, jsonBody("current_password", emailTestPassword, "new_password", "a brand new passphrase"), bearerH(laptop.access)...), http.StatusNoContent)
	wantStatus(t, h.get(mePath, bearerH(laptop.access)...), http.StatusOK)
	wantProblem(t, h.get(mePath, bearerH(phone.access)...), http.StatusUnauthorized)
	wantProblem(t, h.refresh(phone.refresh), http.StatusUnauthorized)
	wantStatus(t, h.refresh(laptop.refresh), http.StatusOK)
	h.login("alice@example.com", "a brand new passphrase")
	if n := len(h.mail.mails("alice@example.com", ports.TemplatePasswordChanged)); n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
}

func TestChangeEmail(t *testing.T) {
	// Limits on (the cooldown is one), with room for the test's requests.
	h := mailHarness(t, withLimits(app.Limits{Enabled: true, IPRequests: 1000, IPWindow: time.Minute}))
	h.register("alice@example.com", emailTestPassword)
	h.register("bob@example.com", emailTestPassword)
	access := h.login("alice@example.com", emailTestPassword)

	p := wantProblem(t, h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "Alice@example.com"), bearerH(access)...), http.StatusBadRequest)
	if p["code"] != "email_taken" {
		t.Errorf("own address: %v", p)
	}
	wantProblem(t, h.post(myEmailPath, jsonBody("password", "wrong wrong wrong", "new_email", "new@example.com"), bearerH(access)...), http.StatusForbidden)
	wantProblem(t, h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "nope"), bearerH(access)...), http.StatusUnprocessableEntity)
	h.settle()
	if n := len(h.mail.mails("new@example.com", ports.TemplateEmailChange)); n != 0 {
		t.Fatalf("refused requests sent %d mails", n)
	}
	// Another account's address: accepted like any other (the requester
	// learns nothing); its link then fails.
	wantStatus(t, h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "bob@example.com"), bearerH(access)...), http.StatusAccepted)
	taken := h.linkToken("bob@example.com", ports.TemplateEmailChange, "/verify-email")
	if p := wantProblem(t, h.post(verifyPath, jsonBody("token", taken)), http.StatusBadRequest); p["code"] != "email_taken" {
		t.Errorf("change to a taken address: %v", p)
	}

	wantStatus(t, h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "new@example.com"), bearerH(access)...), http.StatusAccepted)
	// Within the cooldown of that address: 429.
	wantProblem(t, h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "new@example.com"), bearerH(access)...), http.StatusTooManyRequests)
	token := h.linkToken("new@example.com", ports.TemplateEmailChange, "/verify-email")
	r := h.post(verifyPath, jsonBody("token", token))
	wantStatus(t, r, http.StatusOK)
	if u := decodeObject(t, r); u["email"] != "new@example.com" || u["email_verified"] != true {
		t.Errorf("after the change: %v", u)
	}
	if n := len(h.mail.mails("alice@example.com", ports.TemplateEmailChanged)); n != 1 {
		t.Errorf("%d notices to the old address, want 1", n)
	}
	h.login("new@example.com", emailTestPassword)
	wantProblem(t, h.post(loginPath, credsJSON("alice@example.com", emailTestPassword)), http.StatusUnauthorized)
}

// TestMailFlowsOff: without a mailer the mail endpoints are 501 before
// the body is read; changing the password still works.
func TestMailFlowsOff(t *testing.T) {
	h := newHarness(t)
	h.register("alice@example.com", emailTestPassword)
	access := h.login("alice@example.com", emailTestPassword)
	for _, r := range []*response{
		h.post(verifyPath, jsonBody("token", "x")),
		h.post(verificationPath, "not json at all"),
		h.post(forgotPath, jsonBody("email", "alice@example.com")),
		h.post(resetPath, jsonBody("token", "x", "password", "y")),
		h.post(myEmailPath, jsonBody("password", emailTestPassword, "new_email", "n@example.com"), bearerH(access)...),
	} {
		p := wantProblem(t, r, http.StatusNotImplemented)
		if p["code"] != "mail_disabled" || p["detail"] != "Email delivery is not configured" {
			t.Errorf("%v", p)
		}
	}
	wantStatus(t, h.post(myPasswordPath, jsonBody("current_password", emailTestPassword, "new_password", "a brand new passphrase"), bearerH(access)...), http.StatusNoContent)
}

// TestMailEndpointsRefuseBadInput: each bad body gets its 4xx and no mail
// is written.
func TestMailEndpointsRefuseBadInput(t *testing.T) {
	h := mailHarness(t)
	h.register("alice@example.com", emailTestPassword)
	h.settle()
	before := h.mail.count()
	tests := []struct {
		path, body string
		status     int
		code       string
	}{
		{forgotPath, `{}`, 422, "field_required"},
		{forgotPath, `{"email": 5}`, 400, "field_not_string"},
		{forgotPath, `{"email": "a@b.example", "email": "c@d.example"}`, 400, "duplicate_field"},
		{forgotPath, `[]`, 400, "malformed_json"},
		{forgotPath, `{"email": "not an address"}`, 422, "invalid_email"},
		{verificationPath, `{"email": ""}`, 422, ""},
		{verifyPath, `{}`, 422, "field_required"},
		{verifyPath, `{"token": null}`, 400, "field_not_string"},
		{resetPath, `{"token": "x"}`, 422, "field_required"},
	}
	for _, tc := range tests {
		p := wantProblem(t, h.post(tc.path, tc.body), tc.status)
		if tc.code != "" && p["code"] != tc.code {
			t.Errorf("%s %s: code %v, want %s", tc.path, tc.body, p["code"], tc.code)
		}
	}
	r := h.do(newRequest(http.MethodPost, forgotPath, `{"email":"alice@example.com"}`, "Content-Type", "text/plain"))
	wantProblem(t, r, http.StatusUnsupportedMediaType)
	h.settle()
	if got := h.mail.count(); got != before {
		t.Errorf("bad requests wrote %d mails", got-before)
	}
}

func TestRequireVerifiedEmail(t *testing.T) {
	h := newHarness(t, withMail(app.MailConfig{AppURL: testAppURL, RequireVerified: true}))
	h.register("alice@example.com", emailTestPassword)
	p := wantProblem(t, h.post(loginPath, credsJSON("alice@example.com", emailTestPassword)), http.StatusForbidden)
	if p["code"] != "email_not_verified" || p["detail"] != "Email not verified" {
		t.Errorf("unverified login: %v", p)
	}
	// A wrong password learns nothing about verification.
	wantProblem(t, h.post(loginPath, credsJSON("alice@example.com", "wrong wrong wrong")), http.StatusUnauthorized)
	token := h.linkToken("alice@example.com", ports.TemplateVerifyEmail, "/verify-email")
	wantStatus(t, h.post(verifyPath, jsonBody("token", token)), http.StatusOK)
	h.login("alice@example.com", emailTestPassword)
}

func TestEnumerationSafeRegistration(t *testing.T) {
	h := newHarness(t, withMail(app.MailConfig{AppURL: testAppURL, EnumerationSafe: true}))
	first := h.post(registerPath, credsJSON("alice@example.com", emailTestPassword))
	again := h.post(registerPath, credsJSON("Alice@example.com", "some other passphrase"))
	wantStatus(t, first, http.StatusAccepted)
	wantStatus(t, again, http.StatusAccepted)
	if string(first.body) != string(again.body) {
		t.Errorf("bodies differ: %s / %s", first.body, again.body)
	}
	if len(h.mail.mails("alice@example.com", ports.TemplateVerifyEmail)) != 1 || len(h.mail.mails("alice@example.com", ports.TemplateRegisterAttempt)) != 1 {
		t.Errorf("mails: %+v", h.mail.sent)
	}
	// Validation still answers at once: it says nothing about accounts.
	wantProblem(t, h.post(registerPath, credsJSON("alice@example.com", "short")), http.StatusUnprocessableEntity)
	h.login("alice@example.com", emailTestPassword)
}

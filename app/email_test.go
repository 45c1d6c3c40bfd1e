package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
	"github.com/authd/authd/ports/mock"
)

const (
	appURL     = "https://app.example"
	mailToken  = "mailed-token-of-256-random-bits"
	validNewPW = "correct horse battery staple"
)

var mailTokenHash = []byte("hash-of-the-mailed-token")

// mailFixture is a Service with the mail flows on, over mocks.
type mailFixture struct {
	*fixture
	etokens *mock.MockEmailTokenRepository
	outbox  *mock.MockMailOutbox
}

func newMailFixture(t *testing.T, cfg Config) *mailFixture {
	t.Helper()
	cfg.Mail.AppURL = appURL
	var etokens *mock.MockEmailTokenRepository
	var outbox *mock.MockMailOutbox
	f := newMocks(t)
	admitAll(f)
	ctrl := gomock.NewController(t)
	etokens, outbox = mock.NewMockEmailTokenRepository(ctrl), mock.NewMockMailOutbox(ctrl)
	f.hasher.EXPECT().Hash(context.Background(), dummyPassword).Return(dummyHash, nil)
	p := f.ports()
	p.EmailTokens, p.Outbox = etokens, outbox
	svc, err := New(p, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.svc = svc
	return &mailFixture{fixture: f, etokens: etokens, outbox: outbox}
}

// sameRequest matches the context of work done behind a request's answer:
// not the request's context itself (that may be cancelled once answered),
// but one that carries its values.
type sameRequest struct{ name string }

func (m sameRequest) Matches(x any) bool {
	ctx, ok := x.(context.Context)
	return ok && ctx.Value(ctxKey{}) == m.name && ctx.Err() == nil
}
func (m sameRequest) String() string { return "a context carrying the values of " + m.name }

func bg(t *testing.T) gomock.Matcher { return sameRequest{t.Name()} }

func waitBackground(t *testing.T, f *mailFixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.svc.Wait(ctx); err != nil {
		t.Fatalf("background work did not finish: %v", err)
	}
}

// limitsOn is a configuration with the mail limits on (and the login
// limits off, so tests of the password check need no counters).
func limitsOn() Config {
	return Config{Limits: Limits{Enabled: true}}
}

// expectMailLimits expects the anonymous front: the client's mail budget
// (IPv4: one key) and the address's cooldown and daily cap, each with the
// counts given.
func expectMailLimits(f *mailFixture, ctx context.Context, kind, email string, client, cooldown, day int) {
	calls := []any{
		f.limits.EXPECT().Hit(ctx, "mail-ip:203.0.113.7", DefaultClientMailWindow, now).Return(client, now.Add(time.Hour), nil),
	}
	if client <= DefaultClientMails {
		calls = append(calls, f.limits.EXPECT().Hit(ctx, "mail-to:"+kind+":"+email, DefaultMailCooldown, now).Return(cooldown, now.Add(time.Minute), nil))
		if cooldown == 1 {
			calls = append(calls, f.limits.EXPECT().Hit(ctx, "mail-day:"+email, 24*time.Hour, now).Return(day, now.Add(24*time.Hour), nil))
		}
	}
	gomock.InOrder(calls...)
}

func clientCtx(t *testing.T) context.Context {
	return ports.WithClient(testCtx(t), "203.0.113.7")
}

func TestForgotPasswordMailsAnActiveAccount(t *testing.T) {
	f := newMailFixture(t, limitsOn())
	ctx := clientCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	expectMailLimits(f, ctx, "reset", "alice@example.com", 1, 1, 1)
	gomock.InOrder(
		f.users.EXPECT().ByEmail(bg(t), mustEmail(t, "alice@example.com")).Return(alice(), nil),
		f.stokens.EXPECT().NewRefreshToken().Return(mailToken, nil),
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Issue(bg(t), mailTokenHash,
			ports.EmailToken{UserID: 42, Purpose: ports.PurposeResetPassword, ExpiresAt: now.Add(30 * time.Minute)},
			ports.Mail{To: "alice@example.com", Template: ports.TemplateResetPassword, Data: map[string]string{
				"link": appURL + "/reset-password?token=" + mailToken, "email": "alice@example.com",
			}}, now).Return(nil),
		f.events.EXPECT().Record(bg(t), ports.SecurityEvent{Name: ports.EventPasswordResetRequested, UserID: 42, Email: "alice@example.com"}),
	)
	if err := f.svc.ForgotPassword(ctx, " Alice@Example.com"); err != nil {
		t.Fatal(err)
	}
	waitBackground(t, f)
}

// TestForgotPasswordAnswersAlike: no account, an inactive one, or a
// storage failure behind the answer: the caller sees nil every time, and
// nothing is issued.
func TestForgotPasswordAnswersAlike(t *testing.T) {
	inactive := domain.RehydrateUser(42, "alice@example.com", "stored-hash", false, now)
	tests := []struct {
		name    string
		user    *domain.User
		err     error
		event   *ports.SecurityEvent
		wantErr bool // reported to OnError, not to the caller
	}{
		{name: "no account", err: domain.ErrUserNotFound, event: &ports.SecurityEvent{Name: ports.EventPasswordResetRequested, Email: "alice@example.com", Reason: ports.ReasonNoAccount}},
		{name: "inactive", user: inactive, event: &ports.SecurityEvent{Name: ports.EventPasswordResetRequested, UserID: 42, Email: "alice@example.com", Reason: ports.ReasonInactiveAccount}},
		{name: "storage down", err: domain.Unavailable(errors.New("db down")), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reported []error
			cfg := limitsOn()
			cfg.Mail.OnError = func(op string, err error) { reported = append(reported, fmt.Errorf("%s: %w", op, err)) }
			f := newMailFixture(t, cfg)
			ctx := clientCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			expectMailLimits(f, ctx, "reset", "alice@example.com", 1, 1, 1)
			f.users.EXPECT().ByEmail(bg(t), mustEmail(t, "alice@example.com")).Return(tc.user, tc.err)
			if tc.event != nil {
				f.events.EXPECT().Record(bg(t), *tc.event)
			}
			if err := f.svc.ForgotPassword(ctx, "alice@example.com"); err != nil {
				t.Fatalf("err = %v, want nil whatever the account", err)
			}
			waitBackground(t, f)
			if tc.wantErr != (len(reported) == 1) {
				t.Errorf("reported %v", reported)
			}
		})
	}
}

// TestAnonymousMailLimits: the address's cooldown and daily cap suppress
// the mail without telling the client; the client's own budget is a 429.
// None of them looks the account up.
func TestAnonymousMailLimits(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		client, cooldown, day int
		reason                ports.Reason
		wantCode              string
	}{
		{name: "cooldown", client: 2, cooldown: 2, reason: ports.ReasonMailCooldown},
		{name: "daily cap", client: 3, cooldown: 1, day: DefaultMailDailyCap + 1, reason: ports.ReasonMailDailyCap},
		{name: "client budget", client: DefaultClientMails + 1, wantCode: domain.ERATELIMITED},
	} {
		for _, flow := range []struct {
			kind string
			call func(*Service, context.Context, string) error
		}{{"reset", (*Service).ForgotPassword}, {"verify", (*Service).RequestVerification}} {
			t.Run(tc.name+"/"+flow.kind, func(t *testing.T) {
				f := newMailFixture(t, limitsOn())
				ctx := clientCtx(t)
				f.clock.EXPECT().Now().Return(now).AnyTimes()
				expectMailLimits(f, ctx, flow.kind, "alice@example.com", tc.client, tc.cooldown, tc.day)
				if tc.reason != "" {
					f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventMailSuppressed, Email: "alice@example.com", Reason: tc.reason})
				}
				if tc.wantCode != "" {
					f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventRateLimitExceeded, Reason: ports.ReasonClientBudget})
				}
				err := flow.call(f.svc, ctx, "alice@example.com")
				waitBackground(t, f)
				if domain.ErrorCode(err) != tc.wantCode {
					t.Fatalf("err = %v, want code %q", err, tc.wantCode)
				}
				if tc.wantCode != "" && domain.ErrorRetryAfter(err) != time.Hour {
					t.Errorf("Retry-After %v, want the window's end", domain.ErrorRetryAfter(err))
				}
			})
		}
	}
}

func TestMailFlowsRefuseBadInputBeforeAnyWork(t *testing.T) {
	f := newMailFixture(t, limitsOn())
	ctx := clientCtx(t)
	for _, raw := range []string{"", "not an address", "a@b@c.example"} {
		if err := f.svc.ForgotPassword(ctx, raw); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("ForgotPassword(%q) = %v, want EINVALID", raw, err)
		}
		if err := f.svc.RequestVerification(ctx, raw); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("RequestVerification(%q) = %v, want EINVALID", raw, err)
		}
	}
	// A token that is not well-formed is refused without a lookup.
	f.stokens.EXPECT().Hash("garbage").Return(nil, false).Times(2)
	if _, err := f.svc.VerifyEmail(ctx, "garbage"); !errors.Is(err, domain.ErrInvalidEmailToken) {
		t.Errorf("VerifyEmail = %v", err)
	}
	if err := f.svc.ResetPassword(ctx, "garbage", validNewPW); !errors.Is(err, domain.ErrInvalidEmailToken) {
		t.Errorf("ResetPassword = %v", err)
	}
}

// TestMailFlowsWithoutMail: every flow answers ErrMailDisabled (501)
// without touching anything, and registration sends nothing.
func TestMailFlowsWithoutMail(t *testing.T) {
	f := newFixture(t, limitsOn())
	ctx := clientCtx(t)
	errs := map[string]error{
		"forgot": f.svc.ForgotPassword(ctx, "alice@example.com"),
		"resend": f.svc.RequestVerification(ctx, "alice@example.com"),
		"reset":  f.svc.ResetPassword(ctx, mailToken, validNewPW),
		"change": f.svc.RequestEmailChange(ctx, "tok", "pw", "new@example.com"),
	}
	_, errs["verify"] = f.svc.VerifyEmail(ctx, mailToken)
	for name, err := range errs {
		if !errors.Is(err, domain.ErrMailDisabled) {
			t.Errorf("%s: %v, want ErrMailDisabled", name, err)
		}
	}
	if f.svc.MailEnabled() || f.svc.EnumerationSafe() {
		t.Error("mail flows on without a mailer")
	}
}

func TestVerifyEmailMarksTheAddressVerified(t *testing.T) {
	f := newMailFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{UserID: 42, Purpose: ports.PurposeVerifyEmail}, nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.users.EXPECT().SetEmailVerified(ctx, int64(42), now).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventEmailVerified, UserID: 42, Email: "alice@example.com"}),
	)
	u, err := f.svc.VerifyEmail(ctx, mailToken)
	if err != nil || !u.EmailVerified() || !u.EmailVerifiedAt().Equal(now) {
		t.Fatalf("VerifyEmail = %v, %v", u, err)
	}
}

// TestVerifyEmailRefuses: a token no purpose of verify accepts (a reset
// token is one: Consume is never asked for the reset purpose), a token
// of a gone or inactive user, and storage failures.
func TestVerifyEmailRefuses(t *testing.T) {
	inactive := domain.RehydrateUser(42, "alice@example.com", "stored-hash", false, now)
	down := domain.Unavailable(errors.New("db down"))
	tests := []struct {
		name   string
		expect func(f *mailFixture, ctx context.Context)
		want   error
	}{
		{"unknown, used, expired or a reset token", func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound)
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeChangeEmail, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound)
		}, domain.ErrInvalidEmailToken},
		{"user gone", func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{UserID: 42, Purpose: ports.PurposeVerifyEmail}, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(nil, domain.ErrUserNotFound)
		}, domain.ErrInvalidEmailToken},
		{"user inactive", func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{UserID: 42, Purpose: ports.PurposeVerifyEmail}, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(inactive, nil)
		}, domain.ErrInvalidEmailToken},
		{"storage down", func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{}, down)
		}, down},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newMailFixture(t, Config{})
			ctx := testCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true)
			tc.expect(f, ctx)
			if u, err := f.svc.VerifyEmail(ctx, mailToken); !errors.Is(err, tc.want) || u != nil {
				t.Fatalf("VerifyEmail = %v, %v, want %v", u, err, tc.want)
			}
		})
	}
}

// TestVerifyEmailChangesTheAddress: an email-change token moves the
// account to its new address, voids the links mailed to the old one and
// tells the old one.
func TestVerifyEmailChangesTheAddress(t *testing.T) {
	f := newMailFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	moved := domain.RehydrateUser(42, "new@example.com", "stored-hash", true, now).WithEmailVerifiedAt(now)
	gomock.InOrder(
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound),
		f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeChangeEmail, now).Return(ports.EmailToken{UserID: 42, Purpose: ports.PurposeChangeEmail, NewEmail: "new@example.com"}, nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.users.EXPECT().ChangeEmail(ctx, int64(42), mustEmail(t, "new@example.com"), now).Return(nil),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeResetPassword, now).Return(nil),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeVerifyEmail, now).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventEmailChanged, UserID: 42, Email: "new@example.com"}),
		f.outbox.EXPECT().Enqueue(ctx, ports.Mail{To: "alice@example.com", Template: ports.TemplateEmailChanged, Data: map[string]string{
			"email": "alice@example.com", "new_email": "new@example.com", "link": appURL + "/forgot-password",
		}}, now).Return(nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(moved, nil),
	)
	u, err := f.svc.VerifyEmail(ctx, mailToken)
	if err != nil || u != moved {
		t.Fatalf("VerifyEmail = %v, %v", u, err)
	}
}

func TestVerifyEmailChangeToATakenAddress(t *testing.T) {
	f := newMailFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true)
	f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeVerifyEmail, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound)
	f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeChangeEmail, now).Return(ports.EmailToken{UserID: 42, Purpose: ports.PurposeChangeEmail, NewEmail: "bob@example.com"}, nil)
	f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil)
	f.users.EXPECT().ChangeEmail(ctx, int64(42), mustEmail(t, "bob@example.com"), now).Return(domain.ErrEmailTaken)
	if _, err := f.svc.VerifyEmail(ctx, mailToken); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("err = %v, want ErrEmailTaken", err)
	}
}

// TestResetPassword: the whole reset, in order: the token is looked up,
// the password checked and hashed, then the token spent, the hash stored,
// every session ended, other reset links voided, the account's limits
// cleared, the address verified and the owner told.
func TestResetPassword(t *testing.T) {
	f := newMailFixture(t, limitsOn())
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	tok := ports.EmailToken{UserID: 42, Purpose: ports.PurposeResetPassword, ExpiresAt: now.Add(time.Minute)}
	gomock.InOrder(
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Lookup(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(tok, nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.hasher.EXPECT().Hash(ctx, validNewPW).Return("new-hash", nil),
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(tok, nil),
		f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil),
		f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(nil),
		f.sessions.EXPECT().RevokeAll(ctx, int64(42), now).Return(3, nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordReset, UserID: 42, Email: "alice@example.com"}),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, Reason: ports.ReasonPasswordReset}),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeResetPassword, now).Return(nil),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeChangeEmail, now).Return(nil),
		f.limits.EXPECT().Reset(ctx, "acct:alice@example.com").Return(nil),
		f.limits.EXPECT().Reset(ctx, "acct-cap:alice@example.com").Return(nil),
		f.users.EXPECT().SetEmailVerified(ctx, int64(42), now).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventEmailVerified, UserID: 42, Email: "alice@example.com"}),
		f.outbox.EXPECT().Enqueue(ctx, ports.Mail{To: "alice@example.com", Template: ports.TemplatePasswordChanged, Data: map[string]string{
			"email": "alice@example.com", "link": appURL + "/forgot-password",
		}}, now).Return(nil),
	)
	if err := f.svc.ResetPassword(ctx, mailToken, validNewPW); err != nil {
		t.Fatal(err)
	}
}

// TestResetPasswordRefuses: a refused password does not spend the token;
// nor does an unusable token or an inactive account get as far as
// hashing; a token spent by a concurrent reset stores nothing.
func TestResetPasswordRefuses(t *testing.T) {
	tok := ports.EmailToken{UserID: 42, Purpose: ports.PurposeResetPassword}
	inactive := domain.RehydrateUser(42, "alice@example.com", "stored-hash", false, now)
	tests := []struct {
		name     string
		password string
		expect   func(f *mailFixture, ctx context.Context)
		wantCode string
		want     error
	}{
		{"weak password", "alice-example", func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Lookup(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(tok, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil)
		}, domain.EINVALID, nil},
		{"unusable token", validNewPW, func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Lookup(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound)
		}, domain.EINVALID, domain.ErrInvalidEmailToken},
		{"inactive account", validNewPW, func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Lookup(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(tok, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(inactive, nil)
		}, domain.EINVALID, domain.ErrInvalidEmailToken},
		{"spent meanwhile", validNewPW, func(f *mailFixture, ctx context.Context) {
			f.etokens.EXPECT().Lookup(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(tok, nil)
			f.users.EXPECT().ByID(ctx, int64(42)).Return(alice(), nil)
			f.hasher.EXPECT().Hash(ctx, validNewPW).Return("new-hash", nil)
			f.etokens.EXPECT().Consume(ctx, mailTokenHash, ports.PurposeResetPassword, now).Return(ports.EmailToken{}, domain.ErrEmailTokenNotFound)
		}, domain.EINVALID, domain.ErrInvalidEmailToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newMailFixture(t, Config{Policy: domain.PasswordPolicy{}})
			ctx := testCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true).AnyTimes()
			tc.expect(f, ctx)
			err := f.svc.ResetPassword(ctx, mailToken, tc.password)
			if domain.ErrorCode(err) != tc.wantCode || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %s %v", err, tc.wantCode, tc.want)
			}
		})
	}
}

// expectMe expects the authentication of "tok" (session "mine" of alice).
func expectMe(f *fixture, ctx context.Context) {
	claims := ports.AccessClaims{UserID: 42, SessionID: "mine", ExpiresAt: now.Add(time.Hour)}
	f.tokens.EXPECT().Verify("tok", now).Return(claims, nil)
	f.sessions.EXPECT().ActiveUser(ctx, "mine", int64(42), now).Return(alice(), nil)
}

// TestChangePassword: the current password is checked, the new one
// hashed and stored, every other session ended (this one kept), reset
// links voided and the owner told.
func TestChangePassword(t *testing.T) {
	f := newMailFixture(t, Config{})
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	expectMe(f.fixture, ctx)
	gomock.InOrder(
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "old-pw-old-pw").Return(true, nil),
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false),
		f.hasher.EXPECT().Hash(ctx, validNewPW).Return("new-hash", nil),
		f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(nil),
		f.sessions.EXPECT().RevokeOthers(ctx, int64(42), "mine", now).Return(2, nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordChanged, UserID: 42, Email: "alice@example.com", SessionID: "mine"}),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: 42, Reason: ports.ReasonPasswordChanged}),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeResetPassword, now).Return(nil),
		f.etokens.EXPECT().InvalidateAll(ctx, int64(42), ports.PurposeChangeEmail, now).Return(nil),
		f.outbox.EXPECT().Enqueue(ctx, ports.Mail{To: "alice@example.com", Template: ports.TemplatePasswordChanged, Data: map[string]string{
			"email": "alice@example.com", "link": appURL + "/forgot-password",
		}}, now).Return(nil),
	)
	if err := f.svc.ChangePassword(ctx, "tok", "old-pw-old-pw", validNewPW); err != nil {
		t.Fatal(err)
	}
}

// TestChangePasswordRefuses: a new password the policy refuses is a 422
// on new_password before any password check; a wrong current password is
// 403 and counts as a failed login; neither stores anything. Without mail
// a change works and sends nothing.
func TestChangePasswordRefuses(t *testing.T) {
	t.Run("weak new password", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		expectMe(f, ctx)
		err := f.svc.ChangePassword(ctx, "tok", "old-pw-old-pw", "short")
		fields := domain.ErrorFields(err)
		if domain.ErrorCode(err) != domain.EINVALID || len(fields) != 1 || fields[0].Field != "new_password" {
			t.Fatalf("err = %v, fields %+v; want one new_password field error", err, fields)
		}
	})
	t.Run("wrong current password", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		expectMe(f, ctx)
		gomock.InOrder(
			f.hasher.EXPECT().Compare(ctx, "stored-hash", "nope").Return(false, nil),
			f.hasher.EXPECT().Cheaper("stored-hash").Return(false),
			f.events.EXPECT().Record(ctx, loginFailedEvent(42, "alice@example.com", ports.ReasonPasswordMismatch)),
		)
		if err := f.svc.ChangePassword(ctx, "tok", "nope", validNewPW); !errors.Is(err, domain.ErrWrongPassword) {
			t.Fatalf("err = %v, want ErrWrongPassword", err)
		}
	})
	t.Run("without mail", func(t *testing.T) {
		f := newFixture(t, Config{})
		ctx := testCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		expectMe(f, ctx)
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "old-pw-old-pw").Return(true, nil)
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false)
		f.hasher.EXPECT().Hash(ctx, validNewPW).Return("new-hash", nil)
		f.users.EXPECT().UpdatePasswordHash(ctx, int64(42), "new-hash").Return(nil)
		f.sessions.EXPECT().RevokeOthers(ctx, int64(42), "mine", now).Return(0, nil)
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordChanged, UserID: 42, Email: "alice@example.com", SessionID: "mine"})
		if err := f.svc.ChangePassword(ctx, "tok", "old-pw-old-pw", validNewPW); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRequestEmailChange(t *testing.T) {
	f := newMailFixture(t, limitsOn())
	ctx := clientCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	expectMe(f.fixture, ctx)
	gomock.InOrder(
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil),
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false),
		f.limits.EXPECT().Hit(ctx, "mail-ip:203.0.113.7", DefaultClientMailWindow, now).Return(1, now.Add(time.Hour), nil),
		f.limits.EXPECT().Hit(ctx, "mail-to:change:new@example.com", DefaultMailCooldown, now).Return(1, now.Add(time.Minute), nil),
		f.limits.EXPECT().Hit(ctx, "mail-day:new@example.com", 24*time.Hour, now).Return(1, now.Add(24*time.Hour), nil),
		f.stokens.EXPECT().NewRefreshToken().Return(mailToken, nil),
		f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
		f.etokens.EXPECT().Issue(ctx, mailTokenHash,
			ports.EmailToken{UserID: 42, Purpose: ports.PurposeChangeEmail, NewEmail: "new@example.com", ExpiresAt: now.Add(24 * time.Hour)},
			ports.Mail{To: "new@example.com", Template: ports.TemplateEmailChange, Data: map[string]string{
				"link": appURL + "/verify-email?token=" + mailToken, "email": "new@example.com", "new_email": "new@example.com",
			}}, now).Return(nil),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventEmailChangeRequested, UserID: 42, Email: "alice@example.com"}),
		f.outbox.EXPECT().Enqueue(ctx, ports.Mail{To: "alice@example.com", Template: ports.TemplateEmailChangeAsk, Data: map[string]string{
			"email": "alice@example.com", "new_email": "new@example.com", "link": appURL + "/forgot-password",
		}}, now).Return(nil),
	)
	if err := f.svc.RequestEmailChange(ctx, "tok", "pw-pw-pw-pw", "New@Example.com"); err != nil {
		t.Fatal(err)
	}
}

// TestRequestEmailChangeRefuses: the own address is ECONFLICT and a bad
// one a new_email field error, both before the password check; within the
// new address's cooldown the answer is 429 and nothing is issued.
func TestRequestEmailChangeRefuses(t *testing.T) {
	for _, tc := range []struct{ raw, code, field string }{
		{"ALICE@example.com", domain.ECONFLICT, ""},
		{"not an address", domain.EINVALID, "new_email"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			f := newMailFixture(t, limitsOn())
			ctx := clientCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			expectMe(f.fixture, ctx)
			err := f.svc.RequestEmailChange(ctx, "tok", "pw-pw-pw-pw", tc.raw)
			if domain.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if fields := domain.ErrorFields(err); tc.field != "" && (len(fields) != 1 || fields[0].Field != tc.field) {
				t.Errorf("fields %+v, want %s", fields, tc.field)
			}
		})
	}
	t.Run("cooldown", func(t *testing.T) {
		f := newMailFixture(t, limitsOn())
		ctx := clientCtx(t)
		f.clock.EXPECT().Now().Return(now).AnyTimes()
		expectMe(f.fixture, ctx)
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil)
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false)
		f.limits.EXPECT().Hit(ctx, "mail-ip:203.0.113.7", DefaultClientMailWindow, now).Return(1, now.Add(time.Hour), nil)
		f.limits.EXPECT().Hit(ctx, "mail-to:change:new@example.com", DefaultMailCooldown, now).Return(2, now.Add(40*time.Second), nil)
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventMailSuppressed, Email: "new@example.com", Reason: ports.ReasonMailCooldown})
		err := f.svc.RequestEmailChange(ctx, "tok", "pw-pw-pw-pw", "new@example.com")
		if domain.ErrorCode(err) != domain.ERATELIMITED || domain.ErrorRetryAfter(err) != 40*time.Second {
			t.Fatalf("err = %v (retry after %v), want 429 after 40s", err, domain.ErrorRetryAfter(err))
		}
	})
}

// TestRegisterSendsTheVerificationMail: with mail on, a new account gets
// a verification link; a failure to write it is reported, and the
// registration stands.
func TestRegisterSendsTheVerificationMail(t *testing.T) {
	for _, issueErr := range []error{nil, domain.Unavailable(errors.New("db down"))} {
		t.Run(fmt.Sprint(issueErr), func(t *testing.T) {
			var reported []string
			cfg := Config{}
			cfg.Mail.OnError = func(op string, err error) { reported = append(reported, op) }
			f := newMailFixture(t, cfg)
			ctx := testCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			created := domain.RehydrateUser(42, "alice@example.com", "h", true, now)
			gomock.InOrder(
				f.hasher.EXPECT().Hash(ctx, validNewPW).Return("h", nil),
				f.users.EXPECT().Create(ctx, newUserMatcher{email: "alice@example.com", hash: "h", createdAt: now}).Return(created, nil),
				f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventUserRegistered, UserID: 42, Email: "alice@example.com"}),
				f.stokens.EXPECT().NewRefreshToken().Return(mailToken, nil),
				f.stokens.EXPECT().Hash(mailToken).Return(mailTokenHash, true),
				f.etokens.EXPECT().Issue(ctx, mailTokenHash,
					ports.EmailToken{UserID: 42, Purpose: ports.PurposeVerifyEmail, ExpiresAt: now.Add(24 * time.Hour)},
					ports.Mail{To: "alice@example.com", Template: ports.TemplateVerifyEmail, Data: map[string]string{
						"link": appURL + "/verify-email?token=" + mailToken, "email": "alice@example.com",
					}}, now).Return(issueErr),
			)
			if issueErr == nil {
				f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventVerificationRequested, UserID: 42, Email: "alice@example.com"})
			}
			u, err := f.svc.Register(ctx, "alice@example.com", validNewPW)
			if err != nil || u != created {
				t.Fatalf("Register = %v, %v", u, err)
			}
			if (issueErr != nil) != (len(reported) == 1) {
				t.Errorf("reported %v", reported)
			}
		})
	}
}

// TestRegisterQuietly: a taken address answers nil like a new one, and
// its owner is told (once per cooldown).
func TestRegisterQuietly(t *testing.T) {
	for _, cooldown := range []int{1, 2} {
		t.Run(fmt.Sprint("cooldown count ", cooldown), func(t *testing.T) {
			cfg := limitsOn()
			cfg.Mail.EnumerationSafe = true
			f := newMailFixture(t, cfg)
			ctx := clientCtx(t)
			f.clock.EXPECT().Now().Return(now).AnyTimes()
			calls := []any{
				f.hasher.EXPECT().Hash(ctx, validNewPW).Return("h", nil),
				f.users.EXPECT().Create(ctx, gomock.Any()).Return(nil, domain.ErrEmailTaken),
				f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
				f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventRegisterExisting, UserID: 42, Email: "alice@example.com"}),
				f.limits.EXPECT().Hit(ctx, "mail-to:register-attempt:alice@example.com", DefaultMailCooldown, now).Return(cooldown, now.Add(time.Minute), nil),
			}
			if cooldown == 1 {
				calls = append(calls,
					f.limits.EXPECT().Hit(ctx, "mail-day:alice@example.com", 24*time.Hour, now).Return(1, now.Add(24*time.Hour), nil),
					f.outbox.EXPECT().Enqueue(ctx, ports.Mail{To: "alice@example.com", Template: ports.TemplateRegisterAttempt, Data: map[string]string{
						"email": "alice@example.com", "link": appURL + "/forgot-password",
					}}, now).Return(nil))
			} else {
				calls = append(calls, f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventMailSuppressed, Email: "alice@example.com", Reason: ports.ReasonMailCooldown}))
			}
			gomock.InOrder(calls...)
			if !f.svc.EnumerationSafe() {
				t.Fatal("EnumerationSafe() = false")
			}
			if err := f.svc.RegisterQuietly(ctx, "alice@example.com", validNewPW); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLoginRequiresAVerifiedEmail: the right password of an unverified
// account is 403 and starts no session; a verified one logs in.
func TestLoginRequiresAVerifiedEmail(t *testing.T) {
	cfg := Config{}
	cfg.Mail.RequireVerified = true
	f := newMailFixture(t, cfg)
	ctx := testCtx(t)
	f.clock.EXPECT().Now().Return(now).AnyTimes()
	gomock.InOrder(
		f.users.EXPECT().ByEmail(ctx, mustEmail(t, "alice@example.com")).Return(alice(), nil),
		f.hasher.EXPECT().Compare(ctx, "stored-hash", "pw-pw-pw-pw").Return(true, nil),
		f.hasher.EXPECT().NeedsRehash("stored-hash").Return(false),
		f.events.EXPECT().Record(ctx, ports.SecurityEvent{Name: ports.EventLoginFailed, UserID: 42, Email: "alice@example.com", Reason: ports.ReasonEmailNotVerified}),
	)
	if _, err := f.svc.Login(ctx, Credentials{Email: "alice@example.com", Password: "pw-pw-pw-pw"}); !errors.Is(err, domain.ErrEmailNotVerified) {
		t.Fatalf("err = %v, want ErrEmailNotVerified", err)
	}
}

// TestBackgroundIsBounded: with every slot busy, an anonymous mail
// request is 503 with a Retry-After, and tells nothing else.
func TestBackgroundIsBounded(t *testing.T) {
	cfg := Config{}
	cfg.Mail.Background = 1
	f := newMailFixture(t, cfg)
	ctx := testCtx(t)
	release := make(chan struct{})
	f.users.EXPECT().ByEmail(gomock.Any(), mustEmail(t, "alice@example.com")).DoAndReturn(func(context.Context, domain.Email) (*domain.User, error) {
		<-release
		return nil, domain.ErrUserNotFound
	})
	f.events.EXPECT().Record(gomock.Any(), gomock.Any())
	if err := f.svc.ForgotPassword(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	err := f.svc.ForgotPassword(ctx, "alice@example.com")
	if domain.ErrorCode(err) != domain.EUNAVAILABLE || domain.ErrorRetryAfter(err) != time.Second {
		t.Errorf("second request = %v, want EUNAVAILABLE after 1s", err)
	}
	close(release)
	waitBackground(t, f)
}

func TestNewRefusesHalfAMailer(t *testing.T) {
	f := newMocks(t)
	ctrl := gomock.NewController(t)
	p := f.ports()
	p.EmailTokens = mock.NewMockEmailTokenRepository(ctrl)
	if _, err := New(p, Config{}); err == nil {
		t.Error("New accepted EmailTokens without an Outbox")
	}
	cfg := Config{}
	cfg.Mail.RequireVerified = true
	if _, err := New(f.ports(), cfg); err == nil {
		t.Error("New accepted RequireVerified without mail")
	}
}

// TestSweepDeletesSpentMail: with mail on, the sweep also drops used or
// expired emailed tokens and messages delivered (or given up) more than
// MailKept ago, even when an earlier step failed.
func TestSweepDeletesSpentMail(t *testing.T) {
	f := newMailFixture(t, Config{})
	ctx := testCtx(t)
	cause := errors.New("disk I/O error")
	f.clock.EXPECT().Now().Return(now)
	f.sessions.EXPECT().DeleteEnded(ctx, now).Return(0, domain.Unavailable(cause))
	f.limits.EXPECT().DeleteExpired(ctx, now).Return(1, nil)
	f.etokens.EXPECT().DeleteExpired(ctx, now).Return(4, nil)
	f.outbox.EXPECT().DeleteOld(ctx, now.Add(-MailKept)).Return(9, nil)
	res, err := f.svc.Sweep(ctx)
	if res != (SweepResult{RateLimits: 1, EmailTokens: 4, Mail: 9}) || !errors.Is(err, cause) {
		t.Errorf("Sweep = %+v, %v", res, err)
	}
}

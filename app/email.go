package app

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// RequestVerification mails a new verification link to rawEmail's
// account when it has one that is active and not yet verified. It answers
// nil (202) alike in every case, after the same work, so nothing tells
// whether the account exists or is verified; the mail itself is prepared
// after the answer. EINVALID for an address that does not parse,
// ERATELIMITED when the client's mail budget is spent, EUNSUPPORTED
// (domain.ErrMailDisabled) without a mailer.
func (s *Service) RequestVerification(ctx context.Context, rawEmail string) error {
	return s.anonymousMail(ctx, rawEmail, kindVerify, "verification mail", func(ctx context.Context, email domain.Email) error {
		u, err := s.accountFor(ctx, email, ports.EventVerificationRequested)
		if err != nil || u == nil {
			return err
		}
		if u.EmailVerified() {
			s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventVerificationRequested, UserID: u.ID(), Email: email.String(), Reason: ports.ReasonAlreadyVerified})
			return nil
		}
		return s.sendVerification(ctx, u)
	})
}

// sendVerification mails u a verification link.
func (s *Service) sendVerification(ctx context.Context, u *domain.User) error {
	err := s.sendToken(ctx, tokenMail{
		user: u.ID(), to: u.Email(), purpose: ports.PurposeVerifyEmail,
		template: ports.TemplateVerifyEmail, page: pageVerifyEmail, ttl: s.cfg.Mail.VerifyTTL,
	})
	if err == nil {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventVerificationRequested, UserID: u.ID(), Email: u.Email().String()})
	}
	return err
}

// ForgotPassword mails a password-reset link to rawEmail's account when
// it has one that is active. Like RequestVerification it answers nil
// (202) alike whether or not it does.
func (s *Service) ForgotPassword(ctx context.Context, rawEmail string) error {
	return s.anonymousMail(ctx, rawEmail, kindReset, "password reset mail", func(ctx context.Context, email domain.Email) error {
		u, err := s.accountFor(ctx, email, ports.EventPasswordResetRequested)
		if err != nil || u == nil {
			return err
		}
		err = s.sendToken(ctx, tokenMail{
			user: u.ID(), to: u.Email(), purpose: ports.PurposeResetPassword,
			template: ports.TemplateResetPassword, page: pageResetPassword, ttl: s.cfg.Mail.ResetTTL,
		})
		if err == nil {
			s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordResetRequested, UserID: u.ID(), Email: email.String()})
		}
		return err
	})
}

// emailTokenUser spends or looks up (consume false) an emailed token of
// one of purposes and returns it with its user. Anything that makes the
// token unusable (malformed, unknown, used, expired, another purpose, its
// user gone or inactive) is domain.ErrInvalidEmailToken.
func (s *Service) emailTokenUser(ctx context.Context, token string, consume bool, purposes ...ports.EmailTokenPurpose) (ports.EmailToken, *domain.User, error) {
	if !s.MailEnabled() {
		return ports.EmailToken{}, nil, domain.ErrMailDisabled
	}
	hash, ok := s.sessionTokens.Hash(token)
	if !ok {
		return ports.EmailToken{}, nil, domain.ErrInvalidEmailToken
	}
	now := s.clock.Now()
	var (
		t   ports.EmailToken
		err error = domain.ErrEmailTokenNotFound
	)
	for _, p := range purposes {
		if consume {
			t, err = s.emailTokens.Consume(ctx, hash, p, now)
		} else {
			t, err = s.emailTokens.Lookup(ctx, hash, p, now)
		}
		if domain.ErrorCode(err) != domain.ENOTFOUND {
			break
		}
	}
	if err != nil {
		return t, nil, orIfNotFound(err, domain.ErrInvalidEmailToken)
	}
	u, err := s.users.ByID(ctx, t.UserID)
	switch {
	case err != nil:
		return t, nil, orIfNotFound(err, domain.ErrInvalidEmailToken)
	case !u.IsActive():
		return t, nil, domain.ErrInvalidEmailToken
	}
	return t, u, nil
}

// VerifyEmail spends a verification or email-change token and returns the
// user with the address verified (for an email change: moved to the new
// address, verified, with a notice to the old one and the old address's
// pending links voided). ErrInvalidEmailToken for any token that cannot
// be used; ECONFLICT (domain.ErrEmailTaken) when the new address was
// registered meanwhile.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*domain.User, error) {
	t, u, err := s.emailTokenUser(ctx, token, true, ports.PurposeVerifyEmail, ports.PurposeChangeEmail)
	if err != nil {
		return nil, err
	}
	if t.Purpose == ports.PurposeChangeEmail {
		return s.changeEmail(ctx, u, t.NewEmail)
	}
	if u.EmailVerified() {
		return u, nil
	}
	now := s.clock.Now()
	if err := s.users.SetEmailVerified(ctx, u.ID(), now); err != nil {
		return nil, orIfNotFound(err, domain.ErrInvalidEmailToken)
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventEmailVerified, UserID: u.ID(), Email: u.Email().String()})
	return u.WithEmailVerifiedAt(now), nil
}

// changeEmail moves u to rawNew, which the token's mail proved the user
// receives.
func (s *Service) changeEmail(ctx context.Context, u *domain.User, rawNew string) (*domain.User, error) {
	newEmail, err := domain.ParseEmail(rawNew)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	if err := s.users.ChangeEmail(ctx, u.ID(), newEmail, now); err != nil {
		return nil, orIfNotFound(err, domain.ErrInvalidEmailToken)
	}
	// Links mailed to the old address must not act on the account now.
	for _, p := range []ports.EmailTokenPurpose{ports.PurposeResetPassword, ports.PurposeVerifyEmail} {
		if err := s.emailTokens.InvalidateAll(ctx, u.ID(), p, now); err != nil {
			return nil, err
		}
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventEmailChanged, UserID: u.ID(), Email: newEmail.String()})
	s.reportError("email changed notice", s.notify(ctx, u.Email(), ports.TemplateEmailChanged, map[string]string{"new_email": newEmail.String()}))
	changed, err := s.users.ByID(ctx, u.ID())
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// ResetPassword sets a new password with a reset token. The password must
// pass the policy before the token is spent (a refused one does not cost
// the user a new mail). Every session of the user ends, other reset links
// and pending email changes stop working (voidCredentialLinks), the account's failed-login limits are cleared (its owner
// proved they read its mail), the address counts as verified, and a
// notice goes to it. ErrInvalidEmailToken for any token that cannot be
// used, EINVALID for a password the policy refuses.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	ctx, release, err := s.hasher.Admit(ctx) // an overload refuses before any other work
	if err != nil {
		return err
	}
	defer release()
	_, u, err := s.emailTokenUser(ctx, token, false, ports.PurposeResetPassword)
	if err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, password, u.Email())
	if err != nil {
		return err
	}
	if _, _, err := s.emailTokenUser(ctx, token, true, ports.PurposeResetPassword); err != nil {
		return err // another request spent it meanwhile
	}
	now := s.clock.Now()
	if err := s.users.UpdatePasswordHash(ctx, u.ID(), hash); err != nil {
		return orIfNotFound(err, domain.ErrInvalidEmailToken)
	}
	n, err := s.sessions.RevokeAll(ctx, u.ID(), now)
	if err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordReset, UserID: u.ID(), Email: u.Email().String()})
	if n > 0 {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: u.ID(), Reason: ports.ReasonPasswordReset})
	}
	// The password changed: what follows is reported, not returned, so a
	// client never retries a reset that happened.
	s.reportError("password reset follow-up", errors.Join(
		s.voidCredentialLinks(ctx, u.ID(), now),
		s.clearAccountLimits(ctx, u.Email()),
		s.verifyByReset(ctx, u, now),
		s.notify(ctx, u.Email(), ports.TemplatePasswordChanged, nil),
	))
	return nil
}

// voidCredentialLinks voids, after a password reset or change, the links
// that act on the account with the authority of the old password: pending
// reset links, and pending email changes, which only someone who knew the
// password could ask for. Without the latter, whoever had the password
// could still move the account to their address after the owner reset it.
func (s *Service) voidCredentialLinks(ctx context.Context, userID int64, now time.Time) error {
	return errors.Join(
		s.emailTokens.InvalidateAll(ctx, userID, ports.PurposeResetPassword, now),
		s.emailTokens.InvalidateAll(ctx, userID, ports.PurposeChangeEmail, now),
	)
}

// newPasswordHash checks a new password against the policy (and the
// breach list) for the account of email and hashes its NFKC form.
func (s *Service) newPasswordHash(ctx context.Context, password string, email domain.Email) (string, error) {
	if err := s.cfg.Policy.Validate(password, email); err != nil {
		return "", err
	}
	normalized, err := domain.NormalizePassword(password)
	if err != nil {
		return "", err
	}
	if err := s.checkBreached(ctx, normalized); err != nil {
		return "", err
	}
	return s.hasher.Hash(ctx, normalized)
}

// ChangePassword replaces the password of the access token's user, who
// must give the current one (a wrong one is EFORBIDDEN and counts like a
// failed login). Every other session ends; the caller's stays. Pending
// reset links stop working, and a notice goes to the address when mail is
// on. Pending email changes are void too (voidCredentialLinks). EINVALID
// (field new_password) for a password the policy refuses.
func (s *Service) ChangePassword(ctx context.Context, accessToken, current, next string) error {
	ctx, release, err := s.hasher.Admit(ctx) // an overload refuses before any other work
	if err != nil {
		return err
	}
	defer release()
	u, claims, _, err := s.authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	if err := s.cfg.Policy.Validate(next, u.Email()); err != nil {
		return renameField(err, "password", "new_password")
	}
	if err := s.confirmPassword(ctx, u, current); err != nil {
		return err
	}
	hash, err := s.newPasswordHash(ctx, next, u.Email())
	if err != nil {
		return renameField(err, "password", "new_password")
	}
	now := s.clock.Now()
	if err := s.users.UpdatePasswordHash(ctx, u.ID(), hash); err != nil {
		return orIfNotFound(err, domain.ErrInvalidToken)
	}
	n, err := s.sessions.RevokeOthers(ctx, u.ID(), claims.SessionID, now)
	if err != nil {
		return err
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventPasswordChanged, UserID: u.ID(), Email: u.Email().String(), SessionID: claims.SessionID})
	if n > 0 {
		s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventSessionRevoked, UserID: u.ID(), Reason: ports.ReasonPasswordChanged})
	}
	if s.MailEnabled() {
		s.reportError("password change follow-up", errors.Join(
			s.voidCredentialLinks(ctx, u.ID(), now),
			s.notify(ctx, u.Email(), ports.TemplatePasswordChanged, nil),
		))
	}
	return nil
}

// RequestEmailChange starts moving the access token's user to rawNew: the
// user must give the current password (EFORBIDDEN otherwise, counted like
// a failed login), and a link goes to the new address; the change happens
// when it is posted to VerifyEmail. Whether another account has the new
// address is not told here (it would let any user probe addresses); the
// link then fails with ECONFLICT, seen only by whoever reads that
// mailbox. The current address gets a notice naming the new one.
// ECONFLICT at once when rawNew is the user's own address,
// ERATELIMITED while a link to that address is on its cooldown.
func (s *Service) RequestEmailChange(ctx context.Context, accessToken, password, rawNew string) error {
	if !s.MailEnabled() {
		return domain.ErrMailDisabled
	}
	u, _, _, err := s.authenticate(ctx, accessToken)
	if err != nil {
		return err
	}
	newEmail, err := domain.ParseEmail(rawNew)
	if err != nil {
		return renameField(err, "email", "new_email")
	}
	if newEmail == u.Email() {
		return domain.ErrEmailTaken
	}
	if err := s.confirmPassword(ctx, u, password); err != nil {
		return err
	}
	if err := s.allowClientMail(ctx); err != nil {
		return err
	}
	if wait, err := s.allowRecipient(ctx, newEmail, kindChange); err != nil || wait > 0 {
		if err == nil {
			err = domain.RateLimited(wait)
		}
		return err
	}
	err = s.sendToken(ctx, tokenMail{
		user: u.ID(), to: newEmail, purpose: ports.PurposeChangeEmail, newEmail: newEmail.String(),
		template: ports.TemplateEmailChange, page: pageVerifyEmail, ttl: s.cfg.Mail.VerifyTTL,
		data: map[string]string{"new_email": newEmail.String()},
	})
	if err != nil {
		return orIfNotFound(err, domain.ErrInvalidToken)
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventEmailChangeRequested, UserID: u.ID(), Email: u.Email().String()})
	// The current address hears of it now, while it can still act (reset
	// the password, which ends every session, before the link is used),
	// and again, from changeEmail, once the change is made.
	s.reportError("email change requested notice", s.notify(ctx, u.Email(), ports.TemplateEmailChangeAsk, map[string]string{"new_email": newEmail.String()}))
	return nil
}

// RegisterQuietly is registration that does not tell whether the email
// has an account (MailConfig.EnumerationSafe): a new account gets the
// verification mail, an existing one a notice that someone tried to
// register with its address, and both answer nil after a password hash
// and a database write. EINVALID for a bad email or password, as
// Register.
func (s *Service) RegisterQuietly(ctx context.Context, rawEmail, password string) error {
	_, err := s.Register(ctx, rawEmail, password)
	if domain.ErrorCode(err) != domain.ECONFLICT {
		return err
	}
	email, err := domain.ParseEmail(rawEmail)
	if err != nil {
		return err
	}
	u, err := s.users.ByEmail(ctx, email)
	if err != nil {
		return orIfNotFound(err, nil) // deleted meanwhile: nobody to tell
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventRegisterExisting, UserID: u.ID(), Email: email.String()})
	if wait, err := s.allowRecipient(ctx, email, kindRegisterAttempt); err != nil || wait > 0 {
		return err
	}
	s.reportError("register attempt notice", s.notify(ctx, email, ports.TemplateRegisterAttempt, nil))
	return nil
}

// confirmPassword checks that password is u's current one, under the
// account's failed-login limits: a wrong one is domain.ErrWrongPassword
// and counts like a failed login, so a stolen access token cannot be used
// to guess the password.
func (s *Service) confirmPassword(ctx context.Context, u *domain.User, password string) error {
	a := &loginAttempt{email: u.Email(), user: u, hash: u.PasswordHash()}
	var err error
	if a.guard, err = s.guardAccount(ctx, a.email, u, ports.DeviceClaims{}, false); err != nil {
		return err
	}
	if err := s.verifyPassword(ctx, a, password); err != nil {
		if errors.Is(err, domain.ErrInvalidCredentials) {
			return domain.ErrWrongPassword
		}
		return err
	}
	return nil
}

// clearAccountLimits forgets the failed logins counted against email's
// account (its throttle and its cap): after a reset the owner must be able
// to log in with the new password at once.
func (s *Service) clearAccountLimits(ctx context.Context, email domain.Email) error {
	if !s.cfg.Limits.Enabled {
		return nil
	}
	return errors.Join(
		s.limits.Reset(ctx, "acct:"+email.String()),
		s.limits.Reset(ctx, "acct-cap:"+email.String()),
	)
}

// verifyByReset marks u's address verified after a reset: the reset link
// reached it.
func (s *Service) verifyByReset(ctx context.Context, u *domain.User, now time.Time) error {
	if u.EmailVerified() {
		return nil
	}
	if err := s.users.SetEmailVerified(ctx, u.ID(), now); err != nil {
		return orIfNotFound(err, nil)
	}
	s.events.Record(ctx, ports.SecurityEvent{Name: ports.EventEmailVerified, UserID: u.ID(), Email: u.Email().String()})
	return nil
}

package http

import (
	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/domain"
)

// acceptedResponse is the body of a 202: the request was taken, and what
// follows happens by mail. It is the same whatever the outcome, so it
// tells nothing about any account.
type acceptedResponse struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func accepted(c *fiber.Ctx, detail string) error {
	return c.Status(fiber.StatusAccepted).JSON(acceptedResponse{Status: "accepted", Detail: detail})
}

// mailOn answers the mail flows 501 when the server cannot send mail,
// before the body is read.
func (s *server) mailOn(c *fiber.Ctx) error {
	if !s.svc.MailEnabled() {
		return domain.ErrMailDisabled
	}
	return c.Next()
}

// oneField reads a body with exactly the one required string member name.
func oneField(c *fiber.Ctx, name string) (string, error) {
	f, err := jsonStrings(c, name)
	if err != nil {
		return "", err
	}
	if err := requireFields(f, name); err != nil {
		return "", err
	}
	return f[name], nil
}

// verifyEmail is POST /api/v1/auth/email/verify {"token"}: a verification
// or email-change link's token. 200 with the user.
func (s *server) verifyEmail(c *fiber.Ctx) error {
	token, err := oneField(c, "token")
	if err != nil {
		return err
	}
	u, err := s.svc.VerifyEmail(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(localUserID, u.ID())
	return c.JSON(newUserResponse(u))
}

// requestVerification is POST /api/v1/auth/email/verification {"email"}:
// 202 whether or not a link is sent.
func (s *server) requestVerification(c *fiber.Ctx) error {
	email, err := oneField(c, "email")
	if err != nil {
		return err
	}
	if err := s.svc.RequestVerification(c.UserContext(), email); err != nil {
		return err
	}
	return accepted(c, "If the address has an account that is not verified yet, a verification link is on its way to it")
}

// forgotPassword is POST /api/v1/auth/password/forgot {"email"}: 202
// whether or not a link is sent.
func (s *server) forgotPassword(c *fiber.Ctx) error {
	email, err := oneField(c, "email")
	if err != nil {
		return err
	}
	if err := s.svc.ForgotPassword(c.UserContext(), email); err != nil {
		return err
	}
	return accepted(c, "If the address has an account, a password reset link is on its way to it")
}

// resetPassword is POST /api/v1/auth/password/reset {"token", "password"}:
// 204.
func (s *server) resetPassword(c *fiber.Ctx) error {
	f, err := jsonStrings(c, "token", "password")
	if err != nil {
		return err
	}
	if err := requireFields(f, "token", "password"); err != nil {
		return err
	}
	if err := s.svc.ResetPassword(c.UserContext(), f["token"], f["password"]); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// changePassword is POST /api/v1/users/me/password (Bearer)
// {"current_password", "new_password"}: 204; the caller's session stays.
func (s *server) changePassword(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	f, err := jsonStrings(c, "current_password", "new_password")
	if err != nil {
		return err
	}
	if err := requireFields(f, "current_password", "new_password"); err != nil {
		return err
	}
	if err := s.svc.ChangePassword(c.UserContext(), token, f["current_password"], f["new_password"]); err != nil {
		return s.challenge(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// changeEmail is POST /api/v1/users/me/email (Bearer)
// {"password", "new_email"}: 202; the change happens when the link mailed
// to the new address is posted to verifyEmail.
func (s *server) changeEmail(c *fiber.Ctx) error {
	token, err := s.bearer(c)
	if err != nil {
		return err
	}
	f, err := jsonStrings(c, "password", "new_email")
	if err != nil {
		return err
	}
	if err := requireFields(f, "password", "new_email"); err != nil {
		return err
	}
	if err := s.svc.RequestEmailChange(c.UserContext(), token, f["password"], f["new_email"]); err != nil {
		return s.challenge(c, err)
	}
	return accepted(c, "A confirmation link is on its way to the new address; the email changes when it is used")
}

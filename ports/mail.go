package ports

import "context"

// Mail is a message for a person, as the core sees it: who it goes to,
// which template renders it, and the template's data. No SMTP types: the
// Mailer adapter turns it into a message its transport carries.
type Mail struct {
	// To is the recipient's normalized address.
	To string
	// Template names the message: one of the Template* constants.
	Template string
	// Data fills the template: "link" (a URL carrying a token), "email",
	// "new_email", ... Values are plain text; the adapter escapes them for
	// HTML.
	Data map[string]string
}

// The templates, one per flow.
const (
	TemplateVerifyEmail     = "verify_email"           // link: confirm this address
	TemplateResetPassword   = "reset_password"         // link: choose a new password
	TemplatePasswordChanged = "password_changed"       // notice to the account's address
	TemplateEmailChange     = "email_change"           // link, to the new address: confirm it
	TemplateEmailChangeAsk  = "email_change_requested" // notice to the current address: a change was asked for
	TemplateEmailChanged    = "email_changed"          // notice to the old address
	TemplateRegisterAttempt = "register_attempt"       // notice: someone tried to register with this address
)

// Templates lists every template, for adapters that must provide each.
var Templates = []string{
	TemplateVerifyEmail, TemplateResetPassword, TemplatePasswordChanged,
	TemplateEmailChange, TemplateEmailChangeAsk, TemplateEmailChanged, TemplateRegisterAttempt,
}

// Mailer delivers one message. Returns EUNAVAILABLE when delivery failed
// in a way worth retrying (server unreachable, temporary refusal, timeout)
// and EINVALID when the message can never be delivered as it is (the
// server refused the recipient for good, an unknown template).
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

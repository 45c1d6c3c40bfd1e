package domain

// Errors of the emailed-token store and the mail outbox.
var (
	// ErrEmailTokenNotFound is the one answer for an emailed token that is
	// unknown, already used, expired or for another purpose.
	ErrEmailTokenNotFound = &Error{Code: ENOTFOUND, Reason: ReasonNotFound, Message: "The link is invalid or has expired"}
	// ErrMailNotFound is what the outbox returns for a missing message.
	ErrMailNotFound = &Error{Code: ENOTFOUND, Reason: ReasonNotFound, Message: "Message not found"}
)

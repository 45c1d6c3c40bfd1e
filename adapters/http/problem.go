package http

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/authd/authd/domain"
)

// problemContentType is RFC 9457's media type; every error response uses it.
const problemContentType = "application/problem+json"

// retryAfterSeconds is what 503 responses ask clients to wait, unless the
// error carries its own wait (domain.Error.RetryAfter, e.g. the bcrypt
// pool's predicted time until there is room).
const retryAfterSeconds = 5

// codeStatus is the one table from domain error code to HTTP status.
// ECONFLICT is 400 because the API contract says a taken email is 400.
var codeStatus = map[string]int{
	domain.EINVALID:      fiber.StatusUnprocessableEntity,
	domain.ECONFLICT:     fiber.StatusBadRequest,
	domain.ENOTFOUND:     fiber.StatusNotFound,
	domain.EUNAUTHORIZED: fiber.StatusUnauthorized,
	domain.EFORBIDDEN:    fiber.StatusForbidden,
	domain.EUNAVAILABLE:  fiber.StatusServiceUnavailable,
	domain.EUNSUPPORTED:  fiber.StatusNotImplemented,
	domain.ERATELIMITED:  fiber.StatusTooManyRequests,
	domain.EINTERNAL:     fiber.StatusInternalServerError,
}

// problemTypeBase, followed by a problem's code, is its type URI: the
// entry for that code in docs/errors.md. Clients compare it, or the code,
// as a string; nothing needs to fetch it (RFC 9457 §3.1.1).
const problemTypeBase = "https://github.com/authd/authd/blob/main/docs/errors.md#"

// The codes of problems this adapter raises about the request itself; the
// rest are the domain's reasons (domain.Reasons). docs/errors.md says what
// each means.
const (
	codeMalformedJSON        = "malformed_json"
	codeDuplicateField       = "duplicate_field"
	codeFieldNotString       = "field_not_string"
	codeFieldNotUTF8         = "field_not_utf8"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeUnsupportedEncoding  = "unsupported_content_encoding"
	codeTokenRequired        = "token_required"
	codeBadRequest           = "bad_request"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNotImplemented       = "not_implemented"
	codeRequestTimeout       = "request_timeout"
	codePayloadTooLarge      = "payload_too_large"
	codeHeadersTooLarge      = "headers_too_large"
	codeNotReady             = "not_ready"
	codeAdminTokenRequired   = "admin_token_required"
	codeInvalidParameter     = "invalid_parameter"
)

var adapterCodes = []string{
	codeMalformedJSON, codeDuplicateField, codeFieldNotString, codeFieldNotUTF8,
	codeUnsupportedMediaType, codeUnsupportedEncoding, codeTokenRequired,
	codeBadRequest, codeMethodNotAllowed, codeNotImplemented, codeRequestTimeout,
	codePayloadTooLarge, codeHeadersTooLarge, codeNotReady,
	codeAdminTokenRequired, codeInvalidParameter,
}

// ProblemCodes returns, sorted, every code a problem from this adapter
// can carry, at the top level or in a field error: the domain's reasons
// and the adapter's own. docs/errors.md and the OpenAPI document list
// exactly these; the tests hold both to this list and check that each is
// produced.
func ProblemCodes() []string {
	codes := slices.Concat(domain.Reasons, adapterCodes)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// fiberProblem is the code and the fixed human sentence for an error Fiber
// raises itself, whose own text can echo request data.
type fiberProblem struct{ code, detail string }

var fiberProblems = map[int]fiberProblem{
	fiber.StatusBadRequest:                  {codeBadRequest, "The request could not be parsed"},
	fiber.StatusNotFound:                    {domain.ReasonNotFound, "No resource exists at this path"},
	fiber.StatusMethodNotAllowed:            {codeMethodNotAllowed, "This method is not allowed on this path"},
	fiber.StatusRequestTimeout:              {codeRequestTimeout, "The request took too long to arrive"},
	fiber.StatusRequestEntityTooLarge:       {codePayloadTooLarge, "The request body exceeds the 64 KiB limit"},
	fiber.StatusRequestHeaderFieldsTooLarge: {codeHeadersTooLarge, "The request headers are too large"},
	fiber.StatusUnsupportedMediaType:        {codeUnsupportedMediaType, "The request body must be JSON"},
	fiber.StatusNotImplemented:              {codeNotImplemented, "This request method is not supported"},
}

// problem is an RFC 9457 problem details object, plus the stable code,
// the request id and, for validation failures, the per-field errors.
type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      string            `json:"code"`
	RequestID string            `json:"request_id,omitempty"`
	Errors    []fieldError      `json:"errors,omitempty"`
	Checks    map[string]string `json:"checks,omitempty"`
}

// fieldError is one invalid field. Message repeats Detail: it is the
// member's name before codes were added, kept for the clients that read it.
type fieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Detail  string `json:"detail"`
	Message string `json:"message"`
}

func newFieldError(field, code, detail string) fieldError {
	return fieldError{Field: field, Code: code, Detail: detail, Message: detail}
}

// requestError is an error the HTTP adapter raises about the request
// itself (bad JSON, wrong media type); its detail is written for clients.
type requestError struct {
	status int
	code   string
	detail string
	fields []fieldError
}

func (e *requestError) Error() string { return e.detail }

func badRequest(code, detail string) error {
	return &requestError{status: fiber.StatusBadRequest, code: code, detail: detail}
}

func newProblem(c *fiber.Ctx, status int, code, detail string) problem {
	return problem{
		Type:      problemTypeBase + code,
		Title:     statusTitle(status),
		Status:    status,
		Detail:    detail,
		Code:      code,
		RequestID: requestID(c),
	}
}

func statusTitle(status int) string {
	if t := utils.StatusMessage(status); t != "" {
		return t
	}
	return "Error"
}

// retryAfterHeader is a refused client's wait in whole seconds for
// Retry-After: rounded up, so a client that obeys it is not refused
// again, and at least 1, since 0 would invite an immediate retry.
func retryAfterHeader(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func writeProblem(c *fiber.Ctx, p problem) error {
	if p.Status == fiber.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
	}
	return c.Status(p.Status).JSON(p, problemContentType)
}

// errorHandler turns every error a handler or Fiber returns into a problem
// response. Domain errors go through codeStatus; anything unrecognised is a
// 500 whose cause is logged with the request id and never sent.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	var (
		p      problem
		re     *requestError
		fe     *fiber.Error
		status int
	)
	if requestID(c) == "" {
		// fasthttp rejected the request before routing (a body over
		// BodyLimit, oversized headers, a read timeout) and called this
		// handler directly, so no middleware ran: give the response its
		// request id and security headers, and log it, as they would have.
		start := time.Now()
		assignRequestID(c)
		s.setSecurityHeaders(c)
		c.Locals(localRoute, "unmatched")
		defer s.logAccess(c, start)
	}
	switch {
	case errors.As(err, &re):
		p = newProblem(c, re.status, re.code, re.detail)
		p.Errors = re.fields
	case errors.As(err, &fe):
		status = fe.Code
		if c.Method() == methodOther && status == fiber.StatusNotFound {
			status = fiber.StatusNotImplemented
		}
		fp, ok := fiberProblems[status]
		if !ok {
			fp = fiberProblem{codeBadRequest, statusTitle(status)}
			if status >= 500 {
				fp.code = domain.ReasonInternal
			}
		}
		if status == fiber.StatusMethodNotAllowed {
			if allow := s.allowed[c.Path()]; allow != "" {
				c.Set(fiber.HeaderAllow, allow)
			}
		}
		if status == fiber.StatusNotFound || status == fiber.StatusMethodNotAllowed || status == fiber.StatusNotImplemented {
			c.Locals(localRoute, "unmatched")
		}
		p = newProblem(c, status, fp.code, fp.detail)
	default:
		code, reason := domain.ErrorCode(err), domain.ErrorReason(err)
		status, known := codeStatus[code]
		if !known {
			// A code this table lacks is a bug; it must not become
			// status 0 or a guess. The access line carries the cause.
			code, reason, status = domain.EINTERNAL, domain.ReasonInternal, fiber.StatusInternalServerError
			err = fmt.Errorf("http: no status for domain error code %q: %w", domain.ErrorCode(err), err)
		}
		p = newProblem(c, status, reason, domain.ErrorMessage(err))
		for _, f := range domain.ErrorFields(err) {
			fr := f.Reason
			if fr == "" {
				fr = domain.ReasonValidationFailed
			}
			p.Errors = append(p.Errors, newFieldError(f.Field, fr, f.Message))
		}
		if code == domain.EINTERNAL {
			p.Detail = "An internal error occurred; the request id identifies it in the logs"
		}
		if code == domain.ERATELIMITED {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterHeader(domain.ErrorRetryAfter(err))))
		}
		if d := domain.ErrorRetryAfter(err); code == domain.EUNAVAILABLE && d > 0 {
			// The error knows when there will be room; without a wait
			// of its own, writeProblem gives the default.
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterHeader(d)))
		}
	}
	if p.Status >= 500 {
		// The cause is for operators only: the access log line carries it.
		c.Locals(localCause, err.Error())
	}
	return writeProblem(c, p)
}

package http

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/authd/authd/domain"
)

// problemContentType is RFC 9457's media type; every error response uses it.
const problemContentType = "application/problem+json"

// retryAfterSeconds is what 503 responses ask clients to wait.
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
	domain.ERATELIMITED:  fiber.StatusTooManyRequests,
	domain.EINTERNAL:     fiber.StatusInternalServerError,
}

// fiberDetail replaces the text of errors Fiber raises itself, which can
// echo request data, with fixed human sentences.
var fiberDetail = map[int]string{
	fiber.StatusBadRequest:                  "The request could not be parsed",
	fiber.StatusNotFound:                    "No resource exists at this path",
	fiber.StatusMethodNotAllowed:            "This method is not allowed on this path",
	fiber.StatusRequestTimeout:              "The request took too long to arrive",
	fiber.StatusRequestEntityTooLarge:       "The request body exceeds the 64 KiB limit",
	fiber.StatusRequestHeaderFieldsTooLarge: "The request headers are too large",
	fiber.StatusUnsupportedMediaType:        "The request body must be JSON",
	fiber.StatusNotImplemented:              "This request method is not supported",
}

// problem is an RFC 9457 problem details object, plus the request id and,
// for validation failures, the per-field errors.
type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	RequestID string            `json:"request_id,omitempty"`
	Errors    []fieldError      `json:"errors,omitempty"`
	Checks    map[string]string `json:"checks,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// requestError is an error the HTTP adapter raises about the request
// itself (bad JSON, wrong media type); its detail is written for clients.
type requestError struct {
	status int
	detail string
	fields []fieldError
}

func (e *requestError) Error() string { return e.detail }

func badRequest(detail string) error {
	return &requestError{status: fiber.StatusBadRequest, detail: detail}
}

func newProblem(c *fiber.Ctx, status int, detail string) problem {
	return problem{
		Type:      "about:blank",
		Title:     statusTitle(status),
		Status:    status,
		Detail:    detail,
		RequestID: requestID(c),
	}
}

func statusTitle(status int) string {
	if t := utils.StatusMessage(status); t != "" {
		return t
	}
	return "Error"
}

// retryAfterHeader is a rate-limited client's wait in whole seconds for
// Retry-After: rounded up, so a client that obeys it is not refused
// again, and at least 1, since 0 would invite an immediate retry.
func retryAfterHeader(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func writeProblem(c *fiber.Ctx, p problem) error {
	if p.Status == fiber.StatusServiceUnavailable {
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
		p = newProblem(c, re.status, re.detail)
		p.Errors = re.fields
	case errors.As(err, &fe):
		status = fe.Code
		if c.Method() == methodOther && status == fiber.StatusNotFound {
			status = fiber.StatusNotImplemented
		}
		detail, ok := fiberDetail[status]
		if !ok {
			detail = statusTitle(status)
		}
		if status == fiber.StatusMethodNotAllowed {
			if allow := s.allowed[c.Path()]; allow != "" {
				c.Set(fiber.HeaderAllow, allow)
			}
		}
		if status == fiber.StatusNotFound || status == fiber.StatusMethodNotAllowed || status == fiber.StatusNotImplemented {
			c.Locals(localRoute, "unmatched")
		}
		p = newProblem(c, status, detail)
	default:
		code := domain.ErrorCode(err)
		status, known := codeStatus[code]
		if !known {
			// A code this table lacks is a bug; it must not become
			// status 0 or a guess. The access line carries the cause.
			code, status = domain.EINTERNAL, fiber.StatusInternalServerError
			err = fmt.Errorf("http: no status for domain error code %q: %w", domain.ErrorCode(err), err)
		}
		p = newProblem(c, status, domain.ErrorMessage(err))
		for _, f := range domain.ErrorFields(err) {
			p.Errors = append(p.Errors, fieldError{Field: f.Field, Message: f.Message})
		}
		if code == domain.EINTERNAL {
			p.Detail = "An internal error occurred; the request id identifies it in the logs"
		}
		if code == domain.ERATELIMITED {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterHeader(domain.ErrorRetryAfter(err))))
		}
	}
	if p.Status >= 500 {
		// The cause is for operators only: the access log line carries it.
		c.Locals(localCause, err.Error())
	}
	return writeProblem(c, p)
}

package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/authd/authd/domain"
)

// jsonStrings reads the request body as one JSON object and returns the
// string values of the named fields that are present. It is strict where
// laxness would hide client bugs or invite parser-differential tricks: the
// body must be exactly one object (no trailing data, no array, not empty),
// keys must not repeat, and a named field must be a JSON string (numbers,
// booleans and null are never coerced). Fields not named are ignored.
func jsonStrings(c *fiber.Ctx, names ...string) (map[string]string, error) {
	// The media type is required, not assumed: a body without one is what
	// a hostile page can send cross-site without a CORS preflight (as
	// could text/plain or a form), so only application/json is taken.
	body := c.Request().Body()
	if ct := c.Get(fiber.HeaderContentType); ct != "" || len(body) > 0 {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != fiber.MIMEApplicationJSON {
			return nil, &requestError{status: fiber.StatusUnsupportedMediaType, code: codeUnsupportedMediaType, detail: "The request body must be JSON (Content-Type: application/json)"}
		}
	}
	// Fiber's c.Body() would inflate a gzip, deflate or brotli body with no
	// size limit (and several layers of it), sidestepping BodyLimit: a few
	// KiB on the wire could become gigabytes. No coding is accepted, and
	// the raw bytes are read so nothing is ever inflated.
	if ce := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); ce != "" && !strings.EqualFold(ce, "identity") {
		c.Set(fiber.HeaderAcceptEncoding, "identity")
		return nil, &requestError{status: fiber.StatusUnsupportedMediaType, code: codeUnsupportedEncoding, detail: "The request body must not be compressed (no Content-Encoding is supported)"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest(codeMalformedJSON, "The request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest(codeMalformedJSON, "The request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badRequest(codeMalformedJSON, "The request body must be a JSON object")
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	seen := make(map[string]bool)
	out := make(map[string]string, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest(codeMalformedJSON, "The request body is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, badRequest(codeMalformedJSON, "The request body is not valid JSON")
		}
		if seen[key] {
			return nil, badRequest(codeDuplicateField, "The request body repeats the field "+quoteField(key))
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest(codeMalformedJSON, "The request body is not valid JSON")
		}
		if !want[key] {
			continue
		}
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return nil, badRequest(codeFieldNotString, "The field "+quoteField(key)+" must be a JSON string")
		}
		if !validUTF8Literal(raw) {
			return nil, notUTF8(key)
		}
		out[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, badRequest(codeMalformedJSON, "The request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest(codeMalformedJSON, "The request body has data after the JSON object")
	}
	return out, nil
}

// requireFields returns a 422 naming every missing field, or nil.
func requireFields(got map[string]string, names ...string) error {
	var missing []fieldError
	for _, n := range names {
		if _, ok := got[n]; !ok {
			missing = append(missing, newFieldError(n, domain.ReasonFieldRequired, "This field is required"))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	detail := "Missing required field"
	if len(missing) > 1 {
		detail += "s"
	}
	for i, m := range missing {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		detail += sep + m.Field
	}
	code := domain.ReasonFieldRequired
	if len(missing) > 1 {
		code = domain.ReasonValidationFailed
	}
	return &requestError{status: fiber.StatusUnprocessableEntity, code: code, detail: detail, fields: missing}
}

// quoteField quotes a client-supplied key for an error message, cut short
// so a huge key cannot bloat the response.
func quoteField(k string) string {
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// validUTF8Literal reports whether a JSON string literal (quotes included)
// spells valid Unicode text. encoding/json replaces invalid UTF-8 bytes
// and unpaired surrogate escapes (\ud800) with U+FFFD, so after decoding,
// many different byte strings would be one password; they are refused
// here instead, before anything is decoded.
func validUTF8Literal(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	pendingHigh := false // the previous escape was a high surrogate
	for i := 1; i < len(raw)-1; i++ {
		if raw[i] != '\\' {
			if pendingHigh {
				return false
			}
			continue
		}
		i++
		if raw[i] != 'u' {
			if pendingHigh {
				return false
			}
			continue
		}
		if i+4 >= len(raw) {
			return false
		}
		r, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 32)
		if err != nil {
			return false
		}
		i += 4
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if pendingHigh {
				return false
			}
			pendingHigh = true
		case r >= 0xDC00 && r <= 0xDFFF:
			if !pendingHigh {
				return false
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return false
			}
		}
	}
	return !pendingHigh
}

// notUTF8 is the 422 for a field whose text is not valid UTF-8; a password
// gets the domain's own error, so the answer matches its policy's.
func notUTF8(field string) error {
	if strings.Contains(field, "password") {
		return domain.ErrPasswordNotUTF8
	}
	return &requestError{status: fiber.StatusUnprocessableEntity, code: codeFieldNotUTF8, detail: "The field " + quoteField(field) + " must be valid UTF-8 text",
		fields: []fieldError{newFieldError(field, codeFieldNotUTF8, "Must be valid UTF-8 text")}}
}

package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// jsonStrings reads the request body as one JSON object and returns the
// string values of the named fields that are present. It is strict where
// laxness would hide client bugs or invite parser-differential tricks: the
// body must be exactly one object (no trailing data, no array, not empty),
// keys must not repeat, and a named field must be a JSON string (numbers,
// booleans and null are never coerced). Fields not named are ignored.
func jsonStrings(c *fiber.Ctx, names ...string) (map[string]string, error) {
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == fiber.MIMEApplicationJSON || strings.HasSuffix(mt, "+json")) {
			return nil, &requestError{status: fiber.StatusUnsupportedMediaType, detail: "The request body must be JSON (Content-Type: application/json)"}
		}
	}
	// Fiber's c.Body() would inflate a gzip, deflate or brotli body with no
	// size limit (and several layers of it), sidestepping BodyLimit: a few
	// KiB on the wire could become gigabytes. No coding is accepted, and
	// the raw bytes are read so nothing is ever inflated.
	if ce := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); ce != "" && !strings.EqualFold(ce, "identity") {
		c.Set(fiber.HeaderAcceptEncoding, "identity")
		return nil, &requestError{status: fiber.StatusUnsupportedMediaType, detail: "The request body must not be compressed (no Content-Encoding is supported)"}
	}
	body := c.Request().Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("The request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("The request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badRequest("The request body must be a JSON object")
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
			return nil, badRequest("The request body is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, badRequest("The request body is not valid JSON")
		}
		if seen[key] {
			return nil, badRequest("The request body repeats the field " + quoteField(key))
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("The request body is not valid JSON")
		}
		if !want[key] {
			continue
		}
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return nil, badRequest("The field " + quoteField(key) + " must be a JSON string")
		}
		out[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, badRequest("The request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("The request body has data after the JSON object")
	}
	return out, nil
}

// requireFields returns a 422 naming every missing field, or nil.
func requireFields(got map[string]string, names ...string) error {
	var missing []fieldError
	for _, n := range names {
		if _, ok := got[n]; !ok {
			missing = append(missing, fieldError{Field: n, Message: "This field is required"})
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
	return &requestError{status: fiber.StatusUnprocessableEntity, detail: detail, fields: missing}
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

package http_test

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageRef matches the src and href attributes of the /docs page.
var pageRef = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestDocsPage(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/docs", "/docs/"} {
		r := h.get(path)
		wantStatus(t, r, http.StatusOK)
		if mt := mediaType(r); mt != "text/html" {
			t.Errorf("%s: Content-Type = %q, want text/html", path, r.header.Get("Content-Type"))
		}
		wantDocsHeaders(t, r)
	}
	page := string(h.get("/docs").body)

	// No inline script: every <script> loads a file, and has no body.
	scripts := regexp.MustCompile(`(?s)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatalf("no <script> in the page:\n%s", page)
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], `src="/docs/`) || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline or foreign script: %s", s[0])
		}
	}
	// Everything the page loads is served from /docs/ with the docs CSP:
	// no CDN.
	documented := loadSpec(t).Doc.Paths.Value("/docs/{asset}").Get.Parameters.GetByInAndName("path", "asset").Schema.Value.Enum
	refs := pageRef.FindAllStringSubmatch(page, -1)
	for _, m := range refs {
		ref := m[1]
		if ref == "/openapi.yaml" {
			continue // the <noscript> link
		}
		if !strings.HasPrefix(ref, "/docs/") {
			t.Errorf("the page loads %q, not from /docs/", ref)
			continue
		}
		if !slices.Contains(documented, any(strings.TrimPrefix(ref, "/docs/"))) {
			t.Errorf("the page loads %s, which docs/openapi.yaml does not list", ref)
		}
		r := h.get(ref)
		wantStatus(t, r, http.StatusOK)
		if len(r.body) == 0 {
			t.Errorf("%s: empty", ref)
		}
		wantDocsHeaders(t, r)
		want := map[string]string{".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
		if mt, ok := want[path.Ext(ref)]; !ok {
			t.Errorf("%s: no Content-Type known for its extension", ref)
		} else if mediaType(r) != mt {
			t.Errorf("%s: Content-Type = %q, want %s", ref, r.header.Get("Content-Type"), mt)
		}
		// The body is the file in docsui/: authd's own, or the Swagger UI
		// copy (TestSwaggerUIMatchesModule checks it against the module).
		name := strings.TrimPrefix(ref, "/docs/")
		file, err := os.ReadFile(filepath.Join("docsui", name))
		if errors.Is(err, fs.ErrNotExist) {
			file, err = os.ReadFile(filepath.Join("docsui", "swagger-ui", name))
		}
		if err != nil {
			t.Errorf("%s: %v", ref, err)
		} else if !bytes.Equal(r.body, file) {
			t.Errorf("%s: %d bytes served, not the %d of its file in docsui/", ref, len(r.body), len(file))
		}
	}
	if len(refs) < 5 {
		t.Errorf("the page loads only %d files: %v", len(refs), refs)
	}

	starter := string(h.get("/docs/authd-docs.js").body)
	for _, want := range []string{`url: "/openapi.yaml"`, "deepLinking: true", "validatorUrl: null"} {
		if !strings.Contains(starter, want) {
			t.Errorf("authd-docs.js lacks %s:\n%s", want, starter)
		}
	}
	for name, body := range map[string]string{"page": page, "authd-docs.js": starter} {
		if strings.Contains(body, "://") {
			t.Errorf("the %s names an absolute URL:\n%s", name, body)
		}
	}
}

// wantDocsHeaders checks the headers of a /docs response: the relaxed CSP
// and the other security headers unchanged.
func wantDocsHeaders(t *testing.T, r *response) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": docsCSP,
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestDocsServesOnlyItsFiles: names outside the list (other files of the
// Swagger UI distribution, source maps, paths) are 404 problems, with the
// API's strict CSP.
func TestDocsServesOnlyItsFiles(t *testing.T) {
	h := newHarness(t)
	// Each name the document lists is served.
	param := loadSpec(t).Doc.Paths.Value("/docs/{asset}").Get.Parameters.GetByInAndName("path", "asset")
	names := param.Schema.Value.Enum
	if len(names) == 0 {
		t.Fatal("docs/openapi.yaml lists no /docs/{asset} names")
	}
	for _, name := range names {
		wantStatus(t, h.get("/docs/"+name.(string)), http.StatusOK)
	}
	for _, path := range []string{
		"/docs/index.html", "/docs/swagger-initializer.js", "/docs/oauth2-redirect.html",
		"/docs/swagger-ui-bundle.js.map", "/docs/swagger-ui.js", "/docs/SWAGGER-UI.CSS",
		"/docs/..%2fopenapi.yaml", "/docs/dist/swagger-ui.css",
	} {
		r := h.get(path)
		wantProblem(t, r, http.StatusNotFound)
		if got := r.header.Get("Content-Security-Policy"); got != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("%s: CSP = %q, want the API's", path, got)
		}
	}
	// The API keeps its strict policy.
	if got := h.get("/healthz").header.Get("Content-Security-Policy"); got != "default-src 'none'; frame-ancestors 'none'" {
		t.Errorf("/healthz CSP = %q", got)
	}
}

func TestDocsRevalidation(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/docs", "/docs/swagger-ui-bundle.js", "/docs/authd-docs.js"} {
		first := h.get(path)
		etag := first.header.Get("ETag")
		if !regexp.MustCompile(`^"[A-Za-z0-9_-]{22}"$`).MatchString(etag) {
			t.Fatalf("%s: ETag = %q", path, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			r := h.get(path, "If-None-Match", inm)
			wantStatus(t, r, http.StatusNotModified)
			if len(r.body) != 0 {
				t.Errorf("%s: 304 with a body", path)
			}
			if r.header.Get("ETag") != etag {
				t.Errorf("%s: 304 ETag = %q, want %q", path, r.header.Get("ETag"), etag)
			}
		}
		// A different tag, or only a date (the files have no
		// Last-Modified), gets the file.
		for _, hdr := range [][]string{
			{"If-None-Match", `"stale"`},
			{"If-Modified-Since", "Sun, 01 Jan 2090 00:00:00 GMT"},
		} {
			r := h.get(path, hdr...)
			wantStatus(t, r, http.StatusOK)
			if len(r.body) != len(first.body) {
				t.Errorf("%s with %s: %d bytes, want %d", path, hdr[0], len(r.body), len(first.body))
			}
		}
	}
	if a, b := h.get("/docs").header.Get("ETag"), h.get("/docs/swagger-ui.css").header.Get("ETag"); a == b {
		t.Errorf("two files share the ETag %s", a)
	}
}

func TestDocsMethods(t *testing.T) {
	h := newHarness(t)
	r := h.do(newRequest(http.MethodHead, "/docs/swagger-ui.css", ""))
	wantStatus(t, r, http.StatusOK)
	if len(r.body) != 0 {
		t.Errorf("HEAD with a body")
	}
	for _, path := range []string{"/docs", "/docs/swagger-ui.css"} {
		r := h.post(path, "{}")
		wantProblem(t, r, http.StatusMethodNotAllowed)
		if got := r.header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("POST %s: Allow = %q, want GET, HEAD", path, got)
		}
	}
}

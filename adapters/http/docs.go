package http

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// docsUI holds the /docs page, the script that starts Swagger UI on it,
// and in docsui/swagger-ui the Swagger UI files the page loads, copied
// from the github.com/swaggo/files/v2 module by go generate (only those:
// the module's whole distribution is about 11 MB). All are embedded in the
// binary, so /docs needs no CDN. Swagger UI itself is Apache-2.0: its
// LICENSE and NOTICE, which the Go module does not carry, are those of the
// swagger-ui-dist package of the version the bundle was built from
// (swaggerUIVersion), kept in docsui/ by hand and served with the page.
//
//go:generate go run ./docsui/copyswaggerui
//go:embed docsui/index.html docsui/authd-docs.js docsui/swagger-ui docsui/swagger-ui-LICENSE.txt docsui/swagger-ui-NOTICE.txt
var docsUI embed.FS

// swaggerUIVersion is the Swagger UI release whose LICENSE and NOTICE are
// in docsui/. TestSwaggerUILicenceVersion fails when the embedded bundle
// is of another release: copy that release's files, then update this.
const swaggerUIVersion = "5.18.2"

// docsCSP replaces the API's "default-src 'none'" on the /docs page and
// its files: scripts, style sheets and images from this origin only (and
// the data: images swagger-ui.css uses), fetches (the document, "Try it
// out") to this origin only. Nothing inline: Swagger UI sets styles through
// the DOM, which style-src does not restrict, and the page has no inline
// script. The browser test fails on any CSP violation Chromium reports.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsFile is one file of the /docs page, read once at startup.
type docsFile struct {
	contentType string
	etag        string
	body        []byte
}

// docsAssets are the files served under /docs/, by name, and their paths
// in docsUI; nothing else is served (not the swaggo module's LICENSE).
var docsAssets = []struct {
	name, contentType, path string
}{
	{"swagger-ui-bundle.js", "text/javascript; charset=utf-8", "docsui/swagger-ui/swagger-ui-bundle.js"},
	{"swagger-ui.css", "text/css; charset=utf-8", "docsui/swagger-ui/swagger-ui.css"},
	{"index.css", "text/css; charset=utf-8", "docsui/swagger-ui/index.css"},
	{"favicon-32x32.png", "image/png", "docsui/swagger-ui/favicon-32x32.png"},
	{"favicon-16x16.png", "image/png", "docsui/swagger-ui/favicon-16x16.png"},
	{"authd-docs.js", "text/javascript; charset=utf-8", "docsui/authd-docs.js"},
	{"swagger-ui-LICENSE.txt", "text/plain; charset=utf-8", "docsui/swagger-ui-LICENSE.txt"},
	{"swagger-ui-NOTICE.txt", "text/plain; charset=utf-8", "docsui/swagger-ui-NOTICE.txt"},
}

// docsFiles is the page and its assets by name, read once per process.
type docsFiles struct {
	page   docsFile
	assets map[string]docsFile
}

var loadDocsFiles = sync.OnceValues(func() (*docsFiles, error) {
	page, err := readDocsFile(docsUI, "docsui/index.html", fiber.MIMETextHTMLCharsetUTF8)
	if err != nil {
		return nil, err
	}
	files := &docsFiles{page: page, assets: make(map[string]docsFile, len(docsAssets))}
	for _, a := range docsAssets {
		file, err := readDocsFile(docsUI, a.path, a.contentType)
		if err != nil {
			return nil, err
		}
		files.assets[a.name] = file
	}
	return files, nil
})

// routeDocs serves the interactive documentation: GET /docs is the page,
// GET /docs/:asset its scripts, styles, icons and Swagger UI's licence.
func routeDocs(f *fiber.App) error {
	files, err := loadDocsFiles()
	if err != nil {
		return err
	}
	f.Get("/docs", func(c *fiber.Ctx) error { return sendDocsFile(c, files.page) })
	f.Get("/docs/:asset", func(c *fiber.Ctx) error {
		file, ok := files.assets[c.Params("asset")]
		if !ok {
			return fiber.ErrNotFound
		}
		return sendDocsFile(c, file)
	})
	return nil
}

func readDocsFile(fsys fs.FS, path, contentType string) (docsFile, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return docsFile{}, fmt.Errorf("http: docs asset: %w", err)
	}
	sum := sha256.Sum256(b)
	return docsFile{
		contentType: contentType,
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
		body:        b,
	}, nil
}

// sendDocsFile sends file with the docs CSP. Browsers revalidate it on
// every use (no-cache) and get a 304 while the binary, and so the file,
// is the same.
func sendDocsFile(c *fiber.Ctx, file docsFile) error {
	c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, file.etag)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), file.etag) {
		c.Status(fiber.StatusNotModified)
		return nil
	}
	c.Set(fiber.HeaderContentType, file.contentType)
	return c.Send(file.body)
}

// etagMatches reports whether an If-None-Match header value lists etag
// (weak comparison, RFC 9110 §13.1.2). Unlike fiber.Ctx.Fresh it ignores
// If-Modified-Since: these files carry no Last-Modified.
func etagMatches(ifNoneMatch, etag string) bool {
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

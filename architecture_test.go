// Package authd_test checks the import rules of ARCHITECTURE.md, so a wrong
// dependency arrow fails CI instead of waiting for a reviewer.
package authd_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/authd/authd"

// rule says what the code of a folder, its _test.go files included (and
// those below it, unless a longer prefix has its own rule), may import
// besides the standard library. Tests follow their package's arrows: a
// test of app uses ports/mock, not an adapter; only cmd/ and the
// end-to-end tests there may import everything.
type rule struct {
	dir     string
	allowed []string // module-internal or third-party import prefixes
}

var rules = []rule{
	{"domain", []string{"golang.org/x/text"}},
	{"ports", []string{module + "/domain"}},
	{"ports/mock", []string{module + "/domain", module + "/ports", "go.uber.org/mock"}},
	{"ports/porttest", []string{module + "/domain", module + "/ports"}},
	{"app", []string{module + "/domain", module + "/ports"}},
	{"docs", nil},
	// The response validator every HTTP test uses; importable only from
	// _test.go files (see violation).
	{"docs/openapitest", []string{module + "/docs", "github.com/getkin/kin-openapi"}},
}

// testOnly are packages that exist for tests: only _test.go files may
// import them.
var testOnly = []string{module + "/docs/openapitest"}

// testTools are what any folder's _test.go files may import besides their
// folder's rule: the generated mocks, the contract suites and the response
// validator.
var testTools = []string{module + "/ports/mock", "go.uber.org/mock", module + "/ports/porttest", module + "/docs/openapitest"}

func ruleFor(dir string) (rule, bool) {
	best, found := rule{}, false
	for _, r := range rules {
		if (dir == r.dir || strings.HasPrefix(dir, r.dir+"/")) && len(r.dir) >= len(best.dir) {
			best, found = r, true
		}
	}
	return best, found
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// imports are a folder's imports: path -> imported from non-test code
// (false when only its _test.go files import it).
type imports map[string]bool

// importsByDir parses the imports of every Go file in the module, test
// files included.
func importsByDir(t *testing.T) map[string]imports {
	t.Helper()
	out := map[string]imports{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		isTest := strings.HasSuffix(path, "_test.go")
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if out[dir] == nil {
			out[dir] = imports{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[dir][p] = out[dir][p] || !isTest
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// violation says what is wrong with dir importing imp (from non-test code
// when fromCode), or "" if nothing.
func violation(dir, imp string, fromCode bool) string {
	if isStdlib(imp) {
		return ""
	}
	if fromCode && slices.Contains(testOnly, imp) {
		return "only _test.go files may import a test-only package"
	}
	if imp == module+"/"+dir {
		return "" // an external test package importing the package it tests
	}
	if !fromCode {
		for _, a := range testTools {
			if imp == a || strings.HasPrefix(imp, a+"/") {
				return ""
			}
		}
	}
	if r, ok := ruleFor(dir); ok {
		for _, a := range r.allowed {
			// Module-internal prefixes match exactly; third-party ones also
			// cover their subpackages (golang.org/x/text/unicode/norm).
			if imp == a || strings.HasPrefix(imp, a+"/") && !strings.HasPrefix(a, module) {
				return ""
			}
		}
		return "ARCHITECTURE.md allows it only the standard library and " + strings.Join(r.allowed, ", ")
	}
	if strings.HasPrefix(imp, module+"/cmd/") {
		return "nothing imports cmd"
	}
	// An adapter may use domain, ports, app and third-party code, but never
	// another adapter.
	if own, ok := strings.CutPrefix(dir, "adapters/"); ok {
		adapter, _, _ := strings.Cut(own, "/")
		if other, ok := strings.CutPrefix(imp, module+"/adapters/"); ok {
			if o, _, _ := strings.Cut(other, "/"); o != adapter {
				return "adapters must not depend on each other"
			}
		}
	}
	return ""
}

func TestImportDirection(t *testing.T) {
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatal("run from the module root:", err)
	}
	all := importsByDir(t)
	for _, want := range []string{"domain", "ports", "app", "adapters/sqlite", "adapters/http", "cmd/authd"} {
		if all[want] == nil {
			t.Errorf("found no Go files in %s: the layout changed, update this test", want)
		}
	}
	for dir, imports := range all {
		for imp, fromCode := range imports {
			if v := violation(dir, imp, fromCode); v != "" {
				t.Errorf("%s imports %s: %s", dir, imp, v)
			}
		}
	}
}

// TestImportRulesCatchViolations keeps the checker honest: it must flag the
// arrows it exists to forbid.
func TestImportRulesCatchViolations(t *testing.T) {
	cases := []struct {
		dir, imp string
		ok       bool
		test     bool // imported from a _test.go file only
	}{
		{"domain", "github.com/gofiber/fiber/v2", false, false},
		{"domain", module + "/ports", false, false},
		{"domain", "golang.org/x/text/unicode/norm", true, false},
		{"ports", module + "/domain", true, false},
		{"ports", module + "/app", false, false},
		{"ports/mock", "go.uber.org/mock/gomock", true, false},
		{"app", module + "/adapters/sqlite", false, false},
		{"app", module + "/ports", true, false},
		{"app", "github.com/golang-jwt/jwt/v5", false, false},
		{"adapters/http", module + "/app", true, false},
		{"adapters/http", module + "/adapters/sqlite", false, false},
		{"adapters/sqlite", module + "/adapters/sqlite/internal", true, false},
		{"adapters/sqlite", module + "/cmd/authd", false, false},
		{"cmd/authd", module + "/adapters/sqlite", true, false},
		// Tests follow the same arrows.
		{"app", module + "/adapters/sqlite", false, true},
		{"app", module + "/ports/mock", true, true},
		{"adapters/http", module + "/adapters/metrics", false, true},
		{"cmd/authd", module + "/adapters/postgres/pgtest", true, true},
		// The validator: for tests only, from any folder's tests.
		{"adapters/http", module + "/docs/openapitest", true, true},
		{"cmd/authd", module + "/docs/openapitest", true, true},
		{"adapters/http", module + "/docs/openapitest", false, false},
		{"cmd/authd", module + "/docs/openapitest", false, false},
		{"docs/openapitest", "github.com/getkin/kin-openapi/openapi3filter", true, false},
		{"docs/openapitest", module + "/adapters/http", false, false},
	}
	for _, c := range cases {
		if got := violation(c.dir, c.imp, !c.test) == ""; got != c.ok {
			t.Errorf("%s importing %s (test file: %v): allowed=%v, want %v", c.dir, c.imp, c.test, got, c.ok)
		}
	}
}

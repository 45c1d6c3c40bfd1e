// Package authd_test checks the import rules of ARCHITECTURE.md, so a wrong
// dependency arrow fails CI instead of waiting for a reviewer.
package authd_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/authd/authd"

// rule says what the non-test code of a folder (and those below it, unless
// a longer prefix has its own rule) may import besides the standard library.
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
}

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

// importsByDir parses the imports of every non-test Go file in the module.
func importsByDir(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
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
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if out[dir] == nil {
			out[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[dir][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// violation says what is wrong with dir importing imp, or "" if nothing.
func violation(dir, imp string) string {
	if isStdlib(imp) {
		return ""
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
		for imp := range imports {
			if v := violation(dir, imp); v != "" {
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
	}{
		{"domain", "github.com/gofiber/fiber/v2", false},
		{"domain", module + "/ports", false},
		{"domain", "golang.org/x/text/unicode/norm", true},
		{"ports", module + "/domain", true},
		{"ports", module + "/app", false},
		{"ports/mock", "go.uber.org/mock/gomock", true},
		{"app", module + "/adapters/sqlite", false},
		{"app", module + "/ports", true},
		{"app", "github.com/golang-jwt/jwt/v5", false},
		{"adapters/http", module + "/app", true},
		{"adapters/http", module + "/adapters/sqlite", false},
		{"adapters/sqlite", module + "/adapters/sqlite/internal", true},
		{"adapters/sqlite", module + "/cmd/authd", false},
		{"cmd/authd", module + "/adapters/sqlite", true},
	}
	for _, c := range cases {
		if got := violation(c.dir, c.imp) == ""; got != c.ok {
			t.Errorf("%s importing %s: allowed=%v, want %v", c.dir, c.imp, got, c.ok)
		}
	}
}

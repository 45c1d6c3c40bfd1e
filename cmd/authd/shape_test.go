package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxFuncLines is how long a function in cmd/authd may be: main reads
// configuration, constructs adapters, serves and drains, and each of those
// steps fits on a screen. Behaviour that needs more belongs to an adapter
// or a use case.
const maxFuncLines = 60

// shapeProblems lists what keeps the Go files in files from being wiring
// only: a function over maxFuncLines lines, an import of hystrix-go (the
// breaker adapter's alone), or a type switch (a store or adapter picked by
// its type instead of by configuration).
func shapeProblems(t *testing.T, fset *token.FileSet, files map[string]*ast.File) []string {
	t.Helper()
	var problems []string
	for name, f := range files {
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(path, "github.com/afex/hystrix-go") {
				problems = append(problems, name+": imports "+path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				start, end := fset.Position(n.Pos()).Line, fset.Position(n.End()).Line
				if lines := end - start + 1; lines > maxFuncLines {
					problems = append(problems, fset.Position(n.Pos()).String()+": func "+n.Name.Name+" has "+strconv.Itoa(lines)+" lines")
				}
			case *ast.TypeSwitchStmt:
				problems = append(problems, fset.Position(n.Pos()).String()+": type switch")
			}
			return true
		})
	}
	return problems
}

func parseSources(t *testing.T, fset *token.FileSet, srcs map[string]string) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	for name, src := range srcs {
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return files
}

// TestCommandIsWiringOnly checks cmd/authd's non-test files.
func TestCommandIsWiringOnly(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	srcs := map[string]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		srcs[name] = string(b)
	}
	if len(srcs) < 3 {
		t.Fatalf("found only %v; run from cmd/authd", names)
	}
	fset := token.NewFileSet()
	for _, p := range shapeProblems(t, fset, parseSources(t, fset, srcs)) {
		t.Error(p)
	}
}

// TestShapeCheckCatches makes sure the check above can fail: each of these
// sources has exactly one problem.
func TestShapeCheckCatches(t *testing.T) {
	long := "package main\n\nfunc long() {\n" + strings.Repeat("\tprintln()\n", maxFuncLines-1) + "}\n"
	fits := "package main\n\nfunc fits() {\n" + strings.Repeat("\tprintln()\n", maxFuncLines-2) + "}\n"
	for name, src := range map[string]string{
		"long.go":    long,
		"hystrix.go": "package main\n\nimport _ \"github.com/afex/hystrix-go/hystrix\"\n",
		"switch.go":  "package main\n\nfunc pick(v any) {\n\tswitch v.(type) {\n\tcase int:\n\t}\n}\n",
	} {
		fset := token.NewFileSet()
		if got := shapeProblems(t, fset, parseSources(t, fset, map[string]string{name: src})); len(got) != 1 {
			t.Errorf("%s: problems %q, want exactly one", name, got)
		}
	}
	fset := token.NewFileSet()
	if got := shapeProblems(t, fset, parseSources(t, fset, map[string]string{"fits.go": fits})); len(got) != 0 {
		t.Errorf("a %d-line function: problems %q, want none", maxFuncLines, got)
	}
}

// Command copyswaggerui copies the Swagger UI files that the /docs page
// loads, and the module's LICENSE, from github.com/swaggo/files/v2 at the
// version go.mod requires into docsui/swagger-ui, which the http package
// embeds. Embedding the module's whole distribution instead would put
// about 11 MB of bundles and source maps that /docs never loads into the
// binary.
//
// go generate runs it from adapters/http:
//
//	go generate ./adapters/http
//
// TestSwaggerUIMatchesModule fails when the copies differ from the
// module's files, so after upgrading the module in go.mod run it again;
// TestDocsPage fails when the page loads a file that is not copied.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

const module = "github.com/swaggo/files/v2"

// files are the names under the module's dist/ that docsui/index.html
// loads from /docs/.
var files = []string{
	"swagger-ui-bundle.js",
	"swagger-ui.css",
	"index.css",
	"favicon-32x32.png",
	"favicon-16x16.png",
}

func main() {
	out := flag.String("out", filepath.Join("docsui", "swagger-ui"), "directory to write the copies to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "copyswaggerui:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	want := []string{"LICENSE"}
	if err := copyFile(filepath.Join(dir, "LICENSE"), filepath.Join(out, "LICENSE")); err != nil {
		return err
	}
	for _, name := range files {
		want = append(want, name)
		if err := copyFile(filepath.Join(dir, "dist", name), filepath.Join(out, name)); err != nil {
			return err
		}
	}
	// A file the page no longer loads must not stay embedded.
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			if err := os.Remove(filepath.Join(out, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// moduleDir returns the module's directory in the module cache, at the
// version in go.mod.
func moduleDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %v: %s", module, err, stderr.String())
	}
	dir := strings.TrimSpace(string(b))
	if dir == "" {
		return "", fmt.Errorf("%s is not in the module cache: run go mod download %s", module, module)
	}
	return dir, nil
}

// copyFile copies src to dst, writable by its owner (the module cache is
// read-only).
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

package http

// The Swagger UI files in docsui/swagger-ui are copies, made by
// docsui/copyswaggerui (go generate), of files of the
// github.com/swaggo/files/v2 module. These tests keep them exact copies of
// the version go.mod requires, and exactly the files the page loads.

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	swaggerfiles "github.com/swaggo/files/v2"
)

const swaggerUIModule = "github.com/swaggo/files/v2"

func TestSwaggerUIMatchesModule(t *testing.T) {
	// The copies are what the page loads from /docs/ and is not authd's
	// own file in docsui/, and the module's LICENSE: nothing else.
	page, err := docsUI.ReadFile("docsui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"LICENSE"}
	for _, m := range regexp.MustCompile(`(?:src|href)="/docs/([^"]+)"`).FindAllSubmatch(page, -1) {
		name := string(m[1])
		if _, err := fs.Stat(docsUI, "docsui/"+name); err == nil {
			continue
		}
		want = append(want, name)
	}
	if len(want) < 3 {
		t.Fatalf("the page loads only %v from Swagger UI:\n%s", want[1:], page)
	}
	entries, err := docsUI.ReadDir("docsui/swagger-ui")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("docsui/swagger-ui holds %v, want %v (the page's Swagger UI files and the LICENSE): "+
			"edit docsui/copyswaggerui and run go generate ./adapters/http", got, want)
	}

	dir, version := swaggerUIModuleDir(t)
	for _, name := range got {
		copied, err := docsUI.ReadFile("docsui/swagger-ui/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var orig []byte
		if name == "LICENSE" {
			orig, err = os.ReadFile(filepath.Join(dir, "LICENSE"))
		} else {
			// swaggerfiles.FS is the module's dist/ as compiled into
			// this test, so at the version go.mod requires.
			orig, err = fs.ReadFile(swaggerfiles.FS, name)
		}
		if err != nil {
			t.Errorf("docsui/swagger-ui/%s: not in %s %s: %v", name, swaggerUIModule, version, err)
			continue
		}
		if !bytes.Equal(copied, orig) {
			t.Errorf("docsui/swagger-ui/%s differs from %s %s: run go generate ./adapters/http",
				name, swaggerUIModule, version)
		}
	}
}

// swaggerUIModuleDir returns the directory and version of the Swagger UI
// module that go.mod requires.
func swaggerUIModuleDir(t *testing.T) (dir, version string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}\t{{.Version}}", swaggerUIModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v\n%s", swaggerUIModule, err, stderr.String())
	}
	dir, version, _ = strings.Cut(strings.TrimSpace(string(out)), "\t")
	if dir == "" {
		t.Fatalf("%s %s is not in the module cache: run go mod download", swaggerUIModule, version)
	}
	return dir, version
}

// TestSwaggerUILicenceVersion: the LICENSE and NOTICE served with the page
// are those of the Swagger UI release the embedded bundle was built from,
// which the bundle names in its own build information.
func TestSwaggerUILicenceVersion(t *testing.T) {
	bundle, err := docsUI.ReadFile("docsui/swagger-ui/swagger-ui-bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`PACKAGE_VERSION:"([0-9][0-9A-Za-z.+-]*)"`).FindSubmatch(bundle)
	if m == nil {
		t.Fatal("the Swagger UI bundle names no PACKAGE_VERSION")
	}
	if got := string(m[1]); got != swaggerUIVersion {
		t.Errorf("the bundle is Swagger UI %s, the licence files are of %s: copy LICENSE and NOTICE of "+
			"swagger-ui-dist %s into docsui/ and update swaggerUIVersion", got, swaggerUIVersion, got)
	}
	for name, want := range map[string]string{
		"docsui/swagger-ui-LICENSE.txt": "Apache License\n                           Version 2.0, January 2004",
		"docsui/swagger-ui-NOTICE.txt":  "swagger-ui\nCopyright",
	} {
		b, err := docsUI.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not start as Swagger UI's does: %.80q", name, b)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authd/authd/adapters/clock"
	httpapi "github.com/authd/authd/adapters/http"
	"github.com/authd/authd/app"
	"github.com/authd/authd/domain"
	"github.com/authd/authd/ports"
)

// deployDir is the repository's deploy/ folder; go test runs in cmd/authd.
const deployDir = "../../deploy"

var (
	// authdVarRE finds AUTHD_* names, alone or inside a string such as
	// ${AUTHD_X:-1}.
	authdVarRE = regexp.MustCompile(`\bAUTHD_[A-Z0-9_]+`)
	// authdAssignRE is NAME=value: a line of an env file, or an item of a
	// compose environment list.
	authdAssignRE = regexp.MustCompile(`^\s*(AUTHD_[A-Z0-9_]+)=(.*)$`)
)

// deployYAML is one document of a YAML file under deploy/.
type deployYAML struct {
	file string // relative to deploy/
	root *yaml.Node
}

// deployFiles reads everything under deploy/: YAML files are parsed (every
// document), the others are kept as text.
type deployFiles struct {
	docs []deployYAML
	text map[string]string // file -> contents
}

func readDeployFiles(t *testing.T) deployFiles {
	t.Helper()
	d := deployFiles{text: map[string]string{}}
	yamlFiles := 0
	err := filepath.WalkDir(deployDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(deployDir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			d.text[rel] = string(b)
			return nil
		}
		yamlFiles++
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				t.Errorf("deploy/%s does not parse: %v", rel, err)
				return nil
			}
			d.docs = append(d.docs, deployYAML{rel, &n})
		}
	})
	if err != nil {
		t.Fatalf("reading %s: %v", deployDir, err)
	}
	if yamlFiles == 0 {
		t.Fatalf("no *.yaml or *.yml file under %s", deployDir)
	}
	return d
}

// walkYAML calls visit on n and every node below it.
func walkYAML(n *yaml.Node, visit func(*yaml.Node)) {
	visit(n)
	for _, c := range n.Content {
		walkYAML(c, visit)
	}
}

// yamlGet returns the value of key in mapping m, or nil.
func yamlGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// yamlPath follows keys down from n, returning nil where one is missing.
func yamlPath(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = yamlGet(n, k)
	}
	return n
}

// varUses returns where each AUTHD_* name appears: in YAML keys, values
// and comments, and anywhere in the other files (the Dockerfile, the env
// file example).
func (d deployFiles) varUses() map[string][]string {
	uses := map[string][]string{}
	add := func(s, file string, line int) {
		for _, name := range authdVarRE.FindAllString(s, -1) {
			uses[name] = append(uses[name], fmt.Sprintf("deploy/%s:%d", file, line))
		}
	}
	for _, doc := range d.docs {
		walkYAML(doc.root, func(n *yaml.Node) {
			for _, s := range []string{n.Value, n.HeadComment, n.LineComment, n.FootComment} {
				add(s, doc.file, n.Line)
			}
		})
	}
	for file, text := range d.text {
		for i, line := range strings.Split(text, "\n") {
			add(line, file, i+1)
		}
	}
	return uses
}

// envValues returns, per file, the literal values the files give AUTHD_*
// variables: compose environment maps and lists, Kubernetes env entries,
// Secret stringData, and NAME=value lines of the other files.
func (d deployFiles) envValues() map[string]map[string]string {
	out := map[string]map[string]string{}
	set := func(file, name, value string) {
		if out[file] == nil {
			out[file] = map[string]string{}
		}
		out[file][name] = value
	}
	isVar := func(s string) bool { return authdVarRE.FindString(s) == s && s != "" }
	for _, doc := range d.docs {
		walkYAML(doc.root, func(n *yaml.Node) {
			switch n.Kind {
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					if k, v := n.Content[i], n.Content[i+1]; isVar(k.Value) && v.Kind == yaml.ScalarNode {
						set(doc.file, k.Value, v.Value)
					}
				}
				if name, v := yamlGet(n, "name"), yamlGet(n, "value"); name != nil && v != nil && isVar(name.Value) {
					set(doc.file, name.Value, v.Value)
				}
			case yaml.ScalarNode:
				if m := authdAssignRE.FindStringSubmatch(n.Value); m != nil {
					set(doc.file, m[1], m[2])
				}
			}
		})
	}
	for file, text := range d.text {
		for line := range strings.Lines(text) {
			if m := authdAssignRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				set(file, m[1], m[2])
			}
		}
	}
	return out
}

// deployProbe is a Kubernetes probe found in a manifest.
type deployProbe struct {
	kind, path, where string
}

func (d deployFiles) probes() []deployProbe {
	var out []deployProbe
	for _, doc := range d.docs {
		walkYAML(doc.root, func(n *yaml.Node) {
			for _, kind := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
				p := yamlGet(n, kind)
				if p == nil {
					continue
				}
				path := yamlPath(p, "httpGet", "path")
				if path == nil {
					out = append(out, deployProbe{kind, "", fmt.Sprintf("deploy/%s:%d", doc.file, p.Line)})
					continue
				}
				out = append(out, deployProbe{kind, path.Value, fmt.Sprintf("deploy/%s:%d", doc.file, path.Line)})
			}
		})
	}
	return out
}

// configVars returns every variable loadConfig reads, recorded through its
// getenv: exactly what the configuration knows. It runs loadConfig on an
// empty environment and on each of envs, so a variable read only under
// some setting the deploy files make is recorded too.
func configVars(envs ...map[string]string) map[string]bool {
	read := map[string]bool{}
	for _, env := range append([]map[string]string{nil}, envs...) {
		_, _ = loadConfig(func(name string) string {
			read[name] = true
			return env[name]
		})
	}
	return read
}

// Just enough of the ports for app.New, which only hashes its timing dummy;
// listing the routes calls nothing else.
type (
	deployUsers    struct{ ports.UserRepository }
	deploySessions struct{ ports.SessionRepository }
	deployTokens   struct{ ports.TokenIssuer }
	deploySTokens  struct{ ports.SessionTokens }
	deployEvents   struct{ ports.EventLog }
	deployHasher   struct{ ports.PasswordHasher }
)

func (deployHasher) Hash(context.Context, string) (string, error) { return "hash", nil }

// servedGETPaths returns the paths the real HTTP app answers with GET.
func servedGETPaths(t *testing.T) map[string]bool {
	t.Helper()
	svc, err := app.New(app.Ports{
		Users: deployUsers{}, Sessions: deploySessions{}, Hasher: deployHasher{}, Tokens: deployTokens{},
		SessionTokens: deploySTokens{}, Clock: clock.System{}, Events: deployEvents{},
	}, app.Config{Policy: domain.PasswordPolicy{MinLength: 8}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{}, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, r := range api.GetRoutes(true) {
		if r.Method == http.MethodGet {
			paths[r.Path] = true
		}
	}
	return paths
}

// TestDeployManifests checks the files under deploy/ against the code: every
// AUTHD_* variable they name is one the configuration reads, every probe
// path is a route the server answers, and the pods outlive a graceful
// shutdown.
func TestDeployManifests(t *testing.T) {
	files := readDeployFiles(t)
	values := files.envValues()

	t.Run("variables", func(t *testing.T) {
		known := configVars(slices.Collect(maps.Values(values))...)
		// The recorder must see what loadConfig certainly reads, or an
		// empty set would let every name through unchecked.
		for _, name := range []string{"AUTHD_DATABASE_URL", "AUTHD_JWT_SECRET"} {
			if !known[name] {
				t.Fatalf("recording loadConfig's getenv did not see %s; it saw %v", name, sortedKeys(known))
			}
		}
		uses := files.varUses()
		if len(uses) == 0 {
			t.Fatal("no AUTHD_* variable found under deploy/")
		}
		for _, name := range sortedKeys(uses) {
			if !known[name] {
				t.Errorf("%s is not a variable the configuration reads; used at %s", name, strings.Join(uses[name], ", "))
			}
		}
		if t.Failed() {
			t.Logf("loadConfig reads %v", sortedKeys(known))
		}
	})

	t.Run("probes", func(t *testing.T) {
		served := servedGETPaths(t)
		kinds := map[string]bool{}
		for _, p := range files.probes() {
			kinds[p.kind] = true
			path, _, _ := strings.Cut(p.path, "?")
			switch {
			case p.path == "":
				t.Errorf("%s: %s has no httpGet.path (the image has no shell for exec probes; authd serves /healthz and /readyz)", p.where, p.kind)
			case !served[path]:
				t.Errorf("%s: %s path %q is not served; GET routes are %v", p.where, p.kind, p.path, sortedKeys(served))
			}
		}
		for _, kind := range []string{"livenessProbe", "readinessProbe"} {
			if !kinds[kind] {
				t.Errorf("no %s under deploy/", kind)
			}
		}
	})

	t.Run("graceful shutdown fits the grace period", func(t *testing.T) {
		for _, doc := range files.docs {
			walkYAML(doc.root, func(pod *yaml.Node) {
				containers := yamlGet(pod, "containers")
				if containers == nil || containers.Kind != yaml.SequenceNode {
					return
				}
				grace := 30 * time.Second // Kubernetes' default
				if g := yamlGet(pod, "terminationGracePeriodSeconds"); g != nil {
					s, err := strconv.Atoi(g.Value)
					if err != nil {
						t.Errorf("deploy/%s:%d: terminationGracePeriodSeconds %q: %v", doc.file, g.Line, g.Value, err)
						return
					}
					grace = time.Duration(s) * time.Second
				}
				for _, c := range containers.Content {
					checkShutdownFits(t, doc.file, c, grace)
				}
			})
		}
	})

	t.Run("example secrets are refused", func(t *testing.T) {
		// Each placeholder is tried next to valid values of the others, so
		// the error can only be its own.
		valid := map[string]string{
			"AUTHD_ENV":               envProduction,
			"AUTHD_JWT_SECRET":        strings.Repeat("s", 32),
			"AUTHD_REFRESH_TOKEN_KEY": strings.Repeat("r", 32),
		}
		checked := 0
		for file, vars := range values {
			if !strings.Contains(filepath.Base(file), ".example") {
				continue
			}
			for _, name := range []string{"AUTHD_JWT_SECRET", "AUTHD_JWT_SIGNING_KEY", "AUTHD_REFRESH_TOKEN_KEY"} {
				placeholder, ok := vars[name]
				if !ok {
					continue
				}
				checked++
				_, err := loadConfig(env(with(valid, name, placeholder)))
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("deploy/%s: the example %s is accepted in production; use a placeholder authd refuses, so the example cannot run as it stands", file, name)
				}
			}
		}
		if checked == 0 {
			t.Error("no example secret found under deploy/")
		}
	})
}

// checkShutdownFits checks that an authd container (one given AUTHD_*
// variables) finishes its shutdown before the kubelet's SIGKILL. As
// docs/operations.md says, that takes the preStop sleep, then
// AUTHD_SHUTDOWN_DELAY (readyz draining, listener open), then up to
// AUTHD_SHUTDOWN_TIMEOUT for the API's in-flight requests, then, with
// AUTHD_METRICS_ADDR set, up to AUTHD_SHUTDOWN_TIMEOUT again for the
// metrics listener, which closes last.
func checkShutdownFits(t errorReporter, file string, c *yaml.Node, grace time.Duration) {
	t.Helper()
	vars := map[string]string{}
	isAuthd := false
	if list := yamlGet(c, "env"); list != nil {
		for _, e := range list.Content {
			name := yamlGet(e, "name")
			if name == nil || !strings.HasPrefix(name.Value, "AUTHD_") {
				continue
			}
			isAuthd = true
			switch name.Value {
			case "AUTHD_SHUTDOWN_TIMEOUT", "AUTHD_SHUTDOWN_DELAY", "AUTHD_METRICS_ADDR":
				if v := yamlGet(e, "value"); v != nil {
					vars[name.Value] = v.Value
				}
			}
		}
	}
	if !isAuthd {
		return
	}
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Errorf("deploy/%s:%d: %v", file, c.Line, err)
		return
	}
	var sleep time.Duration
	if s := yamlPath(c, "lifecycle", "preStop", "sleep", "seconds"); s != nil {
		n, err := strconv.Atoi(s.Value)
		if err != nil {
			t.Errorf("deploy/%s:%d: preStop sleep seconds %q: %v", file, s.Line, s.Value, err)
			return
		}
		sleep = time.Duration(n) * time.Second
	}
	budget := sleep + cfg.ShutdownDelay + cfg.ShutdownTimeout
	metricsDrain := time.Duration(0)
	if cfg.MetricsAddr != "" {
		metricsDrain = cfg.ShutdownTimeout
	}
	budget += metricsDrain
	if budget >= grace {
		t.Errorf("deploy/%s:%d: terminationGracePeriodSeconds (%v) must exceed the preStop sleep (%v) + AUTHD_SHUTDOWN_DELAY (%v) + AUTHD_SHUTDOWN_TIMEOUT (%v) + the metrics listener's drain (%v) = %v",
			file, c.Line, grace, sleep, cfg.ShutdownDelay, cfg.ShutdownTimeout, metricsDrain, budget)
	}
}

// errorReporter is the part of testing.TB checkShutdownFits uses, so its
// self-test can collect the errors.
type errorReporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type collectErrors []string

func (c *collectErrors) Helper() {}
func (c *collectErrors) Errorf(format string, args ...any) {
	*c = append(*c, fmt.Sprintf(format, args...))
}

// TestShutdownBudgetCountsDelayAndMetrics: a container whose grace period
// covers preStop + AUTHD_SHUTDOWN_TIMEOUT but not AUTHD_SHUTDOWN_DELAY, or
// not the metrics listener's drain, is refused.
func TestShutdownBudgetCountsDelayAndMetrics(t *testing.T) {
	container := func(env ...string) *yaml.Node {
		doc := "lifecycle: {preStop: {sleep: {seconds: 5}}}\nenv:\n"
		for i := 0; i+1 < len(env); i += 2 {
			doc += "  - {name: " + env[i] + ", value: \"" + env[i+1] + "\"}\n"
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		return n.Content[0]
	}
	for _, c := range []struct {
		name  string
		env   []string
		grace time.Duration
		fits  bool
	}{
		{"fits", []string{"AUTHD_SHUTDOWN_TIMEOUT", "20s", "AUTHD_SHUTDOWN_DELAY", "1s"}, 30 * time.Second, true},
		{"delay overflows", []string{"AUTHD_SHUTDOWN_TIMEOUT", "20s", "AUTHD_SHUTDOWN_DELAY", "6s"}, 30 * time.Second, false},
		{"metrics drain overflows", []string{"AUTHD_SHUTDOWN_TIMEOUT", "10s", "AUTHD_SHUTDOWN_DELAY", "1s", "AUTHD_METRICS_ADDR", ":9090"}, 20 * time.Second, false},
		{"metrics drain fits", []string{"AUTHD_SHUTDOWN_TIMEOUT", "10s", "AUTHD_SHUTDOWN_DELAY", "1s", "AUTHD_METRICS_ADDR", ":9090"}, 30 * time.Second, true},
	} {
		var errs collectErrors
		checkShutdownFits(&errs, "test.yaml", container(c.env...), c.grace)
		if fits := len(errs) == 0; fits != c.fits {
			t.Errorf("%s: fits = %v, want %v (%v)", c.name, fits, c.fits, errs)
		}
	}
}

// TestDockerfile checks the image's build recipe: a static binary, the
// API port, a non-root user, and no HEALTHCHECK (the orchestrator probes;
// distroless has no shell or curl to run one).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, with continuation lines joined and comments dropped.
	var instrs [][]string
	pending := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && pending == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		if f := strings.Fields(pending + line); len(f) > 0 {
			f[0] = strings.ToUpper(f[0])
			instrs = append(instrs, f)
		}
		pending = ""
	}

	var cgoOff, expose8080 bool
	var finalFrom, finalUser string
	for _, in := range instrs {
		args := in[1:]
		switch in[0] {
		case "HEALTHCHECK":
			t.Errorf("HEALTHCHECK %s: the image must not have one (Kubernetes probes /healthz and /readyz)", strings.Join(args, " "))
		case "RUN", "ENV", "ARG":
			cgoOff = cgoOff || slices.Contains(args, "CGO_ENABLED=0")
		case "EXPOSE":
			expose8080 = expose8080 || slices.Contains(args, "8080") || slices.Contains(args, "8080/tcp")
		case "FROM":
			finalFrom, finalUser = strings.Join(args, " "), ""
		case "USER":
			finalUser = strings.Join(args, " ")
		}
	}
	if !cgoOff {
		t.Error("no CGO_ENABLED=0: the binary must be static to run on distroless/static")
	}
	if !expose8080 {
		t.Error("no EXPOSE 8080")
	}
	switch user, _, _ := strings.Cut(finalUser, ":"); {
	case user == "root" || user == "0":
		t.Errorf("the final stage runs as USER %s", finalUser)
	case user == "" && !strings.Contains(finalFrom, "nonroot"):
		t.Errorf("the final stage (FROM %s) sets no USER and is not a nonroot image", finalFrom)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

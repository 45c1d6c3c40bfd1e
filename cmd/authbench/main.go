// Command authbench measures authd under load and writes
// docs/benchmarks.md and docs/benchmarks.svg.
//
//	go run ./cmd/authbench                 # the full run (task bench)
//	go run ./cmd/authbench -quick          # a small smoke run, report in a temp dir
//	go run ./cmd/authbench -stores sqlite -concurrency 1,32 -duration 3s
//
// It builds ./cmd/authd, starts it as a child process on a free 127.0.0.1
// port with a temporary store (a SQLite file; a throwaway PostgreSQL
// cluster when the binaries are installed), and drives each scenario with
// N closed-loop keep-alive clients for a fixed time. Only 2xx responses
// count as served. Two references are measured in the same run, so the
// results are ratios that survive a noisy machine: the bcrypt ceiling
// (comparisons per second with every core busy) and a bare Fiber handler
// (authbench -serve-bare, also a child process) under the same load.
//
// Each scenario prints one JSON line on stdout; progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/authd/authd/adapters/postgres/pgtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		stop()
		os.Exit(1)
	}
}

// settings are the flags.
type settings struct {
	Duration    time.Duration
	Concurrency []int
	Stores      []string
	Scenarios   []string
	Cost        int
	MaxRequests int64
	Out         string
	Quick       bool
	// Modes are the client behaviours the bcrypt-bound scenarios run
	// with: naive (a 503 is retried at once) and polite (Retry-After is
	// waited out).
	Modes []string
	// Authd is a prebuilt authd to measure instead of building ./cmd/authd.
	Authd string
}

func parseFlags(args []string, stderr io.Writer) (settings, bool, string, error) {
	fs := flag.NewFlagSet("authbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		s         settings
		conc      = fs.String("concurrency", "1,8,32,64,128", "comma-separated numbers of concurrent clients")
		modes     = fs.String("modes", "naive,polite", "client modes for register, login and login_wrong: naive (a 503 is retried at once), polite (Retry-After is waited out)")
		stores    = fs.String("stores", "sqlite,postgres", "stores to run: sqlite, postgres (skipped with a note when PostgreSQL cannot be started)")
		scenarios = fs.String("scenarios", strings.Join(scenarioNames, ","), "scenarios to run")
		serveBare = fs.Bool("serve-bare", false, "internal: serve the bare Fiber reference on -addr")
		addr      = fs.String("addr", "127.0.0.1:0", "internal: address for -serve-bare")
	)
	fs.DurationVar(&s.Duration, "duration", 5*time.Second, "how long each scenario runs")
	fs.IntVar(&s.Cost, "cost", 10, "bcrypt cost (AUTHD_BCRYPT_COST) for authd and the ceiling")
	fs.Int64Var(&s.MaxRequests, "max-requests", 1_000_000, "cap on the requests of one scenario run")
	fs.StringVar(&s.Out, "out", "docs", "directory for benchmarks.md and benchmarks.svg (\"\" writes nothing)")
	fs.StringVar(&s.Authd, "authd", "", "measure this authd binary instead of building ./cmd/authd")
	fs.BoolVar(&s.Quick, "quick", false, "small run: 500ms per scenario, 1 and 4 clients, SQLite, cost 4, report in a temp dir unless -out is given")
	if err := fs.Parse(args); err != nil {
		return s, false, "", err
	}
	if fs.NArg() > 0 {
		return s, false, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if s.Quick {
		if !set["duration"] {
			s.Duration = 500 * time.Millisecond
		}
		if !set["concurrency"] {
			*conc = "1,4"
		}
		if !set["stores"] {
			*stores = "sqlite"
		}
		if !set["cost"] {
			s.Cost = 4
		}
		if !set["out"] {
			s.Out = filepath.Join(os.TempDir(), "authbench-quick")
		}
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return s, false, "", fmt.Errorf("-concurrency: %q is not a number from 1 to 4096", f)
		}
		s.Concurrency = append(s.Concurrency, n)
	}
	slices.Sort(s.Concurrency)
	s.Concurrency = slices.Compact(s.Concurrency)
	for _, st := range strings.Split(*stores, ",") {
		st = strings.TrimSpace(st)
		if st != "sqlite" && st != "postgres" {
			return s, false, "", fmt.Errorf("-stores: %q is neither sqlite nor postgres", st)
		}
		if !slices.Contains(s.Stores, st) {
			s.Stores = append(s.Stores, st)
		}
	}
	for _, m := range strings.Split(*modes, ",") {
		m = strings.TrimSpace(m)
		if m != modeNaive && m != modePolite {
			return s, false, "", fmt.Errorf("-modes: %q is neither naive nor polite", m)
		}
		if !slices.Contains(s.Modes, m) {
			s.Modes = append(s.Modes, m)
		}
	}
	for _, sc := range strings.Split(*scenarios, ",") {
		sc = strings.TrimSpace(sc)
		if !slices.Contains(scenarioNames, sc) {
			return s, false, "", fmt.Errorf("-scenarios: %q is not one of %s", sc, strings.Join(scenarioNames, ", "))
		}
		s.Scenarios = append(s.Scenarios, sc)
	}
	if s.Duration <= 0 || s.Duration > 10*time.Minute {
		return s, false, "", errors.New("-duration must be positive and at most 10m")
	}
	if s.Cost < 4 || s.Cost > 31 {
		return s, false, "", errors.New("-cost must be from 4 to 31")
	}
	if s.MaxRequests < 1 {
		return s, false, "", errors.New("-max-requests must be positive")
	}
	return s, *serveBare, *addr, nil
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, bare, addr, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if bare {
		return serveBare(addr)
	}
	return bench(ctx, s, stdout, stderr)
}

func bench(ctx context.Context, s settings, stdout, stderr io.Writer) error {
	began := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "authbench %5.1fs: %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}
	b := &bencher{s: s, enc: json.NewEncoder(stdout), logf: logf,
		rep: &report{Date: began.UTC(), Machine: readMachine(), Settings: s, Env: authdEnvSummary(s.Cost), Skipped: map[string]string{}}}
	rep := b.rep

	root, err := moduleRoot(ctx)
	if err != nil && s.Authd == "" {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// authd runs in development, where registration mails a verification
	// link as an .eml file: into the run's temporary directory, not ./mail.
	mailDir = filepath.Join(tmp, "mail")

	bin := s.Authd
	if bin == "" {
		logf("building ./cmd/authd")
		if bin, err = buildAuthd(ctx, root, tmp); err != nil {
			return err
		}
	} else {
		rep.Prebuilt = bin
	}
	if root != "" {
		rep.Commit = readCommit(ctx, root)
	} else {
		rep.Commit = commit{Err: "not run from the module"}
	}
	if fi, err := os.Stat(bin); err == nil {
		rep.BinaryBytes = fi.Size()
	}

	// Start-up: exec to the first 200 on /readyz, on a fresh SQLite file
	// (so the time includes creating it and migrating), three times.
	for i := range 3 {
		c, took, err := startAuthd(bin, filepath.Join(tmp, fmt.Sprintf("startup%d.db", i)), s.Cost)
		if err != nil {
			return fmt.Errorf("start-up: %w", err)
		}
		c.stop()
		rep.Startup = append(rep.Startup, took)
	}
	logf("start-up to ready on a fresh SQLite file: %v; binary %d bytes", rep.Startup, rep.BinaryBytes)
	_ = b.enc.Encode(map[string]any{"reference": "startup", "store": "sqlite", "ms": durationsMs(rep.Startup), "binary_bytes": rep.BinaryBytes})

	// The bare Fiber reference runs beside authd for the whole run and is
	// measured next to the scenarios it is compared with.
	b.bare, err = startBare(self)
	if err != nil {
		return fmt.Errorf("bare Fiber reference: %w", err)
	}
	defer b.bare.stop()

	for _, store := range s.Stores {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.store(ctx, store, bin, tmp); err != nil {
			var skip skipError
			if errors.As(err, &skip) {
				rep.Skipped[store] = skip.reason
				logf("%s skipped: %s", store, skip.reason)
				continue
			}
			return fmt.Errorf("%s: %w", store, err)
		}
	}
	if slices.Contains(s.Scenarios, "login") && ctx.Err() == nil {
		if err := b.refusals(bin, tmp); err != nil {
			return fmt.Errorf("refusal cost: %w", err)
		}
	}
	rep.Elapsed = time.Since(began)
	if s.Out == "" {
		return nil
	}
	if err := rep.write(s.Out); err != nil {
		return err
	}
	logf("wrote %s and %s", filepath.Join(s.Out, "benchmarks.md"), filepath.Join(s.Out, "benchmarks.svg"))
	return nil
}

// bencher runs the measurements and collects the report.
type bencher struct {
	s    settings
	rep  *report
	enc  *json.Encoder
	logf func(string, ...any)
	bare *child
}

func (b *bencher) load(clients int, mode string) load {
	return load{clients: clients, duration: b.s.Duration, maxRequests: b.s.MaxRequests, retryNow: mode == modeNaive}
}

// Client modes.
const (
	modeNaive  = "naive"
	modePolite = "polite"
)

// modesFor are the client modes scenario runs with: both for the
// bcrypt-bound ones, which are refused under load; polite for the rest,
// which are never refused for load.
func (b *bencher) modesFor(scenario string) []string {
	if bcryptBound(scenario) {
		return b.s.Modes
	}
	return []string{modePolite}
}

func (b *bencher) emit(r result) error {
	ref := ""
	if r.Ref > 0 {
		ref = fmt.Sprintf("  %.0f%% of %s %.1f/s", r.ExpectedRPS/r.Ref*100, r.RefKind, r.Ref)
	}
	b.logf("%-11s %-6s %-8s c=%-3d %8.1f served/s (all %8.1f)  p50 %7.2f  p99 %7.2f ms  non-2xx %v  rss %.1f MiB  cpu %+v%s",
		r.Scenario, r.Mode, r.Store, r.Concurrency, r.RPS, r.AllRPS, r.P50, r.P99, r.Non2xx, r.PeakRSSMiB, deref(r.CPU), ref)
	return b.enc.Encode(r)
}

func deref(u *cpuUse) cpuUse {
	if u == nil {
		return cpuUse{}
	}
	return *u
}

// measure runs sc against c (the child whose RSS and CPU are recorded)
// with clients clients.
func (b *bencher) measure(c *child, addr string, sc scenario, clients int, mode string) result {
	c.resetPeakRSS()
	_, mark := c.out.since(0)
	before := sampleCPU(c.cmd.Process.Pid)
	r := run(addr, sc, b.load(clients, mode))
	after := sampleCPU(c.cmd.Process.Pid)
	use := before.until(after)
	r.CPU = &use
	r.ServerCPUSeconds = after.child - before.child
	r.Mode = mode
	r.PeakRSSMiB = round1(c.peakRSS())
	// The child logs at error level only: whatever it wrote during the
	// run explains its 5xx.
	if out, _ := c.out.since(mark); out != "" {
		lines := strings.Split(out, "\n")
		if len(lines) > 5 {
			lines = append([]string{fmt.Sprintf("(%d earlier lines)", len(lines)-5)}, lines[len(lines)-5:]...)
		}
		b.logf("%s logged during %s at %d clients:\n  %s", filepath.Base(c.cmd.Path), sc.name, clients, strings.Join(lines, "\n  "))
	}
	return r
}

// ceiling measures the bcrypt ceiling now (with the children idle).
func (b *bencher) ceiling(when string) (float64, error) {
	c, err := measureCeiling(b.s.Cost, min(b.s.Duration, 2*time.Second))
	if err != nil {
		return 0, err
	}
	c.When = when
	b.rep.Ceilings = append(b.rep.Ceilings, c)
	b.logf("bcrypt ceiling (cost %d, %s): %.1f/s, %.1f ms per comparison with %d cores busy", c.Cost, when, c.RPS, c.PerOpMs, c.Cores)
	return c.RPS, b.enc.Encode(struct {
		Reference string `json:"reference"`
		ceiling
	}{"bcrypt_ceiling", c})
}

// skipError is a store that cannot run here (no PostgreSQL).
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

// store runs every scenario at every concurrency against one authd. The
// references are measured beside the runs they are compared with, since
// the machine's spare capacity drifts (other work, thermal limits): a
// bcrypt ceiling before every bcrypt-bound run and after the last one
// (each run is compared with the mean of the two around it), and the bare
// Fiber handler just before each /users/me run at the same concurrency
// (refresh and healthz are compared with those too).
func (b *bencher) store(ctx context.Context, store, bin, tmp string) error {
	var dbURL string
	switch store {
	case "sqlite":
		dbURL = filepath.Join(tmp, "bench.db")
	case "postgres":
		b.logf("starting a throwaway PostgreSQL cluster")
		pg, err := pgtest.StartCluster()
		if err != nil {
			return skipError{firstLine(err.Error())}
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				b.logf("stopping PostgreSQL: %v", err)
			}
		}()
		if dbURL, err = pg.CreateDatabase("authbench"); err != nil {
			return err
		}
	}
	c, _, err := startAuthd(bin, dbURL, b.s.Cost)
	if err != nil {
		return err
	}
	defer c.stop()
	users := b.s.Concurrency[len(b.s.Concurrency)-1]
	b.logf("%s: registering and logging in %d users", store, users)
	t, err := prepare(c, store, users)
	if err != nil {
		return err
	}
	b.rep.RSSReset = c.resetPeakRSS()

	bareRPS := map[int]float64{}
	var pending *result // a bcrypt-bound run waiting for the ceiling after it
	ceilBefore := 0.0
	closeCeiling := func(when string) error {
		after, err := b.ceiling(when)
		if err != nil {
			return err
		}
		if pending != nil {
			pending.Ref = (ceilBefore + after) / 2
			pending.RefKind = "bcrypt_ceiling"
			b.rep.Results = append(b.rep.Results, *pending)
			if err := b.emit(*pending); err != nil {
				return err
			}
			pending = nil
		}
		ceilBefore = after
		return nil
	}
	if err := b.burst(store, c, t); err != nil {
		return err
	}
	stale := false // logins ran since the sessions were made
	for _, name := range b.s.Scenarios {
		if (name == "me" || name == "refresh") && stale {
			b.logf("%s: logging the %d users in again (untimed) for %s", store, users, name)
			if err := t.relogin(); err != nil {
				return err
			}
			stale = false
		}
		if name == "login" || name == "login_wrong" {
			stale = true
		}
		for _, n := range b.s.Concurrency {
			for _, mode := range b.modesFor(name) {
				if err := ctx.Err(); err != nil {
					return err
				}
				if bcryptBound(name) {
					if err := closeCeiling(fmt.Sprintf("%s, before %s (%s) at %d clients", store, name, mode, n)); err != nil {
						return err
					}
				} else if pending != nil {
					if err := closeCeiling(fmt.Sprintf("%s, after the bcrypt-bound runs", store)); err != nil {
						return err
					}
				}
				if name == "me" || bareRPS[n] == 0 && !bcryptBound(name) {
					br := b.measure(b.bare, b.bare.addr, bareScenario(b.bare), n, modePolite)
					if err := b.bare.alive(); err != nil {
						return err
					}
					br.Store = "fiber"
					br.Beside = store
					bareRPS[n] = br.RPS
					b.rep.Bare = append(b.rep.Bare, br)
					if err := b.emit(br); err != nil {
						return err
					}
				}
				r := b.measure(c, c.addr, t.scenario(name), n, mode)
				r.Store = store
				if err := c.alive(); err != nil {
					return err
				}
				if bcryptBound(name) {
					pending = &r
					continue
				}
				r.Ref, r.RefKind = bareRPS[n], "bare_fiber"
				b.rep.Results = append(b.rep.Results, r)
				if err := b.emit(r); err != nil {
					return err
				}
			}
		}
	}
	if pending != nil {
		return closeCeiling(fmt.Sprintf("%s, after the bcrypt-bound runs", store))
	}
	return nil
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func durationsMs(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// machine describes where the run happened.
type machine struct {
	CPU        string
	Cores      int
	GOMAXPROCS int
	MemoryMiB  float64
	Kernel     string
	Go         string
	OS         string
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	return m
}

// cpuModel is the first "model name" in /proc/cpuinfo, "unknown" when
// there is none.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown"
}

// levels lists the concurrency levels present in rs, sorted.
func levels(rs []result) []int {
	var out []int
	for _, r := range rs {
		if !slices.Contains(out, r.Concurrency) {
			out = append(out, r.Concurrency)
		}
	}
	sort.Ints(out)
	return out
}

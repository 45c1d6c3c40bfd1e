package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	Date        time.Time
	Machine     machine
	Settings    settings
	Env         string
	Ceilings    []ceiling // before and after the store runs
	Bare        []result
	Results     []result
	Startup     []time.Duration
	BinaryBytes int64
	Skipped     map[string]string // store -> why
	RSSReset    bool              // peaks are per scenario (else since start)
	Elapsed     time.Duration
	Prebuilt    string // the -authd binary, when not built by the run
	Commit      commit
	Bursts      []burstResult
	Refusal     *refusalCost
}

// refusalProfile is what a CPU profile of the refusal path showed; the
// report prints it as it is. It holds no figures, which would go stale:
// the figures are the table's, measured in the same run.
// requestProfile is what CPU profiles of authd under this benchmark's
// load showed (a build with net/http/pprof, -authd, and
// /debug/pprof/profile during a run); like refusalProfile it holds no
// figures, which go stale: the tables above are the run's.
const requestProfile = `What profiles of authd under this load showed, and what was done:

- /users/me, 64 clients. Before the session cache, the per-request
  session query was most of authd's CPU. With the cache, SQLite's check
  that nothing was committed (PRAGMA data_version: a read transaction
  with its file locks) became the largest item; the feed now reads the
  WAL-index header at the start of the -shm file first (one pread; every
  commit by any process rewrites it) and asks SQLite only when it
  changed. Then the access token's verification was a third of the CPU,
  two thirds of it encoding/json in golang-jwt's parser; a token that
  verified in full is now remembered (bounded, by its exact text, only
  while its time checks hold). What remains is what every request pays
  (fasthttp's reading and writing, the middleware chain, the JSON
  response, the metrics observation), which is most of what the bare
  Fiber reference also pays.
- register, 32 polite clients on SQLite: bcrypt is nearly all of authd's
  CPU. The rest is the registration's own work: the user row, the
  verification link's token and outbox row (one transaction), and the
  relay delivering that mail (here as an .eml file). A register ratio
  within a point of its goal is inside the spread of the bcrypt ceiling
  itself (see its minimum and maximum under References): the ceiling is
  measured with nothing else running, and a registration cannot be
  cheaper than one hash plus those writes. The same holds for login at
  128 clients, whose only extra work is the session row.
- p99 of admitted logins (from the admission rule, not a profile): a
  request is admitted while its predicted start, the work ahead of it ÷
  workers × a moving average of one hash, is within AUTHD_HASH_MAX_WAIT.
  When the hashes just admitted run slower than that average (the
  machine's other processes share the cores), the last admitted requests
  start a little after MAX_WAIT, and the worst p99 can land a few
  milliseconds above MAX_WAIT + 2 hashes: the prediction's error, not a
  queue that grows.`

const refusalProfile = `Where a refusal's CPU went, from reading the path and a CPU profile
(pprof) of it taken in process with the HTTP adapter's benchmarks
(go test ./adapters/http -run X -bench 'Refusal|Healthz' -cpuprofile
cpu.out, a refused login against a /healthz request, no network):

- Before admission came first, a refused login had decoded its JSON
  body, parsed the email, asked the store for the account and the rate
  limits, normalised the password and only then been refused by the
  pool; and its access line was an error, so even at
  AUTHD_LOG_LEVEL=error every refusal formatted and wrote a JSON line,
  which a /healthz request does not.
- Now the pool is asked first (a few atomic operations on a
  reservation), before the body is read or the client's budget counted,
  and the refusal's access line is a warning. What remains of a refusal
  is what every request pays (fasthttp's parsing and writing, request
  id, client address, security headers, the metrics observation) plus
  the problem+json body: the error handler's errors.As and json.Marshal
  and the no-store and Retry-After headers. The profile shows no other
  hot spot; the slog access line is the largest single item when it is
  written (AUTHD_LOG_LEVEL=info), for a refusal as for /healthz.
- Even a cheap refusal costs the client and the kernel a round trip on
  the same cores, so its number matters too: the hold
  (AUTHD_HASH_REFUSAL_HOLD) keeps a naive client to a few refusals a
  second per connection. The naive runs above show the refusals it
  leaves, and the refusal-cost table the price of each.
`

// Targets from the performance issue.
const (
	goalBcryptShare = 0.95
	goalMeShare     = 0.50
	goalMeP99Ms     = 10
	goalRefusalCPU  = 2.0  // server CPU per refusal / per /healthz request
	maxWaitMs       = 2000 // AUTHD_HASH_MAX_WAIT, at its default in the run
	goalRSSMiB      = 100
	goalStartupMs   = 300
	goalBinaryBytes = 30_000_000
	loadLevel       = 32 // clients for the bcrypt-bound targets
	highLevel       = 128
	meLevel         = 64 // clients for the /users/me targets
)

func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mdPath := filepath.Join(dir, "benchmarks.md")
	md := r.markdown()
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "benchmarks.svg"), []byte(r.svg()), 0o644)
}

// find is the run of scenario on store at clients, in mode ("" for any).
func find(rs []result, scenario, store string, clients int, mode string) (result, bool) {
	for _, r := range rs {
		if r.Scenario == scenario && r.Store == store && r.Concurrency == clients && (mode == "" || r.Mode == mode) {
			return r, true
		}
	}
	return result{}, false
}

// nearest is the level in ls closest to want (the larger on a tie).
func nearest(ls []int, want int) int {
	best := 0
	for _, l := range ls {
		if best == 0 || abs(l-want) < abs(best-want) || abs(l-want) == abs(best-want) && l > best {
			best = l
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// ceilingRPS is the mean of the ceiling measurements.
func (r *report) ceilingRPS() float64 {
	if len(r.Ceilings) == 0 {
		return 0
	}
	sum := 0.0
	for _, c := range r.Ceilings {
		sum += c.RPS
	}
	return sum / float64(len(r.Ceilings))
}

// stores lists the stores that produced results, in run order.
func (r *report) stores() []string {
	var out []string
	for _, res := range r.Results {
		if !slices.Contains(out, res.Store) {
			out = append(out, res.Store)
		}
	}
	return out
}

// bareAt is the bare Fiber run measured beside store's runs at clients.
func (r *report) bareAt(store string, clients int) (result, bool) {
	for _, b := range r.Bare {
		if b.Beside == store && b.Concurrency == clients {
			return b, true
		}
	}
	return result{}, false
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// check is one target's verdict.
type check struct {
	Target, Store, Measured, Goal string
	Met                           bool
	Missing                       bool // not measured in this run
}

func (r *report) checks() []check {
	var out []check
	ls := r.Settings.Concurrency
	perOp := r.perOpMs()
	for _, store := range r.stores() {
		for _, at := range compactInts(nearest(ls, loadLevel), nearest(ls, highLevel)) {
			for _, sc := range []string{"login", "register"} {
				for _, mode := range r.Settings.Modes {
					c := check{Target: fmt.Sprintf("%s goodput / bcrypt ceiling, %d %s clients", sc, at, mode), Store: store, Goal: fmt.Sprintf("≥ %.0f%%", goalBcryptShare*100)}
					if res, ok := find(r.Results, sc, store, at, mode); ok && res.Ref > 0 {
						share := res.ExpectedRPS / res.Ref
						c.Measured = fmt.Sprintf("%.0f%% (%.1f of %.1f/s)", share*100, res.ExpectedRPS, res.Ref)
						c.Met = share >= goalBcryptShare
					} else {
						c.Missing = true
					}
					out = append(out, c)
				}
			}
		}
		worst, which := -1.0, ""
		for _, res := range r.Results {
			if res.Store == store && res.Scenario == "login" && res.OK > 0 && res.P99 > worst {
				worst, which = res.P99, fmt.Sprintf("%d %s clients", res.Concurrency, res.Mode)
			}
		}
		c := check{Target: "p99 of admitted logins, worst run", Store: store, Goal: fmt.Sprintf("≤ %.0f ms (MAX_WAIT + 2 hashes)", maxWaitMs+2*perOp)}
		if worst >= 0 && perOp > 0 {
			c.Measured = fmt.Sprintf("%.0f ms (%s)", worst, which)
			c.Met = worst <= maxWaitMs+2*perOp
		} else {
			c.Missing = true
		}
		out = append(out, c)
		c = check{Target: fmt.Sprintf("%d simultaneous registrations of one email", burstSize), Store: store, Goal: "one 201, the rest 400, no 503"}
		c.Missing = true
		for _, bu := range r.Bursts {
			if bu.Store == store {
				c.Missing = false
				c.Measured = statusCounts(bu.Statuses)
				c.Met = bu.Statuses[201] == 1 && bu.Statuses[400] == burstSize-1
			}
		}
		out = append(out, c)
		at := nearest(ls, meLevel)
		me, okMe := find(r.Results, "me", store, at, "")
		c = check{Target: fmt.Sprintf("/users/me / bare Fiber, %d clients", at), Store: store, Goal: fmt.Sprintf("≥ %.0f%%", goalMeShare*100)}
		if okMe && me.Ref > 0 {
			share := me.RPS / me.Ref
			c.Measured = fmt.Sprintf("%.0f%% (%.0f of %.0f/s)", share*100, me.RPS, me.Ref)
			c.Met = share >= goalMeShare
		} else {
			c.Missing = true
		}
		out = append(out, c)
		c = check{Target: fmt.Sprintf("/users/me p99, %d clients", at), Store: store, Goal: fmt.Sprintf("< %d ms", goalMeP99Ms)}
		if okMe {
			c.Measured = fmt.Sprintf("%.2f ms", me.P99)
			c.Met = me.P99 < goalMeP99Ms
		} else {
			c.Missing = true
		}
		out = append(out, c)
		peak, which := 0.0, ""
		for _, res := range r.Results {
			if res.Store == store && res.PeakRSSMiB > peak {
				peak, which = res.PeakRSSMiB, fmt.Sprintf("%s, %d clients", res.Scenario, res.Concurrency)
			}
		}
		c = check{Target: "peak RSS of authd, any scenario", Store: store, Goal: fmt.Sprintf("< %d MiB", goalRSSMiB)}
		if peak > 0 {
			c.Measured = fmt.Sprintf("%.1f MiB (%s)", peak, which)
			c.Met = peak < goalRSSMiB
		} else {
			c.Missing = true
		}
		out = append(out, c)
	}
	c := check{Target: "server CPU per refusal / per /healthz request", Store: "sqlite", Goal: fmt.Sprintf("≤ %.0f×", goalRefusalCPU)}
	if rc := r.Refusal; rc != nil && rc.HealthzCPUMicros > 0 && rc.Refusals > 0 {
		ratio := rc.RefusalCPUMicros / rc.HealthzCPUMicros
		c.Measured = fmt.Sprintf("%.1f× (%.0f µs against %.0f µs)", ratio, rc.RefusalCPUMicros, rc.HealthzCPUMicros)
		c.Met = ratio <= goalRefusalCPU
	} else {
		c.Missing = true
	}
	out = append(out, c)
	c = check{Target: "start-up to ready, fresh SQLite file (median of 3)", Store: "sqlite", Goal: fmt.Sprintf("< %d ms", goalStartupMs)}
	if len(r.Startup) > 0 {
		m := median(r.Startup)
		c.Measured = fmt.Sprintf("%.0f ms", ms(m))
		c.Met = ms(m) < goalStartupMs
	} else {
		c.Missing = true
	}
	out = append(out, c)
	c = check{Target: "binary size (as deploy/Dockerfile builds it)", Store: "–", Goal: fmt.Sprintf("< %d MB", goalBinaryBytes/1_000_000)}
	if r.BinaryBytes > 0 {
		c.Measured = fmt.Sprintf("%.1f MB", float64(r.BinaryBytes)/1e6)
		c.Met = r.BinaryBytes < goalBinaryBytes
	} else {
		c.Missing = true
	}
	return append(out, c)
}

// perOpMs is the median time of one comparison over the run's ceilings.
func (r *report) perOpMs() float64 {
	var v []float64
	for _, c := range r.Ceilings {
		v = append(v, c.PerOpMs)
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

func compactInts(a ...int) []int {
	slices.Sort(a)
	return slices.Compact(a)
}

func statusCounts(m map[int]int) string {
	var codes []int
	for k := range m {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	var parts []string
	for _, k := range codes {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

func verdict(c check) string {
	switch {
	case c.Missing:
		return "not measured"
	case c.Met:
		return "met"
	default:
		return "**missed**"
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	s := r.Settings
	p("# Benchmarks\n\n")
	p("Generated by `go run ./cmd/authbench` (`task bench`) on %s; rerunning it rewrites this file and\n", r.Date.Format("2006-01-02 15:04 MST"))
	p("`benchmarks.svg` whole: every figure and every sentence here comes from the run. Absolute numbers depend on the machine; the\n")
	p("ratios to the two references measured in the same run are what to compare.\n\n")
	switch cm := r.Commit; {
	case cm.Hash == "":
		p("Source: unknown (%s).\n\n", cm.Err)
	case cm.Dirty:
		p("Source: commit `%s` **with uncommitted changes** (the working tree was dirty), so the commit alone does not reproduce these figures.\n\n", cm.Hash)
	default:
		p("Source: commit `%s`, clean working tree.\n\n", cm.Hash)
	}

	p("## Targets\n\n")
	p("| target | store | measured | goal | |\n|---|---|---|---|---|\n")
	for _, c := range r.checks() {
		measured := c.Measured
		if c.Missing {
			measured = "–"
		}
		p("| %s | %s | %s | %s | %s |\n", c.Target, c.Store, measured, c.Goal, verdict(c))
	}
	for _, st := range sortedKeys(r.Skipped) {
		p("\n%s was not measured: %s.\n", st, r.Skipped[st])
	}
	p("\n![Throughput and p99 latency against concurrency for login and /users/me](benchmarks.svg)\n\n")

	p("## Machine and settings\n\n")
	m := r.Machine
	p("- CPU: %s, %d cores (GOMAXPROCS %d), %.1f GiB memory\n", m.CPU, m.Cores, m.GOMAXPROCS, m.MemoryMiB/1024)
	p("- %s, Linux %s, %s\n", m.OS, m.Kernel, m.Go)
	p("- %s per scenario, clients %s, at most %d requests per scenario; stores: %s\n", s.Duration, joinInts(s.Concurrency), s.MaxRequests, strings.Join(s.Stores, ", "))
	if r.Prebuilt != "" {
		p("- authd: the prebuilt binary %s, one child process per store; %s\n", r.Prebuilt, r.Env)
	} else {
		p("- authd: built like deploy/Dockerfile (`CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\"`), one child process per store; %s\n", r.Env)
	}
	p("- client modes for register, login and login_wrong: %s\n", strings.Join(s.Modes, ", "))
	p("- the whole run took %s\n\n", r.Elapsed.Round(time.Second))

	p("## References\n\n")
	p("Both are measured beside the runs they are compared with, because what the machine can give drifts during a run (other processes, frequency scaling).\n\n")
	p("**bcrypt ceiling** (cost %d): with authd idle, every core compares a password at once for a fixed time; one comparison's time with all cores busy, and cores ÷ that time. Measured before every register and login run and after the last; each run is compared with the mean of the measurements just before and after it.\n\n", s.Cost)
	p("| store | samples | min | median | max | one comparison (median) |\n|---|---|---|---|---|---|\n")
	for _, st := range r.stores() {
		var rps, perOp []float64
		for _, c := range r.Ceilings {
			if strings.HasPrefix(c.When, st+",") {
				rps = append(rps, c.RPS)
				perOp = append(perOp, c.PerOpMs)
			}
		}
		if len(rps) == 0 {
			continue
		}
		slices.Sort(rps)
		slices.Sort(perOp)
		p("| %s | %d | %.1f/s | %.1f/s | %.1f/s | %.1f ms |\n", st, len(rps), rps[0], rps[(len(rps)-1)/2], rps[len(rps)-1], perOp[(len(perOp)-1)/2])
	}
	p("\n**bare Fiber**: `authbench -serve-bare`, a child process with a default Fiber app and one handler returning `{\"status\":\"ok\"}` (the body of authd's `/healthz`), no middleware, under the same load, measured just before each `/users/me` run.\n\n")
	for _, st := range r.stores() {
		var rs []result
		for _, b := range r.Bare {
			if b.Beside == st {
				rs = append(rs, b)
			}
		}
		if len(rs) == 0 {
			continue
		}
		p("Beside %s:\n\n", st)
		r.table(&b, rs, false)
		p("\n")
	}
	for _, store := range r.stores() {
		p("\n## %s\n\n", store)
		var rs []result
		for _, res := range r.Results {
			if res.Store == store {
				rs = append(rs, res)
			}
		}
		r.table(&b, rs, true)
	}

	p("\n## Start-up and size\n\n")
	p("- start-up to the first `200` on `/readyz` on a fresh SQLite file (creating it and migrating): %s (median %.0f ms)\n", joinMs(r.Startup), ms(median(r.Startup)))
	p("- binary: %d bytes (%.1f MB)\n", r.BinaryBytes, float64(r.BinaryBytes)/1e6)
	if r.RSSReset {
		p("- peak RSS is the child's `VmHWM` after each scenario, reset before it (`/proc/PID/clear_refs`)\n")
	} else {
		p("- peak RSS is the child's `VmHWM` since it started (resetting it per scenario was not possible here)\n")
	}

	p("\n## How it is measured\n\n")
	p("- authd runs as a child process on a free `127.0.0.1` port, with a temporary SQLite file, or a throwaway PostgreSQL cluster (`pgtest.StartCluster`: local binaries, `fsync`, `synchronous_commit` and `full_page_writes` off). **With fsync off, the write-bound PostgreSQL figures (register, refresh) are not lower bounds**: a durable server pays a WAL flush per commit that this run does not. Load generator, authd and PostgreSQL share the same cores.\n")
	p("- Closed loop: N clients, each on its own keep-alive connection (fasthttp's `HostClient`, chosen over net/http for its lower per-request CPU, which on a small machine is taken from the server), sends its next request when the previous one is answered, for the fixed duration; requests in flight at the end finish and count. served/s is 2xx responses per second; all/s counts every response; a ratio to a reference counts only the expected responses (2xx, or 401 for `login_wrong`), never a refusal. Latency percentiles are exact (every sample kept) over the scenario's expected responses: 2xx, or 401 for the wrong password.\n")
	p("- Scenarios: `register` (a new unique email each time), `login` (client i logs in as pre-registered user i with the right password), `login_wrong` (the wrong password: 401 is the expected answer, so served/s is 0 and only its 401s count in the ratio), `me` (`GET /api/v1/users/me` with client i's access token: the access token's check and the session check, both answered from memory after a session's first request (the verified-token memo and the session cache, AUTHD_SESSION_CACHE_SIZE); the users log in again, untimed, before it, since the login runs end each user's oldest sessions beyond `AUTHD_MAX_SESSIONS`), `refresh` (client i rotates its own refresh-token chain, one database transaction per call), `healthz`.\n")
	p("- authd logs at `error`, so no access line is written per request; at the default `info` every request formats and writes one JSON line, which costs throughput on the cheap endpoints. Rate limits are off: every client is 127.0.0.1 and would be throttled at once.\n")
	p("- authd's bcrypt pool (`AUTHD_HASH_WORKERS`, `AUTHD_HASH_QUEUE`, `AUTHD_HASH_MAX_WAIT`, `AUTHD_HASH_REFUSAL_HOLD`) is at its defaults: GOMAXPROCS workers; register and login are admitted only while their predicted start is within 2 s, the rest are answered 503 with `Retry-After` the predicted time until there is room, held up to 250 ms first. Each bcrypt-bound scenario runs in two client modes: **naive** clients send their next request as soon as a 503 arrives (as many scripts do); **polite** clients wait the `Retry-After` (cut short at the end of the run). Refusals are listed under non-2xx.\n")
	p("- A burst: before the scenarios, %d clients register one new email at the same instant; all should be served (one 201, the rest 400), none refused.\n", burstSize)
	p("- Refusal cost: after the stores, a separate authd on a fresh SQLite file with one hash worker, `AUTHD_HASH_MAX_WAIT=1ms` (so nothing waits, whatever the cost) and no refusal hold is driven by naive clients logging in with an unknown email, so one core compares and every request it cannot admit is refused at once. Its CPU (utime + stime from `/proc/PID/stat`) minus the comparisons' (their 401s × one comparison's CPU time, measured by a ceiling run just before), divided by the refusals, is the CPU per refusal; `/healthz` on the same server at the same concurrency gives the CPU per plain request.\n")
	p("- The cores columns are averages over each run from `/proc`: the server (authd, or the bare Fiber child), the load generator, everything else (PostgreSQL, and any other process on the machine), and idle.\n")

	if rc := r.Refusal; rc != nil {
		p("\n## Refusal cost\n\n")
		p("| %d naive clients | requests | server CPU | per request |\n|---|---|---|---|\n", rc.Clients)
		p("| `/healthz` | %d | %.2f s | %.1f µs |\n", rc.HealthzRequests, rc.HealthzCPUSeconds, rc.HealthzCPUMicros)
		p("| login refused (503) | %d (%.0f/s), beside %d compared (401) | %.2f s, of which comparisons %.2f s | %.1f µs |\n",
			rc.Refusals, rc.RefusalsPerSecond, rc.Checked, rc.LoginCPUSeconds, float64(rc.Checked)*rc.ComparisonCPUMs/1000, rc.RefusalCPUMicros)
	}
	p("\n## Profile of the refusal path\n\n%s\n", refusalProfile)
	p("\n## Profile of /users/me and of registration\n\n%s\n", requestProfile)
	return b.String()
}

func (r *report) table(b *strings.Builder, rs []result, withRef bool) {
	fmt.Fprintf(b, "| scenario | mode | clients | requests | served/s | all/s |")
	if withRef {
		fmt.Fprintf(b, " vs reference |")
	}
	fmt.Fprintf(b, " p50 ms | p90 ms | p99 ms | max ms | non-2xx | peak RSS MiB | cores: server / loadgen / other / idle |\n|---|---|---|---|---|---|")
	if withRef {
		fmt.Fprintf(b, "---|")
	}
	fmt.Fprintf(b, "---|---|---|---|---|---|---|\n")
	for _, res := range rs {
		mode := res.Mode
		if mode == "" {
			mode = "–"
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %.1f | %.1f |", res.Scenario, mode, res.Concurrency, res.Requests, res.RPS, res.AllRPS)
		if withRef {
			ref := "–"
			switch {
			case res.Ref <= 0:
			case res.Scenario == "login_wrong":
				ref = fmt.Sprintf("%.0f%% of %.1f/s bcrypt (401s only)", res.ExpectedRPS/res.Ref*100, res.Ref)
			case res.RefKind == "bcrypt_ceiling":
				ref = fmt.Sprintf("%.0f%% of %.1f/s bcrypt", res.ExpectedRPS/res.Ref*100, res.Ref)
			default:
				ref = fmt.Sprintf("%.0f%% of bare", res.RPS/res.Ref*100)
			}
			fmt.Fprintf(b, " %s |", ref)
		}
		cpu := "–"
		if u := res.CPU; u != nil {
			cpu = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", u.Child, u.Self, u.Other, u.Idle)
		}
		fmt.Fprintf(b, " %.2f | %.2f | %.2f | %.2f | %s | %.1f | %s |\n", res.P50, res.P90, res.P99, res.Max, statusList(res), res.PeakRSSMiB, cpu)
	}
}

// statusList renders non-2xx statuses and transport errors compactly.
func statusList(r result) string {
	var parts []string
	for _, code := range sortedKeys(r.Non2xx) {
		parts = append(parts, fmt.Sprintf("%s×%d", code, r.Non2xx[code]))
	}
	for _, e := range sortedKeys(r.Errors) {
		parts = append(parts, fmt.Sprintf("error×%d", r.Errors[e]))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func joinMs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = fmt.Sprintf("%.0f ms", ms(d))
	}
	return strings.Join(s, ", ")
}

// --- the chart ---

type point struct {
	x int // clients
	y float64
}

type series struct {
	name   string
	color  string
	dashed bool
	points []point
}

type panel struct {
	title  string
	series []series
}

var storeColors = map[string]string{"sqlite": "#1f77b4", "postgres": "#d62728"}

const refColor = "#7f7f7f"

// collect is the points of scenario on store; the chart shows the polite
// clients' runs of the scenarios that have two modes (the tables show
// both).
func (r *report) collect(scenario, store string, y func(result) float64) []point {
	var pts []point
	for _, res := range r.Results {
		if res.Scenario == scenario && res.Store == store && (res.Mode == "" || res.Mode == modePolite) {
			pts = append(pts, point{res.Concurrency, y(res)})
		}
	}
	return pts
}

func (r *report) panels() []panel {
	rps := func(res result) float64 { return res.RPS }
	p99 := func(res result) float64 { return res.P99 }
	var out [4]panel
	out[0].title = "login: served per second"
	out[1].title = "login: p99 latency, ms"
	out[2].title = "/users/me: served per second"
	out[3].title = "/users/me: p99 latency, ms"
	for _, store := range r.stores() {
		color := storeColors[store]
		if color == "" {
			color = "#2ca02c"
		}
		out[0].series = append(out[0].series, series{name: store, color: color, points: r.collect("login", store, rps)})
		out[1].series = append(out[1].series, series{name: store, color: color, points: r.collect("login", store, p99)})
		out[2].series = append(out[2].series, series{name: store, color: color, points: r.collect("me", store, rps)})
		out[3].series = append(out[3].series, series{name: store, color: color, points: r.collect("me", store, p99)})
	}
	ref := func(res result) float64 { return res.Ref }
	for _, store := range r.stores() {
		color := storeColors[store]
		if color == "" {
			color = "#2ca02c"
		}
		out[0].series = append(out[0].series, series{name: store + ": bcrypt ceiling", color: color, dashed: true, points: r.collect("login", store, ref)})
		var bareRPS, bareP99 []point
		for _, res := range r.Bare {
			if res.Beside == store {
				bareRPS = append(bareRPS, point{res.Concurrency, res.RPS})
				bareP99 = append(bareP99, point{res.Concurrency, res.P99})
			}
		}
		out[2].series = append(out[2].series, series{name: store + ": bare Fiber", color: color, dashed: true, points: bareRPS})
		out[3].series = append(out[3].series, series{name: store + ": bare Fiber", color: color, dashed: true, points: bareP99})
	}
	return out[:]
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ticks is how many intervals to split 0..ymax (a niceCeil value) into so
// that every label is round.
func ticks(ymax float64) int {
	m := ymax / math.Pow(10, math.Floor(math.Log10(ymax)))
	switch {
	case math.Abs(m-2) < 1e-9:
		return 4
	default:
		return 5
	}
}

func label(v float64) string {
	switch {
	case v >= 10000 && math.Mod(v, 100) == 0:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

// svg renders the four panels (throughput and p99 against concurrency,
// for login and /users/me) as a standalone SVG, by hand.
func (r *report) svg() string {
	const (
		width, height  = 960, 680
		panelW, panelH = 470, 290
		top            = 80
		padL, padR     = 60, 20
		padT, padB     = 34, 40
	)
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	p(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	p(`<text x="%d" y="24" font-size="16" font-weight="bold" text-anchor="middle">authd: throughput and p99 latency against concurrent clients</text>`+"\n", width/2)
	p(`<text x="%d" y="44" fill="#555" text-anchor="middle">%s · %d cores · bcrypt cost %d · %s per point · %s</text>`+"\n",
		width/2, html.EscapeString(r.Machine.CPU), r.Machine.Cores, r.Settings.Cost, r.Settings.Duration, r.Date.Format("2006-01-02"))

	// One legend for all panels: a colour per store, dashed for the
	// reference measured beside it.
	lx := 120.0
	for _, store := range r.stores() {
		color := storeColors[store]
		if color == "" {
			color = "#2ca02c"
		}
		p(`<line x1="%.1f" y1="62" x2="%.1f" y2="62" stroke="%s" stroke-width="2"/>`+"\n", lx, lx+24, color)
		p(`<text x="%.1f" y="66">authd on %s</text>`+"\n", lx+30, html.EscapeString(store))
		lx += 150
	}
	p(`<line x1="%.1f" y1="62" x2="%.1f" y2="62" stroke="#555" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", lx, lx+24)
	p(`<text x="%.1f" y="66">reference measured beside it: bcrypt ceiling (login, polite clients), bare Fiber (/users/me)</text>`+"\n", lx+30)

	xs := r.Settings.Concurrency
	for i, pn := range r.panels() {
		ox := 10 + (i%2)*(panelW+10)
		oy := top + (i/2)*(panelH+10)
		x0, x1 := float64(ox+padL), float64(ox+panelW-padR)
		y0, y1 := float64(oy+panelH-padB), float64(oy+padT)
		maxY := 0.0
		for _, s := range pn.series {
			for _, pt := range s.points {
				maxY = max(maxY, pt.y)
			}
		}
		ymax := niceCeil(maxY * 1.05)
		yOf := func(v float64) float64 { return y0 - (v/ymax)*(y0-y1) }
		xOf := func(n int) float64 {
			i := slices.Index(xs, n)
			if i < 0 {
				i = 0
			}
			return x0 + (float64(i)+0.5)*(x1-x0)/float64(max(len(xs), 1))
		}
		p(`<g class="panel">` + "\n")
		p(`<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", ox+padL, oy+20, html.EscapeString(pn.title))
		steps := ticks(ymax)
		for k := 0; k <= steps; k++ {
			v := ymax * float64(k) / float64(steps)
			y := yOf(v)
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y, x1, y)
			p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", x0-6, y+4, label(v))
		}
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x1, y0)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x0, y1)
		for _, n := range xs {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%d</text>`+"\n", xOf(n), y0+16, n)
		}
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">concurrent clients</text>`+"\n", (x0+x1)/2, y0+32)
		for _, s := range pn.series {
			if len(s.points) == 0 {
				continue
			}
			var pts []string
			for _, pt := range s.points {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(pt.x), yOf(pt.y)))
			}
			dash := ""
			if s.dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			p(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`+"\n", s.color, dash, strings.Join(pts, " "), html.EscapeString(s.name))
			if !s.dashed {
				for _, pt := range s.points {
					p(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, %d clients: %s</title></circle>`+"\n", xOf(pt.x), yOf(pt.y), s.color, html.EscapeString(s.name), pt.x, label(math.Round(pt.y*10)/10))
				}
			}
		}
		p("</g>\n")
	}
	p("</svg>\n")
	return b.String()
}

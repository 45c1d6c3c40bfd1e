package main

// Tests of the pure parts: statistics, /proc parsing, flags and the
// rendering of the report and chart. Nothing here is timed or starts a
// server; `go run ./cmd/authbench -quick` is the smoke run.

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("empty: %v", got)
	}
	if got := percentile([]time.Duration{7}, 50); got != 7 {
		t.Errorf("one sample: %v", got)
	}
}

func TestRecorderCountsAndMerge(t *testing.T) {
	a, b := newRecorder(), newRecorder()
	a.add(200, 3*time.Millisecond, true)
	a.add(503, time.Millisecond, false)
	b.add(201, time.Millisecond, true)
	b.add(401, 2*time.Millisecond, false)
	b.add(503, time.Millisecond, false)
	b.fail(errors.New("connection reset by peer"))
	m := merge([]*recorder{a, b})
	if len(m.lat) != 2 || m.lat[0] != time.Millisecond || m.lat[1] != 3*time.Millisecond {
		t.Errorf("latencies (only expected ones, sorted) = %v", m.lat)
	}
	responses, ok, non2xx := m.counts()
	if responses != 5 || ok != 2 {
		t.Errorf("responses %d ok %d, want 5 and 2", responses, ok)
	}
	if len(non2xx) != 2 || non2xx["503"] != 2 || non2xx["401"] != 1 {
		t.Errorf("non2xx = %v", non2xx)
	}

	r := summarize(m, 2*time.Second, "2xx")
	if r.Requests != 6 || r.OK != 2 || r.RPS != 1 || r.AllRPS != 2.5 {
		t.Errorf("summary = %+v", r)
	}
	if r.P50 != 1 || r.Max != 3 || r.Errors["connection reset by peer"] != 1 {
		t.Errorf("summary = %+v", r)
	}
}

func TestScenarioExpected(t *testing.T) {
	ok := scenario{}
	if !ok.expected(200) || !ok.expected(204) || ok.expected(401) || ok.latencyOf() != "2xx" {
		t.Error("default scenario should expect any 2xx")
	}
	wrong := scenario{expect: 401}
	if wrong.expected(200) || !wrong.expected(401) || wrong.latencyOf() != "401" {
		t.Error("a 401 scenario should expect exactly 401")
	}
	if retryAfter([]byte("5")) != 5*time.Second || retryAfter(nil) != time.Second || retryAfter([]byte("soon")) != time.Second {
		t.Error("retryAfter")
	}
}

func TestProcParsing(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "1234 (auth d) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0"
	if got := statCPU(stat); got != 3.25 {
		t.Errorf("statCPU = %v, want 3.25", got)
	}
	busy, idle := machineCPU("cpu  100 10 50 1000 20 5 5 10 0 0\ncpu0 1 2 3\n")
	if busy != 1.8 || idle != 10.2 {
		t.Errorf("machineCPU = %v, %v", busy, idle)
	}
	status := "Name:\tauthd\nVmPeak:\t 2000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 10240 kB\n"
	if got := statusField(bufio.NewScanner(strings.NewReader(status)), "VmHWM:"); got != 20 {
		t.Errorf("VmHWM = %v MiB, want 20", got)
	}
	if got := cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n"); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
	a := cpuSample{at: time.Unix(0, 0), child: 1, self: 1, busy: 10, idle: 5}
	b := cpuSample{at: time.Unix(2, 0), child: 2, self: 1.5, busy: 13, idle: 6}
	if u := a.until(b); u != (cpuUse{Child: 0.5, Self: 0.25, Idle: 0.5, Other: 0.75}) {
		t.Errorf("until = %+v", u)
	}
}

func TestFlags(t *testing.T) {
	s, bare, _, err := parseFlags([]string{"-quick"}, io.Discard)
	if err != nil || bare {
		t.Fatal(err, bare)
	}
	if s.Duration != 500*time.Millisecond || s.Cost != 4 || len(s.Stores) != 1 || s.Out == "docs" {
		t.Errorf("quick settings = %+v", s)
	}
	s, _, _, err = parseFlags([]string{"-concurrency", "64,1,8,8", "-stores", "postgres", "-out", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if joinInts(s.Concurrency) != "1, 8, 64" || s.Stores[0] != "postgres" || s.Out != "x" {
		t.Errorf("settings = %+v", s)
	}
	for _, bad := range [][]string{{"-concurrency", "0"}, {"-stores", "mysql"}, {"-scenarios", "logout"}, {"-cost", "3"}, {"extra"}} {
		if _, _, _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestChartScale(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.7: 1, 12.1: 20, 23: 25, 37: 50, 480: 500, 5300: 10000, 61000: 100000, 100: 100} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 750: "750", 12500: "12.5k", 60000: "60k"} {
		if got := label(v); got != want {
			t.Errorf("label(%v) = %q, want %q", v, got, want)
		}
	}
	if got := nearest([]int{1, 8, 64}, 32); got != 8 {
		t.Errorf("nearest = %d", got)
	}
	if got := nearest([]int{1, 8, 32, 64}, 32); got != 32 {
		t.Errorf("nearest = %d", got)
	}
}

// sampleReport is a made-up run of both stores at 1, 32 and 64 clients.
func sampleReport() *report {
	r := &report{
		Date:        time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine:     machine{CPU: "Test CPU <1>", Cores: 2, GOMAXPROCS: 2, Go: "go1.26", OS: "linux/amd64"},
		Settings:    settings{Duration: 5 * time.Second, Concurrency: []int{1, 32, 64}, Stores: []string{"sqlite", "postgres"}, Scenarios: scenarioNames, Cost: 10, MaxRequests: 1000, Modes: []string{modeNaive, modePolite}},
		Startup:     []time.Duration{120 * time.Millisecond, 90 * time.Millisecond, 100 * time.Millisecond},
		BinaryBytes: 20_000_000,
		Skipped:     map[string]string{},
		RSSReset:    true,
		Commit:      commit{Hash: "0123abcd", Dirty: true},
		Bursts:      []burstResult{{Store: "sqlite", Statuses: map[int]int{201: 1, 400: 19}}, {Store: "postgres", Statuses: map[int]int{201: 1, 400: 9, 503: 10}}},
		Refusal:     &refusalCost{Clients: 64, HealthzRequests: 1000, HealthzCPUSeconds: 0.023, Refusals: 500, Checked: 10, LoginCPUSeconds: 1.03, ComparisonCPUMs: 100, RefusalsPerSecond: 100, RefusalCPUMicros: 60, HealthzCPUMicros: 23},
	}
	for _, store := range []string{"sqlite", "postgres"} {
		r.Ceilings = append(r.Ceilings, ceiling{When: store + ", before login", Cost: 10, Cores: 2, RPS: 20, PerOpMs: 100})
		for _, n := range r.Settings.Concurrency {
			r.Bare = append(r.Bare, result{Scenario: "bare", Store: "fiber", Beside: store, Concurrency: n, RPS: 40000, P99: 1})
			for _, sc := range scenarioNames {
				modes := []string{modePolite}
				if bcryptBound(sc) {
					modes = []string{modeNaive, modePolite}
				}
				for _, mode := range modes {
					res := result{Scenario: sc, Store: store, Mode: mode, Concurrency: n, RPS: 15000, ExpectedRPS: 15000, OK: 1, P99: 12, PeakRSSMiB: 40, Non2xx: map[string]int{}, CPU: &cpuUse{Child: 1.2, Self: 0.5, Idle: 0.1, Other: 0.2}}
					switch {
					case sc == "login_wrong":
						// 401s are what counts; 503s never do.
						res.RPS, res.ExpectedRPS, res.AllRPS, res.Ref, res.RefKind = 0, 10, 500, 20, "bcrypt_ceiling"
						res.Non2xx["401"], res.Non2xx["503"] = 50, 2450
					case bcryptBound(sc) && mode == modeNaive:
						res.RPS, res.ExpectedRPS, res.Ref, res.RefKind = 19, 19, 20, "bcrypt_ceiling"
					case bcryptBound(sc):
						res.RPS, res.ExpectedRPS, res.Ref, res.RefKind = 18, 18, 20, "bcrypt_ceiling"
					default:
						res.Ref, res.RefKind = 40000, "bare_fiber"
					}
					if store == "postgres" && sc == "me" {
						res.RPS, res.ExpectedRPS, res.P99 = 8000, 8000, 25 // 20% of bare, p99 over 10 ms
						res.Non2xx["503"] = 3
					}
					if sc == "login" {
						res.P99 = 2150
					}
					r.Results = append(r.Results, res)
				}
			}
		}
	}
	return r
}

func TestMarkdown(t *testing.T) {
	r := sampleReport()
	md := r.markdown()
	for _, want := range []string{
		"# Benchmarks",
		"Source: commit `0123abcd` **with uncommitted changes**",
		"| target | store | measured | goal | |",
		"| login goodput / bcrypt ceiling, 32 naive clients | sqlite | 95% (19.0 of 20.0/s) | ≥ 95% | met |",
		"| login goodput / bcrypt ceiling, 32 polite clients | sqlite | 90% (18.0 of 20.0/s) | ≥ 95% | **missed** |",
		"| register goodput / bcrypt ceiling, 64 polite clients | postgres |",
		"| p99 of admitted logins, worst run | sqlite | 2150 ms (1 naive clients) | ≤ 2200 ms (MAX_WAIT + 2 hashes) | met |",
		"| 20 simultaneous registrations of one email | sqlite | 201×1 400×19 | one 201, the rest 400, no 503 | met |",
		"| 20 simultaneous registrations of one email | postgres | 201×1 400×9 503×10 | one 201, the rest 400, no 503 | **missed** |",
		"| server CPU per refusal / per /healthz request | sqlite | 2.6× (60 µs against 23 µs) | ≤ 2× | **missed** |",
		"| login_wrong | naive | 32 | 0 | 0.0 | 500.0 | 50% of 20.0/s bcrypt (401s only) |",
		"| /users/me / bare Fiber, 64 clients | sqlite | 38% (15000 of 40000/s) | ≥ 50% | **missed** |",
		"| /users/me / bare Fiber, 64 clients | postgres | 20% (8000 of 40000/s) | ≥ 50% | **missed** |",
		"| /users/me p99, 64 clients | postgres | 25.00 ms | < 10 ms | **missed** |",
		"are not lower bounds",
		"## Profile of the refusal path",
		"| start-up to ready, fresh SQLite file (median of 3) | sqlite | 100 ms | < 300 ms | met |",
		"| binary size (as deploy/Dockerfile builds it) | – | 20.0 MB | < 30 MB | met |",
		"- CPU: Test CPU <1>, 2 cores",
		"## sqlite", "## postgres", "Beside postgres:",
		"| me | polite | 64 | 0 | 8000.0 | 0.0 | 20% of bare |",
		"503×3",
		"| 1.20 / 0.50 / 0.20 / 0.10 |",
		"![Throughput and p99 latency",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "notes:begin") || strings.Contains(md, "## Notes") {
		t.Error("the report keeps no hand-written notes")
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(line, "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d bars, header %d: %s", n, cols, line)
		}
	}
}

func TestSVG(t *testing.T) {
	svg := sampleReport().svg()
	dec := xml.NewDecoder(strings.NewReader(svg))
	count := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			count[se.Name.Local]++
		}
	}
	if count["svg"] != 1 || count["g"] != 4 {
		t.Errorf("want one svg with four panels, got %v", count)
	}
	// Per panel a line per store, plus a dashed reference per store on
	// all but the login p99 panel.
	if count["polyline"] != 4*2+3*2 {
		t.Errorf("polylines = %d", count["polyline"])
	}
	// A dot per measured point: 4 panels x 2 stores x 3 levels.
	if count["circle"] != 4*2*3 {
		t.Errorf("circles = %d", count["circle"])
	}
	for _, want := range []string{"login: served per second", "/users/me: p99 latency, ms", "Test CPU &lt;1&gt;", "authd on postgres", ">64<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

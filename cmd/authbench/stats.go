package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// recorder collects one load client's outcomes; each client has its own,
// so recording takes no lock, and they are merged at the end.
type recorder struct {
	// lat holds the latency of every response with the scenario's
	// expected status (2xx, or 401 for a wrong password): raw values, so
	// the percentiles are exact.
	lat    []time.Duration
	status map[int]int
	errors map[string]int
}

func newRecorder() *recorder {
	return &recorder{status: map[int]int{}, errors: map[string]int{}}
}

// add records one response.
func (r *recorder) add(status int, d time.Duration, expected bool) {
	r.status[status]++
	if expected {
		r.lat = append(r.lat, d)
	}
}

// fail records a transport error (no HTTP response).
func (r *recorder) fail(err error) {
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80]
	}
	r.errors[msg]++
}

// merge folds rs into one recorder with sorted latencies.
func merge(rs []*recorder) *recorder {
	out := newRecorder()
	for _, r := range rs {
		out.lat = append(out.lat, r.lat...)
		for k, v := range r.status {
			out.status[k] += v
		}
		for k, v := range r.errors {
			out.errors[k] += v
		}
	}
	slices.Sort(out.lat)
	return out
}

// responses is every HTTP response recorded; ok the 2xx among them; non2xx
// the rest by status code.
func (r *recorder) counts() (responses, ok int, non2xx map[string]int) {
	non2xx = map[string]int{}
	for code, n := range r.status {
		responses += n
		if code >= 200 && code < 300 {
			ok += n
		} else {
			non2xx[strconv.Itoa(code)] += n
		}
	}
	return responses, ok, non2xx
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted,
// 0 when it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// result is one scenario's outcome, printed as a JSON line.
type result struct {
	Scenario    string  `json:"scenario"`
	Store       string  `json:"store"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	Requests    int     `json:"requests"`
	RPS         float64 `json:"rps"`     // 2xx responses per second (served)
	AllRPS      float64 `json:"all_rps"` // every response per second
	// ExpectedRPS is responses with the scenario's expected status (2xx,
	// or 401 for login_wrong) per second: what a ratio to a reference
	// counts. Refusals never count in it.
	ExpectedRPS float64 `json:"expected_rps"`
	// Mode is the client mode: naive (a 503 is retried at once) or
	// polite (Retry-After is waited out).
	Mode string `json:"mode,omitempty"`
	// ServerCPUSeconds is the CPU time (user + system) the server process
	// used during the run.
	ServerCPUSeconds float64        `json:"server_cpu_s,omitempty"`
	OK               int            `json:"ok"`
	Non2xx           map[string]int `json:"non_2xx"`
	Errors           map[string]int `json:"errors,omitempty"`
	LatencyOf        string         `json:"latency_of"`
	P50              float64        `json:"p50_ms"`
	P90              float64        `json:"p90_ms"`
	P99              float64        `json:"p99_ms"`
	Max              float64        `json:"max_ms"`
	PeakRSSMiB       float64        `json:"peak_rss_mib,omitempty"`
	// CPU is the cores each party kept busy during the run.
	CPU *cpuUse `json:"cpu,omitempty"`
	// Ref is the reference measured beside this run: the bcrypt ceiling
	// (mean of the measurements just before and just after) for register
	// and login, the bare Fiber rps at the same concurrency otherwise.
	Ref     float64 `json:"ref_rps,omitempty"`
	RefKind string  `json:"ref,omitempty"` // "bcrypt_ceiling" or "bare_fiber"
	// Beside is, for a bare Fiber run, the store whose runs it is
	// compared with.
	Beside string `json:"beside,omitempty"`
}

// bcryptBound says whether a scenario does one bcrypt operation per
// request, so its reference is the bcrypt ceiling.
func bcryptBound(scenario string) bool {
	return scenario == "register" || scenario == "login" || scenario == "login_wrong"
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// summarize turns a merged recorder into a result; elapsed is the wall
// time from the first request to the last response.
func summarize(r *recorder, elapsed time.Duration, latencyOf string) result {
	responses, ok, non2xx := r.counts()
	errs := 0
	for _, n := range r.errors {
		errs += n
	}
	res := result{
		Seconds:   math.Round(elapsed.Seconds()*1000) / 1000,
		Requests:  responses + errs,
		OK:        ok,
		Non2xx:    non2xx,
		LatencyOf: latencyOf,
		P50:       ms(percentile(r.lat, 50)),
		P90:       ms(percentile(r.lat, 90)),
		P99:       ms(percentile(r.lat, 99)),
		Max:       ms(percentile(r.lat, 100)),
	}
	if len(r.errors) > 0 {
		res.Errors = r.errors
	}
	if s := elapsed.Seconds(); s > 0 {
		res.RPS = math.Round(float64(ok)/s*10) / 10
		res.AllRPS = math.Round(float64(responses)/s*10) / 10
		res.ExpectedRPS = math.Round(float64(len(r.lat))/s*10) / 10
	}
	return res
}

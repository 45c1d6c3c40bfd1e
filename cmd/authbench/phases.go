package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// commit is the source the run measured: HEAD, and whether the working
// tree had changes (which HEAD then does not fully describe).
type commit struct {
	Hash  string
	Dirty bool
	Err   string // why it could not be read
}

func readCommit(ctx context.Context, root string) commit {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return commit{Err: "git rev-parse HEAD: " + err.Error()}
	}
	c := commit{Hash: strings.TrimSpace(string(out))}
	st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain").Output()
	if err != nil {
		c.Err = "git status: " + err.Error()
		return c
	}
	c.Dirty = len(strings.TrimSpace(string(st))) > 0
	return c
}

// burstSize is the burst: 20 registrations of one email at once.
const burstSize = 20

// burstResult is what a burst of simultaneous registrations got.
type burstResult struct {
	Store    string
	Statuses map[int]int
}

// burst sends burstSize registrations of one new email at once: all
// should be served (one 201, the rest 400 email taken), none refused.
func (b *bencher) burst(store string, c *child, t *target) error {
	hc := newClient(c.addr, burstSize)
	defer hc.CloseIdleConnections()
	body := credentials(fmt.Sprintf("burst-%d@%s", time.Now().UnixNano(), emailDomain), password)
	res := burstResult{Store: store, Statuses: map[int]int{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := make(chan struct{})
	for range burstSize {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			postJSON(req, t.base+"/api/v1/auth/register", body)
			<-start
			code := 0
			if err := hc.Do(req, resp); err == nil {
				code = resp.StatusCode()
			}
			mu.Lock()
			res.Statuses[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	b.rep.Bursts = append(b.rep.Bursts, res)
	b.logf("%s: %d simultaneous registrations of one email: %v", store, burstSize, res.Statuses)
	return b.enc.Encode(map[string]any{"reference": "burst", "store": store, "statuses": res.Statuses})
}

// refusalCost is the server's CPU per refused login against its CPU per
// /healthz request, at the same concurrency.
type refusalCost struct {
	Clients           int
	HealthzRequests   int
	HealthzCPUSeconds float64
	Refusals          int
	Checked           int     // logins admitted and compared (401)
	LoginCPUSeconds   float64 // the server's CPU during the refusal run
	ComparisonCPUMs   float64 // one comparison's CPU time, from a ceiling run just before
	RefusalsPerSecond float64
	RefusalCPUMicros  float64
	HealthzCPUMicros  float64
}

// refusals measures what a refusal costs the server. A separate authd
// (fresh SQLite file) runs with one hash worker, a 1 ms wait budget (so
// nothing waits, whatever the cost) and no refusal hold, and
// 64 naive clients log in with an unknown email: one worker compares,
// everything it cannot admit is refused at once. Its CPU minus the
// comparisons' (counted by their 401s, each at the ceiling's time per
// comparison) over the refusals is the CPU per refusal; /healthz on the
// same server at the same concurrency is the yardstick.
func (b *bencher) refusals(bin, tmp string) error {
	const clients = 64
	c, _, err := startAuthd(bin, filepath.Join(tmp, "refusals.db"), b.s.Cost, "AUTHD_HASH_WORKERS=1", "AUTHD_HASH_MAX_WAIT=1ms", "AUTHD_HASH_REFUSAL_HOLD=0")
	if err != nil {
		return err
	}
	defer c.stop()
	// One comparison's CPU, measured now at the run's cost.
	if _, err := b.ceiling("before the refusal cost"); err != nil {
		return err
	}
	per := b.rep.Ceilings[len(b.rep.Ceilings)-1].CPUPerOpMs
	base := "http://" + c.addr
	health := b.measure(c, c.addr, scenario{name: "healthz", prepare: func(_, _ int, req *fasthttp.Request) { req.SetRequestURI(base + "/healthz") }}, clients, modePolite)
	body := credentials("nobody@"+emailDomain, wrongPassword)
	login := b.measure(c, c.addr, scenario{name: "login_refused", expect: 401, prepare: func(_, _ int, req *fasthttp.Request) {
		postJSON(req, base+"/api/v1/auth/login", body)
	}}, clients, modeNaive)
	if err := c.alive(); err != nil {
		return err
	}
	rc := refusalCost{
		Clients: clients, HealthzRequests: health.OK, HealthzCPUSeconds: health.ServerCPUSeconds,
		Refusals: login.Non2xx["503"], Checked: login.Non2xx["401"], LoginCPUSeconds: login.ServerCPUSeconds,
		ComparisonCPUMs: per,
	}
	if login.Seconds > 0 {
		rc.RefusalsPerSecond = float64(rc.Refusals) / login.Seconds
	}
	if rc.HealthzRequests > 0 {
		rc.HealthzCPUMicros = rc.HealthzCPUSeconds / float64(rc.HealthzRequests) * 1e6
	}
	if rc.Refusals > 0 {
		rest := rc.LoginCPUSeconds - float64(rc.Checked)*per/1000
		rc.RefusalCPUMicros = max(0, rest) / float64(rc.Refusals) * 1e6
	}
	b.rep.Refusal = &rc
	b.logf("refusal cost: %.1f µs CPU per refusal (%d refusals, %d comparisons), %.1f µs per /healthz request", rc.RefusalCPUMicros, rc.Refusals, rc.Checked, rc.HealthzCPUMicros)
	return b.enc.Encode(map[string]any{"reference": "refusal_cost", "refusal_cpu_us": rc.RefusalCPUMicros, "healthz_cpu_us": rc.HealthzCPUMicros, "refusals": rc.Refusals, "comparisons": rc.Checked})
}

// relogin logs every client's user in again (untimed) and keeps the new
// tokens. The login runs create many sessions per user, and authd ends a
// user's oldest sessions beyond AUTHD_MAX_SESSIONS (100), so the sessions
// prepare made may be gone by the time me and refresh run.
func (t *target) relogin() error {
	hc := newClient(t.c.addr, 8)
	defer hc.CloseIdleConnections()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lastErr error
		next    atomic.Int64
	)
	for range min(len(t.sessions), 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(t.sessions) {
					return
				}
				body, err := call(hc, t.base+"/api/v1/auth/login", t.login[i], 200)
				var tok tokenResponse
				if err == nil && (json.Unmarshal(body, &tok) != nil || tok.AccessToken == "") {
					err = fmt.Errorf("no tokens in %.100s", body)
				}
				if err != nil {
					mu.Lock()
					lastErr = fmt.Errorf("log in user %d again: %w", i, err)
					mu.Unlock()
					return
				}
				t.sessions[i] = session{access: tok.AccessToken, refresh: tok.RefreshToken}
			}
		}()
	}
	wg.Wait()
	return lastErr
}

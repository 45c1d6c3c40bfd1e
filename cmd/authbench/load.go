package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// scenario is one kind of request, driven by N closed-loop clients.
type scenario struct {
	name string
	// expect is the status whose latencies are recorded; 0 means any 2xx.
	expect int
	// prepare fills req (already reset) for client's seq-th request.
	prepare func(client, seq int, req *fasthttp.Request)
	// after, when set, sees every response (for the refresh chains).
	after func(client, status int, body []byte)
}

func (s scenario) expected(status int) bool {
	if s.expect == 0 {
		return status >= 200 && status < 300
	}
	return status == s.expect
}

func (s scenario) latencyOf() string {
	if s.expect == 0 {
		return "2xx"
	}
	return strconv.Itoa(s.expect)
}

// load is how hard to push.
type load struct {
	clients  int
	duration time.Duration
	// maxRequests caps the requests one run may issue, whatever the
	// duration.
	maxRequests int64
	// retryNow makes a client that got 503 send its next request at once
	// instead of waiting the Retry-After it was given.
	retryNow bool
}

// newClient is the load generator's HTTP client: fasthttp's HostClient,
// already in the module graph as Fiber's engine. On two cores the load
// generator competes with the server for the CPU, so its per-request cost
// is subtracted from what the server can show; fasthttp's client reuses
// request and response objects and spends a fraction of net/http's
// allocations. Every client has its own keep-alive connection (MaxConns is
// the number of clients).
func newClient(addr string, clients int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      clients,
		MaxIdleConnDuration:           time.Minute,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		MaxConnWaitTimeout:            30 * time.Second,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
	}
}

// run drives sc on addr with l.clients closed-loop clients, each sending
// its next request as soon as the previous one is answered, until
// l.duration has passed or l.maxRequests were sent; requests in flight at
// the deadline complete and count. The elapsed time runs from the start to
// the last response.
func run(addr string, sc scenario, l load) result {
	hc := newClient(addr, l.clients)
	defer hc.CloseIdleConnections()
	recs := make([]*recorder, l.clients)
	var issued atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(l.duration)
	for i := range l.clients {
		rec := newRecorder()
		recs[i] = rec
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for seq := 0; ; seq++ {
				if !time.Now().Before(deadline) || issued.Add(1) > l.maxRequests {
					return
				}
				req.Reset()
				sc.prepare(i, seq, req)
				t0 := time.Now()
				err := hc.Do(req, resp)
				d := time.Since(t0)
				if err != nil {
					rec.fail(err)
					time.Sleep(10 * time.Millisecond) // a dead server must not spin the loop
					continue
				}
				code := resp.StatusCode()
				rec.add(code, d, sc.expected(code))
				if sc.after != nil {
					sc.after(i, code, resp.Body())
				}
				if code == fasthttp.StatusServiceUnavailable && !l.retryNow {
					// A polite client: wait as told, but not past the end.
					time.Sleep(min(retryAfter(resp.Header.Peek("Retry-After")), time.Until(deadline)))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := summarize(merge(recs), elapsed, sc.latencyOf())
	res.Scenario = sc.name
	res.Concurrency = l.clients
	return res
}

// retryAfter reads a Retry-After of delay-seconds; 1s when it is missing
// or not a number (HTTP dates are not expected from authd).
func retryAfter(v []byte) time.Duration {
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return time.Second
	}
	return time.Duration(n) * time.Second
}

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The scenarios, in the order they run.
var scenarioNames = []string{"register", "login", "login_wrong", "me", "refresh", "healthz"}

const (
	password      = "Bench-passw0rd-Z9q"
	wrongPassword = "Wrong-passw0rd-Z9q"
	// emailDomain is reserved for documentation (RFC 2606): nothing is
	// ever sent there.
	emailDomain = "authbench.example.com"
)

// authdEnv is the child's environment: rate limits off (every client is
// 127.0.0.1 and would be throttled at once), the benchmark's bcrypt cost,
// a fixed secret, and logging at error, so no access line is written per
// request (at info, each request also formats and writes a JSON line).
func authdEnv(dbURL string, cost int, secret string) []string {
	return append(baseEnv(),
		"AUTHD_DATABASE_URL="+dbURL,
		"AUTHD_MAIL_DIR="+mailDir,
		"AUTHD_ENV=development",
		"AUTHD_RATE_LIMIT=off",
		"AUTHD_BCRYPT_COST="+strconv.Itoa(cost),
		"AUTHD_JWT_SECRET="+secret,
		"AUTHD_LOG_LEVEL=error",
		"AUTHD_SHUTDOWN_DELAY=0s",
	)
}

// mailDir is where the authd under test writes its mail (AUTHD_MAIL_DIR):
// registration mails a verification link, so the register figures include
// the token, the outbox row and the relay writing the file.
var mailDir = filepath.Join(os.TempDir(), "authbench-mail")

// authdEnvSummary is authdEnv for the report, without the secret.
func authdEnvSummary(cost int) string {
	return "AUTHD_RATE_LIMIT=off AUTHD_BCRYPT_COST=" + strconv.Itoa(cost) + " AUTHD_LOG_LEVEL=error AUTHD_ENV=development AUTHD_SHUTDOWN_DELAY=0s AUTHD_JWT_SECRET=<random> AUTHD_MAIL_DIR=<temporary>; everything else at its default"
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startAuthd(bin, dbURL string, cost int, extraEnv ...string) (*child, time.Duration, error) {
	env := append(authdEnv(dbURL, cost, randomSecret()), extraEnv...)
	return spawn(bin, nil, env, func(addr string) ([]string, []string) {
		return nil, []string{"AUTHD_ADDR=" + addr}
	}, "/readyz", 60*time.Second)
}

func startBare(self string) (*child, error) {
	c, _, err := spawn(self, []string{"-serve-bare"}, baseEnv(), func(addr string) ([]string, []string) {
		return []string{"-addr", addr}, nil
	}, "/", 30*time.Second)
	return c, err
}

// session is one client's tokens.
type session struct{ access, refresh string }

// target is a running authd with users and sessions for the clients.
type target struct {
	store    string
	c        *child
	base     string // http://127.0.0.1:port
	login    [][]byte
	wrong    [][]byte
	sessions []session
	reg      atomic.Int64
}

// prepare registers n users and logs each in once (untimed), so client i
// logs in as user i and owns session i.
func prepare(c *child, store string, n int) (*target, error) {
	t := &target{store: store, c: c, base: "http://" + c.addr, sessions: make([]session, n)}
	hc := newClient(c.addr, 8)
	defer hc.CloseIdleConnections()
	for i := range n {
		email := fmt.Sprintf("user%d@%s", i, emailDomain)
		t.login = append(t.login, credentials(email, password))
		t.wrong = append(t.wrong, credentials(email, wrongPassword))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lastErr error
		next    atomic.Int64
	)
	for range min(n, 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := call(hc, t.base+"/api/v1/auth/register", t.login[i], 201); err != nil {
					mu.Lock()
					lastErr = fmt.Errorf("register user %d: %w", i, err)
					mu.Unlock()
					return
				}
				body, err := call(hc, t.base+"/api/v1/auth/login", t.login[i], 200)
				if err != nil {
					mu.Lock()
					lastErr = fmt.Errorf("log in user %d: %w", i, err)
					mu.Unlock()
					return
				}
				var tok tokenResponse
				if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
					mu.Lock()
					lastErr = fmt.Errorf("log in user %d: no tokens in %.100s", i, body)
					mu.Unlock()
					return
				}
				t.sessions[i] = session{access: tok.AccessToken, refresh: tok.RefreshToken}
			}
		}()
	}
	wg.Wait()
	return t, lastErr
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func credentials(email, pw string) []byte {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return b
}

// call POSTs body as JSON and wants status; a 503 (bcrypt pool full) is
// retried after a pause.
func call(hc *fasthttp.HostClient, url string, body []byte, want int) ([]byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for attempt := 0; ; attempt++ {
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(url)
		req.Header.SetContentType("application/json")
		req.SetBody(body)
		if err := hc.Do(req, resp); err != nil {
			return nil, err
		}
		switch code := resp.StatusCode(); {
		case code == want:
			return append([]byte(nil), resp.Body()...), nil
		case code == fasthttp.StatusServiceUnavailable && attempt < 50:
			time.Sleep(100 * time.Millisecond)
		default:
			return nil, fmt.Errorf("status %d: %.200s", code, resp.Body())
		}
	}
}

func postJSON(req *fasthttp.Request, url string, body []byte) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(url)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
}

// scenario returns the named scenario against t.
func (t *target) scenario(name string) scenario {
	switch name {
	case "register":
		url := t.base + "/api/v1/auth/register"
		return scenario{name: name, prepare: func(_, _ int, req *fasthttp.Request) {
			n := t.reg.Add(1)
			postJSON(req, url, fmt.Appendf(nil, `{"email":"new%d@%s","password":%q}`, n, emailDomain, password))
		}}
	case "login":
		url := t.base + "/api/v1/auth/login"
		return scenario{name: name, prepare: func(i, _ int, req *fasthttp.Request) {
			postJSON(req, url, t.login[i%len(t.login)])
		}}
	case "login_wrong":
		url := t.base + "/api/v1/auth/login"
		return scenario{name: name, expect: 401, prepare: func(i, _ int, req *fasthttp.Request) {
			postJSON(req, url, t.wrong[i%len(t.wrong)])
		}}
	case "me":
		url := t.base + "/api/v1/users/me"
		return scenario{name: name, prepare: func(i, _ int, req *fasthttp.Request) {
			req.SetRequestURI(url)
			req.Header.Set("Authorization", "Bearer "+t.sessions[i%len(t.sessions)].access)
		}}
	case "refresh":
		// Each client rotates its own chain: it presents its latest
		// refresh token and keeps the successor. Clients never share a
		// session (sharing one would be reuse, and revoke it).
		url := t.base + "/api/v1/auth/refresh"
		return scenario{name: name,
			prepare: func(i, _ int, req *fasthttp.Request) {
				postJSON(req, url, fmt.Appendf(nil, `{"refresh_token":%q}`, t.sessions[i].refresh))
			},
			after: func(i, status int, body []byte) {
				if status != 200 {
					return
				}
				var tok tokenResponse
				if json.Unmarshal(body, &tok) == nil && tok.RefreshToken != "" {
					t.sessions[i] = session{access: tok.AccessToken, refresh: tok.RefreshToken}
				}
			}}
	case "healthz":
		url := t.base + "/healthz"
		return scenario{name: name, prepare: func(_, _ int, req *fasthttp.Request) { req.SetRequestURI(url) }}
	}
	panic("unknown scenario " + name)
}

// bareScenario is GET / on the reference server.
func bareScenario(c *child) scenario {
	url := "http://" + c.addr + "/"
	return scenario{name: "bare", prepare: func(_, _ int, req *fasthttp.Request) { req.SetRequestURI(url) }}
}

package hibp

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/domain"
)

// fakeRange is a Pwned Passwords range service on loopback. It records
// every request it sees, as a client would have sent it on the wire.
type fakeRange struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	requests []*http.Request
	dumps    []string
	handle   http.HandlerFunc
	hits     atomic.Int64
}

func newFakeRange(t *testing.T, handle http.HandlerFunc) *fakeRange {
	t.Helper()
	f := &fakeRange{t: t, handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		var dump strings.Builder
		fmt.Fprintf(&dump, "%s %s\n", r.Method, r.RequestURI)
		_ = r.Header.Write(&dump)
		dump.Write(body)
		f.mu.Lock()
		f.requests = append(f.requests, r)
		f.dumps = append(f.dumps, dump.String())
		h := f.handle
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRange) setHandler(h http.HandlerFunc) {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
}

func (f *fakeRange) recorded() ([]*http.Request, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...), append([]string(nil), f.dumps...)
}

// serveLines answers every range query with lines, joined by sep.
func serveLines(sep string, lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Join(lines, sep)+sep)
	}
}

func serveStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", code) }
}

// sha1Hex is the test's own SHA-1, upper-case hex.
func sha1Hex(s string) string { return fmt.Sprintf("%X", sha1.Sum([]byte(s))) }

// padding returns n made-up suffixes with count 0, as Add-Padding adds.
func padding(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%X", sha1.Sum([]byte(fmt.Sprint("pad", i))))[:35] + ":0"
	}
	return out
}

func newChecker(t *testing.T, baseURL string, edit ...func(*Config)) *Checker {
	t.Helper()
	cfg := Config{BaseURL: baseURL + "/range/"}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if code := domain.ErrorCode(err); code != domain.EUNAVAILABLE {
		t.Fatalf("err = %v (code %q), want %s", err, code, domain.EUNAVAILABLE)
	}
}

// wantNoSecrets fails when s holds password, its full hash or its suffix
// (in either case).
func wantNoSecrets(t *testing.T, what, s, password string) {
	t.Helper()
	h := sha1Hex(password)
	for _, secret := range []string{password, h, strings.ToLower(h), h[5:], strings.ToLower(h[5:])} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains the password, its hash or its suffix (%q): %q", what, secret, s)
		}
	}
}

func TestKnownVector(t *testing.T) {
	// SHA-1("password") is 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
	f := newFakeRange(t, serveLines("\r\n", "1E4C9B93F3F0682250B6CF8331B7EE68FD8:10434004"))
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), "password")
	if err != nil || !got {
		t.Fatalf("Breached = %v, %v; want true, nil", got, err)
	}
	reqs, _ := f.recorded()
	if len(reqs) != 1 || reqs[0].URL.Path != "/range/5BAA6" {
		t.Fatalf("requests = %v, want one GET /range/5BAA6", reqs)
	}
}

func TestBreachedFound(t *testing.T) {
	const password = "correct horse battery staple"
	h := sha1Hex(password)
	lines := padding(300)
	lines = append(lines[:150], append([]string{h[5:] + ":42", "0018A45C4D1DEF81644B54AB7F969B88D65:3"}, lines[150:]...)...)
	f := newFakeRange(t, serveLines("\r\n", lines...))
	c := newChecker(t, f.URL)

	got, err := c.Breached(context.Background(), password)
	if err != nil || !got {
		t.Fatalf("Breached = %v, %v; want true, nil", got, err)
	}
}

func TestNotFound(t *testing.T) {
	f := newFakeRange(t, serveLines("\r\n", append(padding(50), "0018A45C4D1DEF81644B54AB7F969B88D65:3")...))
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), "a password nobody ever used 7f3a")
	if err != nil || got {
		t.Fatalf("Breached = %v, %v; want false, nil", got, err)
	}
}

func TestRequestCarriesOnlyThePrefix(t *testing.T) {
	f := newFakeRange(t, serveLines("\n", padding(10)...))
	c := newChecker(t, f.URL)
	passwords := []string{"password", "hunter2", "Tr0ub4dor&3", "ünïcödé pässwörd", ""}
	for _, p := range passwords {
		if _, err := c.Breached(context.Background(), p); err != nil {
			t.Fatalf("Breached(%q): %v", p, err)
		}
	}
	reqs, dumps := f.recorded()
	if len(reqs) != len(passwords) {
		t.Fatalf("server saw %d requests, want %d", len(reqs), len(passwords))
	}
	pathRE := regexp.MustCompile(`^/range/[0-9A-F]{5}$`)
	for i, r := range reqs {
		p := passwords[i]
		if r.Method != http.MethodGet {
			t.Errorf("method = %s, want GET", r.Method)
		}
		if !pathRE.MatchString(r.URL.Path) || r.URL.RawQuery != "" {
			t.Errorf("request URI = %q, want /range/ and 5 upper-case hex chars only", r.RequestURI)
		}
		if want := "/range/" + sha1Hex(p)[:5]; r.URL.Path != want {
			t.Errorf("path = %q, want %q", r.URL.Path, want)
		}
		if got := r.Header.Get("Add-Padding"); got != "true" {
			t.Errorf("Add-Padding = %q, want true", got)
		}
		if got := r.Header.Get("User-Agent"); got != "authd" {
			t.Errorf("User-Agent = %q, want authd", got)
		}
		if p != "" {
			wantNoSecrets(t, "request", dumps[i], p)
		} else if strings.Contains(dumps[i], sha1Hex(p)[5:]) {
			t.Errorf("request holds the hash suffix of the empty password: %q", dumps[i])
		}
	}
}

func TestPaddingWithZeroCountIgnored(t *testing.T) {
	const password = "padded-out"
	h := sha1Hex(password)
	f := newFakeRange(t, serveLines("\r\n", append(padding(20), h[5:]+":0")...))
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), password)
	if err != nil || got {
		t.Fatalf("Breached = %v, %v; want false, nil (count 0 is padding)", got, err)
	}
}

func TestLowerCaseSuffixAndLF(t *testing.T) {
	const password = "lower case please"
	h := sha1Hex(password)
	f := newFakeRange(t, serveLines("\n", "0018a45c4d1def81644b54ab7f969b88d65:1", strings.ToLower(h[5:])+":7"))
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), password)
	if err != nil || !got {
		t.Fatalf("Breached = %v, %v; want true, nil", got, err)
	}
}

func TestErrorStatusesUnavailable(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusNotFound, http.StatusTooManyRequests, http.StatusNoContent, http.StatusMovedPermanently} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFakeRange(t, serveStatus(code))
			c := newChecker(t, f.URL)
			got, err := c.Breached(context.Background(), "password")
			if got {
				t.Error("Breached = true on an error status")
			}
			wantUnavailable(t, err)
			if !strings.Contains(err.Error(), fmt.Sprint(code)) {
				t.Errorf("err = %v, want it to name status %d", err, code)
			}
			wantNoSecrets(t, "error", err.Error(), "password")
		})
	}
}

func TestMalformedResponseUnavailable(t *testing.T) {
	for name, body := range map[string]string{
		"html":        "<html><body>maintenance</body></html>\n",
		"short":       "1E4C9B93F3F:12\n",
		"no count":    "1E4C9B93F3F0682250B6CF8331B7EE68FD8\n",
		"bad count":   "1E4C9B93F3F0682250B6CF8331B7EE68FD8:many\n",
		"not hex":     "ZZZC9B93F3F0682250B6CF8331B7EE68FD8:3\n",
		"neg count":   "1E4C9B93F3F0682250B6CF8331B7EE68FD8:-3\n",
		"cut in line": "0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n1E4C9B93F3F06",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeRange(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
			c := newChecker(t, f.URL)
			got, err := c.Breached(context.Background(), "password")
			if got {
				t.Error("Breached = true on a malformed response")
			}
			wantUnavailable(t, err)
			wantNoSecrets(t, "error", err.Error(), "password")
		})
	}
}

// TestSlowServerAbandonedAtDeadline: the checker has no timeout of its
// own (the breaker bounds it in production), so the caller's deadline
// ends the request, and the server sees the client go away.
func TestSlowServerAbandonedAtDeadline(t *testing.T) {
	gone := make(chan time.Time, 1)
	f := newFakeRange(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		gone <- time.Now()
	})
	const timeout = 100 * time.Millisecond
	c := newChecker(t, f.URL)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	start := time.Now()
	got, err := c.Breached(ctx, "password")
	if got {
		t.Error("Breached = true")
	}
	wantUnavailable(t, err)
	if d := time.Since(start); d > 3*timeout {
		t.Errorf("Breached took %v, want under %v", d, 3*timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded in its chain", err)
	}
	select {
	case at := <-gone:
		if d := at.Sub(start); d > 3*timeout {
			t.Errorf("request abandoned after %v, want by about %v", d, timeout)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("request still running 2s after the deadline")
	}
}

func TestServerDown(t *testing.T) {
	f := newFakeRange(t, serveLines("\n"))
	url := f.URL
	f.Close()
	c := newChecker(t, url)
	got, err := c.Breached(context.Background(), "password")
	if got {
		t.Error("Breached = true")
	}
	wantUnavailable(t, err)
	wantNoSecrets(t, "error", err.Error(), "password")
	if strings.Contains(err.Error(), "5BAA6") {
		t.Errorf("error names the hash prefix: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	f := newFakeRange(t, serveLines("\n", padding(3)...))
	c := newChecker(t, f.URL)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Breached(ctx, "password")
	wantUnavailable(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled in its chain", err)
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("server saw %d requests for a cancelled context", n)
	}

	// Cancelled while the request is in flight.
	started := make(chan struct{}, 1)
	f.setHandler(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	})
	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	start := time.Now()
	_, err = c.Breached(ctx, "password")
	wantUnavailable(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled in its chain", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("Breached returned %v after cancel, want promptly", d)
	}
}

func TestHugeBodyIsCut(t *testing.T) {
	const password = "needle"
	h := sha1Hex(password)
	var written atomic.Int64
	f := newFakeRange(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n"), 1<<10)
		// Bounded: at most 16 MiB, and it stops when the client hangs up.
		for written.Load() < 16<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
		io.WriteString(w, h[5:]+":1\r\n")
	})
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), password)
	if got {
		t.Error("Breached = true: the match past the size limit was read")
	}
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("err = %v, want the size limit named", err)
	}
}

func TestBodyJustUnderLimitAccepted(t *testing.T) {
	const password = "needle at the end"
	h := sha1Hex(password)
	last := h[5:] + ":1\n"
	line := "0018A45C4D1DEF81644B54AB7F969B88D65:0\n"
	var body strings.Builder
	for body.Len()+len(line)+len(last) <= MaxBodyBytes {
		body.WriteString(line)
	}
	body.WriteString(last)
	f := newFakeRange(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body.String()) })
	c := newChecker(t, f.URL)
	got, err := c.Breached(context.Background(), password)
	if err != nil || !got {
		t.Fatalf("Breached = %v, %v; want true, nil for a %d-byte body", got, err, body.Len())
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != DefaultBaseURL {
		t.Errorf("baseURL = %q, want %q", c.baseURL, DefaultBaseURL)
	}
	c, err = New(Config{BaseURL: "http://127.0.0.1:1/range"})
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != "http://127.0.0.1:1/range/" {
		t.Errorf("baseURL = %q, want a trailing slash added", c.baseURL)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"relative URL":    {BaseURL: "/range/"},
		"ftp URL":         {BaseURL: "ftp://example.com/range/"},
		"query in URL":    {BaseURL: "https://example.com/range/?x=1"},
		"fragment in URL": {BaseURL: "https://example.com/range/#x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Errorf("New(%+v) = nil error", cfg)
			}
		})
	}
}

func TestFindSuffix(t *testing.T) {
	const s = "1E4C9B93F3F0682250B6CF8331B7EE68FD8"
	for _, c := range []struct {
		body string
		want bool
	}{
		{"", false},
		{"\r\n\r\n", false},
		{s + ":1", true},
		{s + ":0", false},
		{strings.ToLower(s) + ":3\n", true},
		{"0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n" + s + ":12\r\n", true},
		{s + ": 5 \r\n", true},
	} {
		got, err := findSuffix([]byte(c.body), s)
		if err != nil || got != c.want {
			t.Errorf("findSuffix(%q) = %v, %v; want %v", c.body, got, err, c.want)
		}
	}
}

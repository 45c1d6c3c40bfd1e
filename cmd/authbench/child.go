package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// buildAuthd builds ./cmd/authd of the module at root into dir the way
// deploy/Dockerfile does (static, trimmed, stripped) and returns its path.
func buildAuthd(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "authd")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/authd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/authd: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod governing the working
// directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the authd module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// child is a server process the benchmark started.
type child struct {
	cmd  *exec.Cmd
	addr string // 127.0.0.1:port
	out  *tail
	done chan struct{}
	err  error // after done
}

// tail keeps the last bytes a child wrote, for error messages.
type tail struct {
	mu      sync.Mutex
	buf     []byte
	written int64 // ever
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.written += int64(len(p))
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4<<10:]...)
	}
	return len(p), nil
}

// since returns what was written after mark (as far as it is kept) and
// the new mark.
func (t *tail) since(mark int64) (string, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.written - mark
	if n <= 0 {
		return "", t.written
	}
	if n > int64(len(t.buf)) {
		n = int64(len(t.buf))
	}
	return string(bytes.TrimSpace(t.buf[int64(len(t.buf))-n:])), t.written
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// spawn runs bin with args and env on a free loopback port (setAddr turns
// the address into an argument or variable) and waits until GET readyPath
// answers 200. It returns the time from exec to that first 200.
func spawn(bin string, args []string, env []string, setAddr func(addr string) (args, env []string), readyPath string, timeout time.Duration) (*child, time.Duration, error) {
	var lastErr error
	// A free port can be taken between the probe and the child's bind;
	// try a few.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		extraArgs, extraEnv := setAddr(addr)
		c := &child{addr: addr, out: &tail{}, done: make(chan struct{})}
		c.cmd = exec.Command(bin, append(append([]string{}, args...), extraArgs...)...)
		c.cmd.Env = append(append([]string{}, env...), extraEnv...)
		c.cmd.Stdout = c.out
		c.cmd.Stderr = c.out
		start := time.Now()
		if err := c.cmd.Start(); err != nil {
			return nil, 0, err
		}
		go func() { c.err = c.cmd.Wait(); close(c.done) }()
		took, err := c.waitReady(readyPath, start, timeout)
		if err == nil {
			return c, took, nil
		}
		c.stop()
		lastErr = err
		if !strings.Contains(c.out.String(), "address already in use") {
			break
		}
	}
	return nil, 0, lastErr
}

// waitReady polls path every millisecond on fresh connections.
func (c *child) waitReady(path string, start time.Time, timeout time.Duration) (time.Duration, error) {
	url := "http://" + c.addr + path
	for {
		status, _, err := fasthttp.GetTimeout(nil, url, time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return time.Since(start), nil
		}
		select {
		case <-c.done:
			return 0, fmt.Errorf("%s exited before it was ready (%v): %s", filepath.Base(c.cmd.Path), c.err, c.out.String())
		default:
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("%s not ready on %s after %v (last: %d %v): %s", filepath.Base(c.cmd.Path), url, timeout, status, err, c.out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM and waits, killing the child after 10 seconds.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// alive reports an error when the child has exited.
func (c *child) alive() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited (%v): %s", filepath.Base(c.cmd.Path), c.err, c.out.String())
	default:
		return nil
	}
}

// resetPeakRSS resets the kernel's high-water mark of the child's resident
// set to its current size (Linux: "5" into /proc/PID/clear_refs), so the
// next peakRSS covers only what follows. It reports whether that worked;
// if not, peaks are since the child started.
func (c *child) resetPeakRSS() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.cmd.Process.Pid), []byte("5"), 0) == nil
}

// peakRSS is the child's VmHWM in MiB, 0 when unknown.
func (c *child) peakRSS() float64 {
	return procStatusMiB(c.cmd.Process.Pid, "VmHWM:")
}

func procStatusMiB(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	return statusField(bufio.NewScanner(f), field)
}

// statusField reads "Field:   1234 kB" from /proc/PID/status, in MiB.
func statusField(sc *bufio.Scanner, field string) float64 {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field)
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0
		}
		return kb / 1024
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// baseEnv is this process's environment without AUTHD_* and GOMAXPROCS
// settings, so the children run with the benchmark's settings only.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AUTHD_") || strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GODEBUG=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

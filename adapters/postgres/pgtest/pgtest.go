// Package pgtest starts a throwaway PostgreSQL cluster from the local
// PostgreSQL binaries for tests: initdb into a temporary directory, a unix
// socket in that directory and a free loopback TCP port, fsync off, stopped
// and removed when the test binary ends (call Main from TestMain).
//
// Where no binaries exist the tests that ask for a cluster skip with a
// one-line hint; with AUTHD_REQUIRE_POSTGRES=1 (set by .ci/run) that is a
// failure instead.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv makes a missing PostgreSQL a test failure instead of a skip.
const RequireEnv = "AUTHD_REQUIRE_POSTGRES"

// Server is a running throwaway cluster.
type Server struct {
	dir     string // holds data/, the socket and the log
	port    int
	bin     string
	asUser  string // run the binaries as this user (when the tests run as root)
	stopped bool
	// durable: a commit is acknowledged only once its WAL is written, so
	// it survives Crash (the shared cluster trades that for speed).
	durable bool
}

var (
	once    sync.Once
	shared  *Server
	startEr error
)

// Main runs the tests and then stops the shared cluster, if one was
// started. Use it as `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// Start returns the package's shared cluster, starting it on first use. It
// skips (or fails, under AUTHD_REQUIRE_POSTGRES=1) when PostgreSQL cannot
// be started here.
func Start(tb testing.TB) *Server {
	tb.Helper()
	once.Do(func() { shared, startEr = start(false) })
	if startEr != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("PostgreSQL is required (%s=1) but could not be started: %v", RequireEnv, startEr)
		}
		tb.Skipf("PostgreSQL tests skipped: %v (install the postgresql package, or put initdb on PATH; %s=1 makes this a failure)", startEr, RequireEnv)
	}
	return shared
}

// New starts a dedicated cluster for tb (not the shared one), for tests
// that stop, crash and restart the server. Its commits survive Crash
// (synchronous_commit on). It is removed when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := start(true)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("PostgreSQL is required (%s=1) but could not be started: %v", RequireEnv, err)
		}
		tb.Skipf("PostgreSQL tests skipped: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Log(err)
		}
	})
	return s
}

// Pause stops the server process but keeps its data (a clean, fast
// shutdown: with fsync and synchronous_commit off, an immediate one could
// lose recent commits), so clients see the database go away; Resume starts
// it again on the same port.
func (s *Server) Pause() error { return s.pgStop("fast") }

// Crash stops the server process at once, as a crash would (pg_ctl stop
// -m immediate: no checkpoint, clients cut off mid-query); Resume then
// starts it again with crash recovery. Commits acknowledged before it
// survive on a cluster from New.
func (s *Server) Crash() error { return s.pgStop("immediate") }

func (s *Server) pgStop(mode string) error {
	out, err := s.command("pg_ctl", "-D", s.data(), "-m", mode, "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Resume starts the server (again, after Pause) on its port.
func (s *Server) Resume() error {
	out, err := s.command("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "server.log"), "-o", s.options(), "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return nil
}

func (s *Server) options() string {
	return strings.Join([]string{
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=" + map[bool]string{true: "on", false: "off"}[s.durable],
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
	}, " ")
}

// NewDatabase creates an empty database with a unique name and returns its
// URL (TCP on 127.0.0.1). It is dropped when tb ends.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "authd_test_" + hex.EncodeToString(b[:])
	if out, err := s.psql("postgres", "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v\n%s", err, out)
	}
	tb.Cleanup(func() {
		if !s.stopped {
			_, _ = s.psql("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
	})
	return s.URL(name)
}

// URL is the TCP connection URL of database name.
func (s *Server) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// Port is the cluster's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Stop shuts the cluster down at once and removes its directory.
func (s *Server) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	return errors.Join(s.pgStop("immediate"), os.RemoveAll(s.dir))
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (s *Server) psql(db, sql string) ([]byte, error) {
	return s.command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", s.dir, "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", db, "-c", sql).CombinedOutput()
}

func start(durable bool) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "authd-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, durable: durable}
	// initdb refuses to run as root: hand the directory to postgres.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and there is no postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s.asUser = "postgres"
	}
	fail := func(err error) (*Server, error) {
		s.stopped = true
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, bytes.TrimSpace(out)))
	}
	// A free port can be taken between our probe and the server's bind;
	// retry a few times.
	for attempt := 0; attempt < 5; attempt++ {
		if s.port, err = freePort(); err != nil {
			return fail(err)
		}
		err := s.Resume()
		if err == nil {
			return s, nil
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		if !bytes.Contains(log, []byte("already in use")) {
			return fail(fmt.Errorf("%v\n%s", err, log))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fail(errors.New("pg_ctl start: no free port after 5 attempts"))
}

// findBinaries looks for initdb on PATH, then under
// /usr/lib/postgresql/*/bin (newest version first).
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL binaries (initdb) on PATH or under /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ping waits until a TCP connection to the cluster succeeds, for callers
// that restart it.
func (s *Server) Ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
	if err != nil {
		return err
	}
	return c.Close()
}

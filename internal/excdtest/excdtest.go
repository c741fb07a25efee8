// Package excdtest runs excd the way an operator does, as a child process,
// for tests that must kill it (SIGKILL mid-write), watch its resident memory,
// file descriptors and goroutines from the outside, or restart it on the same
// data directory. It owns nothing but the process: the binary is built once
// per test binary from this module, the data directory and mount points are
// the caller's, and every process and mount it starts is stopped and
// unmounted by t.Cleanup even when the test fails.
//
// Cleanup stops a daemon still running with SIGTERM, not SIGKILL, and fails
// the test when the daemon's stderr held a race report (the -race build
// prints "WARNING: DATA RACE" and exits 66) or when it exited non-zero
// without having been killed on purpose: otherwise a race in the daemon
// under a green test would go unseen.
package excdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/testutil"
)

// Fixed root credentials seeded through EXC_ROOT_ACCESS_KEY/SECRET_KEY, so
// a restarted daemon answers the same key.
const (
	AccessKey = "EXCTEST0000000000001"
	SecretKey = "testsecret000000000000000000000000000000"
)

var (
	buildMu sync.Mutex
	builds  = map[string]func() (string, error){}
)

// Binary builds cmd/excd once per test binary (with -race when the test
// binary has it) and returns its path.
func Binary(tb testing.TB) string { return Build(tb, "excd") }

// Build builds the module's cmd/<name> once per test binary (with -race
// when the test binary has it) and returns its path.
func Build(tb testing.TB, name string) string {
	tb.Helper()
	buildMu.Lock()
	build := builds[name]
	if build == nil {
		build = sync.OnceValues(func() (string, error) {
			touchSources()
			dir, err := os.MkdirTemp("", "excdtest-bin")
			if err != nil {
				return "", err
			}
			bin := filepath.Join(dir, name)
			args := []string{"build", "-o", bin}
			if RaceEnabled {
				args = append(args, "-race")
			}
			out, err := exec.Command("go", append(args, "excloud.dev/buckets/cmd/"+name)...).CombinedOutput()
			if err != nil {
				return "", fmt.Errorf("go build %s: %v\n%s", name, err, out)
			}
			return bin, nil
		})
		builds[name] = build
	}
	buildMu.Unlock()
	bin, err := build()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// touchSources stats every Go source file of the module. go test caches a
// passing result keyed on the test binary and the files the test opened or
// stat'ed; the excd this package builds is neither, so without this a test
// of a changed daemon would report its old, cached result.
func touchSources() {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(self))) // internal/excdtest/excdtest.go
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if n := d.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" {
			os.Stat(path)
		}
		return nil
	})
}

// Options says how to start one excd.
type Options struct {
	DataDir string
	// Mount, when set, mounts the default org (and so its buckets) there.
	Mount string
	// Metrics serves /metrics on a free loopback port.
	Metrics bool
	// Args are appended to the command line; Env to the environment.
	Args []string
	Env  []string
	// Stderr, when set, receives the daemon's log (after the start lines
	// have been read from it).
	Stderr io.Writer
	// Credential, when set, runs the daemon as that user and group: root
	// ignores file permissions, so permission tests need another user.
	// The data directory must be reachable by it.
	Credential *syscall.Credential
	// Catalog, when set, is the daemon's --catalog (a PostgreSQL URL).
	// Unset, it is Badger in the data directory, unless EXC_TEST_CATALOG
	// is "postgres" (pgtest.CatalogEnv): then a fresh database per data
	// directory, which a restart on that directory finds again.
	Catalog string
	// Spawned, when set, is called with the process id as soon as the
	// process exists, before it serves: a crash test kills it there to
	// crash the daemon while it opens its catalog or mounts.
	Spawned func(pid int)
}

// Proc is one running excd.
type Proc struct {
	tb       testing.TB
	cmd      *exec.Cmd
	opts     Options
	Endpoint string // http://127.0.0.1:port
	Metrics  string // http://127.0.0.1:port, or "" without Options.Metrics
	Admin    string // admin socket path
	done     chan struct{}
	waitErr  error
	readDone chan struct{} // closed once all of stderr has been read
	races    RaceScanner
	// killed: the test sent SIGKILL (Kill, or a pid from Spawned), so a
	// non-zero exit is what it asked for; startFailed: TryStart reported
	// the failed start to the caller, who expected it.
	killed, startFailed bool
}

// Start runs excd and returns once it logs its S3 endpoint, which it does
// only after the catalog is open and the mount (if any) is up.
func Start(tb testing.TB, opts Options) *Proc {
	tb.Helper()
	p, err := TryStart(tb, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TryStart is Start for tests that expect excd to refuse to start: the
// error carries the daemon's own output.
func TryStart(tb testing.TB, opts Options) (*Proc, error) {
	tb.Helper()
	bin := Binary(tb)
	p := &Proc{tb: tb, opts: opts, Admin: filepath.Join(opts.DataDir, "admin.sock"),
		done: make(chan struct{}), readDone: make(chan struct{})}
	args := []string{"--data-dir", opts.DataDir, "--listen", "127.0.0.1:0",
		"--admin-socket", p.Admin, "--gc-interval", "0", "--log-format", "text"}
	if opts.Mount != "" {
		args = append(args, "--mount", opts.Mount)
	}
	if opts.Metrics {
		args = append(args, "--metrics-listen", "127.0.0.1:0")
	}
	if url := catalogFor(tb, opts); url != "" {
		args = append(args, "--catalog", url)
	}
	args = append(args, opts.Args...)
	cmd := exec.Command(bin, args...)
	// The config file on this machine must not leak into tests.
	cmd.Env = append(os.Environ(), "EXC_CONFIG=/dev/null",
		"EXC_ROOT_ACCESS_KEY="+AccessKey, "EXC_ROOT_SECRET_KEY="+SecretKey)
	cmd.Env = append(cmd.Env, opts.Env...)
	if opts.Credential != nil {
		// The binary's directory is private to the building user.
		if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
			return nil, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: opts.Credential}
	}
	// An os.Pipe rather than StderrPipe: Wait closes a StderrPipe as soon
	// as the process exits, which can lose its last lines (the error of a
	// failed start) before the reader below has them.
	stderr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		stderr.Close()
		return nil, err
	}
	p.cmd = cmd
	if opts.Spawned != nil {
		// Whatever the callback does to the pid is on purpose.
		p.killed = true
		opts.Spawned(cmd.Process.Pid)
	}
	type started struct{ endpoint, metrics string }
	ready := make(chan started, 1)
	var early strings.Builder
	var earlyMu sync.Mutex
	readDone := p.readDone
	go func() {
		defer close(readDone)
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var s started
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.races.Line(line)
			if !sent {
				earlyMu.Lock()
				early.WriteString(line + "\n")
				earlyMu.Unlock()
				if ep, ok := LogValue(line, "S3 endpoint", "url"); ok {
					s.endpoint = ep
				}
				if m, ok := LogValue(line, "metrics endpoint", "url"); ok {
					s.metrics = m
				}
				if s.endpoint != "" && (!opts.Metrics || s.metrics != "") {
					ready <- s
					sent = true
				}
				continue
			}
			if opts.Stderr != nil {
				fmt.Fprintln(opts.Stderr, line)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(p.cleanup)
	select {
	case s := <-ready:
		p.Endpoint, p.Metrics = s.endpoint, s.metrics
		return p, nil
	case <-p.done:
		// The pipe ends when the process does (unless a child holds it).
		select {
		case <-readDone:
		case <-time.After(5 * time.Second):
		}
		p.startFailed = true
		earlyMu.Lock()
		defer earlyMu.Unlock()
		return nil, fmt.Errorf("excd exited before serving (%v):\n%s", p.waitErr, early.String())
	case <-time.After(60 * time.Second):
		p.startFailed = true
		cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("excd did not start in 60 s:\n%s", early.String())
	}
}

// Pid is the daemon's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process; a mount it had is left
// behind as a dead (ENOTCONN) mount, as after a real crash, until the next
// Start on the same mount point replaces it or cleanup detaches it.
func (p *Proc) Kill() {
	if !p.Exited() {
		p.killed = true
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Quit sends SIGQUIT, on which the Go runtime prints every goroutine's
// stack to stderr and exits, and waits for the exit (up to a minute), so
// the dump is in the log when Quit returns: for a test that found the
// daemon stuck.
func (p *Proc) Quit() {
	if !p.Exited() {
		p.killed = true
	}
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.Kill()
	}
	select {
	case <-p.readDone:
	case <-time.After(10 * time.Second):
	}
}

// Stop sends SIGTERM and waits up to a minute for a clean exit; it returns
// the exit error, nil for exit status 0.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("excd did not stop within 60 s of SIGTERM")
	}
	return p.waitErr
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) cleanup() {
	stopErr := p.Stop()
	if p.opts.Mount != "" {
		// A killed daemon leaves its mount; MNT_DETACH works on a dead one.
		syscall.Unmount(p.opts.Mount, syscall.MNT_DETACH)
	}
	// The pipe ends with the process unless something it started still
	// holds it; the last lines may be the race report.
	select {
	case <-p.readDone:
	case <-time.After(10 * time.Second):
		p.tb.Errorf("excd (pid %d): stderr still open 10 s after it exited", p.Pid())
	}
	if r := p.races.Report(); r != "" {
		p.tb.Errorf("excd (pid %d) reported a data race:\n%s", p.Pid(), r)
	}
	if stopErr != nil && !p.killed && !p.startFailed {
		p.tb.Errorf("excd (pid %d) exit: %v (exit status 66 is the race detector's)", p.Pid(), stopErr)
	}
}

// RaceScanner keeps the race detector's reports from a daemon's stderr
// (each runs from "WARNING: DATA RACE" to a line of '='), whatever the
// caller does with the rest of the log. Its zero value is ready.
type RaceScanner struct {
	mu  sync.Mutex
	in  bool
	n   int
	buf strings.Builder
}

// maxRaceLines bounds what is kept: the first reports say enough.
const maxRaceLines = 400

// Line takes one line of the log.
func (r *RaceScanner) Line(l string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(l, "WARNING: DATA RACE") {
		r.in = true
	}
	if !r.in || r.n >= maxRaceLines {
		return
	}
	r.buf.WriteString(l + "\n")
	r.n++
	if strings.HasPrefix(l, "==================") && r.n > 1 {
		r.in = false
	}
}

// Report is what was kept, "" for a log without a race report.
func (r *RaceScanner) Report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// S3 is aws-sdk-go-v2 with default settings for this daemon, changed by
// optFns (no retries, a transport, checksum settings).
func (p *Proc) S3(optFns ...func(*s3.Options)) *s3.Client {
	return testutil.S3(p.Endpoint, AccessKey, SecretKey, optFns...)
}

// AdminClient talks to the daemon's admin socket.
func (p *Proc) AdminClient() *admin.Client { return admin.Dial(p.Admin) }

// Status is one /proc/<pid>/status field in bytes (VmRSS, VmHWM) or as a
// plain count (Threads); -1 when unavailable.
func (p *Proc) Status(field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		kb := strings.HasSuffix(v, " kB")
		n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		if err != nil {
			return -1
		}
		if kb {
			n <<= 10
		}
		return n
	}
	return -1
}

// FDs counts the daemon's open file descriptors.
func (p *Proc) FDs() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
	if err != nil {
		return -1
	}
	return len(ents)
}

// Metric reads one unlabelled sample (e.g. go_goroutines) from /metrics.
func (p *Proc) Metric(ctx context.Context, name string) (float64, error) {
	if p.Metrics == "" {
		return 0, errors.New("excdtest: started without Options.Metrics")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Metrics+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// These tests run the real excd binary as systemd would: built once per
// test binary by excdtest.Build (with -race when the tests run under it),
// started with NOTIFY_SOCKET pointing at a unixgram socket the test reads,
// and stopped with real signals. Every start is stopped with SIGTERM by
// cleanup at the latest, and a race report or a non-zero exit fails the
// test.

const (
	testAK = "EXCTESTKEY0000000001"
	testSK = "testsecret0000000000000000000000000000ab"
)

// exitBound is how long a stopping excd may take before the test gives up
// on it: a bound for a hang, generous for a loaded machine and a -race
// build, never a measure of speed.
const exitBound = 2 * time.Minute

func init() { os.Unsetenv("AWS_CA_BUNDLE") }

func excdBin(t *testing.T) string { return excdtest.Build(t, "excd") }

// notifySocket is the test's end of $NOTIFY_SOCKET: every datagram excd
// sends arrives on msgs.
type notifySocket struct {
	name string
	conn *net.UnixConn
	msgs chan string
}

// listenNotify binds an abstract socket (the form systemd uses, '@' in
// NOTIFY_SOCKET) unless path is set.
func listenNotify(t *testing.T, abstract bool) *notifySocket {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	if abstract {
		name = fmt.Sprintf("@excd-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{name: name, conn: conn, msgs: make(chan string, 64)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// await returns the next message containing want, failing after a minute
// (a bound for a hang, not a measure of speed).
func (n *notifySocket) await(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed waiting for %q", want)
			}
			if strings.Contains(m, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q from excd within a minute", want)
		}
	}
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testutil.LogBuffer
	done   chan struct{}
	err    error // the exit error, once done is closed
}

// startExcd runs excd with a clean environment plus env; cmd may be
// adjusted by prep before it starts.
func startExcd(t *testing.T, env []string, prep func(*exec.Cmd), args ...string) *proc {
	t.Helper()
	cmd := exec.Command(excdBin(t), args...)
	// EXC_CONFIG must exist when set; an empty file keeps the machine's
	// config out of the test.
	empty := filepath.Join(t.TempDir(), "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "EXC_CONFIG=" + empty}, env...)
	p := &proc{cmd: cmd, stderr: &testutil.LogBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if prep != nil {
		prep(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(exitBound):
				cmd.Process.Kill()
				<-p.done
				t.Errorf("excd still running %v after SIGTERM", exitBound)
			}
			if p.err != nil {
				t.Errorf("excd exit after the cleanup's SIGTERM: %v", p.err)
			}
		}
		noRace(t, p.stderr.String())
		if t.Failed() {
			t.Logf("excd output:\n%s", p.stderr.String())
		}
	})
	return p
}

// noRace fails the test when excd's output holds a race report; the
// -race build also exits 66 then, which the tests that wait for the exit
// see as well.
func noRace(t *testing.T, out string) {
	t.Helper()
	if i := strings.Index(out, "WARNING: DATA RACE"); i >= 0 {
		t.Errorf("excd reported a data race:\n%s", out[i:])
	}
}

// runExcd runs a one-shot excd command (--restore, --print-config) and
// returns its combined output; a race report in it fails the test.
func runExcd(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(excdBin(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	noRace(t, string(out))
	return out, err
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait returns excd's exit error, failing if it has not exited within
// exitBound.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(exitBound):
		t.Fatalf("excd did not exit within %v", exitBound)
		return nil
	}
}

// addrFrom takes the S3 address out of the READY message's STATUS line,
// "serving S3 on ADDR[; metrics on ADDR]".
func addrFrom(t *testing.T, msg string) string {
	t.Helper()
	return statusField(t, msg, "serving S3 on ")
}

// metricsFrom takes the metrics address out of READY's STATUS line.
func metricsFrom(t *testing.T, msg string) string {
	t.Helper()
	return statusField(t, msg, "metrics on ")
}

func statusField(t *testing.T, msg, prefix string) string {
	t.Helper()
	_, after, ok := strings.Cut(msg, prefix)
	if !ok {
		t.Fatalf("READY without %q: %q", prefix, msg)
	}
	after = strings.SplitN(after, "\n", 2)[0]
	after, _, _ = strings.Cut(after, ";")
	return strings.TrimSpace(after)
}

func baseEnv(t *testing.T, n *notifySocket) []string {
	return []string{
		"NOTIFY_SOCKET=" + n.name,
		"EXC_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"EXC_LISTEN=127.0.0.1:0",
		"EXC_GC_INTERVAL=0",
		"EXC_ROOT_ACCESS_KEY=" + testAK,
		"EXC_ROOT_SECRET_KEY=" + testSK,
		"EXC_LOG_FORMAT=text",
	}
}

func minioClient(t *testing.T, addr string) *minio.Client {
	return testutil.Minio(t, addr, testAK, testSK)
}

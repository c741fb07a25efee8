package peers

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

// The peers run as child processes of the benchmark, stopped (and
// unmounted) by its cleanup even when it fails.

// startJuiceFS formats a JuiceFS volume with Badger metadata and local
// file storage in dir (no encryption, no compression: the defaults) and
// mounts it at mnt in the foreground. It returns once the mount is up.
func startJuiceFS(tb testing.TB, bin, dir, mnt string) {
	tb.Helper()
	meta := "badger://" + filepath.Join(dir, "meta")
	logf, err := os.Create(filepath.Join(dir, "juicefs.log"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { logf.Close() })
	format := exec.Command(bin, "format", "--storage", "file",
		"--bucket", filepath.Join(dir, "data")+"/", meta, "bench")
	if out, err := format.CombinedOutput(); err != nil {
		tb.Fatalf("juicefs format: %v\n%s", err, out)
	}
	// The block cache goes in the benchmark's directory, not ~/.juicefs,
	// so nothing outlives the run; its size and policy are the defaults.
	cmd := exec.Command(bin, "mount", "--no-usage-report",
		"--cache-dir", filepath.Join(dir, "cache"), meta, mnt)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("juicefs mount: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	waitMounted(tb, mnt, done, logf.Name())
}

// waitMounted polls /proc/self/mountinfo until mnt is a mount point.
func waitMounted(tb testing.TB, mnt string, exited <-chan struct{}, logPath string) {
	tb.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if isMounted(mnt) {
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("the peer exited before mounting %s:\n%s", mnt, log)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not mounted after two minutes", mnt)
		}
	}
}

func isMounted(mnt string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// Field 5 is the mount point (with spaces escaped; ours have none).
		if fs := strings.Fields(s.Text()); len(fs) > 4 && fs[4] == mnt {
			return true
		}
	}
	return false
}

const (
	vgwAccess = "SIDEBYSIDE0000000001"
	vgwSecret = "sidebysidesecret000000000000000000000000"
)

// startVersityGW runs versitygw with its posix backend on dir and returns
// an S3 client for it (the same client settings as excd's).
func startVersityGW(tb testing.TB, bin, dir string) (*s3.Client, int) {
	tb.Helper()
	port := freePort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "--access", vgwAccess, "--secret", vgwSecret, "--port", addr, "posix", dir)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			tb.Fatalf("versitygw exited before listening:\n%s", logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("versitygw not listening on %s after a minute", addr)
		}
	}
	return testutil.S3("http://"+addr, vgwAccess, vgwSecret), cmd.Process.Pid
}

// freePort is a loopback port nobody listened on a moment ago; versitygw
// takes its address on the command line and does not report a chosen one.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startExcdMount runs excd with its mount at mnt and a bucket made over
// S3, and returns the bucket's directory in the mount and the daemon's
// metrics address.
func startExcdMount(tb testing.TB, dataDir, mnt string) (string, string) {
	tb.Helper()
	d := excdtest.Start(tb, excdtest.Options{DataDir: dataDir, Mount: mnt, Metrics: true})
	mustBucket(tb, d.S3(), "bench")
	dir := filepath.Join(mnt, "bench")
	// The mount serves the bucket as soon as the change feed announces it.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, d.Metrics
		}
		if time.Now().After(deadline) {
			tb.Fatalf("bucket not visible in the mount a minute after it was made")
		}
	}
}

// version is what a binary prints for its version flag, on one line
// (versitygw prints a line each for version, commit and build time).
func version(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	var lines []string
	for l := range strings.Lines(string(out)) {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, ", ")
}

func excdRevision() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// procCPU is process pid's user plus system CPU time so far (0 if it is
// gone), from the utime and stime fields of /proc/PID/stat (clock ticks,
// 100 per second on Linux), which follow the parenthesised command name.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// fuseRequests reads the FUSE requests the daemon at metrics has served,
// by kind (excd_fuse_operations_total); nil if it cannot.
func fuseRequests(metrics string) map[string]float64 {
	r, err := http.Get(metrics + "/metrics")
	if err != nil {
		return nil
	}
	defer r.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `excd_fuse_operations_total{op="`)
		if !ok {
			continue
		}
		op, v, _ := strings.Cut(rest, `"} `)
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[op] = f
		}
	}
	return out
}

// requestsSince formats the requests served since before, by kind.
func requestsSince(before, after map[string]float64) string {
	var parts []string
	for op, v := range after {
		if d := v - before[op]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.0f", op, d))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

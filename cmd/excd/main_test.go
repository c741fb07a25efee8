package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"excloud.dev/buckets/admin"
)

// These tests run the real excd binary as systemd would: built once into a
// temp dir, started with NOTIFY_SOCKET pointing at a unixgram socket the
// test reads, and stopped with real signals.

const (
	testAK = "EXCTESTKEY0000000001"
	testSK = "testsecret0000000000000000000000000000ab"
)

var excdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "excd-bin-")
	if err != nil {
		panic(err)
	}
	excdBin = filepath.Join(dir, "excd")
	out, err := exec.Command("go", "build", "-o", excdBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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

// await returns the next message containing want, failing after 20 s.
func (n *notifySocket) await(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
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
			t.Fatalf("no %q from excd within 20 s", want)
		}
	}
}

type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuf
	done   chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startExcd runs excd with a clean environment plus env; cmd may be
// adjusted by prep before it starts.
func startExcd(t *testing.T, env []string, prep func(*exec.Cmd), args ...string) *proc {
	t.Helper()
	cmd := exec.Command(excdBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "EXC_CONFIG=/nonexistent-on-purpose"}, env...)
	// EXC_CONFIG must exist when set; point it at an empty file instead.
	empty := filepath.Join(t.TempDir(), "empty.toml")
	os.WriteFile(empty, nil, 0o600)
	cmd.Env[1] = "EXC_CONFIG=" + empty
	p := &proc{cmd: cmd, stderr: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if prep != nil {
		prep(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("excd output:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait returns excd's exit error, failing after d.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		t.Fatalf("excd did not exit within %v", d)
		return nil
	}
}

// addrFrom takes the S3 address out of the READY message's STATUS line.
func addrFrom(t *testing.T, msg string) string {
	t.Helper()
	_, after, ok := strings.Cut(msg, "serving S3 on ")
	if !ok {
		t.Fatalf("READY without the address: %q", msg)
	}
	return strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
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

// READY=1 arrives only once the S3 listener accepts; SIGTERM yields
// STOPPING=1 and a clean exit.
func TestNotifyReadyAndStopping(t *testing.T) {
	for _, abstract := range []bool{true, false} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			n := listenNotify(t, abstract)
			// WatchdogSec=200ms: pings every 100 ms.
			t0 := time.Now()
			p := startExcd(t, append(baseEnv(t, n), "WATCHDOG_USEC=200000"), nil)
			msg := n.await(t, "READY=1")
			t.Logf("exec to READY=1 (first start, empty data dir): %v", time.Since(t0).Round(time.Millisecond))
			addr := addrFrom(t, msg)
			// At the moment READY arrives the listener must answer.
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("READY sent but S3 not answering: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("anonymous ListBuckets: HTTP %d, want 403", resp.StatusCode)
			}
			n.await(t, "WATCHDOG=1")
			n.await(t, "WATCHDOG=1")
			t0 = time.Now()
			p.signal(t, syscall.SIGTERM)
			n.await(t, "STOPPING=1")
			if err := p.wait(t, 20*time.Second); err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
			t.Logf("idle SIGTERM to exit: %v", time.Since(t0).Round(time.Millisecond))
		})
	}
}

// With LISTEN_FDS/LISTEN_PID, excd serves on the inherited fd 3 and ignores
// --listen.
func TestSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the dup in f keeps the socket open and listening
	n := listenNotify(t, true)
	env := append(baseEnv(t, n), "LISTEN_FDS=1")
	p := startExcd(t, env, func(cmd *exec.Cmd) {
		// LISTEN_PID must be excd's pid, unknown before it starts: let a
		// shell set it to its own pid and exec excd, as systemd does.
		cmd.Args = []string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, excdBin, "--listen", "127.0.0.1:1"}
		cmd.Path = "/bin/sh"
		cmd.ExtraFiles = []*os.File{f}
	})
	f.Close()
	msg := n.await(t, "READY=1")
	if got := addrFrom(t, msg); got != ln.Addr().String() {
		t.Fatalf("serving on %s, want the inherited socket %s", got, ln.Addr())
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns the
// certificate.
func selfSigned(t *testing.T, certPath, keyPath, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write both atomically, as a renewal tool should.
	for path, block := range map[string]*pem.Block{certPath: {Type: "CERTIFICATE", Bytes: der}, keyPath: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// peerCert connects over TLS, trusting pool, and returns the served leaf.
func peerCert(t *testing.T, addr string, pool *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Fatalf("negotiated %q; the gateway is HTTP/1.1 only", p)
	}
	return conn.ConnectionState().PeerCertificates[0]
}

// HTTPS with a certificate generated here; SIGHUP swaps in a new one for new
// connections, and a keep-alive connection made before keeps working.
func TestTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := selfSigned(t, certPath, keyPath, "first")
	n := listenNotify(t, true)
	p := startExcd(t, baseEnv(t, n), nil, "--tls-cert", certPath, "--tls-key", keyPath)
	addr := addrFrom(t, n.await(t, "READY=1"))

	pool := x509.NewCertPool()
	pool.AddCert(c1)
	if got := peerCert(t, addr, pool); !got.Equal(c1) {
		t.Fatalf("served %s, want the first certificate", got.Subject)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous request over HTTPS: %d", resp.StatusCode)
	}
	// Plain HTTP to the HTTPS port is refused.
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP accepted on the HTTPS port: %d", resp.StatusCode)
		}
	}

	c2 := selfSigned(t, certPath, keyPath, "second")
	p.signal(t, syscall.SIGHUP)
	n.await(t, "RELOADING=1")
	n.await(t, "READY=1")
	pool.AddCert(c2)
	if got := peerCert(t, addr, pool); !got.Equal(c2) {
		t.Fatalf("after SIGHUP served %s, want the second certificate", got.Subject)
	}
	// The keep-alive connection from before still serves.
	resp, err = hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A broken renewal keeps the working certificate.
	os.WriteFile(certPath, []byte("garbage"), 0o600)
	p.signal(t, syscall.SIGHUP)
	n.await(t, "READY=1")
	if got := peerCert(t, addr, pool); !got.Equal(c2) {
		t.Fatalf("after a bad reload served %s, want the second certificate still", got.Subject)
	}
	if !strings.Contains(p.stderr.String(), "keeping the old certificate") {
		t.Error("bad certificate on reload not logged")
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// slowReader yields size bytes in 64 KiB steps, pausing between them, and
// closes started after the first MiB.
type slowReader struct {
	data    []byte
	off     int
	pause   time.Duration
	started chan struct{}
	once    sync.Once
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.off >= len(s.data) {
		return 0, io.EOF
	}
	// Past what loopback socket buffers can hold (autotuned to several
	// MiB), so the server is reading the body, not just the kernel, when
	// started fires.
	if s.off >= 12<<20 {
		s.once.Do(func() { close(s.started) })
		time.Sleep(s.pause)
	}
	n := copy(p[:min(len(p), 64<<10)], s.data[s.off:])
	s.off += n
	return n, nil
}

func minioClient(t *testing.T, addr string) *minio.Client {
	t.Helper()
	c, err := minio.New(addr, &minio.Options{
		Creds:        miniocreds.NewStaticV4(testAK, testSK, ""),
		Region:       "auto",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SIGTERM during an upload: with time enough, the upload completes and is
// there after a restart; when the shutdown timeout cuts it off, the client
// gets an error and after a restart the key does not exist.
func TestGracefulShutdownWithUploadInFlight(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (16<<20)/16) // 16 MiB: four chunks
	for _, tc := range []struct {
		name     string
		timeout  string
		pause    time.Duration
		complete bool
	}{
		{"completes", "20s", 5 * time.Millisecond, true},
		{"cut off", "300ms", 40 * time.Millisecond, false}, // ~2.5 s of upload after started
		{"second SIGTERM forces", "60s", 40 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := listenNotify(t, true)
			env := baseEnv(t, n)
			p := startExcd(t, env, nil, "--shutdown-timeout", tc.timeout)
			addr := addrFrom(t, n.await(t, "READY=1"))
			mc := minioClient(t, addr)
			ctx := context.Background()
			if err := mc.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			r := &slowReader{data: data, pause: tc.pause, started: make(chan struct{})}
			upErr := make(chan error, 1)
			go func() {
				_, err := mc.PutObject(ctx, "bkt", "k", r, int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
				upErr <- err
			}()
			<-r.started
			p.signal(t, syscall.SIGTERM)
			n.await(t, "STOPPING=1")
			if tc.name == "second SIGTERM forces" {
				time.Sleep(100 * time.Millisecond)
				p.signal(t, syscall.SIGTERM)
			}
			t0 := time.Now()
			err := <-upErr
			if !tc.complete && time.Since(t0) > 2*time.Second {
				t.Errorf("the upload was cut off only after %v", time.Since(t0))
			}
			if tc.complete && err != nil {
				t.Fatalf("upload in flight during a graceful stop failed: %v", err)
			}
			if !tc.complete && err == nil {
				t.Fatal("upload succeeded although the shutdown timeout cut it off")
			}
			if err := p.wait(t, 20*time.Second); err != nil {
				t.Fatalf("excd exit: %v", err)
			}

			// Restart on the same data directory.
			n2 := listenNotify(t, true)
			env[0] = "NOTIFY_SOCKET=" + n2.name
			p2 := startExcd(t, env, nil)
			mc = minioClient(t, addrFrom(t, n2.await(t, "READY=1")))
			obj, err := mc.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if tc.complete {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("after restart: %d bytes, err %v; want the whole upload", len(got), err)
				}
			} else if minio.ToErrorResponse(err).Code != "NoSuchKey" {
				t.Fatalf("after restart a cut-off upload is visible: %d bytes, err %v", len(got), err)
			}
			p2.signal(t, syscall.SIGTERM)
			if err := p2.wait(t, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Invalid configuration stops the start with the key named, before
// anything is opened.
func TestBadConfigStopsStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "excd.toml")
	os.WriteFile(cfg, []byte("listen = \"127.0.0.1:0\"\nbogus = \"1\"\n"), 0o600)
	out, err := exec.Command(excdBin, "--config", cfg, "--data-dir", filepath.Join(dir, "d")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown key "bogus"`) {
		t.Fatalf("err %v, output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); err == nil {
		t.Fatal("data directory created despite a bad config")
	}
	out, err = exec.Command(excdBin, "--config", cfg, "--print-config").CombinedOutput()
	if err == nil {
		t.Fatalf("--print-config with a bad file succeeded: %s", out)
	}
	os.WriteFile(cfg, []byte("region = \"eu\"\n"), 0o600)
	cmd := exec.Command(excdBin, "--config", cfg, "--print-config", "--listen", "127.0.0.1:7")
	cmd.Env = []string{"EXC_ROOT_ACCESS_KEY=" + testAK, "EXC_ROOT_SECRET_KEY=" + testSK, "EXC_LOG_LEVEL=debug"}
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatal(err, string(out))
	}
	for _, want := range []string{`region = "eu"`, `listen = "127.0.0.1:7"`, `log_level = "debug"`, `root_secret_key = "(set)"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--print-config lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), testSK) {
		t.Fatal("--print-config printed the secret")
	}
}

// isMounted reports whether dir is a mount point, from /proc/self/mountinfo.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// READY=1 waits for the FUSE mount; SIGTERM unmounts before exit.
func TestReadyAfterMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	n := listenNotify(t, true)
	p := startExcd(t, baseEnv(t, n), nil, "--mount", mnt)
	n.await(t, "READY=1")
	if !isMounted(t, mnt) {
		t.Fatal("READY sent before the mount was up")
	}
	p.signal(t, syscall.SIGTERM)
	n.await(t, "STOPPING=1")
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, mnt) {
		t.Fatal("still mounted after excd exited")
	}
}

// freePort returns a loopback address nobody listens on (a small race with
// other processes is acceptable in a test).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// SIGHUP applies log_level and gc_interval from the edited file at once.
func TestReloadLiveSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "excd.toml")
	maddr := freePort(t)
	write := func(level, gc string) {
		body := fmt.Sprintf("log_level = %q\ngc_interval = %q\nmetrics_listen = %q\n", level, gc, maddr)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("warn", "0")
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	env = append(env[:0:0], env...)
	for i, e := range env {
		if strings.HasPrefix(e, "EXC_GC_INTERVAL=") {
			env[i] = "EXC_LOG_FORMAT=text" // let the file decide the interval
		}
	}
	p := startExcd(t, env, nil, "--config", cfg)
	n.await(t, "READY=1")
	if strings.Contains(p.stderr.String(), "level=INFO") {
		t.Fatal("info lines logged at log_level warn")
	}
	if v := metricValue(t, maddr, "excd_gc_runs_total"); v != 0 {
		t.Fatalf("gc ran %v times with gc_interval 0", v)
	}
	write("info", "100ms")
	p.signal(t, syscall.SIGHUP)
	n.await(t, "RELOADING=1")
	n.await(t, "READY=1")
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, maddr, "excd_gc_runs_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("gc_interval change not applied by SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "msg=reloaded log_level=info gc_interval=100ms") {
		t.Fatalf("log_level change not applied:\n%s", p.stderr.String())
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// exc backup (here: the admin client) and excd --restore, following the
// documented procedure: catalog backup first, then the chunks and the key.
func TestRestoreCommand(t *testing.T) {
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	src := strings.TrimPrefix(env[1], "EXC_DATA_DIR=")
	p := startExcd(t, env, nil)
	addr := addrFrom(t, n.await(t, "READY=1"))
	mc := minioClient(t, addr)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "rst", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("restore me "), 100000)
	if _, err := mc.PutObject(ctx, "rst", "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	ac := admin.Dial(filepath.Join(src, "admin.sock"))
	defer ac.Close()
	backup := filepath.Join(t.TempDir(), "catalog.bak")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	out, err := exec.Command(excdBin, "--data-dir", dst, "--master-key", filepath.Join(src, "master.key"), "--restore", backup).CombinedOutput()
	if err != nil {
		t.Fatalf("excd --restore: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(src, "chunks"), filepath.Join(dst, "chunks")).CombinedOutput(); err != nil {
		t.Fatalf("copy chunks: %v %s", err, out)
	}
	// A second restore onto the now non-empty catalog is refused.
	if out, err := exec.Command(excdBin, "--data-dir", dst, "--master-key", filepath.Join(src, "master.key"), "--restore", backup).CombinedOutput(); err == nil {
		t.Fatalf("restore over a catalog succeeded: %s", out)
	}

	n2 := listenNotify(t, true)
	env[0] = "NOTIFY_SOCKET=" + n2.name
	env[1] = "EXC_DATA_DIR=" + dst
	env = append(env, "EXC_MASTER_KEY_FILE="+filepath.Join(src, "master.key"))
	p2 := startExcd(t, env, nil)
	mc = minioClient(t, addrFrom(t, n2.await(t, "READY=1")))
	obj, err := mc.GetObject(ctx, "rst", "obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after restore: %d bytes, %v", len(got), err)
	}
	p2.signal(t, syscall.SIGTERM)
	if err := p2.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

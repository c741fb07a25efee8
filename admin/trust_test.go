package admin_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/fsutil"
)

const nobodyUID = 65534

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
}

// Listen refuses a socket directory in which another user could replace
// the socket or plant one for exc: writable by others and not sticky, or
// owned by another user. A sticky world-writable directory (like /tmp) is
// fine, but not with another user's socket already at the path.
func TestListenRefusesUntrustedDirectory(t *testing.T) {
	requireRoot(t)
	mkdir := func(t *testing.T, mode os.FileMode, uid int) string {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, uid); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name string
		mode os.FileMode
		uid  int
		want string // "" accepts
	}{
		{"world-writable", 0o777, 0, "mode 0777 lets other users replace the socket"},
		{"group-writable", 0o770, 0, "mode 0770 lets other users replace the socket"},
		{"another user's", 0o700, nobodyUID, "belongs to uid 65534"},
		{"sticky world-writable", 0o777 | os.ModeSticky, 0, ""},
		{"private", 0o700, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mkdir(t, tc.mode, tc.uid)
			path := filepath.Join(dir, "admin.sock")
			ln, err := admin.Listen(path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Listen in a %s directory: %v", tc.name, err)
				}
				ln.Close()
				return
			}
			if err == nil {
				ln.Close()
				t.Fatalf("Listen in a %s directory succeeded", tc.name)
			}
			if !errors.Is(err, fsutil.ErrUntrusted) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v: want it to name %s and %q", err, dir, tc.want)
			}
			if _, err := os.Lstat(path); err == nil {
				t.Fatal("a socket was created anyway")
			}
		})
	}

	t.Run("another user's socket in a sticky directory", func(t *testing.T) {
		dir := mkdir(t, 0o777|os.ModeSticky, 0)
		path := filepath.Join(dir, "admin.sock")
		theirs, accepted := plantListener(t, path, nobodyUID)
		_, err := admin.Listen(path)
		if err == nil || !errors.Is(err, fsutil.ErrUntrusted) || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Fatalf("Listen over another user's socket: %v", err)
		}
		if fi, err := os.Lstat(path); err != nil || !os.SameFile(fi, theirs) {
			t.Fatalf("their socket was replaced or removed: %v", err)
		}
		if n := accepted.Load(); n != 0 {
			t.Fatalf("Listen connected to their socket %d times", n)
		}
	})
}

// plantListener serves HTTP on a unix socket at path (as root), then gives
// the socket to uid, as if that user had made it; it counts connections.
func plantListener(t *testing.T, path string, uid int) (os.FileInfo, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"orgs":[]}`)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi, &accepted
}

// exc (admin.Dial) never talks to a socket another user made: it could be
// anyone's listener, answering with keys of its choosing or taking backups.
func TestDialRefusesSocketOfAnotherUser(t *testing.T) {
	requireRoot(t)
	path := filepath.Join(t.TempDir(), "admin.sock")
	_, accepted := plantListener(t, path, nobodyUID)
	c := admin.Dial(path)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Orgs(ctx)
	var ue *admin.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("Orgs through another user's socket: %v; want an UnreachableError naming its owner", err)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the client connected %d times", n)
	}
}

// listenHelperEnv names the socket TestHelperListen serves on.
const listenHelperEnv = "ADMIN_TEST_HELPER_LISTEN"

// TestHelperListen is not a test: run as another user by
// TestDialRefusesListenerOfAnotherUser, it serves HTTP on a unix socket
// until its stdin closes.
func TestHelperListen(t *testing.T) {
	path := os.Getenv(listenHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("ERROR:", err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"orgs":[]}`)
	}))
	fmt.Println("LISTENING")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// A socket that looks right (owned by root, so the lstat check passes) but
// is served by another user's process is refused too: the client checks
// the listener's credentials (SO_PEERCRED) after connecting.
func TestDialRefusesListenerOfAnotherUser(t *testing.T) {
	requireRoot(t)
	dir, exe := peerTestBinary(t)
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(run, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(run, "admin.sock")

	cmd := exec.Command(exe, "-test.run=^TestHelperListen$")
	cmd.Env = append(os.Environ(), listenHelperEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "LISTENING" {
		t.Fatalf("helper: %q %v", line, err)
	}
	if err := os.Lchown(path, 0, 0); err != nil {
		t.Fatal(err)
	}

	c := admin.Dial(path)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Orgs(ctx)
	if err == nil || !strings.Contains(err.Error(), "runs as uid 65534") {
		t.Fatalf("Orgs through a listener of uid 65534: %v; want it refused", err)
	}
}

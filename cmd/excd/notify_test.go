package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/internal/testutil"
)

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
			if err := p.wait(t); err != nil {
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
		cmd.Args = []string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, excdBin(t), "--listen", "127.0.0.1:1"}
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
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
}

// isMounted reports whether dir is a mount point.
func isMounted(t *testing.T, dir string) bool { return len(testutil.MountsAt(t, dir)) > 0 }

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
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, mnt) {
		t.Fatal("still mounted after excd exited")
	}
}

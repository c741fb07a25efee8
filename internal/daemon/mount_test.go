package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/internal/testutil"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestStaleMountHelper is not a test: run by TestMountLifecycle in a child
// process, it mounts an empty file system and exits without unmounting,
// leaving the stale mount a crashed daemon would.
func TestStaleMountHelper(t *testing.T) {
	dir := os.Getenv("EXCD_STALE_MOUNT_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	n, _ := strconv.Atoi(os.Getenv("EXCD_STALE_MOUNT_COUNT"))
	hold := time.Hour // long attribute timeouts: the kernel's cache outlives the server
	for range max(n, 1) {
		if _, err := fs.Mount(dir, &fs.Inode{}, &fs.Options{AttrTimeout: &hold, EntryTimeout: &hold,
			MountOptions: fuse.MountOptions{DirectMount: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getenv("EXCD_STALE_MOUNT_WAIT") != "" {
		// Serve until the parent has looked at the mount, then "crash".
		os.Stdout.WriteString("ready\n")
		io.Copy(io.Discard, os.Stdin)
	}
	os.Exit(0)
}

// mountsAt counts the mounts at dir in this mount namespace.
func mountsAt(t *testing.T, dir string) int { return len(testutil.MountsAt(t, dir)) }

// Right after a crash the kernel still answers a stat of the dead mount's
// root from its attribute cache. A daemon restarted then (systemd restarts
// after 100 ms) must still find the mount dead and replace it rather than
// mount on top of it: the next crash would leave two dead mounts and the
// start after it failed with ENOTCONN. Dead mounts stacked earlier are all
// detached.
func TestStaleMountWithCachedAttributes(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	data := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	t.Cleanup(func() {
		for mountsAt(t, mnt) > 0 {
			if syscall.Unmount(mnt, syscall.MNT_DETACH) != nil {
				return
			}
		}
	})

	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleMountHelper$")
	cmd.Env = append(os.Environ(), "EXCD_STALE_MOUNT_DIR="+mnt, "EXCD_STALE_MOUNT_COUNT=2", "EXCD_STALE_MOUNT_WAIT=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(stdout, make([]byte, len("ready\n"))); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if _, err := os.Stat(mnt); err != nil { // fills the kernel's attribute cache
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if _, err := os.Stat(mnt); err != nil {
		t.Skipf("the kernel did not answer from its cache (%v): nothing to test", err)
	}
	if n := mountsAt(t, mnt); n != 2 {
		t.Fatalf("%d mounts at %s before the start, want the helper's 2", n, mnt)
	}

	d, err := Start(Config{DataDir: data, Listen: "127.0.0.1:0", GCInterval: -1, AdminSocket: "-",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stopMounts(); d.Close() })
	if err := d.startMounts([]string{mnt}); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, mnt); n != 1 {
		t.Fatalf("%d mounts at %s after the start, want 1: the new mount is stacked on dead ones", n, mnt)
	}
	if err := os.Mkdir(filepath.Join(mnt, "bkt"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestMountLifecycle(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	data := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)

	// A stale mount from a "crashed" process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleMountHelper$")
	cmd.Env = append(os.Environ(), "EXCD_STALE_MOUNT_DIR="+mnt)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if _, err := os.Stat(mnt); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the stale mount: %v, want ENOTCONN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })

	d, err := Start(Config{DataDir: data, Listen: "127.0.0.1:0", GCInterval: -1, AdminSocket: "-",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stopMounts(); d.Close() })
	if err := d.startMounts([]string{mnt}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "bkt"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A file still open for writing when the daemon stops: its writes are
	// committed before the unmount (lazily, since it is busy).
	f, err := os.Create(filepath.Join(mnt, "bkt", "open"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("in flight"))
	done := make(chan error, 1)
	go func() { done <- d.stopMounts() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stopMounts: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stopMounts hangs with a busy mount")
	}
	f.Close()
	orgs, _ := d.db.ListOrgs(context.Background())
	m, err := d.layer.Head(context.Background(), orgs[0].ID, "bkt", "open")
	if err != nil || m.Size != int64(len("in flight")) {
		t.Fatalf("in-flight write after stop: %+v %v", m, err)
	}
}

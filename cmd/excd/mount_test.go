package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The owner model reaches the mounts from the environment and from a
// mount's own options, and attributes written through a mount are still
// trusted after a restart: their seal is keyed from the master key, not
// from the process.
func TestMountOwnerAcrossRestart(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and /dev/fuse")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	n := listenNotify(t, true)
	env := append(baseEnv(t, n), "EXC_MOUNT_UMASK=022")
	f := filepath.Join(mnt, "bkt", "f")
	for run := range 2 {
		p := startExcd(t, env, nil, "--mount", mnt+":uid=4321")
		n.await(t, "READY=1")
		if run == 0 {
			if err := os.Mkdir(filepath.Join(mnt, "bkt"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, 0o604); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(f, 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
		var st syscall.Stat_t
		if err := syscall.Stat(f, &st); err != nil || st.Mode&0o7777 != 0o604 || st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("run %d: file mode %04o uid %d gid %d (%v), want 0604 1234 5678", run, st.Mode&0o7777, st.Uid, st.Gid, err)
		}
		// The bucket carries no attributes: the mount's owner and umask.
		if err := syscall.Stat(filepath.Join(mnt, "bkt"), &st); err != nil || st.Mode&0o7777 != 0o755 || st.Uid != 4321 {
			t.Errorf("run %d: bucket mode %04o uid %d (%v), want 0755 4321", run, st.Mode&0o7777, st.Uid, err)
		}
		p.signal(t, syscall.SIGTERM)
		n.await(t, "STOPPING=1")
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
	}
}

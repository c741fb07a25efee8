package fsmount_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/fsmount"
)

// TestXattrNamespaces: extended attributes outside user.* are not
// supported on any node (EOPNOTSUPP: getfattr, cp -a and ls read it as "no
// SELinux label, no ACL"), while user.* keeps working on files and reads as
// absent (ENODATA) on directories.
func TestXattrNamespaces(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.p("f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(e.p("f"), "user.color", []byte("red"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	for _, p := range []string{e.mnt, e.bdir, e.p("d"), e.p("f")} {
		for _, name := range []string{"security.selinux", "system.posix_acl_access", "security.capability", "trusted.x"} {
			if _, err := unix.Getxattr(p, name, buf); !errors.Is(err, syscall.EOPNOTSUPP) {
				t.Errorf("getxattr %s %s: %v, want EOPNOTSUPP", p, name, err)
			}
		}
	}
	if err := unix.Removexattr(e.p("f"), "security.selinux"); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("removexattr security.selinux: %v, want EOPNOTSUPP", err)
	}
	for _, p := range []string{e.mnt, e.bdir, e.p("d")} {
		if _, err := unix.Getxattr(p, "user.color", buf); !errors.Is(err, syscall.ENODATA) {
			t.Errorf("getxattr %s user.color: %v, want ENODATA", p, err)
		}
	}
	n, err := unix.Getxattr(e.p("f"), "user.color", buf)
	if err != nil || string(buf[:n]) != "red" {
		t.Errorf("getxattr user.color: %q %v", buf[:n], err)
	}
}

// opCounter counts the FUSE operations the mount answers.
type opCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *opCounter) ObserveFUSE(op string, failed bool, took time.Duration) {
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
}

func (c *opCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := c.ops
	c.ops = map[string]int{}
	return ops
}

// TestLsLongRequests: ls -l of a directory the kernel has not seen costs
// no FUSE round trip per entry beyond the listing: no getxattr after the
// first entry (ls stops asking once told EOPNOTSUPP), and no lookup for the
// entries the kernel received with their attributes (READDIRPLUS).
func TestLsLongRequests(t *testing.T) {
	obs := &opCounter{ops: map[string]int{}}
	e := newEnvOpts(t, nil, fsmount.Options{Observer: obs})
	const n = 300
	for i := range n {
		e.put(t, filepath.Join("dir", "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), "x")
	}
	obs.take()
	out, err := exec.Command("ls", "-l", e.p("dir")).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -l: %v %s", err, out)
	}
	ops := obs.take()
	if ops["getxattr"] > 4 {
		t.Errorf("ls -l of %d files asked for %d xattrs", n, ops["getxattr"])
	}
	if ops["lookup"] > n/10 {
		t.Errorf("ls -l of %d files made %d lookups", n, ops["lookup"])
	}
	t.Logf("ls -l of %d files: %v", n, ops)
}

package faulttest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"excloud.dev/buckets/internal/excdtest"
)

// nobody is the unprivileged user the daemon runs as here: root ignores
// file permissions.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// publicDir makes a directory other users can reach (t.TempDir's parent
// is private to root), owned by nobody.
func publicDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "faulttest-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, int(nobody.Uid), int(nobody.Gid)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStartPermissions breaks one part of an initialized data directory
// and checks that excd refuses to start with one line naming the path and
// the problem: no panic, no goroutine dump.
func TestStartPermissions(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name string
		// asNobody runs the daemon as nobody; otherwise as root, on a
		// read-only mount (which binds root too).
		asNobody bool
		// breakIt damages dataDir (root is the tmpfs for the read-only
		// case) and returns the path the message must name.
		breakIt func(t *testing.T, root, dataDir string) string
		problem string
	}{
		{"catalog-unreadable", true, func(t *testing.T, _, d string) string {
			return chmod(t, filepath.Join(d, "catalog"), 0)
		}, "permission denied"},
		{"catalog-file-unreadable", true, func(t *testing.T, _, d string) string {
			return chmod(t, filepath.Join(d, "catalog", "MANIFEST"), 0)
		}, "permission denied"},
		{"chunks-unwritable", true, func(t *testing.T, _, d string) string {
			return chmod(t, filepath.Join(d, "chunks", "tmp"), 0o500)
		}, "permission denied"},
		{"chunks-unreadable", true, func(t *testing.T, _, d string) string {
			return chmod(t, filepath.Join(d, "chunks"), 0)
		}, "permission denied"},
		{"master-key-unreadable", true, func(t *testing.T, _, d string) string {
			return chmod(t, filepath.Join(d, "master.key"), 0)
		}, "permission denied"},
		{"data-dir-read-only", false, func(t *testing.T, root, d string) string {
			if err := syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				t.Fatalf("remount read-only: %v", err)
			}
			return d
		}, "read-only file system"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var root, dataDir string
			opts := excdtest.Options{}
			if tc.asNobody {
				dataDir = publicDir(t)
				opts.Credential = nobody
			} else {
				// Larger than the default min_free_space: tmpfs
				// pages cost nothing until written.
				root = mountTmpfs(t, 1<<30)
				dataDir = filepath.Join(root, "data")
			}
			opts.DataDir = dataDir
			// Initialize it: a first start, then a clean stop.
			p := excdtest.Start(t, opts)
			if err := p.Stop(); err != nil {
				t.Fatalf("first stop: %v", err)
			}
			path := tc.breakIt(t, root, dataDir)
			_, err := excdtest.TryStart(t, opts)
			if err == nil {
				t.Fatalf("excd started with %s broken", path)
			}
			out := err.Error()
			for _, bad := range []string{"panic", "goroutine ", "fatal error", "SIGSEGV"} {
				if strings.Contains(out, bad) {
					t.Errorf("output has %q:\n%s", bad, out)
				}
			}
			msg := lastLine(out)
			rec, _ := excdtest.LogRecord(msg)
			if rec["level"] != "ERROR" || rec["msg"] != "exiting on error" || !strings.Contains(rec["err"], path) || !strings.Contains(rec["err"], tc.problem) {
				t.Errorf("last line %q is not the ERROR record naming %s and %q; output:\n%s", msg, path, tc.problem, out)
			}
			t.Logf("%s", msg)
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

package fsmount_test

import (
	"os"
	"testing"
)

// fsync of a directory (and of the mount root) succeeds: tools that rename
// into place and then fsync the directory (rsync, git, editors) must not
// get ENOTSUP, and it is what makes the mount's metadata changes durable.
func TestFsyncDirectory(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.p("d/tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.p("d/tmp"), e.p("d/final")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{e.p("d"), e.bdir, e.mnt} {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Errorf("fsync %s: %v", dir, err)
		}
		f.Close()
	}
	if m := e.head(t, "d/final"); m.Size != 1 {
		t.Fatalf("renamed object has %d bytes", m.Size)
	}
}

package fsmount_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/fsmount"
)

// TestEntryChangeIsOneCommit: a rename, unlink, mkdir or rmdir in a
// directory with a marker is one catalog write transaction, the entry's
// change and the directory's times (and a renamed entry's ctime) together;
// so is a create with its close (the directory's times go with the file's
// first commit). The counts
// hold on a loaded machine; the CPU per operation is logged for
// docs/benchmarks.md, not asserted.
func TestEntryChangeIsOneCommit(t *testing.T) {
	e := newEnv(t)
	dir, n := manyDir(t, e)
	page := make([]byte, 4096)
	db := e.d.Catalog()
	step := func(what string, want float64, op func(i int) error) {
		t.Helper()
		defer profile(t, stepProfile(what))()
		w0 := db.WriteTransactions()
		c0, t0 := cpuTime(), time.Now()
		for i := range n {
			if err := op(i); err != nil {
				t.Fatalf("%s %d: %v", what, i, err)
			}
		}
		cpu, wall := cpuTime()-c0, time.Since(t0)
		per := float64(db.WriteTransactions()-w0) / float64(n)
		t.Logf("%-8s %.2f write transactions, %4.0f µs CPU, %4.0f µs wall per op", what, per, float64(cpu.Microseconds())/float64(n), float64(wall.Microseconds())/float64(n))
		// A shared engine's node heartbeat commits now and then too.
		if per > want+0.02 {
			t.Errorf("%s: %.2f write transactions per operation, want %.0f", what, per, want)
		}
	}
	name := func(p string, i int) string { return fmt.Sprintf("%s/%s%05d", dir, p, i) }
	step("create", 1, func(i int) error { return os.WriteFile(name("f", i), page, 0o644) })
	step("rename", 1, func(i int) error { return os.Rename(name("f", i), name("g", i)) })
	step("unlink", 1, func(i int) error { return os.Remove(name("g", i)) })
	step("mkdir", 1, func(i int) error { return os.Mkdir(name("d", i), 0o755) })
	step("rmdir", 1, func(i int) error { return syscall.Rmdir(name("d", i)) })
}

// cpuTime is the process's user and system CPU time so far: the daemon, its
// catalog and the mount all run in this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFailedEntryChangeKeepsTimes: a rename or unlink that fails changes
// no directory's times and commits nothing.
func TestFailedEntryChangeKeepsTimes(t *testing.T) {
	e := newEnv(t)
	d, o := e.p("d"), e.p("o")
	for _, p := range []string{d, o, o + "/full"} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{d + "/f", o + "/full/x"} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(d+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	before := []times{timesOf(lstat(t, d)), timesOf(lstat(t, o))}
	db := e.d.Catalog()
	w0 := db.WriteTransactions()
	// syscall's rename: os.Rename refuses a directory target itself.
	for _, c := range []struct {
		what string
		err  error
		want syscall.Errno
	}{
		{"rename of a missing source", syscall.Rename(d+"/missing", o+"/g"), syscall.ENOENT},
		{"rename onto a non-empty directory", syscall.Rename(d+"/sub", o+"/full"), syscall.ENOTEMPTY},
		{"rename of a file onto a directory", syscall.Rename(d+"/f", o+"/full"), syscall.EISDIR},
		{"unlink of a missing file", os.Remove(d + "/missing"), syscall.ENOENT},
		{"rmdir of a non-empty directory", syscall.Rmdir(o + "/full"), syscall.ENOTEMPTY},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.err, c.want)
		}
	}
	if n := db.WriteTransactions() - w0; n != 0 {
		t.Errorf("failed changes made %d write transactions", n)
	}
	for i, p := range []string{d, o} {
		if got := timesOf(lstat(t, p)); !got.eq(before[i]) {
			t.Errorf("%s after failed changes: %v, before %v", p, got, before[i])
		}
	}
}

// TestFoldedTimesReachAnotherMount: the directory times and the renamed
// entry's ctime that a create, rename, unlink, mkdir or rmdir carries in
// its own transaction reach another mount through the feed, as before.
func TestFoldedTimesReachAnotherMount(t *testing.T) {
	e := newEnv(t)
	d := e.p("d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d+"/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	other := dir + "/b/d"
	same := func(what, p, q string) {
		t.Helper()
		want := timesOf(lstat(t, p))
		poll(t, what, func() error {
			if got := timesOf(lstat(t, q)); !got.eq(want) {
				return fmt.Errorf("%s: other mount %v, this one %v", q, got, want)
			}
			return nil
		})
	}
	// The other mount has looked everything up, so it caches it.
	same("before", d, other)
	same("before", d+"/f", other+"/f")
	for _, c := range []struct {
		what string
		op   func() error
		file string // an entry whose times to compare too
	}{
		{"create", func() error {
			// This mount shows the directory's new times while the file
			// is open; the others with its first commit, at the close.
			prev := timesOf(lstat(t, d))
			f, err := os.Create(d + "/new")
			if err != nil {
				return err
			}
			if now := timesOf(lstat(t, d)); !now.m.After(prev.m) {
				t.Errorf("directory while its new file is open: %v, before %v", now, prev)
			}
			return f.Close()
		}, ""},
		{"rename", func() error { return os.Rename(d+"/f", d+"/g") }, "g"},
		{"unlink", func() error { return os.Remove(d + "/g") }, ""},
		{"rmdir", func() error { return syscall.Rmdir(d + "/sub") }, ""},
		{"mkdir", func() error { return os.Mkdir(d+"/sub2", 0o755) }, "sub2"},
		{"rename a directory", func() error { return os.Rename(d+"/sub2", d+"/sub3") }, "sub3"},
	} {
		prev := timesOf(lstat(t, d))
		// The clock must pass the times read, or an unchanged time could
		// not be told from a new one that equals it.
		for deadline := time.Now().Add(10 * time.Second); (!time.Now().After(prev.m) || !time.Now().After(prev.c)) && time.Now().Before(deadline); {
			runtime.Gosched()
		}
		if err := c.op(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if now := timesOf(lstat(t, d)); !now.m.After(prev.m) || !now.c.After(prev.c) {
			t.Errorf("%s: directory %v, before %v", c.what, now, prev)
		}
		same(c.what, d, other)
		if c.file != "" {
			same(c.what, d+"/"+c.file, other+"/"+c.file)
		}
	}
}

// TestUntarCommits: untar of a source tree commits once per file (the
// file, with the times, mode and owner tar sets before its close, and its
// directory's times) and four times per directory (its marker with its
// parent's times, then the times, owner and mode tar sets at the end, one
// call each; a chown moves the ctime even to the same owner); rm -rf
// removes each entry in one transaction.
func TestUntarCommits(t *testing.T) {
	src := filepath.Join(runtime.GOROOT(), "src", "net", "http")
	if s := os.Getenv("FSMOUNT_UNTAR_SRC"); s != "" {
		src = s // FSMOUNT_UNTAR_SRC=$(go env GOROOT)/src for the benchmark's tree
	}
	if _, err := os.Stat(src); err != nil {
		t.Skip("no Go source tree")
	}
	tarball := filepath.Join(t.TempDir(), "src.tar")
	if out, err := exec.Command("tar", "cf", tarball, "-C", filepath.Dir(src), filepath.Base(src)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	out, err := exec.Command("tar", "tf", tarball).Output()
	if err != nil {
		t.Fatal(err)
	}
	entries := bytes.Count(out, []byte("\n"))
	dirs := bytes.Count(out, []byte("/\n"))
	e := newEnv(t)
	if err := os.Mkdir(e.p("tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	db := e.d.Catalog()
	for _, c := range []struct {
		what string
		want int
		cmd  []string
	}{
		{"untar", entries + 3*dirs, []string{"tar", "xf", tarball, "-C", e.p("tree")}},
		{"rm -rf", entries + 1, []string{"rm", "-rf", e.p("tree")}},
	} {
		stop := profile(t, stepProfile(c.what))
		w0, c0 := db.WriteTransactions(), cpuTime()
		if out, err := exec.Command(c.cmd[0], c.cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", c.what, err, out)
		}
		stop()
		n := int(db.WriteTransactions() - w0)
		t.Logf("%s of %d entries (%d directories): %d write transactions, %.0f µs CPU (this process) per entry", c.what, entries, dirs, n, float64((cpuTime()-c0).Microseconds())/float64(entries))
		// A shared engine's node heartbeat commits now and then too.
		if n > c.want+2 {
			t.Errorf("%s: %d write transactions, want %d", c.what, n, c.want)
		}
	}
}

// TestConcurrentEntryChanges: writers changing entries of one directory at
// once contend for its marker; those that cannot carry its times in their
// transaction update them after it. Nothing fails or waits for good, and
// the directory's final times are the latest change's everywhere.
func TestConcurrentEntryChanges(t *testing.T) {
	e := newEnv(t)
	d := e.p("d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	before := timesOf(lstat(t, d))
	w0 := e.d.Catalog().WriteTransactions()
	const writers, n = 6, 40
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range n {
				p := fmt.Sprintf("%s/w%d-%d", d, w, i)
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					errs <- err
					return
				}
				if err := os.Rename(p, p+"r"); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := os.Remove(p + "r"); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// More transactions than changes: some made their directory's times
	// after them, the marker being busy with another's.
	t.Logf("%d changes, %d write transactions", writers*n*5/2, e.d.Catalog().WriteTransactions()-w0)
	// A last change: the times it sets are the latest.
	if err := os.Remove(fmt.Sprintf("%s/w0-1r", d)); err != nil {
		t.Fatal(err)
	}
	got := timesOf(lstat(t, d))
	if !got.m.After(before.m) || !got.c.After(before.c) {
		t.Errorf("directory after concurrent changes: %v, before %v", got, before)
	}
	ents, err := os.ReadDir(d)
	if err != nil || len(ents) != writers*n/2-1 {
		t.Fatalf("%d entries (%v), want %d", len(ents), err, writers*n/2-1)
	}
	poll(t, "the other mount", func() error {
		if o := timesOf(lstat(t, dir+"/b/d")); !o.eq(got) {
			return fmt.Errorf("other mount %v, this one %v", o, got)
		}
		return nil
	})
}

// manyDir makes the directory the commit and rename measurements fill,
// and returns it with their file count (FSMOUNT_COMMITS_N, default 300).
func manyDir(t testing.TB, e *env) (string, int) {
	t.Helper()
	dir := e.p("many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 300
	if s := os.Getenv("FSMOUNT_COMMITS_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	return dir, n
}

// stepProfile is where FSMOUNT_COMMITS_PROFILE asks for a CPU profile of
// step ("rename:/tmp/rename.prof" profiles the step "rename"), or "".
func stepProfile(step string) string {
	p, ok := strings.CutPrefix(os.Getenv("FSMOUNT_COMMITS_PROFILE"), step+":")
	if !ok {
		return ""
	}
	return p
}

// profile writes a CPU profile to path until the returned func is called;
// with path "" it does nothing.
func profile(t testing.TB, path string) (stop func()) {
	t.Helper()
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

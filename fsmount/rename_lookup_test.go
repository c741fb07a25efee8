package fsmount_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/fsmount"
)

// opTimer counts the FUSE operations a mount answers and the daemon's
// time in them, by name.
type opTimer struct {
	opCounter
	took map[string]time.Duration
}

func (o *opTimer) ObserveFUSE(op string, failed bool, took time.Duration) {
	o.mu.Lock()
	o.ops[op]++
	o.took[op] += took
	o.mu.Unlock()
}

func (o *opTimer) takeAll() (map[string]int, map[string]time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops, took := o.ops, o.took
	o.ops, o.took = map[string]int{}, map[string]time.Duration{}
	return ops, took
}

// TestRenameCosts: the side-by-side bench's rename row (create files in a
// directory, list it with ls -l, rename each within it) costs one catalog
// write transaction per rename and no catalog read: the kernel looks the
// target up twice (Go's os.Rename stats it, then the kernel revalidates a
// rename's target), and the listing, complete and current, answers both.
// Without the listing, one read: the target's first lookup. The FUSE requests, their daemon time and
// the CPU per rename are logged for docs/benchmarks.md.
func TestRenameCosts(t *testing.T) {
	obs := &opTimer{opCounter: opCounter{ops: map[string]int{}}, took: map[string]time.Duration{}}
	var cnt *counting
	e := newEnvOpts(t, func(o fsmount.Objects) fsmount.Objects { cnt = &counting{Objects: o}; return cnt },
		fsmount.Options{Observer: obs})
	dir, n := manyDir(t, e)
	page := make([]byte, 4096)
	name := func(p string, i int) string { return fmt.Sprintf("%s/%s%05d", dir, p, i) }
	for i := range n {
		if err := os.WriteFile(name("f", i), page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("ls", "-l", dir).CombinedOutput(); err != nil {
		t.Fatalf("ls: %v %s", err, out)
	}
	if os.Getenv("FSMOUNT_RENAME_DROP") != "" {
		// As the side-by-side bench's other targets do between this
		// mount's ls and its renames: the kernel forgets its entries.
		syscall.Sync()
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
			t.Fatal(err)
		}
	}
	db := e.d.Catalog()
	obs.takeAll()
	stop := profile(t, os.Getenv("FSMOUNT_RENAME_PROFILE"))
	h0, w0, c0, t0 := cnt.heads.Load(), db.WriteTransactions(), cpuTime(), time.Now()
	u0 := userTime()
	for i := range n {
		if err := os.Rename(name("f", i), name("g", i)); err != nil {
			t.Fatal(err)
		}
	}
	cpu, wall, user := cpuTime()-c0, time.Since(t0), userTime()-u0
	stop()
	reads := float64(cnt.heads.Load()-h0) / float64(n)
	writes := float64(db.WriteTransactions()-w0) / float64(n)
	ops, took := obs.takeAll()
	var names []string
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, op := range names {
		fmt.Fprintf(&b, " %s %.2f (%.0f µs)", op, float64(ops[op])/float64(n), float64(took[op].Microseconds())/float64(n))
	}
	t.Logf("per rename: FUSE%s; catalog reads %.2f, write transactions %.2f, %.0f µs CPU (%.0f µs user), %.0f µs wall",
		b.String(), reads, writes, float64(cpu.Microseconds())/float64(n), float64(user.Microseconds())/float64(n), float64(wall.Microseconds())/float64(n))
	// A shared engine's node heartbeat commits now and then too.
	if os.Getenv("FSMOUNT_RENAME_DROP") == "" && (reads > 0 || writes > 1.02) {
		t.Errorf("after ls: %.2f catalog reads, %.2f write transactions per rename, want 0 and 1", reads, writes)
	}

	// A second mount has no listing: the target's first lookup reads the
	// catalog, its second is answered by the first.
	dir2, _ := e.mountAgain(t, cnt, fsmount.Options{})
	h0 = cnt.heads.Load()
	for i := range n {
		from := fmt.Sprintf("%s/b/many/g%05d", dir2, i)
		if err := os.Rename(from, from+"x"); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel looks each source up too: a new mount knows none, and
	// reads ahead after a few (targets, which do not exist, do not count
	// towards that).
	reads = float64(cnt.heads.Load()-h0) / float64(n)
	t.Logf("not listed: %.2f catalog reads per rename", reads)
	if reads > 1.1 {
		t.Errorf("not listed: %.2f catalog reads per rename, want 1 (the target's)", reads)
	}
}

// TestListedNamesStayCoherent: a name missing from a complete listing (or
// just looked up and found missing) is answered without the catalog only
// while nothing can have made it: a name made over S3, by another mount,
// or by this mount, right after that call returns, is seen by the next
// lookup, and by a rename onto it (RENAME_NOREPLACE fails with EEXIST; a
// plain rename replaces it).
func TestListedNamesStayCoherent(t *testing.T) {
	e := newEnv(t)
	dir := e.p("d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keep", "f0", "f1", "f2", "f3", "f4"} {
		if err := os.WriteFile(dir+"/"+name, []byte("file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	list := func() {
		t.Helper()
		if out, err := exec.Command("ls", "-l", dir).CombinedOutput(); err != nil {
			t.Fatalf("ls: %v %s", err, out)
		}
	}
	missing := func(name string) {
		t.Helper()
		if _, err := os.Lstat(dir + "/" + name); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("lstat %s before it is made: %v", name, err)
		}
	}
	noReplace := func(from, to string) error {
		return unix.Renameat2(unix.AT_FDCWD, dir+"/"+from, unix.AT_FDCWD, dir+"/"+to, unix.RENAME_NOREPLACE)
	}
	makers := []struct {
		what string
		make func(name string)
		dir  bool
	}{
		{"S3 PUT", func(name string) { e.s3Put(t, "d/"+name, []byte("s3")) }, false},
		{"S3 PUT under it", func(name string) { e.s3Put(t, "d/"+name+"/inner", []byte("s3")) }, true},
		{"another mount's create", func(name string) {
			if err := os.WriteFile(other+"/b/d/"+name, []byte("other"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"another mount's mkdir", func(name string) {
			if err := os.Mkdir(other+"/b/d/"+name, 0o755); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"this mount's create", func(name string) {
			if err := os.WriteFile(dir+"/"+name, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for i, m := range makers {
		// Stat after the listing: the answer comes from the listing.
		name := fmt.Sprintf("n%d", i)
		list()
		missing(name)
		m.make(name)
		fi, err := os.Lstat(dir + "/" + name)
		if err != nil || fi.IsDir() != m.dir {
			t.Fatalf("%s: lstat after: %v %v", m.what, fi, err)
		}
		// A rename onto a name made after the listing and the lookup.
		name = fmt.Sprintf("r%d", i)
		list()
		missing(name)
		m.make(name)
		if err := noReplace("keep", name); !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("%s: rename NOREPLACE onto it: %v, want EEXIST", m.what, err)
		}
		if m.dir {
			continue
		}
		src := fmt.Sprintf("f%d", i)
		if err := os.WriteFile(dir+"/"+src, []byte("renamed"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+"/"+src, dir+"/"+name); err != nil {
			t.Fatalf("%s: rename onto it: %v", m.what, err)
		}
		if b, _ := e.s3Get(t, "d/"+name); string(b) != "renamed" {
			t.Fatalf("%s: S3 after the rename: %q", m.what, b)
		}
	}
}

// userTime is the process's user CPU time so far: cpuTime less the kernel's
// share (the FUSE round trips and the syscalls of both sides).
func userTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano())
}

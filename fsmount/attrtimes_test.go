package fsmount_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/daemon"
)

// reopen stops e's mount and daemon and starts both again on the same data
// directory: what a restart of excd sees.
func reopen(t testing.TB, e *env) *env {
	t.Helper()
	if err := e.srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(daemon.Config{
		DataDir: e.dataD, Listen: "127.0.0.1:0", RootAccessKey: testAK, RootSecretKey: testSK,
		GCInterval: -1, AdminSocket: "-", Logger: quiet(), Catalog: e.cat,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	n := &env{d: d, org: e.org, mnt: t.TempDir(), dataD: e.dataD, s3: e.s3, cat: e.cat}
	n.srv, err = fsmount.Mount(context.Background(), n.mnt, d.Layer(), d.Catalog(), n.org, fsmount.Options{DataDir: e.dataD, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.srv.Unmount() })
	n.bdir = n.mnt + "/b"
	return n
}

func lstat(t testing.TB, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func tsTime(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

type times struct{ a, m, c time.Time }

func timesOf(st *syscall.Stat_t) times {
	return times{tsTime(st.Atim), tsTime(st.Mtim), tsTime(st.Ctim)}
}

func (x times) eq(y times) bool { return x.a.Equal(y.a) && x.m.Equal(y.m) && x.c.Equal(y.c) }

func (x times) String() string {
	f := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000") }
	return fmt.Sprintf("atime %s mtime %s ctime %s", f(x.a), f(x.m), f(x.c))
}

// poll retries cond until it holds, for up to 20 s: another mount sees a
// change when its kernel cache times out (1 s) or the feed invalidates it.
func poll(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLongNames: a name longer than NAME_MAX (255 bytes) is refused with
// ENAMETOOLONG by every call that would create it, and nothing is stored;
// before, the object was stored under it and then hidden, so it could not
// be removed, and a rename to it made the file vanish.
func TestLongNames(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("n", 256)
	max := strings.Repeat("m", 255)
	if err := os.WriteFile(e.p("keep"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		op   func() error
	}{
		{"create", func() error { return os.WriteFile(e.p(long), []byte("x"), 0o644) }},
		{"create in subdir", func() error { return os.WriteFile(e.p("d/"+long), []byte("x"), 0o644) }},
		{"open O_CREAT|O_EXCL", func() error {
			fd, err := unix.Open(e.p(long), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"mkdir", func() error { return os.Mkdir(e.p(long), 0o755) }},
		{"symlink", func() error { return os.Symlink("keep", e.p(long)) }},
		{"mknod", func() error { return syscall.Mknod(e.p(long), syscall.S_IFREG|0o644, 0) }},
		{"link", func() error { return os.Link(e.p("keep"), e.p(long)) }},
		{"rename", func() error { return os.Rename(e.p("keep"), e.p(long)) }},
		{"rename dir", func() error { return os.Rename(e.p("d"), e.p(long)) }},
		{"stat", func() error { _, err := os.Lstat(e.p(long)); return err }},
		{"unlink", func() error { return os.Remove(e.p(long)) }},
	}
	for _, c := range cases {
		if err := c.op(); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("%s with a %d-byte name: %v, want ENAMETOOLONG", c.name, len(long), err)
		}
	}
	// Nothing was stored, and the renamed file and directory are still
	// where they were.
	for _, k := range e.s3Keys(t) {
		if strings.Contains(k, long) {
			t.Errorf("key %.40q… stored", k)
		}
	}
	if b, err := os.ReadFile(e.p("keep")); err != nil || string(b) != "kept" {
		t.Fatalf("source of the refused rename: %q %v", b, err)
	}
	if fi, err := os.Stat(e.p("d")); err != nil || !fi.IsDir() {
		t.Fatalf("source directory of the refused rename: %v", err)
	}
	// 255 bytes is a name like any other: created, listed, renamed, removed.
	if err := os.WriteFile(e.p(max), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(e.bdir); !containsName(ents, max) {
		t.Fatal("a 255-byte name is not listed")
	}
	if err := os.Rename(e.p(max), e.p("d/"+max)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.p("d/" + max)); err != nil {
		t.Fatal(err)
	}
	// A path whose key S3 could not address (over 1024 bytes) is refused
	// too: each component is a valid name, the whole is not a valid key.
	deep := e.p("")
	for i := range 3 {
		deep = filepath.Join(deep, fmt.Sprintf("%d%s", i, max[1:]))
		if err := os.Mkdir(deep, 0o755); err != nil {
			t.Fatalf("mkdir level %d: %v", i, err)
		}
	}
	last := strings.Repeat("z", 1024-3*256)
	if err := os.WriteFile(filepath.Join(deep, last), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("create of a %d-byte key: %v, want ENAMETOOLONG", 3*256+len(last), err)
	}
	if err := os.WriteFile(filepath.Join(deep, last[1:]), nil, 0o644); err != nil {
		t.Fatalf("create of a 1024-byte key: %v", err)
	}
}

func containsName(ents []os.DirEntry, name string) bool {
	for _, de := range ents {
		if de.Name() == name {
			return true
		}
	}
	return false
}

// TestCtime: ctime moves on every change of a file, content or not, and is
// never the time utimensat asks for; it is stored, so a remount and a
// second mount report the same.
func TestCtime(t *testing.T) {
	e := newEnv(t)
	p := e.p("f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	prev := timesOf(lstat(t, p))
	step := func(what string, op func() error) {
		t.Helper()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		now := timesOf(lstat(t, p))
		if !now.c.After(prev.c) {
			t.Errorf("%s: ctime %v did not move (before: %v)", what, now, prev)
		}
		prev = now
	}
	step("chmod", func() error { return os.Chmod(p, 0o600) })
	step("chown", func() error { return os.Chown(p, 1234, 5678) })
	old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	step("utimes", func() error { return os.Chtimes(p, old, old) })
	if !prev.m.Equal(old) || !prev.a.Equal(old) || prev.c.Equal(old) {
		t.Errorf("after utimes to %v: %v", old, prev)
	}
	step("write", func() error {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString("two"); err != nil {
			return err
		}
		return f.Close()
	})
	if prev.m.Equal(old) {
		t.Errorf("a write after utimes kept the mtime utimes set: %v", prev)
	}
	step("truncate", func() error { return os.Truncate(p, 2) })
	step("setxattr", func() error { return unix.Setxattr(p, "user.k", []byte("v"), 0) })
	step("rename", func() error {
		err := os.Rename(p, e.p("g"))
		p = e.p("g")
		return err
	})
	// A metadata-only change does not touch mtime.
	before := prev
	step("chmod again", func() error { return os.Chmod(p, 0o640) })
	if !prev.m.Equal(before.m) {
		t.Errorf("chmod moved mtime: %v, before %v", prev, before)
	}
	// Stored: another mount and a restart report the same times.
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	if got := timesOf(lstat(t, dir+"/b/g")); !got.eq(prev) {
		t.Errorf("second mount: %v, first %v", got, prev)
	}
	e2 := reopen(t, e)
	if got := timesOf(lstat(t, e2.p("g"))); !got.eq(prev) {
		t.Errorf("after restart: %v, before %v", got, prev)
	}
}

// TestAtime: atime is what utimensat sets (touch -a), stored and reported;
// an object without one reports its mtime. Reads do not move it (noatime).
func TestAtime(t *testing.T) {
	e := newEnv(t)
	p := e.p("f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := timesOf(lstat(t, p))
	if !st.a.Equal(st.m) {
		t.Fatalf("new file: %v, want atime = mtime", st)
	}
	at := time.Date(2010, 1, 1, 0, 0, 0, 123456789, time.UTC)
	// touch -a: atime only (mtime UTIME_OMIT).
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), {Nsec: unix.UTIME_OMIT}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
		t.Fatal(err)
	}
	got := timesOf(lstat(t, p))
	if !got.a.Equal(at) || !got.m.Equal(st.m) {
		t.Fatalf("after touch -a %v: %v (before %v)", at, got, st)
	}
	if m := e.head(t, "f"); m.Meta["atime"] != "1262304000.123456789" {
		t.Fatalf("stored atime %q", m.Meta["atime"])
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "x" {
		t.Fatal(b, err)
	}
	if got := timesOf(lstat(t, p)); !got.a.Equal(at) {
		t.Fatalf("after a read: %v", got)
	}
	// Directories keep it on their marker.
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, e.p("d"), ts, 0); err != nil {
		t.Fatal(err)
	}
	if got := timesOf(lstat(t, e.p("d"))); !got.a.Equal(at) {
		t.Fatalf("directory after touch -a: %v", got)
	}
	e.put(t, "s3", "y")
	if got := timesOf(lstat(t, e.p("s3"))); !got.a.Equal(got.m) || got.a.IsZero() || got.a.Unix() == 0 {
		t.Fatalf("S3 object: %v", got)
	}
	e2 := reopen(t, e)
	if got := timesOf(lstat(t, e2.p("f"))); !got.a.Equal(at) {
		t.Fatalf("after restart: %v", got)
	}
}

// TestDirectoryTimes: creating, removing or renaming an entry moves the
// directory's mtime and ctime; they live on its marker, so another mount
// and a restart agree. A directory without a marker (made by S3 keys), and
// a bucket, report the bucket's creation time, the same everywhere.
func TestDirectoryTimes(t *testing.T) {
	e := newEnv(t)
	d, o := e.p("d"), e.p("o")
	for _, dir := range []string{d, o} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prev := timesOf(lstat(t, d))
	step := func(what string, op func() error, dirs ...string) {
		t.Helper()
		befores := make([]times, len(dirs))
		for i, dir := range dirs {
			befores[i] = timesOf(lstat(t, dir))
		}
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i, dir := range dirs {
			now := timesOf(lstat(t, dir))
			if !now.m.After(befores[i].m) || !now.c.After(befores[i].c) {
				t.Errorf("%s: %s %v, before %v", what, filepath.Base(dir), now, befores[i])
			}
		}
	}
	step("create", func() error { return os.WriteFile(d+"/f", []byte("x"), 0o644) }, d)
	step("rename within", func() error { return os.Rename(d+"/f", d+"/g") }, d)
	step("rename across", func() error { return os.Rename(d+"/g", o+"/g") }, d, o)
	step("mkdir", func() error { return os.Mkdir(d+"/sub", 0o755) }, d)
	step("symlink", func() error { return os.Symlink("x", d+"/l") }, d)
	step("unlink", func() error { return os.Remove(d + "/l") }, d)
	step("rmdir", func() error { return syscall.Rmdir(d + "/sub") }, d)
	step("unlink last", func() error { return os.Remove(o + "/g") }, o)
	_ = prev
	want := timesOf(lstat(t, d))
	// Another mount on the same store, and a restart, report the same.
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	if got := timesOf(lstat(t, dir+"/b/d")); !got.eq(want) {
		t.Errorf("second mount: %v, first %v", got, want)
	}
	// A change through the first mount shows in the second.
	if err := os.WriteFile(d+"/h", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want = timesOf(lstat(t, d))
	poll(t, "second mount after a create", func() error {
		if got := timesOf(lstat(t, dir+"/b/d")); !got.eq(want) {
			return fmt.Errorf("%v, first mount %v", got, want)
		}
		return nil
	})
	// Directories without a marker.
	e.put(t, "implicit/x", "x")
	b, err := e.d.Layer().Bucket(context.Background(), e.org, "b")
	if err != nil {
		t.Fatal(err)
	}
	born := times{b.Created, b.Created, b.Created}
	for _, p := range []string{e.p("implicit"), e.bdir, dir + "/b/implicit", dir + "/b"} {
		if got := timesOf(lstat(t, p)); !got.eq(born) {
			t.Errorf("%s: %v, want the bucket's creation %v", p, got, born)
		}
	}
	e2 := reopen(t, e)
	if got := timesOf(lstat(t, e2.p("d"))); !got.eq(want) {
		t.Errorf("after restart: %v, before %v", got, want)
	}
	if got := timesOf(lstat(t, e2.p("implicit"))); !got.eq(born) {
		t.Errorf("implicit after restart: %v, want %v", got, born)
	}
}

// TestLinkCounts: a directory has 2 + subdirectories links, also when the
// subdirectories come from S3 keys; an open file that is unlinked has none.
func TestLinkCounts(t *testing.T) {
	e := newEnv(t)
	nlink := func(p string) uint64 { t.Helper(); return uint64(lstat(t, p).Nlink) }
	if err := os.MkdirAll(e.p("d/a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.p("d/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.p("d/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := nlink(e.p("d")); n != 4 {
		t.Fatalf("d with 2 subdirectories: nlink %d", n)
	}
	if n := nlink(e.p("d/a")); n != 2 {
		t.Fatalf("empty directory: nlink %d", n)
	}
	if n := nlink(e.p("d/f")); n != 1 {
		t.Fatalf("file: nlink %d", n)
	}
	if err := syscall.Rmdir(e.p("d/a")); err != nil {
		t.Fatal(err)
	}
	if n := nlink(e.p("d")); n != 3 {
		t.Fatalf("after rmdir: nlink %d", n)
	}
	if err := os.Rename(e.p("d/b"), e.p("b2")); err != nil {
		t.Fatal(err)
	}
	if n := nlink(e.p("d")); n != 2 {
		t.Fatalf("after moving the last subdirectory out: nlink %d", n)
	}
	// The bucket: d, b2; the root: one bucket.
	if n := nlink(e.bdir); n != 4 {
		t.Fatalf("bucket: nlink %d", n)
	}
	if n := nlink(e.mnt); n != 3 {
		t.Fatalf("root: nlink %d", n)
	}
	// Subdirectories made by S3 keys count, and another mount agrees.
	e.put(t, "d/s3/deep/x", "x")
	poll(t, "nlink after an S3 put", func() error {
		if n := nlink(e.p("d")); n != 3 {
			return fmt.Errorf("nlink %d", n)
		}
		return nil
	})
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	if n := nlink(dir + "/b/d"); n != 3 {
		t.Fatalf("second mount: nlink %d", n)
	}
	// Too many entries to count in a lookup: 1, "not counted".
	for i := range catalog.SubdirScan + 1 {
		e.put(t, fmt.Sprintf("big/f%05d", i), "")
	}
	e.put(t, "big/zz/x", "")
	if n := nlink(e.p("big")); n != 1 {
		t.Fatalf("large directory: nlink %d, want 1 (not counted)", n)
	}
	// An open file that is unlinked has no links left.
	f, err := os.Create(e.p("d/open"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	before := timesOf(lstat(t, e.p("d/open")))
	if err := os.Remove(e.p("d/open")); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink != 0 || st.Size != 4 || !tsTime(st.Ctim).After(before.c) {
		t.Fatalf("fstat of an unlinked open file: nlink %d size %d ctime %v (before %v)", st.Nlink, st.Size, tsTime(st.Ctim), before.c)
	}
	// Also when opened read-only, and for a directory removed while open.
	if err := os.WriteFile(e.p("d/ro"), []byte("r"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(e.p("d/ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Remove(e.p("d/ro")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fstat(int(r.Fd()), &st); err != nil || st.Nlink != 0 {
		t.Fatalf("fstat of an unlinked read-only file: nlink %d %v", st.Nlink, err)
	}
	if err := os.Mkdir(e.p("gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := os.Open(e.p("gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := syscall.Rmdir(e.p("gone")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fstat(int(g.Fd()), &st); err != nil || st.Nlink != 0 {
		t.Fatalf("fstat of a removed open directory: nlink %d %v", st.Nlink, err)
	}
}

// TestRenameFlags: renameat2 flags the mount cannot honour are refused and
// change nothing; RENAME_WHITEOUT used to be taken for a plain rename.
func TestRenameFlags(t *testing.T) {
	e := newEnv(t)
	e.put(t, "a", "A")
	e.put(t, "b", "B")
	for _, fl := range []uint{unix.RENAME_EXCHANGE, unix.RENAME_WHITEOUT} {
		if err := unix.Renameat2(unix.AT_FDCWD, e.p("a"), unix.AT_FDCWD, e.p("b"), fl); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("renameat2 flags %#x: %v, want EINVAL", fl, err)
		}
	}
	for k, want := range map[string]string{"a": "A", "b": "B"} {
		if b, err := os.ReadFile(e.p(k)); err != nil || string(b) != want {
			t.Errorf("%s after refused renames: %q %v", k, b, err)
		}
	}
}

// TestEmptiedDirectoryKeepsTimes: a directory that existed by its keys only
// gets a marker when the mount removes its last entry; from then on it has
// times of its own, which moved with that removal.
func TestEmptiedDirectoryKeepsTimes(t *testing.T) {
	e := newEnv(t)
	e.put(t, "implicit/only", "x")
	before := timesOf(lstat(t, e.p("implicit")))
	if err := os.Remove(e.p("implicit/only")); err != nil {
		t.Fatal(err)
	}
	after := timesOf(lstat(t, e.p("implicit")))
	if !after.m.After(before.m) || !after.c.After(before.c) {
		t.Fatalf("emptied directory: %v, before %v", after, before)
	}
	dir, _ := e.mountAgain(t, e.d.Layer(), fsmount.Options{})
	if got := timesOf(lstat(t, dir+"/b/implicit")); !got.eq(after) {
		t.Fatalf("second mount: %v, first %v", got, after)
	}
}

package fsmount_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func (e *env) put(t testing.TB, key, body string) {
	t.Helper()
	if _, err := e.d.Layer().Put(context.Background(), e.org, "b", key, strings.NewReader(body), objects.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) head(t testing.TB, key string) *catalog.Manifest {
	t.Helper()
	m, err := e.d.Layer().Head(context.Background(), e.org, "b", key)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return m
}

func (e *env) p(rel string) string { return filepath.Join(e.bdir, rel) }

// TestErrnos runs each operation through the mount with the os package and
// checks its result: nil or the errno.
func TestErrnos(t *testing.T) {
	e := newEnv(t)
	e.put(t, "file", "data")
	e.put(t, "dir/inner", "x")
	e.put(t, "empty/", "")
	e.put(t, "full/one", "1")
	cases := []struct {
		name string
		op   func() error
		want syscall.Errno
	}{
		{"open missing", func() error { _, err := os.Open(e.p("nope")); return err }, syscall.ENOENT},
		{"stat missing", func() error { _, err := os.Stat(e.p("dir/nope")); return err }, syscall.ENOENT},
		{"unlink missing", func() error { return os.Remove(e.p("nope")) }, syscall.ENOENT},
		{"unlink dir", func() error { return syscall.Unlink(e.p("dir")) }, syscall.EISDIR},
		{"rmdir file", func() error { return syscall.Rmdir(e.p("file")) }, syscall.ENOTDIR},
		{"rmdir non-empty", func() error { return syscall.Rmdir(e.p("full")) }, syscall.ENOTEMPTY},
		{"rmdir empty", func() error { return syscall.Rmdir(e.p("empty")) }, 0},
		{"mkdir exists", func() error { return os.Mkdir(e.p("dir"), 0o755) }, syscall.EEXIST},
		{"mkdir over file", func() error { return os.Mkdir(e.p("file"), 0o755) }, syscall.EEXIST},
		{"mkdir", func() error { return os.Mkdir(e.p("newdir"), 0o750) }, 0},
		{"create excl existing", func() error {
			_, err := os.OpenFile(e.p("file"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			return err
		}, syscall.EEXIST},
		{"open dir for write", func() error { _, err := os.OpenFile(e.p("dir"), os.O_WRONLY, 0); return err }, syscall.EISDIR},
		{"hard link", func() error { return os.Link(e.p("file"), e.p("file2")) }, syscall.EPERM},
		{"mknod fifo", func() error { return syscall.Mkfifo(e.p("fifo"), 0o644) }, syscall.EPERM},
		{"rename missing", func() error { return os.Rename(e.p("nope"), e.p("x")) }, syscall.ENOENT},
		{"rename dir onto non-empty dir", func() error { return syscall.Rename(e.p("newdir"), e.p("full")) }, syscall.ENOTEMPTY},
		{"rename file onto dir", func() error { return syscall.Rename(e.p("file"), e.p("dir")) }, syscall.EISDIR},
		{"rename dir onto file", func() error { return syscall.Rename(e.p("dir"), e.p("file")) }, syscall.ENOTDIR},
		{"rename dir into itself", func() error { return os.Rename(e.p("dir"), e.p("dir/sub")) }, syscall.EINVAL},
		{"rename across buckets", func() error {
			if err := os.Mkdir(filepath.Join(e.mnt, "other"), 0o755); err != nil {
				return err
			}
			return os.Rename(e.p("file"), filepath.Join(e.mnt, "other", "file"))
		}, syscall.EXDEV},
		{"noreplace onto existing", func() error {
			return unix.Renameat2(unix.AT_FDCWD, e.p("full/one"), unix.AT_FDCWD, e.p("file"), unix.RENAME_NOREPLACE)
		}, syscall.EEXIST},
		{"bucket: invalid name", func() error { return os.Mkdir(filepath.Join(e.mnt, "Bad_Name"), 0o755) }, syscall.EINVAL},
		{"bucket: name S3 reserves", func() error { return os.Mkdir(filepath.Join(e.mnt, "xn--abc"), 0o755) }, syscall.EINVAL},
		{"bucket: IP-shaped name", func() error { return os.Mkdir(filepath.Join(e.mnt, "10.0.00.1"), 0o755) }, syscall.EINVAL},
		{"bucket: rmdir non-empty", func() error { return syscall.Rmdir(e.bdir) }, syscall.ENOTEMPTY},
		{"bucket: create file at root", func() error { return os.WriteFile(filepath.Join(e.mnt, "f"), nil, 0o644) }, syscall.EPERM},
		{"bucket: mkdir and rmdir", func() error {
			if err := os.Mkdir(filepath.Join(e.mnt, "fresh"), 0o755); err != nil {
				return err
			}
			return syscall.Rmdir(filepath.Join(e.mnt, "fresh"))
		}, 0},
		{"xattr other namespace", func() error {
			return unix.Setxattr(e.p("file"), "trusted.x", []byte("v"), 0)
		}, syscall.EOPNOTSUPP},
		{"xattr reserved name", func() error { return unix.Setxattr(e.p("file"), "user.mode", []byte("1"), 0) }, syscall.EPERM},
		{"xattr missing", func() error { _, err := unix.Getxattr(e.p("file"), "user.none", nil); return err }, syscall.ENODATA},
		{"readlink of file", func() error { _, err := os.Readlink(e.p("file")); return err }, syscall.EINVAL},
	}
	for _, c := range cases {
		err := c.op()
		if got := errnoOf(err); got != c.want || (c.want == 0 && err != nil) {
			t.Errorf("%s: %v (errno %d), want errno %d (%v)", c.name, err, got, c.want, c.want)
		}
	}
}

func TestFileOperations(t *testing.T) {
	e := newEnv(t)
	p := e.p("d/f")
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// create + write + read back before and after close
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello "))
	if fi, err := os.Stat(p); err != nil || fi.Size() != 6 {
		t.Fatalf("stat of a file being written: %v %v", fi, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if m := e.head(t, "d/f"); m.Size != 6 {
		t.Fatalf("after fsync the object has %d bytes", m.Size)
	}
	f.Close()
	// append
	f, err = os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("world"))
	f.Close()
	if b, err := os.ReadFile(p); string(b) != "hello world" {
		t.Fatalf("after append %q %v", b, err)
	}
	// truncate shrink and grow
	if err := os.Truncate(p, 5); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 8); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello\x00\x00\x00" {
		t.Fatalf("after truncates %q", b)
	}
	// overwrite in the middle through O_RDWR
	f, _ = os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte("J"), 0)
	buf := make([]byte, 8)
	f.ReadAt(buf, 0)
	f.Close()
	if string(buf) != "Jello\x00\x00\x00" {
		t.Fatalf("read back in the same handle %q", buf)
	}
	// rename replacing a target
	os.WriteFile(e.p("d/g"), []byte("old target"), 0o644)
	if err := os.Rename(p, e.p("d/g")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(e.p("d/g")); string(b) != "Jello\x00\x00\x00" {
		t.Fatalf("renamed %q", b)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("old name after rename: %v", err)
	}
	// rename a directory with contents
	os.MkdirAll(e.p("d/sub/deep"), 0o755)
	os.WriteFile(e.p("d/sub/deep/x"), []byte("x"), 0o644)
	if err := os.Rename(e.p("d"), e.p("e")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(e.p("e/sub/deep/x")); err != nil || string(b) != "x" {
		t.Fatalf("after dir rename %q %v", b, err)
	}
	if _, err := os.Stat(e.p("d")); !os.IsNotExist(err) {
		t.Fatalf("old dir after rename: %v", err)
	}
	// unlink keeps the (now empty) directory
	if err := os.Remove(e.p("e/sub/deep/x")); err != nil {
		t.Fatalf("unlink the only file of a directory: %v", err)
	}
	if _, err := os.Stat(e.p("e/sub/deep/x")); !os.IsNotExist(err) {
		t.Fatalf("unlinked file: %v", err)
	}
	if fi, err := os.Stat(e.p("e/sub/deep")); err != nil || !fi.IsDir() {
		t.Fatalf("emptied directory vanished: %v", err)
	}
	// symlinks
	if err := os.Symlink("../target", e.p("e/link")); err != nil {
		t.Fatal(err)
	}
	if s, err := os.Readlink(e.p("e/link")); err != nil || s != "../target" {
		t.Fatalf("readlink %q %v", s, err)
	}
	if fi, err := os.Lstat(e.p("e/link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("lstat of symlink: %v %v", fi, err)
	}
	// statfs reports the data directory's capacity
	var st, want unix.Statfs_t
	if err := unix.Statfs(e.bdir, &st); err != nil {
		t.Fatal(err)
	}
	unix.Statfs(e.dataD, &want)
	if st.Blocks != want.Blocks || st.Bsize != want.Bsize {
		t.Fatalf("statfs %d×%d, data dir %d×%d", st.Blocks, st.Bsize, want.Blocks, want.Bsize)
	}
}

func TestAttributesPersist(t *testing.T) {
	e := newEnv(t)
	p := e.p("a")
	os.WriteFile(p, []byte("x"), 0o640)
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatalf("created mode %v", fi.Mode())
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	m := e.head(t, "a")
	if m.Meta["mode"] != fmt.Sprint(syscall.S_IFREG|0o600) || m.Meta["uid"] != "1234" || m.Meta["gid"] != "5678" ||
		m.Meta["mtime"] != "1577934245.000000600" {
		t.Fatalf("metadata %v", m.Meta)
	}
	fi, _ := os.Stat(p)
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mt) {
		t.Fatalf("stat %v uid %d gid %d mtime %v", fi.Mode(), st.Uid, st.Gid, fi.ModTime())
	}
	// Defaults for objects written over S3 (owner_test.go has the rest).
	e.put(t, "s3file", "y")
	e.put(t, "s3dir/z", "z")
	fi, _ = os.Stat(e.p("s3file"))
	if fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("S3 file %v", fi.Mode())
	}
	if mt := e.head(t, "s3file").ModTime; !fi.ModTime().Equal(mt) {
		t.Fatalf("S3 file mtime %v, object %v", fi.ModTime(), mt)
	}
	if fi, _ = os.Stat(e.p("s3dir")); fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Fatalf("S3 dir %v", fi.Mode())
	}
	// user xattrs are user metadata
	if err := unix.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	if m := e.head(t, "a"); m.Meta["color"] != "blue" {
		t.Fatalf("metadata after setxattr %v", m.Meta)
	}
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p, "user.color", buf)
	if err != nil || string(buf[:n]) != "blue" {
		t.Fatalf("getxattr %q %v", buf[:n], err)
	}
	n, _ = unix.Listxattr(p, buf)
	if string(buf[:n]) != "user.color\x00" {
		t.Fatalf("listxattr %q", buf[:n])
	}
	if err := unix.Removexattr(p, "user.color"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.head(t, "a").Meta["color"]; ok {
		t.Fatal("removexattr kept the metadata")
	}
}

// TestNames: keys S3 allows and POSIX does not are hidden; a directory
// wins over an object of the same name.
func TestNames(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("l", 300)
	for _, k := range []string{"a//b", "/lead", "x/./y", "x/../z", long, "ok", "f", "f/g", "n\x00ul"} {
		e.put(t, k, "v")
	}
	var names []string
	ents, err := os.ReadDir(e.bdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		names = append(names, fmt.Sprintf("%s:%v", de.Name(), de.IsDir()))
	}
	if want := []string{"a:true", "f:true", "ok:false", "x:true"}; !slices.Equal(names, want) {
		t.Fatalf("root listing %v, want %v", names, want)
	}
	if ents, _ := os.ReadDir(e.p("a")); len(ents) != 0 {
		t.Fatalf("a/ shows %v", ents)
	}
	if ents, _ := os.ReadDir(e.p("x")); len(ents) != 0 {
		t.Fatalf("x/ shows %v", ents)
	}
	if fi, err := os.Stat(e.p("f")); err != nil || !fi.IsDir() {
		t.Fatalf("f: %v %v", fi, err)
	}
	if b, err := os.ReadFile(e.p("f/g")); err != nil || string(b) != "v" {
		t.Fatalf("f/g %q %v", b, err)
	}
}

// TestLargeDirectoryStreams lists a directory of more entries than one
// catalog page, with a file shadowed by a directory across a page edge.
func TestLargeDirectoryStreams(t *testing.T) {
	e := newEnv(t)
	const n = 2500
	ctx := context.Background()
	for i := range n {
		key := fmt.Sprintf("big/%05d", i)
		if _, err := e.d.Layer().Put(ctx, e.org, "b", key, bytes.NewReader(nil), objects.PutOptions{Size: 0}); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(e.p("big"))
	if err != nil || len(ents) != n {
		t.Fatalf("%d entries, %v", len(ents), err)
	}
}

// TestCloseToOpen: a handle reads the version it opened; a new open sees
// the new one.
func TestCloseToOpen(t *testing.T) {
	e := newEnv(t)
	old := bytes.Repeat([]byte("o"), 3<<20)
	e.put(t, "v", string(old))
	f, err := os.Open(e.p("v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 1000)
	io.ReadFull(f, head)
	e.put(t, "v", "new content")
	rest, err := io.ReadAll(f)
	if err != nil || len(rest) != len(old)-1000 || rest[0] != 'o' {
		t.Fatalf("open handle after replace: %d bytes %v", len(rest), err)
	}
	if b, _ := os.ReadFile(e.p("v")); string(b) != "new content" {
		t.Fatalf("re-open sees %q", b[:min(len(b), 20)])
	}
	// and after delete
	f2, err := os.Open(e.p("v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if err := e.d.Layer().Delete(context.Background(), e.org, "b", "v"); err != nil {
		t.Fatalf("delete under an open handle: %v", err)
	}
	// The mount learns of a delete over the layer from the catalog feed.
	waitFor(t, "the deleted object gone from the mount", func() bool {
		_, err := os.Stat(e.p("v"))
		return os.IsNotExist(err)
	})
	if b, err := io.ReadAll(f2); err != nil || string(b) != "new content" {
		t.Fatalf("open handle after delete %q %v", b, err)
	}
}

// TestReferenceComparison runs one random sequence of writes, reads,
// truncates and renames in a plain directory and in the mount.
func TestReferenceComparison(t *testing.T) {
	e := newEnv(t)
	dirs := []string{t.TempDir(), e.bdir}
	r := rand.New(rand.NewPCG(11, 12))
	names := []string{"f0", "f1", "f2"}
	type op struct {
		kind     int
		a, b     int
		off, n   int64
		seed     uint64
		truncate int64
	}
	var ops []op
	for range 150 {
		ops = append(ops, op{kind: r.IntN(10), a: r.IntN(3), b: r.IntN(3),
			off: r.Int64N(6 << 20), n: r.Int64N(600 << 10), seed: r.Uint64(), truncate: r.Int64N(7 << 20)})
	}
	for _, d := range dirs {
		for _, nm := range names {
			if err := os.WriteFile(filepath.Join(d, nm), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		files := map[string]*os.File{}
		get := func(nm string) *os.File {
			if f := files[nm]; f != nil {
				return f
			}
			f, err := os.OpenFile(filepath.Join(d, nm), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			files[nm] = f
			return f
		}
		closeAll := func() {
			for nm, f := range files {
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				delete(files, nm)
			}
		}
		for i, o := range ops {
			nm := names[o.a]
			switch {
			case o.kind < 5:
				p := make([]byte, o.n)
				rr := rand.New(rand.NewPCG(o.seed, 0))
				for j := range p {
					p[j] = byte(rr.Uint32())
				}
				if _, err := get(nm).WriteAt(p, o.off); err != nil {
					t.Fatalf("%s op %d write: %v", d, i, err)
				}
			case o.kind < 7:
				if err := get(nm).Truncate(o.truncate); err != nil {
					t.Fatalf("op %d truncate: %v", i, err)
				}
			case o.kind < 8:
				closeAll()
				if o.a != o.b {
					if err := os.Rename(filepath.Join(d, nm), filepath.Join(d, names[o.b])); err != nil {
						t.Fatalf("op %d rename: %v", i, err)
					}
					os.WriteFile(filepath.Join(d, nm), []byte("re"), 0o644)
				}
			case o.kind < 9:
				closeAll()
			default:
				if err := get(nm).Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
		closeAll()
	}
	for _, nm := range names {
		a, err1 := os.ReadFile(filepath.Join(dirs[0], nm))
		b, err2 := os.ReadFile(filepath.Join(dirs[1], nm))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: reference %d bytes (%v), mount %d bytes (%v)", nm, len(a), err1, len(b), err2)
		}
		// and over S3 (the catalog) the same bytes
		o, err := e.d.Layer().Open(context.Background(), e.org, "b", nm)
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := o.NewReader(context.Background(), 0, -1)
		c, _ := io.ReadAll(rd)
		o.Close()
		if !bytes.Equal(a, c) {
			t.Errorf("%s: object differs from reference", nm)
		}
	}
}

// TestWritesSurviveSignals: the kernel interrupts a FUSE request when the
// calling thread gets a signal; a profiler sends SIGPROF a hundred times a
// second (and Go's preemption SIGURG). Writes and close must still succeed.
func TestWritesSurviveSignals(t *testing.T) {
	e := newEnv(t)
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		t.Skipf("profiler busy: %v", err)
	}
	defer pprof.StopCPUProfile()
	done := make(chan struct{})
	defer close(done)
	go func() { // keep every core busy so signals land on the writer too
		for {
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	writeFile(t, e.p("sig"), 48<<20)
	if fi, err := os.Stat(e.p("sig")); err != nil || fi.Size() != 48<<20 {
		t.Fatalf("after signals: %v %v", fi, err)
	}
}

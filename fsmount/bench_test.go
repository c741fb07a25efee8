package fsmount_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/fsmount"
)

// TestBenchFsmount measures the mount against ext4, tmpfs and the go-fuse
// floor (floor_test.go: a filesystem that stores nothing) in the same run
// and writes a Markdown table to $FSMOUNT_BENCH_OUT (default stdout).
// It measures, it does not assert. Run it alone, as root:
//
//	FSMOUNT_BENCH=1 go test ./fsmount -run TestBenchFsmount -v -timeout 15m
//
// FSMOUNT_BENCH_GIB sets the size of the RSS copy (default 2).
func TestBenchFsmount(t *testing.T) {
	if os.Getenv("FSMOUNT_BENCH") == "" {
		t.Skip("set FSMOUNT_BENCH=1 to run the benchmarks")
	}
	e := newEnv(t)
	var out strings.Builder
	rep := func(format string, a ...any) {
		fmt.Fprintf(&out, format+"\n", a...)
		t.Logf(format, a...)
	}
	// The mount under test goes through a counting wrapper; remount()
	// replaces it (cold caches: the kernel forgets every inode).
	c := &counting{Objects: e.d.Layer()}
	var srv *fsmount.Server
	var mdir string
	remount := func(plus bool) string {
		if srv != nil {
			if err := srv.Unmount(); err != nil {
				t.Fatal(err)
			}
		}
		mdir, srv = e.mountAgain(t, c, fsmount.Options{ReadDirPlus: plus})
		return filepath.Join(mdir, "b")
	}
	shm, err := os.MkdirTemp("/dev/shm", "fsbench")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	type target struct {
		name string
		dir  func() string // after dropping caches
	}
	ext4 := t.TempDir()
	floor := newFloor()
	floor.root.kids["b"] = &memEnt{mode: syscall.S_IFDIR | 0o755, kids: map[string]*memEnt{}}
	targets := []target{
		{"ext4", func() string { dropCaches(t); return ext4 }},
		{"tmpfs", func() string { return shm }},
		// A fresh mount of the floor filesystem: the kernel knows no inode.
		{"floor", func() string { dropCaches(t); return filepath.Join(mountFloor(t, floor), "b") }},
		{"excloud", func() string { dropCaches(t); return remount(false) }},
	}
	remount(false)

	rep("| measure | ext4 | tmpfs | go-fuse floor | excloud mount | mount / ext4 | mount / floor |")
	rep("|---|---|---|---|---|---|---|")
	row := func(name string, unit string, f func(tg target) float64) {
		var v [4]float64
		for i, tg := range targets {
			v[i] = f(tg)
		}
		rep("| %s | %.1f %s | %.1f %s | %.1f %s | %.1f %s | %.0f %% | %.0f %% |", name,
			v[0], unit, v[1], unit, v[2], unit, v[3], unit, 100*v[3]/v[0], 100*v[3]/v[2])
	}

	// FSMOUNT_BENCH_META=1 runs only the metadata rows and the untar, for
	// quick comparisons while working on them.
	metaOnly := os.Getenv("FSMOUNT_BENCH_META") != ""
	const size = 1 << 30
	if !metaOnly {
		row("sequential write 1 GiB + fsync", "MiB/s", func(tg target) float64 {
			d := tg.dir()
			return float64(size>>20) / timeIt(func() { writeFile(t, filepath.Join(d, "seq"), size) }).Seconds()
		})
		row("cold sequential read 1 GiB", "MiB/s", func(tg target) float64 {
			d := tg.dir()
			return float64(size>>20) / timeIt(func() { readFile(t, filepath.Join(d, "seq")) }).Seconds()
		})
		for _, tg := range targets {
			os.Remove(filepath.Join(tg.dir(), "seq"))
		}
	}

	const nFiles = 5000
	page := make([]byte, 4096)
	row("create 5000 × 4 KiB files", "files/s", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "many")
		os.Mkdir(d, 0o755)
		return nFiles / timeIt(func() {
			for i := range nFiles {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), page, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}).Seconds()
	})
	row("cold stat of 5000 files", "stats/s", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "many")
		return nFiles / timeIt(func() {
			for i := range nFiles {
				if _, err := os.Stat(filepath.Join(d, fmt.Sprintf("f%05d", i))); err != nil {
					t.Fatal(err)
				}
			}
		}).Seconds()
	})
	row("cold ls -l of 5000 files", "ms", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "many")
		return float64(timeIt(func() { lsLong(t, d) }).Microseconds()) / 1000
	})
	row("rename 5000 files", "renames/s", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "many")
		return nFiles / timeIt(func() {
			for i := range nFiles {
				if err := os.Rename(filepath.Join(d, fmt.Sprintf("f%05d", i)), filepath.Join(d, fmt.Sprintf("g%05d", i))); err != nil {
					t.Fatal(err)
				}
			}
		}).Seconds()
	})
	row("unlink 5000 files", "unlinks/s", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "many")
		return nFiles / timeIt(func() {
			for i := range nFiles {
				if err := os.Remove(filepath.Join(d, fmt.Sprintf("g%05d", i))); err != nil {
					t.Fatal(err)
				}
			}
		}).Seconds()
	})

	tarball := filepath.Join(t.TempDir(), "gosrc.tar")
	if out, err := exec.Command("tar", "cf", tarball, "-C", runtime.GOROOT(), "src").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	row("untar "+runtime.GOROOT()+"/src (12.8 k entries)", "s", func(tg target) float64 {
		d := filepath.Join(tg.dir(), "untar")
		os.Mkdir(d, 0o755)
		return timeIt(func() {
			if out, err := exec.Command("tar", "xf", tarball, "-C", d).CombinedOutput(); err != nil {
				t.Fatalf("untar: %v %s", err, out)
			}
		}).Seconds()
	})

	if metaOnly {
		fmt.Print(out.String())
		return
	}

	// ls -l of 10 000 entries: catalog calls and time, READDIRPLUS off/on.
	const nLs = 10000
	for i := range nLs {
		e.put(t, fmt.Sprintf("ten/f%05d", i), "x")
	}
	rep("")
	rep("| cold `ls -l` of 10 000 entries | time | catalog listings | catalog lookups |")
	rep("|---|---|---|---|")
	for _, plus := range []bool{false, true} {
		d := remount(plus)
		dropCaches(t)
		os.Stat(filepath.Join(d, "ten"))
		l0, h0 := c.lists.Load(), c.heads.Load()
		el := timeIt(func() { lsLong(t, filepath.Join(d, "ten")) })
		rep("| READDIRPLUS %v | %d ms | %d | %d |", map[bool]string{false: "auto", true: "on"}[plus], el.Milliseconds(),
			c.lists.Load()-l0, c.heads.Load()-h0)
	}
	for _, plus := range []bool{false, true} {
		d := remount(plus)
		dropCaches(t)
		el := timeIt(func() {
			if out, err := exec.Command("ls", "-f", filepath.Join(d, "ten")).CombinedOutput(); err != nil {
				t.Fatalf("ls -f: %v %s", err, out)
			}
		})
		rep("| `ls -f` (no stat), READDIRPLUS %v | %d ms | | |", map[bool]string{false: "auto", true: "on"}[plus], el.Milliseconds())
	}

	// RSS of the daemon (this process) while cp copies a large file in.
	gib := 2
	if v, err := strconv.Atoi(os.Getenv("FSMOUNT_BENCH_GIB")); err == nil && v > 0 {
		gib = v
	}
	d := remount(false)
	src := filepath.Join(ext4, "big")
	writeFile(t, src, int64(gib)<<30)
	debug.FreeOSMemory() // what earlier phases left in the heap is not the copy's
	before := rss(t)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if r := rss(t); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	el := timeIt(func() {
		if out, err := exec.Command("cp", src, filepath.Join(d, "big")).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	})
	close(stop)
	os.Remove(src)
	rep("")
	rep("cp of a %d GiB file into the mount: %.1f s (%.0f MiB/s); daemon RSS %d MiB before, peak %d MiB during.",
		gib, el.Seconds(), float64(gib<<10)/el.Seconds(), before>>20, peak.Load()>>20)

	if p := os.Getenv("FSMOUNT_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(out.String()), 0o644)
	} else {
		fmt.Print(out.String())
	}
}

func timeIt(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

func dropCaches(t testing.TB) {
	exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		t.Logf("drop caches: %v", err)
	}
}

// writeFile writes size bytes in 1 MiB writes and fsyncs. Every 4 KiB
// carries its offset, so no chunk deduplicates against another.
func writeFile(t testing.TB, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		for p := 0; p < len(buf); p += 4096 {
			copy(buf[p:], strconv.FormatInt(off+int64(p), 16))
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
}

func lsLong(t testing.TB, dir string) {
	if out, err := exec.Command("ls", "-l", dir).CombinedOutput(); err != nil {
		t.Fatalf("ls -l: %v %s", err, out)
	}
}

func rss(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var _ = context.Background

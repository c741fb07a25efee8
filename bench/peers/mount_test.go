package peers

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// fsTarget is a directory to run the mount workloads in.
type fsTarget struct {
	name    string
	dir     string
	metrics string // excd's metrics address: the FUSE requests of each step are logged
}

// mountRows runs the mount workloads on excd's FUSE mount, a JuiceFS mount
// and a plain directory on the disk that holds both stores (ext4), each
// workload on the three targets in turn, round after round.
func mountRows(b *testing.B, jfsBin string, rounds int) []*Row {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		b.Fatal("the mount rows need root (FUSE, and dropping the page cache) and /dev/fuse")
	}
	jdir, jmnt := b.TempDir(), b.TempDir()
	startJuiceFS(b, jfsBin, jdir, jmnt)
	excdDir, excdMetrics := startExcdMount(b, b.TempDir(), b.TempDir())
	targets := []fsTarget{
		{"excd", excdDir, excdMetrics},
		{"JuiceFS", jmnt, ""},
		{"ext4", b.TempDir(), ""},
	}

	nFiles := sized(5000, 50)
	seqSize := int64(sized(1024, 8)) << 20
	nRand := sized(2000, 20)
	// The Go source tree, tarred once (12.8 k entries with go1.26); under
	// -short its cmd/go/internal/work alone.
	srcDir, srcSub := runtime.GOROOT(), "src"
	if testing.Short() {
		srcDir, srcSub = filepath.Join(runtime.GOROOT(), "src", "cmd", "go", "internal"), "work"
	}
	tarball := filepath.Join(b.TempDir(), "src.tar")
	if out, err := exec.Command("tar", "cf", tarball, "-C", srcDir, srcSub).CombinedOutput(); err != nil {
		b.Fatalf("tar: %v %s", err, out)
	}
	nEntries := countEntries(b, tarball)

	rate := func(n int, f func()) float64 { return float64(n) / timeIt(f).Seconds() }
	secs := func(f func()) float64 { return timeIt(f).Seconds() }
	page := make([]byte, 4096)
	name := func(prefix string, i int) string { return fmt.Sprintf("%s%05d", prefix, i) }
	// Each step runs on every target before the next step; a round's files
	// live in their own directory.
	type step struct {
		row  *Row
		run  func(dir string) float64
		warm func(dir string) // untimed, before run (nil: none)
	}
	lsRow := &Row{Name: fmt.Sprintf("mount: `ls -l` of %d entries after a cache drop", nFiles), Unit: "entries/s", Goal: 1}
	statRow := &Row{Name: fmt.Sprintf("mount: cold stat of %d files", nFiles), Unit: "stats/s", Goal: 1}
	renameRow := &Row{Name: "mount: rename", Unit: "renames/s", Goal: 1}
	unlinkRow := &Row{Name: "mount: unlink of 4 KiB files", Unit: "unlinks/s", Goal: 1}
	entries := strconv.Itoa(nEntries)
	if nEntries >= 1000 {
		entries = human(float64(nEntries))
	}
	untarRow := &Row{Name: fmt.Sprintf("mount: untar of the Go source tree (%s entries)", entries), Unit: "s", Lower: true, Goal: 1}
	duRow := &Row{Name: "mount: `du -s` of that tree, cold", Unit: "s", Lower: true, Goal: 1}
	findRow := &Row{Name: "mount: `find` of that tree, warm", Unit: "s", Lower: true, Goal: 1}
	rmRow := &Row{Name: "mount: `rm -rf` of that tree", Unit: "entries/s", Goal: 1}
	seqWRow := &Row{Name: fmt.Sprintf("mount: sequential write %d MiB + fsync", seqSize>>20), Unit: "MiB/s", Goal: 1}
	seqRRow := &Row{Name: "mount: sequential read, cold", Unit: "MiB/s", Goal: 1}
	randRow := &Row{Name: fmt.Sprintf("mount: 4 KiB random read, cold (%d reads)", nRand), Unit: "IOPS", Goal: 1}
	createRow := &Row{Name: fmt.Sprintf("mount: create of %d × 4 KiB files", nFiles), Unit: "files/s", Goal: 1.5}
	steps := []step{
		{row: createRow, run: func(d string) float64 {
			must(b, os.MkdirAll(filepath.Join(d, "many"), 0o755))
			return rate(nFiles, func() {
				for i := range nFiles {
					must(b, os.WriteFile(filepath.Join(d, "many", name("f", i)), page, 0o644))
				}
			})
		}},
		{row: statRow, run: func(d string) float64 {
			dropCaches(b)
			return rate(nFiles, func() {
				for i := range nFiles {
					_, err := os.Stat(filepath.Join(d, "many", name("f", i)))
					must(b, err)
				}
			})
		}},
		{row: lsRow, run: func(d string) float64 {
			dropCaches(b)
			return rate(nFiles, func() { run(b, "ls", "-l", filepath.Join(d, "many")) })
		}},
		{row: renameRow, run: func(d string) float64 {
			return rate(nFiles, func() {
				for i := range nFiles {
					must(b, os.Rename(filepath.Join(d, "many", name("f", i)), filepath.Join(d, "many", name("g", i))))
				}
			})
		}},
		{row: unlinkRow, run: func(d string) float64 {
			return rate(nFiles, func() {
				for i := range nFiles {
					must(b, os.Remove(filepath.Join(d, "many", name("g", i))))
				}
			})
		}},
		{row: untarRow, run: func(d string) float64 {
			must(b, os.MkdirAll(filepath.Join(d, "tree"), 0o755))
			return secs(func() { run(b, "tar", "xf", tarball, "-C", filepath.Join(d, "tree")) })
		}},
		{row: duRow, run: func(d string) float64 {
			dropCaches(b)
			return secs(func() { run(b, "du", "-s", filepath.Join(d, "tree")) })
		}},
		{row: findRow, run: func(d string) float64 {
			return secs(func() { run(b, "find", filepath.Join(d, "tree")) })
		}, warm: func(d string) {
			// Warm: the du step of the targets after this one dropped the
			// caches since this target's du.
			run(b, "find", filepath.Join(d, "tree"))
		}},
		{row: rmRow, run: func(d string) float64 {
			return rate(nEntries, func() { run(b, "rm", "-rf", filepath.Join(d, "tree")) })
		}},
		{row: seqWRow, run: func(d string) float64 {
			return float64(seqSize>>20) / secs(func() { writeFile(b, filepath.Join(d, "seq"), seqSize) })
		}},
		{row: seqRRow, run: func(d string) float64 {
			dropCaches(b)
			return float64(seqSize>>20) / secs(func() { readFile(b, filepath.Join(d, "seq")) })
		}},
		{row: randRow, run: func(d string) float64 {
			dropCaches(b)
			v := rate(nRand, func() { randomReads(b, filepath.Join(d, "seq"), seqSize, nRand) })
			must(b, os.Remove(filepath.Join(d, "seq")))
			return v
		}},
	}
	for r := range rounds {
		for _, s := range steps {
			for _, tg := range targets {
				d := filepath.Join(tg.dir, "r"+strconv.Itoa(r))
				must(b, os.MkdirAll(d, 0o755))
				if s.warm != nil {
					s.warm(d)
				}
				var before map[string]float64
				if tg.metrics != "" {
					before = fuseRequests(tg.metrics)
				}
				s.row.Add(tg.name, s.run(d))
				if before != nil {
					b.Logf("%s, %s FUSE requests: %s", s.row.Name, tg.name, requestsSince(before, fuseRequests(tg.metrics)))
				}
			}
		}
		b.Logf("mount round %d done, load %s", r+1, loadavg())
	}
	return []*Row{lsRow, statRow, renameRow, unlinkRow, untarRow, duRow, findRow, rmRow, seqRRow, randRow, seqWRow, createRow}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// run runs a command, its output discarded unless it fails.
func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
}

// countEntries is the number of entries in a tar file: what rm -rf
// removes.
func countEntries(tb testing.TB, tarball string) int {
	out, err := exec.Command("tar", "tf", tarball).Output()
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Count(out, []byte("\n"))
}

// dropCaches writes back dirty pages and drops the page cache, dentries
// and inodes, so the next step starts cold on every target (the kernel
// forgets FUSE inodes too, and asks the daemon again).
func dropCaches(tb testing.TB) {
	tb.Helper()
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		tb.Fatalf("drop caches: %v", err)
	}
}

// writeFile writes size bytes in 1 MiB writes and fsyncs. Every 4 KiB
// carries its offset, so no block deduplicates against another.
func writeFile(tb testing.TB, path string, size int64) {
	f, err := os.Create(path)
	must(tb, err)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		for p := 0; p < len(buf); p += 4096 {
			copy(buf[p:], strconv.FormatInt(off+int64(p), 16))
		}
		_, err := f.Write(buf)
		must(tb, err)
	}
	must(tb, f.Sync())
	must(tb, f.Close())
}

func readFile(tb testing.TB, path string) {
	f, err := os.Open(path)
	must(tb, err)
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	must(tb, err)
}

// randomReads reads n 4 KiB blocks at random aligned offsets, one after
// the other; the seed is fixed, so every target reads the same blocks.
func randomReads(tb testing.TB, path string, size int64, n int) {
	f, err := os.Open(path)
	must(tb, err)
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for range n {
		off := rng.Int64N(size/4096) * 4096
		if _, err := f.ReadAt(buf, off); err != nil {
			tb.Fatal(err)
		}
	}
}

package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/internal/excdtest"
)

// BenchmarkFUSECopyRSS: cp of a large file (BENCH_FUSE_GIB, default 10;
// 16 MiB under -short) from the local disk into a mount of a standalone
// excd, sampling the daemon's resident set every 50 ms. Needs root and
// /dev/fuse, and twice the file's size free on disk.
func BenchmarkFUSECopyRSS(b *testing.B) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		b.Skip("needs root and /dev/fuse")
	}
	size := int64(10) << 30
	if v, err := strconv.ParseInt(os.Getenv("BENCH_FUSE_GIB"), 10, 64); err == nil && v > 0 {
		size = v << 30
	}
	if testing.Short() {
		size = 16 << 20
	}
	src := filepath.Join(b.TempDir(), "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.ReadFrom(newGen(7, size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	mnt := b.TempDir()
	d := &daemon{excdtest.Start(b, excdtest.Options{DataDir: b.TempDir(), Mount: mnt})}
	mustBucket(b, d.client(), "copy")
	// The mount serves the bucket as soon as the feed announces it.
	dst := filepath.Join(mnt, "copy")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("bucket not visible in the mount a minute after it was made")
		}
	}
	before := d.rss()
	b.SetBytes(size)
	for b.Loop() {
		stop := make(chan struct{})
		peak := make(chan int64)
		go func() {
			var p int64
			for {
				select {
				case <-stop:
					peak <- p
					return
				case <-time.After(50 * time.Millisecond):
					p = max(p, d.rss())
				}
			}
		}()
		if out, err := exec.Command("cp", src, filepath.Join(dst, "big")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		close(stop)
		b.ReportMetric(float64(before)/(1<<20), "RSS-before-MiB")
		b.ReportMetric(float64(<-peak)/(1<<20), "RSS-peak-MiB")
		b.ReportMetric(float64(d.peakRSS())/(1<<20), "VmHWM-MiB")
	}
	fmt.Fprintf(os.Stderr, "cp of %.3f GiB into the mount\n", float64(size)/(1<<30))
}

// BenchmarkFUSEMeta: the mount's metadata path, per operation, on a
// standalone excd (child process, its own data directory), as the
// side-by-side comparison with JuiceFS runs it. Each iteration works in a
// new directory of the mount: create 5000 files of 4 KiB, drop the kernel's
// caches (`echo 3 > /proc/sys/vm/drop_caches`, which also makes the kernel
// forget the mount's inodes), stat each by name, drop caches, `ls -l` the
// directory, rename every file within it, unlink every file. Each phase is
// reported as a rate. Run with -benchtime=1x -count=N; needs root and
// /dev/fuse. BENCH_FUSE_FILES changes the 5000.
func BenchmarkFUSEMeta(b *testing.B) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		b.Skip("needs root and /dev/fuse")
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("BENCH_FUSE_FILES")); err == nil && v > 0 {
		n = v
	}
	mnt := b.TempDir()
	d := &daemon{excdtest.Start(b, excdtest.Options{DataDir: b.TempDir(), Mount: mnt, Metrics: true})}
	mustBucket(b, d.client(), "meta")
	bucket := waitMounted(b, mnt, "meta")
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("loadavg before: %s", strings.TrimSpace(string(la)))
	}
	page := make([]byte, 4096)
	name := func(p string, i int) string { return fmt.Sprintf("%s%05d", p, i) }
	round := 0
	rate := func(k int, el time.Duration) float64 { return float64(k) / el.Seconds() }
	// The FUSE requests a phase cost per file, by kind, from the daemon's
	// metrics: they do not depend on the machine's load as times do.
	var ops map[string]float64
	perFile := func(phase string, kinds ...string) {
		now := fuseOps(b, d.Metrics)
		for _, k := range kinds {
			b.ReportMetric((now[k]-ops[k])/float64(n), phase+"-"+k+"/file")
		}
		ops = now
	}
	for b.Loop() {
		round++
		dir := filepath.Join(bucket, fmt.Sprintf("r%d", round))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		el := timed(func() {
			for i := range n {
				if err := os.WriteFile(filepath.Join(dir, name("f", i)), page, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(rate(n, el), "creates/s")
		dropKernelCaches(b)
		ops = fuseOps(b, d.Metrics)
		el = timed(func() {
			for i := range n {
				if _, err := os.Stat(filepath.Join(dir, name("f", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(rate(n, el), "cold-stats/s")
		perFile("stat", "lookup", "getattr")
		dropKernelCaches(b)
		ops = fuseOps(b, d.Metrics)
		el = timed(func() {
			if out, err := exec.Command("ls", "-l", dir).CombinedOutput(); err != nil {
				b.Fatalf("ls -l: %v %s", err, out)
			}
		})
		b.ReportMetric(rate(n, el), "ls-l-entries/s")
		perFile("ls", "lookup", "getattr", "getxattr")
		el = timed(func() {
			for i := range n {
				if err := os.Rename(filepath.Join(dir, name("f", i)), filepath.Join(dir, name("g", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(rate(n, el), "renames/s")
		perFile("rename", "lookup")
		el = timed(func() {
			for i := range n {
				if err := os.Remove(filepath.Join(dir, name("g", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(rate(n, el), "unlinks/s")
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("loadavg after: %s", strings.TrimSpace(string(la)))
	}
}

// waitMounted waits for bucket to show in the mount at mnt (the mount
// serves a bucket as soon as the feed announces it) and returns its path.
func waitMounted(tb testing.TB, mnt, bucket string) string {
	tb.Helper()
	dst := filepath.Join(mnt, bucket)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
			return dst
		}
		if time.Now().After(deadline) {
			tb.Fatalf("bucket %s not visible in the mount a minute after it was made", bucket)
		}
	}
}

func timed(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

// dropKernelCaches writes back dirty pages and drops the page, dentry and
// inode caches, so the kernel asks the mount again for every name.
func dropKernelCaches(tb testing.TB) {
	exec.Command("sync").Run()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		tb.Fatalf("drop caches: %v", err)
	}
}

// fuseOps reads excd_fuse_operations_total by operation from the daemon's
// /metrics.
func fuseOps(tb testing.TB, metrics string) map[string]float64 {
	tb.Helper()
	resp, err := http.Get(metrics + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	ops := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `excd_fuse_operations_total{op="`)
		if !ok {
			continue
		}
		op, v, _ := strings.Cut(rest, `"} `)
		f, _ := strconv.ParseFloat(v, 64)
		ops[op] = f
	}
	return ops
}

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

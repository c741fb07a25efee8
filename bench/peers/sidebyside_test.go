package peers

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"hash"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSideBySide runs every row of the side-by-side table
// and prints it as Markdown, with the machine's load and single-core limits
// from the same run; SIDEBYSIDE_OUT also receives it. The mount rows need
// JUICEFS_BIN, the S3 rows VGW_BIN; SIDEBYSIDE_ROUNDS sets the rounds
// (default 3). Under -short every size is tiny: a check that it runs, not
// figures.
func BenchmarkSideBySide(b *testing.B) {
	jfs, vgw := os.Getenv("JUICEFS_BIN"), os.Getenv("VGW_BIN")
	if jfs == "" && vgw == "" {
		b.Skip("set JUICEFS_BIN and/or VGW_BIN to the peers' binaries (docs/benchmarks.md, \"Side by side with the peers\", says how to build them)")
	}
	// The S3 clients take no CA bundle: the endpoints are plain http.
	os.Unsetenv("AWS_CA_BUNDLE")
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("SIDEBYSIDE_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	start := time.Now()
	var head strings.Builder
	fmt.Fprintf(&head, "Run %s, %d rounds, excd %s, %s, nproc %d.\n", start.UTC().Format("2006-01-02 15:04 MST"),
		rounds, excdRevision(), runtime.Version(), runtime.NumCPU())
	if jfs != "" {
		fmt.Fprintf(&head, "JuiceFS: %s.\n", version(jfs, "version"))
	}
	if vgw != "" {
		fmt.Fprintf(&head, "versitygw: %s.\n", version(vgw, "--version"))
	}
	fmt.Fprintf(&head, "Single-core limits: %s.\n", limits())
	loads := []string{"start " + loadavg()}

	var rows []*Row
	if jfs == "" {
		b.Log("JUICEFS_BIN unset: no mount rows")
	} else {
		b.Run("mount", func(b *testing.B) {
			rows = append(rows, mountRows(b, jfs, rounds)...)
			loads = append(loads, "after the mount rows "+loadavg())
		})
	}
	if vgw == "" {
		b.Log("VGW_BIN unset: no S3 rows")
	} else {
		b.Run("s3", func(b *testing.B) {
			rows = append(rows, s3Rows(b, vgw, rounds)...)
			loads = append(loads, "after the S3 rows "+loadavg())
		})
	}
	var out strings.Builder
	out.WriteString(head.String())
	fmt.Fprintf(&out, "Load average (1/5/15 min): %s. Took %s.\n\n", strings.Join(loads, "; "),
		time.Since(start).Round(time.Second))
	WriteTable(&out, rows)
	if len(serverCPU) > 0 {
		out.WriteString("\nServer CPU (user + system) per unit of work:\n\n")
		for _, l := range serverCPU {
			out.WriteString("- " + l + "\n")
		}
	}
	fmt.Print("\n" + out.String())
	if p := os.Getenv("SIDEBYSIDE_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(out.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// limits measures the single-core figures bench/limits_test.go reports
// (AES-256-GCM seal of 64 KiB, SHA-256, MD5), a quarter second each, so the
// table carries the state of the machine it ran on: per wall-clock second
// (what the run got) and per second of the thread's CPU (what a core does).
func limits() string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	blk, _ := aes.NewCipher(make([]byte, 32))
	a, _ := cipher.NewGCM(blk)
	seg := make([]byte, 64<<10)
	out := make([]byte, 0, len(seg)+16)
	nonce := make([]byte, 12)
	rate := func(f func() int) string {
		n, t0, c0 := 0, time.Now(), threadCPU()
		for time.Since(t0) < 250*time.Millisecond {
			n += f()
		}
		wall, cpu := time.Since(t0).Seconds(), (threadCPU() - c0).Seconds()
		return fmt.Sprintf("%.0f MB/s (%.0f per CPU-second)", float64(n)/wall/1e6, float64(n)/max(cpu, 1e-3)/1e6)
	}
	hashRate := func(h hash.Hash) string {
		buf := make([]byte, 1<<20)
		return rate(func() int { h.Write(buf); return len(buf) })
	}
	return fmt.Sprintf("AES-256-GCM seal %s, SHA-256 %s, MD5 %s",
		rate(func() int { a.Seal(out[:0], nonce, seg, nil); return len(seg) }),
		hashRate(sha256.New()), hashRate(md5.New()))
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func timeIt(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

func sized(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

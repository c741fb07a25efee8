package fsmount_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
)

// TestBenchLsMillion times `ls -f` (names only) of a directory of
// FSMOUNT_MILLION entries (default 1 000 000) with READDIRPLUS off and on,
// from a fresh mount each time, and the daemon's (this process's) RSS
// growth while listing. It measures, it does not assert. As root:
//
//	FSMOUNT_BENCH=1 go test ./fsmount -run TestBenchLsMillion -v -timeout 30m
//
// The entries are committed straight to the catalog (empty objects, no
// mount subscribed), about a minute for a million.
func TestBenchLsMillion(t *testing.T) {
	if os.Getenv("FSMOUNT_BENCH") == "" {
		t.Skip("set FSMOUNT_BENCH=1 to run the benchmarks")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("FSMOUNT_MILLION")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(t)
	if err := e.srv.Unmount(); err != nil { // no invalidations while filling
		t.Fatal(err)
	}
	ctx := catalog.WithoutSync(context.Background())
	db := e.d.Catalog()
	b, err := db.Bucket(ctx, e.org, "b")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	const writers = 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				m := &catalog.Manifest{ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, ModTime: t0}
				if _, err := db.PutObject(ctx, b, fmt.Sprintf("million/f%07d", i), m, catalog.Condition{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := db.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries committed in %v", n, time.Since(t0).Round(time.Millisecond))

	for _, tc := range []struct {
		args []string
		plus bool
	}{{[]string{"-f"}, false}, {[]string{"-f"}, true}} {
		mnt, srv := e.mountAgain(t, e.d.Layer(), fsmount.Options{ReadDirPlus: tc.plus})
		dir := filepath.Join(mnt, "b", "million")
		dropCaches(t)
		before := rss(t)
		var peak int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					peak = max(peak, rss(t))
				}
			}
		}()
		cmd := exec.Command("ls", append(tc.args, dir)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines, buf := 0, make([]byte, 1<<20)
		for {
			k, err := out.Read(buf)
			lines += strings.Count(string(buf[:k]), "\n")
			if err != nil {
				break
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ls %v: %v", tc.args, err)
		}
		el := time.Since(start)
		close(stop)
		<-done
		t.Logf("ls %s of %d entries, READDIRPLUS %v: %.2f s (%d lines); daemon RSS %d MiB before, +%d MiB peak",
			strings.Join(tc.args, " "), n, tc.plus, el.Seconds(), lines, before>>20, (peak-before)>>20)
		if err := srv.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
}

package badgerkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

const (
	gcValues  = 400
	gcValSize = 64 << 10
)

func gcKey(i int) []byte { return fmt.Appendf(nil, "B%04d", i) }

// gcValue is value i: distinct bytes, so a value read from the wrong place
// shows.
func gcValue(i int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "%07d|", i), gcValSize/8)
}

func gcLive(i int) bool { return i%10 == 0 }

func openGC(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := Open(Options{Dir: dir, EncryptionKey: bytes.Repeat([]byte{3}, 32), MemTableSize: 1 << 20,
		SyncWrites: true, ValueLogGCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func vlogBytes(t testing.TB, dir string) (n int64, files []string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	for _, f := range logs {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// Allocated blocks, not the preallocated length.
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		files = append(files, filepath.Base(f))
	}
	return n, files
}

// fillAndDelete writes gcValues values of 64 KiB (they go to the value
// log), deletes nine in ten, and reopens the engine so a flush and a
// compaction tell Badger which log files are dead.
func fillAndDelete(t testing.TB, dir string) *Engine {
	t.Helper()
	ctx := context.Background()
	e := openGC(t, dir)
	for i := 0; i < gcValues; i += 10 {
		err := e.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
			for j := i; j < i+10; j++ {
				if err := txn.Set(gcKey(j), gcValue(j)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := e.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
		for i := range gcValues {
			if !gcLive(i) {
				if err := txn.Delete(gcKey(i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each close flushes the memtable into a level 0 table; enough of
	// them make Flatten compact level 0, which drops the deleted values'
	// pointers and counts their bytes dead.
	for i := range 6 {
		if err := e.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
			return txn.Set(fmt.Appendf(nil, "pad%d", i), []byte("x"))
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = openGC(t, dir)
	}
	if err := e.DB().Flatten(1); err != nil {
		t.Fatal(err)
	}
	return e
}

func checkLive(t testing.TB, e *Engine) {
	t.Helper()
	err := e.View(context.Background(), func(r kv.Reader) error {
		for i := range gcValues {
			v, err := r.Get(gcKey(i))
			switch {
			case gcLive(i) && err != nil:
				return fmt.Errorf("live value %d: %w", i, err)
			case gcLive(i) && !bytes.Equal(v, gcValue(i)):
				return fmt.Errorf("live value %d differs", i)
			case !gcLive(i) && !errors.Is(err, kv.ErrNotFound):
				return fmt.Errorf("deleted value %d: %v", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestValueLogGC: after most values are deleted, GCValueLog rewrites the
// dead log files, so the value log's disk use shrinks, every live value
// still reads back byte-exact (also after reopening), and a rewritten
// file is deleted only after the sync that makes its moved values durable.
func TestValueLogGC(t *testing.T) {
	dir := t.TempDir()
	e := fillAndDelete(t, dir)
	before, _ := vlogBytes(t, dir)
	var files []string
	var rewrites int
	e.beforeRewrite = func() { _, files = vlogBytes(t, dir) }
	e.afterRewrite = func(err error) {
		if err != nil {
			return
		}
		rewrites++
		// The rewrite is done but not yet synced: Badger must still
		// hold every file that was there before.
		_, now := vlogBytes(t, dir)
		for _, f := range files {
			if !strings.Contains(strings.Join(now, " "), f) {
				t.Errorf("%s deleted before the sync of its rewritten values", f)
			}
		}
	}
	// Badger learns which bytes died from the compaction asynchronously
	// (its discard stats travel through a channel to a flusher): until
	// they arrive, a GC finds no file worth rewriting. Poll for them; the
	// bound is for a hang, not a speed.
	var n int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if n, err = e.GCValueLog(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n > 0 || time.Now().After(deadline) {
			break
		}
	}
	after, _ := vlogBytes(t, dir)
	t.Logf("value log: %d files rewritten, %d KiB before, %d KiB after", n, before>>10, after>>10)
	if n == 0 || rewrites != n {
		t.Fatalf("%d files rewritten (%d rewrites seen); want some", n, rewrites)
	}
	if after >= before*3/4 {
		t.Errorf("value log %d bytes after GC, %d before: did not shrink", after, before)
	}
	checkLive(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openGC(t, dir)
	defer e.Close()
	checkLive(t, e)
}

// TestValueLogGCCrash: a process killed right after a value-log GC (no
// Close) leaves a directory that opens with every live value intact.
func TestValueLogGCCrash(t *testing.T) {
	if dir := os.Getenv("BADGERKV_GC_CHILD"); dir != "" {
		e := fillAndDelete(t, dir)
		n, err := e.GCValueLog(context.Background())
		if err != nil || n == 0 {
			fmt.Printf("gc: %d, %v\n", n, err)
			os.Exit(2)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestValueLogGCCrash$")
	cmd.Env = append(os.Environ(), "BADGERKV_GC_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v\n%s", err, out)
	}
	e := openGC(t, dir)
	defer e.Close()
	checkLive(t, e)
}

package fsmount_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"excloud.dev/buckets/objects"
)

// TestReadsOutOfOrder: the kernel keeps several read-ahead requests of a
// file in flight, and they can reach the mount in any order; each read
// returns the bytes at its offset whatever came before it. O_DIRECT makes
// the kernel pass each pread on as one request, so the order is the
// test's.
func TestReadsOutOfOrder(t *testing.T) {
	e := newEnv(t)
	const mib = 1 << 20
	data := make([]byte, 9*mib+12345)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if _, err := e.d.Layer().Put(context.Background(), e.org, "b", "big", bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(e.p("big"), os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, mib)
	// In order, ahead of the stream (the skipped bytes are kept), behind
	// it, far ahead, back to the start, past the end.
	for _, off := range []int64{0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 0, 4, 3, 9} {
		off *= mib
		k, err := f.ReadAt(buf, off)
		want := data[off:min(off+mib, int64(len(data)))]
		if k != len(want) || !bytes.Equal(buf[:k], want) {
			t.Fatalf("read at %d MiB: %d bytes (%v), want %d, equal %v", off/mib, k, err, len(want), bytes.Equal(buf[:k], want))
		}
	}
}

// TestReadAheadWindow: the mount's read-ahead window is a MiB, the largest
// read, so a sequential read is one request per MiB (as root; otherwise
// the kernel's default stays).
func TestReadAheadWindow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting the window needs root")
	}
	e := newEnv(t)
	var st syscall.Stat_t
	if err := syscall.Stat(e.mnt, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile("/sys/class/bdi/" + dev + "/read_ahead_kb")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "1024" {
		t.Fatalf("read_ahead_kb of the mount: %s, want 1024", got)
	}
}

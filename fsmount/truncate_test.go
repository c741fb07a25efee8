package fsmount_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/catalog"
)

const (
	tib     = int64(1) << 40
	maxSize = 5 * tib // objects.MaxFileSize, as a user reads it in the docs
)

// getRange reads bytes [off, off+n) of key over S3.
func (e *env) getRange(t *testing.T, key string, off, n int64) []byte {
	t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("b"), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		t.Fatalf("GET %s range %d+%d: %v", key, off, n, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// preadAt reads n bytes at off through the mount.
func preadAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		t.Fatalf("read %s at %d: %v", path, off, err)
	}
	return b[:k]
}

// zeroRuns counts the extents of a manifest that are holes (zero runs: the
// zero chunk id).
func zeroRuns(m *catalog.Manifest) int {
	n := 0
	for _, x := range m.Extents {
		if x.Chunk.IsZero() {
			n++
		}
	}
	return n
}

// Growing a file to terabytes makes a hole that costs one extent: the
// truncate neither grows the daemon (the old code built an extent per 4 MiB,
// 1 Mi of them for 4 TiB, and truncate -s 909T ran it out of memory) nor
// writes chunks; the hole reads as zeros through the mount and over S3, and
// the file can be written after it.
func TestTruncateHugeIsAHole(t *testing.T) {
	e := newEnv(t)
	path := e.p("sparse")
	head := bytes.Repeat([]byte("head of the file "), 1000) // past inline size: chunked
	if err := os.WriteFile(path, head, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{tib, 4 * tib} {
		// truncate(2): the file is not open.
		if err := os.Truncate(path, size); err != nil {
			t.Fatalf("truncate to %d: %v", size, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Fatalf("stat after truncate to %d: %v %v", size, fi, err)
		}
		m := e.head(t, "sparse")
		if m.Size != size || len(m.Extents) != 2 || zeroRuns(m) != 1 {
			t.Fatalf("after truncate to %d: size %d, %d extents (%d holes), want the data and one hole", size, m.Size, len(m.Extents), zeroRuns(m))
		}
	}
	end := int64(len(head))
	want := append(bytes.Clone(head[end-5:]), make([]byte, 4091)...)
	if got := preadAt(t, path, end-5, 4096); !bytes.Equal(got, want) {
		t.Fatalf("mount read across the end of the data: %q", got[:16])
	}
	if got := preadAt(t, path, 3*tib+12345, 8192); !bytes.Equal(got, make([]byte, 8192)) {
		t.Fatal("mount read in the hole is not zeros")
	}
	if got := e.getRange(t, "sparse", 2*tib-100, 1<<20); !bytes.Equal(got, make([]byte, 1<<20)) {
		t.Fatal("S3 range in the hole is not zeros")
	}

	// A write after the hole, through an open file; then ftruncate on it
	// to grow again.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	tail := []byte("written after four terabytes of nothing")
	if _, err := f.WriteAt(tail, 4*tib); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4*tib + int64(len(tail)) + tib/2); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m := e.head(t, "sparse")
	if m.Size != 4*tib+int64(len(tail))+tib/2 || len(m.Extents) != 4 || zeroRuns(m) != 2 {
		t.Fatalf("after a write past the hole: size %d, %d extents (%d holes)", m.Size, len(m.Extents), zeroRuns(m))
	}
	wantTail := append(append(make([]byte, 7), tail...), make([]byte, 9)...)
	if got := preadAt(t, path, 4*tib-7, len(wantTail)); !bytes.Equal(got, wantTail) {
		t.Fatalf("mount read around the write: %q", got)
	}
	if got := e.getRange(t, "sparse", 4*tib-7, int64(len(wantTail))); !bytes.Equal(got, wantTail) {
		t.Fatalf("S3 read around the write: %q", got)
	}
	if got := e.getRange(t, "sparse", 0, end); !bytes.Equal(got, head) {
		t.Fatal("the data before the hole changed")
	}
}

// Beyond 5 TiB (S3's largest object) a truncate, a write or a fallocate
// fails with EFBIG and leaves the file as it was.
func TestFileSizeLimit(t *testing.T) {
	e := newEnv(t)
	path := e.p("limit")
	content := bytes.Repeat([]byte("keep me "), 2000)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	before := e.head(t, "limit")
	unchanged := func(what string) {
		t.Helper()
		m := e.head(t, "limit")
		if m.Size != before.Size || m.ETag != before.ETag {
			t.Fatalf("%s: the object changed: size %d etag %s", what, m.Size, m.ETag)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != before.Size {
			t.Fatalf("%s: stat %v %v", what, fi, err)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s: content changed: %v", what, err)
		}
	}

	for _, size := range []int64{maxSize + 1, 999999999999999} {
		if err := os.Truncate(path, size); errnoOf(err) != syscall.EFBIG {
			t.Fatalf("truncate to %d: %v, want EFBIG", size, err)
		}
	}
	unchanged("truncate")

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(maxSize + 1); errnoOf(err) != syscall.EFBIG {
		t.Fatalf("ftruncate past the limit: %v, want EFBIG", err)
	}
	if _, err := f.WriteAt([]byte("x"), maxSize); errnoOf(err) != syscall.EFBIG {
		t.Fatalf("write at the limit: %v, want EFBIG", err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, maxSize-10, 11); errnoOf(err) != syscall.EFBIG {
		t.Fatalf("fallocate past the limit: %v, want EFBIG", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after refused changes: %v", err)
	}
	unchanged("ftruncate, write and fallocate")

	// Up to the limit is allowed: fallocate grows the file with a hole, and
	// a write that crosses the limit writes what fits.
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 2*tib); err != nil {
		t.Fatalf("fallocate to 2 TiB: %v", err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 2*tib {
		t.Fatalf("size after fallocate: %v %v", fi, err)
	}
	if n, err := unix.Pwrite(int(f.Fd()), []byte("abcd"), maxSize-2); n != 2 || err != nil {
		t.Fatalf("write across the limit: %d %v, want 2 bytes written", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m := e.head(t, "limit")
	if m.Size != maxSize || zeroRuns(m) != 1 {
		t.Fatalf("a file of the largest size: %d bytes, %d extents (%d holes)", m.Size, len(m.Extents), zeroRuns(m))
	}
	if got := e.getRange(t, "limit", maxSize-4, 4); string(got) != "\x00\x00ab" {
		t.Fatalf("last bytes of a 5 TiB file: %q", got)
	}
}

package objects_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

const tib = int64(1) << 40

// A hole costs one extent and no chunk, whatever its size: truncating to
// 4 TiB allocates kilobytes, commits a manifest of one zero run, and reads
// back as zeros, through the session and through a plain (S3) read.
func TestFileWriterHoleIsOneExtent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	head := randBytes(chunk+100, 21)
	e.put(t, "sparse", head)
	before := e.chunkFiles(t)

	w := e.writer(t, "sparse", false)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	if err := w.Truncate(ctx, 4*tib); err != nil {
		t.Fatal(err)
	}
	m := commit(t, w)
	runtime.ReadMemStats(&ms1)
	// The old code built an extent per 4 MiB: 1 Mi extents, ~100 MB.
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 4<<20 {
		t.Errorf("truncate to 4 TiB and commit allocated %d bytes", alloc)
	}
	if m.Size != 4*tib || len(m.Extents) != 3 || !m.Extents[2].IsZeroRun() || m.Extents[2].Length != 4*tib-int64(len(head)) {
		t.Fatalf("manifest after truncate: size %d, extents %+v", m.Size, m.Extents)
	}
	if e.chunkFiles(t) != before {
		t.Error("a hole wrote a chunk")
	}

	// Reads in the hole are zeros, through the session and a plain read.
	p := make([]byte, 1000)
	if _, err := w.ReadAt(ctx, p, 2*tib); err != nil || !bytes.Equal(p, make([]byte, 1000)) {
		t.Fatalf("session read in the hole: %v", err)
	}
	got, err := e.get(t, "sparse", int64(len(head))-10, 2*chunk)
	if err != nil || !bytes.Equal(got[:10], head[len(head)-10:]) || !bytes.Equal(got[10:], make([]byte, 2*chunk-10)) {
		t.Fatalf("read across the end of the data into the hole: %v", err)
	}

	// A write after the hole, committed, reopened: the data, zeros around.
	tail := []byte("after the hole")
	if _, err := w.WriteAt(ctx, tail, 3*tib); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	w.Close()
	w2 := e.writer(t, "sparse", false)
	if w2.Size() != 4*tib {
		t.Fatalf("reopened size %d", w2.Size())
	}
	if err := w2.Truncate(ctx, 3*tib+int64(len(tail))+5); err != nil {
		t.Fatal(err)
	}
	m = commit(t, w2)
	if len(m.Extents) != 5 {
		t.Fatalf("extents %+v, want data, data, hole, tail, hole", m.Extents)
	}
	got, err = e.get(t, "sparse", 3*tib-3, int64(len(tail))+8)
	want := append(append([]byte{0, 0, 0}, tail...), 0, 0, 0, 0, 0)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("around the write: %q %v", got, err)
	}
}

// Beyond MaxFileSize a truncate fails and changes nothing; a write at the
// limit fails, one that crosses it is short, as at a file size limit.
func TestFileWriterMaxFileSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "big", []byte("content"))
	w := e.writer(t, "big", false)
	for _, size := range []int64{objects.MaxFileSize + 1, 999999999999999, 1 << 62} {
		if err := w.Truncate(ctx, size); !errors.Is(err, objects.ErrFileTooLarge) {
			t.Fatalf("truncate to %d: %v, want ErrFileTooLarge", size, err)
		}
	}
	if w.Size() != 7 || w.Dirty() {
		t.Fatalf("after refused truncates: size %d dirty %v", w.Size(), w.Dirty())
	}
	if _, err := w.WriteAt(ctx, []byte("x"), objects.MaxFileSize); !errors.Is(err, objects.ErrFileTooLarge) {
		t.Fatalf("write at the limit: %v", err)
	}
	if n, err := w.WriteAt(ctx, []byte("abcd"), objects.MaxFileSize-2); n != 2 || err != nil {
		t.Fatalf("write across the limit: %d %v, want 2 bytes", n, err)
	}
	m := commit(t, w)
	if m.Size != objects.MaxFileSize {
		t.Fatalf("size %d", m.Size)
	}
	if got, err := e.get(t, "big", objects.MaxFileSize-4, 4); err != nil || string(got) != "\x00\x00ab" {
		t.Fatalf("end of a maximal file: %q %v", got, err)
	}
	if err := w.Truncate(ctx, objects.MaxFileSize); err != nil {
		t.Fatalf("truncate to exactly the limit: %v", err)
	}
}

// A part copied from a sparse file keeps its hole as a zero run, and the
// completed object reads it back as zeros.
func TestUploadPartCopyOfAHole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.writer(t, "src", true)
	if _, err := w.WriteAt(ctx, []byte("start"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(ctx, bytes.Repeat([]byte("e"), 10000), tib); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "dst", catalog.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(objects.MinPartSize)
	p, err := e.l.UploadPartCopy(ctx, e.org, "b", "dst", up.ID, 1, "b", "src", tib-n+100, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Extents) != 2 || !p.Extents[0].IsZeroRun() || p.Extents[0].Offset != 0 {
		t.Fatalf("copied part extents %+v", p.Extents)
	}
	if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "dst", up.ID, []objects.CompletePart{{1, p.ETag}}, objects.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := append(make([]byte, n-100), bytes.Repeat([]byte("e"), 100)...)
	if got, err := e.get(t, "dst", 0, -1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("object from a copied hole: %v", err)
	}
}

package objects_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

// onlyWriter hides bytes.Buffer's ReadFrom, so io.Copy takes the reader's
// WriteTo, as it does into an http.ResponseWriter.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// readAll reads [off, off+n) of key twice, through Read and through
// WriteTo (the path an S3 GET takes), and checks both give the same
// bytes and error.
func (e *env) readBoth(t *testing.T, key string, off, n int64) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	o, err := e.l.Open(ctx, e.org, "b", key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var got [2][]byte
	var errs [2]error
	for i := range 2 {
		r, err := o.NewReader(ctx, off, n)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			got[i], errs[i] = io.ReadAll(r)
		} else {
			var buf bytes.Buffer
			_, errs[i] = io.Copy(onlyWriter{&buf}, r)
			got[i] = buf.Bytes()
		}
		r.Close()
	}
	if (errs[0] == nil) != (errs[1] == nil) {
		t.Fatalf("read [%d,+%d): Read says %v, WriteTo says %v", off, n, errs[0], errs[1])
	}
	if !bytes.Equal(got[0], got[1]) && errs[0] == nil {
		t.Fatalf("read [%d,+%d): Read and WriteTo differ", off, n)
	}
	return got[1], errs[1]
}

// Long reads go through the parallel read-ahead: ranges that start and end
// anywhere (inside a segment, on a chunk boundary, one byte short of the
// end) come back byte-exact, through Read and through WriteTo.
func TestPipelinedRangesExact(t *testing.T) {
	e := newEnv(t)
	data := randBytes(3*chunk+12345, 30)
	e.put(t, "k", data)
	size := int64(len(data))
	for _, r := range [][2]int64{
		{0, -1}, {1, size - 2}, {chunk - 1, chunk + 2}, {chunk, 1 << 20},
		{12345, 2*chunk + 777}, {size - (1 << 20) - 1, -1}, {64<<10 - 3, 1<<20 + 5},
	} {
		got, err := e.readBoth(t, "k", r[0], r[1])
		end := size
		if r[1] >= 0 {
			end = r[0] + r[1]
		}
		if err != nil || !bytes.Equal(got, data[r[0]:end]) {
			t.Fatalf("range [%d,%d): %d bytes, %v", r[0], end, len(got), err)
		}
	}
}

// A segment damaged in the third chunk of an object: a whole read, which
// the read-ahead runs several blocks at once, ends in ErrCorrupt after
// nothing but correct bytes, and none of them from the damaged segment or
// after it. A range that ends before the damage still reads in full.
func TestPipelinedReadStopsAtCorruptSegment(t *testing.T) {
	e := newEnv(t)
	data := randBytes(4*chunk, 31)
	m := e.put(t, "k", data)
	// Flip a bit in segment 5 of chunk 2 (object offset 2*chunk + 5*64 KiB).
	damaged := int64(2*chunk + 5*chunkstore.SegmentSize)
	path := chunkPath(t, e, m.Extents[2].Chunk)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[chunkstore.HeaderSize+5*(chunkstore.SegmentSize+chunkstore.SegmentOverhead)+100] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 3, chunk + 1} {
		got, err := e.readBoth(t, "k", off, -1)
		if !errors.Is(err, chunkstore.ErrCorrupt) {
			t.Fatalf("read from %d over a damaged segment: %d bytes, %v; want ErrCorrupt", off, len(got), err)
		}
		if int64(len(got)) > damaged-off {
			t.Fatalf("read from %d returned %d bytes, past the damaged segment at %d", off, len(got), damaged)
		}
		if !bytes.Equal(got, data[off:off+int64(len(got))]) {
			t.Fatalf("read from %d returned wrong bytes before the damage", off)
		}
	}
	got, err := e.readBoth(t, "k", 0, damaged)
	if err != nil || !bytes.Equal(got, data[:damaged]) {
		t.Fatalf("range ending before the damage: %d bytes, %v", len(got), err)
	}
}

package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/objects"
)

// slowBackend delays every chunk write, so a sequential writer has several
// chunks in flight at once, and fails the put numbered failAt (1-based).
type slowBackend struct {
	chunkstore.Backend
	delay  time.Duration
	puts   atomic.Int64
	failAt int64
}

func (s *slowBackend) Put(ctx context.Context, name string, r io.Reader) error {
	time.Sleep(s.delay)
	if n := s.puts.Add(1); n == s.failAt {
		return &fsPathError{syscall.EIO}
	}
	return s.Backend.Put(ctx, name, r)
}

func slowLayer(t *testing.T, e *env, b *slowBackend) *objects.Layer {
	t.Helper()
	base, err := local.New(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	b.Backend = base
	keys, _ := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	store, err := chunkstore.New(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	return objects.New(e.db, store, nil)
}

// With several chunks in flight, writes that land on an earlier chunk still
// in flight (and reads of it) see the latest bytes, and the commit has them
// all in order.
func TestFileWriterOverlappingFlights(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := slowLayer(t, e, &slowBackend{delay: 30 * time.Millisecond})
	w, err := l.OpenWriter(ctx, e.org, "b", "f", true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ref := randBytes(5*chunk+999, 21)
	for off := 0; off < len(ref); off += 1 << 20 {
		end := min(off+1<<20, len(ref))
		if _, err := w.WriteAt(ctx, ref[off:end], int64(off)); err != nil {
			t.Fatal(err)
		}
		if off == 3*chunk {
			// Chunks 0..2 are handed off by now: overwrite a run that
			// spans chunks 0 and 1, then read it back uncommitted.
			patch := randBytes(100<<10, 22)
			at := chunk - 50<<10
			if _, err := w.WriteAt(ctx, patch, int64(at)); err != nil {
				t.Fatal(err)
			}
			copy(ref[at:], patch)
			got := make([]byte, len(patch))
			if _, err := w.ReadAt(ctx, got, int64(at)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, patch) {
				t.Fatal("uncommitted read over landed flights differs")
			}
		}
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	o, err := l.Open(ctx, e.org, "b", "f")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rd, _ := o.NewReader(ctx, 0, -1)
	got, _ := io.ReadAll(rd)
	if !bytes.Equal(got, ref) {
		t.Fatalf("committed content differs (%d vs %d bytes)", len(got), len(ref))
	}
}

// A chunk write that fails while later ones are in flight fails the
// session for good; the previous version stays.
func TestFileWriterFlightFailureSticks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := slowLayer(t, e, &slowBackend{delay: 20 * time.Millisecond, failAt: 3})
	old := []byte("previous version")
	if _, err := l.Put(ctx, e.org, "b", "g", bytes.NewReader(old), objects.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	w, err := l.OpenWriter(ctx, e.org, "b", "g", true)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(6*chunk, 23)
	var werr error
	for off := 0; off < len(data) && werr == nil; off += 1 << 20 {
		_, werr = w.WriteAt(ctx, data[off:off+1<<20], int64(off))
	}
	_, cerr := w.Commit(ctx)
	if !errors.Is(werr, syscall.EIO) && !errors.Is(cerr, syscall.EIO) {
		t.Fatalf("write: %v, commit: %v; want EIO", werr, cerr)
	}
	if _, err := w.Commit(ctx); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second commit: %v, want the sticky EIO", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.get(t, "g", 0, -1); !bytes.Equal(got, old) {
		t.Fatalf("previous version damaged: %q", got)
	}
}

// The MD5 ETag of a sequentially written file is computed in the
// background per buffer; commits in the middle (fsync) and small files that
// stay inline across commits must still get the MD5 of all their bytes.
func TestFileWriterSequentialETagAcrossCommits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, size := range []int{3000, 2*chunk + 777, 3 * chunk} {
		data := randBytes(size, uint64(size))
		w := e.writer(t, fmt.Sprint("etag-", size), true)
		step := max(len(data)/7, 1)
		for off := 0; off < len(data); off += step {
			end := min(off+step, len(data))
			if _, err := w.WriteAt(ctx, data[off:end], int64(off)); err != nil {
				t.Fatal(err)
			}
			m := commit(t, w) // an fsync after every write
			if want := quotedMD5(data[:end]); m.ETag != want {
				t.Fatalf("size %d, after %d bytes: ETag %s, want %s", size, end, m.ETag, want)
			}
		}
	}
}

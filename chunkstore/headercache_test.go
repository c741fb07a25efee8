package chunkstore_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
)

// countingBackend counts the reads a store makes of its backend: on an
// object store each one is a GET.
type countingBackend struct {
	*local.Backend
	opens atomic.Int64
}

func (c *countingBackend) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.Backend.Open(ctx, name, off, length)
}

func readAll(t *testing.T, s *chunkstore.Store, id chunkstore.ID, off, length int64) []byte {
	t.Helper()
	r, err := s.Open(ctx, id, off, length)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOneReadPerOpen: once a chunk's header has been read, reading a range
// of it is one backend read.
func TestOneReadPerOpen(t *testing.T) {
	_, lb := newStore(t, 0)
	b := &countingBackend{Backend: lb}
	s, err := chunkstore.New(b, testKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	p := pseudoRandom(3, 300_000)
	id := putChunk(t, s, p)
	readAll(t, s, id, 0, 10)
	for _, r := range [][2]int64{{0, 10}, {100_000, 5}, {200_000, -1}} {
		before := b.opens.Load()
		if got := readAll(t, s, id, r[0], r[1]); !bytes.Equal(got, p[r[0]:r[0]+int64(len(got))]) {
			t.Fatalf("range %v: wrong bytes", r)
		}
		if n := b.opens.Load() - before; n != 1 {
			t.Errorf("range %v: %d backend reads, want 1", r, n)
		}
	}
}

// TestStaleHeader: a chunk deleted and stored again (a new salt, so a new
// header) behind a store that cached its header still reads back: the
// stale header fails authentication and is read again.
func TestStaleHeader(t *testing.T) {
	s, b := newStore(t, 0)
	other, err := chunkstore.New(b, testKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	p := pseudoRandom(4, 200_000)
	id := putChunk(t, s, p)
	readAll(t, s, id, 0, -1) // caches the header
	if err := other.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	putChunk(t, other, p)
	if got := readAll(t, s, id, 70_000, -1); !bytes.Equal(got, p[70_000:]) {
		t.Fatal("wrong bytes after the chunk was stored again")
	}
	if st := s.Stats(); st.CorruptReads != 0 {
		t.Errorf("%d corrupt reads counted for a stale header", st.CorruptReads)
	}
}

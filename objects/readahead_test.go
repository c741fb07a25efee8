package objects_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/objects"
)

// openLog records which chunk files a store opens, as the requests an
// object store would see.
type openLog struct {
	chunkstore.Backend
	mu    sync.Mutex
	names map[string]int
}

func (l *openLog) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	l.mu.Lock()
	l.names[name]++
	l.mu.Unlock()
	return l.Backend.Open(ctx, name, off, length)
}

func (l *openLog) opened(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names[name] > 0
}

// TestReadAheadOpensNextExtent: a long read opens the next chunk while the
// reader is still in the current one, so on an object store a sequential
// GET does not wait a round trip at each chunk boundary; and the bytes are
// right.
func TestReadAheadOpensNextExtent(t *testing.T) {
	dir := t.TempDir()
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(catalog.Options{Dir: filepath.Join(dir, "catalog"), EncryptionKey: keys.Catalog[:], SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lb, err := local.New(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	log := &openLog{Backend: lb, names: map[string]int{}}
	store, err := chunkstore.New(log, keys)
	if err != nil {
		t.Fatal(err)
	}
	l := objects.New(db, store, nil)
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateBucket(ctx, org.ID, "b"); err != nil {
		t.Fatal(err)
	}
	data := seeded.Bytes(11, 3*chunk)
	m, err := l.Put(ctx, org.ID, "b", "big", bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Extents) < 2 {
		t.Fatalf("%d extents, want several", len(m.Extents))
	}
	o, err := l.Open(ctx, org.ID, "b", "big")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	// The reader holds at most a few blocks of the first 4 MiB chunk;
	// only opening ahead reaches the second chunk now.
	next := m.Extents[1].Chunk.String()
	deadline := time.Now().Add(time.Minute)
	for !log.opened(next) {
		if time.Now().After(deadline) {
			t.Fatal("the second chunk was not opened while the reader was in the first")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(first, rest...), data) {
		t.Fatalf("read %d bytes, %v; want the object's %d", 1+len(rest), err, len(data))
	}
	// A short read opens nothing beyond its range.
	log.mu.Lock()
	clear(log.names)
	log.mu.Unlock()
	sr, err := o.NewReader(ctx, 0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(sr)
	sr.Close()
	if log.opened(next) {
		t.Error("a 4 KiB read opened the next chunk")
	}
}

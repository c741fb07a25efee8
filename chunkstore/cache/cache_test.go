package cache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/cache"
	"excloud.dev/buckets/chunkstore/chunkstoretest"
	"excloud.dev/buckets/chunkstore/local"
	s3chunks "excloud.dev/buckets/chunkstore/s3"
	"excloud.dev/buckets/internal/excdtest"
)

var ctx = context.Background()

func TestBackend(t *testing.T) {
	chunkstoretest.Run(t, func(t *testing.T) chunkstore.Backend {
		inner, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := cache.New(t.TempDir(), 64<<20, inner, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// counting counts the reads that reach the object store: each is a GET.
type counting struct {
	chunkstore.Backend
	gets atomic.Int64
}

func (c *counting) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Backend.Open(ctx, name, off, length)
}

// fixture is a chunk store on a real excd's S3, behind a cache.
type fixture struct {
	remote *counting
	keys   chunkstore.Keys
	dir    string
}

func newFixture(t *testing.T) *fixture {
	cs := excdtest.StartChunkStore(t)
	b, err := s3chunks.New(ctx, s3chunks.Options{URL: cs.URL("c"), Endpoint: cs.Endpoint, PathStyle: true,
		AccessKeyID: excdtest.AccessKey, SecretAccessKey: excdtest.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	var master [32]byte
	rand.Read(master[:])
	keys, err := chunkstore.DeriveKeys(master[:])
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{remote: &counting{Backend: b}, keys: keys, dir: t.TempDir()}
}

// store opens the cache directory (again) with limit and a store on it.
func (f *fixture) store(t *testing.T, limit int64) (*chunkstore.Store, *cache.Backend) {
	t.Helper()
	c, err := cache.New(f.dir, limit, f.remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(c, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func put(t *testing.T, s *chunkstore.Store, n int) (chunkstore.ID, []byte) {
	t.Helper()
	p := make([]byte, n)
	rand.Read(p)
	id := s.Sum("org", p)
	if err := s.Put(ctx, id, p); err != nil {
		t.Fatal(err)
	}
	return id, p
}

func read(t *testing.T, s *chunkstore.Store, id chunkstore.ID, off, n int64) []byte {
	t.Helper()
	r, err := s.Open(ctx, id, off, n)
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

// TestHitAvoidsGET: the first read of a chunk fetches it; later reads, of
// any range, and after a restart of the cache, make no request to the
// store.
func TestHitAvoidsGET(t *testing.T) {
	f := newFixture(t)
	s, c := f.store(t, 64<<20)
	id, p := put(t, s, 1<<20)
	if got := read(t, s, id, 0, -1); !bytes.Equal(got, p) {
		t.Fatal("first read: wrong bytes")
	}
	gets := f.remote.gets.Load()
	for _, r := range [][2]int64{{0, -1}, {4096, 4096}, {700_000, -1}} {
		if got := read(t, s, id, r[0], r[1]); !bytes.Equal(got, p[r[0]:r[0]+int64(len(got))]) {
			t.Fatalf("range %v: wrong bytes", r)
		}
	}
	if n := f.remote.gets.Load() - gets; n != 0 {
		t.Errorf("%d GETs for cached reads, want 0", n)
	}
	if st := c.Stats(); st.Misses != 1 || st.Hits < 3 {
		t.Errorf("stats %+v, want 1 miss and 3 or more hits", st)
	}
	// A new process on the same directory.
	s, _ = f.store(t, 64<<20)
	gets = f.remote.gets.Load()
	if got := read(t, s, id, 0, -1); !bytes.Equal(got, p) {
		t.Fatal("after restart: wrong bytes")
	}
	if n := f.remote.gets.Load() - gets; n != 0 {
		t.Errorf("%d GETs after a restart, want 0 (the cache survives restarts)", n)
	}
	// Deleting the whole directory while stopped is safe: reads refetch.
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	s, _ = f.store(t, 64<<20)
	if got := read(t, s, id, 0, -1); !bytes.Equal(got, p) {
		t.Fatal("after deleting the cache: wrong bytes")
	}
}

// TestEviction: the cache never holds more than its limit, and keeps the
// most recently used chunks.
func TestEviction(t *testing.T) {
	f := newFixture(t)
	const n = 200_000
	limit := 3*chunkstore.SealedSize(n) + 100
	s, c := f.store(t, limit)
	var ids []chunkstore.ID
	for range 5 {
		id, _ := put(t, s, n)
		ids = append(ids, id)
	}
	for _, id := range ids {
		read(t, s, id, 0, -1)
		if st := c.Stats(); st.Bytes > limit {
			t.Fatalf("cache holds %d bytes, limit %d", st.Bytes, limit)
		}
	}
	var disk int64
	filepath.Walk(f.dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			disk += fi.Size()
		}
		return nil
	})
	if disk > limit {
		t.Errorf("cache directory holds %d bytes, limit %d", disk, limit)
	}
	// The last three are hits, the first two were evicted.
	gets := f.remote.gets.Load()
	for _, id := range ids[2:] {
		read(t, s, id, 0, 10)
	}
	if d := f.remote.gets.Load() - gets; d != 0 {
		t.Errorf("%d GETs for the 3 most recent chunks, want 0", d)
	}
	read(t, s, ids[0], 0, 10)
	if d := f.remote.gets.Load() - gets; d != 1 {
		t.Errorf("%d GETs for an evicted chunk, want 1", d)
	}
	// A restart with a smaller limit trims to it.
	_, c = f.store(t, chunkstore.SealedSize(n)+1)
	if st := c.Stats(); st.Bytes > chunkstore.SealedSize(n)+1 || st.Files != 1 {
		t.Errorf("after a restart with a smaller limit: %+v", st)
	}
}

// TestCorruptCacheFile: a damaged cached file fails the segment check, is
// dropped and fetched again; the reader gets the right bytes, never the
// damaged ones.
func TestCorruptCacheFile(t *testing.T) {
	f := newFixture(t)
	s, c := f.store(t, 64<<20)
	id, p := put(t, s, 300_000)
	read(t, s, id, 0, -1)
	name := id.String()
	path := filepath.Join(f.dir, name[0:2], name[2:4], name)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{100, len(raw) / 2} {
		raw[at] ^= 0x55
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		// A fresh store: no header cached in memory.
		s, c = f.store(t, 64<<20)
		gets := f.remote.gets.Load()
		if got := read(t, s, id, 0, -1); !bytes.Equal(got, p) {
			t.Fatalf("damage at %d: wrong bytes served", at)
		}
		if d := f.remote.gets.Load() - gets; d == 0 {
			t.Errorf("damage at %d: no refetch from the store", at)
		}
		fixed, err := os.ReadFile(path)
		if err != nil || bytes.Equal(fixed, raw) {
			t.Errorf("damage at %d: the cached file was not replaced (%v)", at, err)
		}
		raw = fixed
	}
	if st := c.Stats(); st.Invalidations == 0 {
		t.Errorf("stats %+v: no invalidation", st)
	}
}

// TestConcurrentMisses: many readers of one cold chunk share one download.
func TestConcurrentMisses(t *testing.T) {
	f := newFixture(t)
	s, _ := f.store(t, 64<<20)
	id, p := put(t, s, 1<<20)
	s, _ = f.store(t, 64<<20)
	gets := f.remote.gets.Load()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			off := int64(i * 1000)
			r, err := s.Open(ctx, id, off, 1000)
			if err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, p[off:off+1000]) {
				t.Errorf("reader %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if d := f.remote.gets.Load() - gets; d != 1 {
		t.Errorf("%d GETs for 16 concurrent readers of one cold chunk, want 1", d)
	}
}

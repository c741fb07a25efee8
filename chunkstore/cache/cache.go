// Package cache is a bounded local read cache in front of a remote chunk
// backend (an object store), so hot objects and FUSE mounts do not pay a
// round trip to the store on every read.
//
// It holds sealed chunk files only, byte for byte as the store has them,
// under DIR/<name[0:2]>/<name[2:4]>/<name> (the local fan-out). So it needs
// no key, leaks nothing the store does not, and needs no integrity of its
// own: every byte it serves is authenticated by the chunk store's segment
// check, and a damaged file (a crash while it was written, a bad disk) fails
// that check; the store then calls Invalidate and reads the chunk from the
// backend again. Files are written without fsync for the same reason.
//
// Only Open is served from the cache. Stat, Delete and List go to the
// backend: the dedup check before a Put, and the collector, must see the
// shared store as it is, not what this node once read of it.
//
// The cache survives restarts (New indexes the directory, oldest access
// first by modification time, which hits refresh now and then) and may be
// deleted whole while excd is stopped.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/chunkstore"
)

const tmpDir = "tmp"

// errLocal marks a failure of the cache's own directory, which must not
// fail a read the backend can serve.
var errLocal = errors.New("chunk cache")

// touchEvery bounds how often a hit updates a file's modification time,
// which is what orders the cache after a restart.
const touchEvery = time.Minute

// Backend is a chunkstore.Backend that reads through a local cache.
type Backend struct {
	inner chunkstore.Backend
	dir   string
	limit int64
	log   *slog.Logger

	mu      sync.Mutex
	lru     *list.List // of *entry, most recent at the front
	entries map[string]*list.Element
	size    int64
	filling map[string]*fill // downloads in progress

	hits, misses, evictions, invalidations atomic.Int64
}

type entry struct {
	name    string
	size    int64
	touched time.Time
}

// fill is one download; concurrent misses of a name wait for it.
type fill struct {
	done chan struct{}
	err  error
}

var _ chunkstore.Backend = (*Backend)(nil)

// Stats are counters since New.
type Stats struct {
	Hits, Misses, Evictions, Invalidations int64
	Bytes, Files                           int64
}

// New opens (creating if needed) the cache directory dir, indexes what it
// holds and trims it to limit bytes.
func New(dir string, limit int64, inner chunkstore.Backend, log *slog.Logger) (*Backend, error) {
	if limit <= 0 {
		return nil, errors.New("cache: size limit must be positive")
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	for _, e := range ents {
		os.Remove(filepath.Join(dir, tmpDir, e.Name()))
	}
	b := &Backend{inner: inner, dir: dir, limit: limit, log: log, lru: list.New(),
		entries: map[string]*list.Element{}, filling: map[string]*fill{}}
	var found []*entry
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == tmpDir && filepath.Dir(path) == dir {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || len(name) < 4 || path != b.path(name) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		found = append(found, &entry{name: name, size: fi.Size(), touched: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: index %s: %w", dir, err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].touched.After(found[j].touched) })
	for _, e := range found {
		b.entries[e.name] = b.lru.PushBack(e)
		b.size += e.size
	}
	b.mu.Lock()
	b.evictLocked()
	b.mu.Unlock()
	return b, nil
}

func (b *Backend) path(name string) string {
	return filepath.Join(b.dir, name[0:2], name[2:4], name)
}

// Stats returns the counters and the cache's current size.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Hits: b.hits.Load(), Misses: b.misses.Load(), Evictions: b.evictions.Load(),
		Invalidations: b.invalidations.Load(), Bytes: b.size, Files: int64(len(b.entries))}
}

// Put goes to the backend only: a chunk just written is not necessarily
// read again soon, and the cache must not hold bytes the store refused.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader) error {
	return b.inner.Put(ctx, name, r)
}

func (b *Backend) Stat(ctx context.Context, name string) (int64, error) {
	return b.inner.Stat(ctx, name)
}

func (b *Backend) List(ctx context.Context, prefix string, fn func(string, int64) error) error {
	return b.inner.List(ctx, prefix, fn)
}

// Delete removes name from the backend and the cache.
func (b *Backend) Delete(ctx context.Context, name string) error {
	b.Invalidate(name)
	return b.inner.Delete(ctx, name)
}

// Invalidate drops name from the cache: the chunk store found its bytes
// damaged (chunkstore.Invalidator).
func (b *Backend) Invalidate(name string) {
	if len(name) < 4 {
		return
	}
	b.mu.Lock()
	if el, ok := b.entries[name]; ok {
		b.removeLocked(el)
		b.invalidations.Add(1)
		os.Remove(b.path(name))
	}
	b.mu.Unlock()
}

func (b *Backend) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	b.lru.Remove(el)
	delete(b.entries, e.name)
	b.size -= e.size
}

// evictLocked removes the least recently used files until the cache fits
// its limit. A reader that has a removed file open keeps reading it.
func (b *Backend) evictLocked() {
	for b.size > b.limit {
		el := b.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*entry)
		b.removeLocked(el)
		b.evictions.Add(1)
		if err := os.Remove(b.path(e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("chunk cache: evict", "name", e.name, "err", err)
		}
	}
}

// Open serves the range from the cached file, fetching the whole chunk
// file from the backend first on a miss (a chunk is bounded, and the next
// read of a hot object wants the rest of it).
func (b *Backend) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if len(name) < 4 || off < 0 || filepath.Base(name) != name {
		return b.inner.Open(ctx, name, off, length)
	}
	for attempt := 0; ; attempt++ {
		f, err := b.openCached(name)
		if err == nil {
			b.hits.Add(1)
			if length < 0 {
				length = math.MaxInt64 - off
			}
			return &fileReader{ctx: ctx, f: f, r: io.NewSectionReader(f, off, length)}, nil
		}
		if attempt > 0 {
			// Filled and gone again at once (evicted by a cache too small
			// for it, or invalidated): read around the cache.
			return b.inner.Open(ctx, name, off, length)
		}
		if err := b.fetch(ctx, name); err != nil {
			if ctx.Err() != nil || !(errors.Is(err, errLocal) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				return nil, err
			}
			// The cache's own disk failed, or the download this call
			// waited for was another caller's and ended with its
			// context: read around the cache.
			return b.inner.Open(ctx, name, off, length)
		}
	}
}

// openCached opens name's file if the index has it, and marks it used.
func (b *Backend) openCached(name string) (*os.File, error) {
	b.mu.Lock()
	el, ok := b.entries[name]
	if !ok {
		b.mu.Unlock()
		return nil, fs.ErrNotExist
	}
	b.lru.MoveToFront(el)
	e := el.Value.(*entry)
	touch := time.Since(e.touched) > touchEvery
	if touch {
		e.touched = time.Now()
	}
	b.mu.Unlock()
	f, err := os.Open(b.path(name))
	if err != nil {
		// Removed behind the index (an operator emptied the directory).
		b.mu.Lock()
		if el, ok := b.entries[name]; ok {
			b.removeLocked(el)
		}
		b.mu.Unlock()
		return nil, err
	}
	if touch {
		now := time.Now()
		os.Chtimes(b.path(name), now, now)
	}
	return f, nil
}

// fetch copies name from the backend into the cache; concurrent misses of
// one name share the download.
func (b *Backend) fetch(ctx context.Context, name string) error {
	b.mu.Lock()
	if fl, ok := b.filling[name]; ok {
		b.mu.Unlock()
		select {
		case <-fl.done:
			return fl.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fl := &fill{done: make(chan struct{})}
	b.filling[name] = fl
	b.mu.Unlock()
	b.misses.Add(1)
	// The download serves every waiter: it must not end with the first
	// caller's context, only when that caller would be the last to care.
	fl.err = b.download(ctx, name)
	b.mu.Lock()
	delete(b.filling, name)
	b.mu.Unlock()
	close(fl.done)
	return fl.err
}

func (b *Backend) download(ctx context.Context, name string) error {
	src, err := b.inner.Open(ctx, name, 0, -1)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Join(b.dir, tmpDir), "fill-*")
	if err != nil {
		return fmt.Errorf("%w: %w", errLocal, err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, src)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%w: %w", errLocal, err) // writing the file, not reading the store
		}
		return fmt.Errorf("cache: fill %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: fill %s: %w", errLocal, name, err)
	}
	if n > b.limit {
		return nil // never fits; Open reads around the cache
	}
	dst := b.path(name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("%w: %w", errLocal, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("%w: fill %s: %w", errLocal, name, err)
	}
	tmp = nil
	if el, ok := b.entries[name]; ok {
		b.removeLocked(el)
	}
	b.entries[name] = b.lru.PushFront(&entry{name: name, size: n, touched: time.Now()})
	b.size += n
	b.evictLocked()
	return nil
}

type fileReader struct {
	ctx context.Context
	f   *os.File
	r   *io.SectionReader
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *fileReader) Close() error { return r.f.Close() }

// Package local keeps chunk files in a directory on a local filesystem
// (docs/format.md, "Data directory"): <dir>/<name[0:2]>/<name[2:4]>/<name>,
// with <dir>/tmp for files being written.
//
// Durability rests on the classic sequence: write a temporary file, fsync
// it, link it under its real name, fsync the directory. A crash therefore
// leaves either nothing or the whole file under the real name; leftover
// temporary files are removed by New.
package local

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/fsutil"
)

const tmpDir = "tmp"

// Backend is a chunkstore.Backend on a local directory.
type Backend struct {
	dir string
	// minFree: see SetMinFree. spaceMu makes "check the free space, then
	// count this Put in pending" one step, so concurrent Puts (an upload
	// writes one chunk while it fills the next) cannot all pass the check
	// on the same free space.
	minFree atomic.Int64
	spaceMu sync.Mutex
	pending int64 // bytes that Puts in progress may still write

	// shards records the shard directories this process has made durable;
	// an entry that merely exists may still be only in the page cache.
	mu     sync.Mutex
	shards map[string]*shardDir

	// publish serializes "link + fsync directory" with Stat for names that
	// hash to the same stripe, so that a name Stat reports is durable: the
	// store skips a Put when Stat finds the chunk, and the caller then commits
	// a manifest that relies on it.
	seed    maphash.Seed
	publish [64]sync.RWMutex
}

var _ chunkstore.Backend = (*Backend)(nil)

// New opens (creating if needed) the chunk directory dir and removes files
// left in its tmp directory by an interrupted Put.
func New(dir string) (*Backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	b := &Backend{dir: dir, shards: make(map[string]*shardDir), seed: maphash.MakeSeed()}
	tmp := filepath.Join(dir, tmpDir)
	if err := b.ensureDir(tmp); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("local: remove leftover: %w", err)
		}
	}
	// Every Put starts with a file in tmp: find out now, with the path in
	// the message, rather than with the first upload's 500.
	probe, err := os.CreateTemp(tmp, "probe-*")
	if err != nil {
		return nil, fmt.Errorf("local: chunk directory not writable: %w", err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return nil, fmt.Errorf("local: chunk directory: %w", err)
	}
	return b, nil
}

// SetMinFree makes Put refuse, with an error wrapping syscall.ENOSPC, a
// chunk that could leave less than n bytes available on the filesystem of
// the chunk directory. The daemon keeps that reserve for the catalog, which
// sits on the same filesystem and cannot meet a full disk safely (see
// catalog.Options.MinFree). 0, the default, disables the check.
func (b *Backend) SetMinFree(n int64) { b.minFree.Store(n) }

// maxSealed is the largest chunk file Put writes.
var maxSealed = chunkstore.SealedSize(chunkstore.MaxChunkSize)

// reserveSpace refuses a Put that could eat into the reserve, counting what
// the Puts in progress have yet to write; it assumes the largest chunk,
// since the reader's length is not known in advance. The returned charge
// shrinks as the Put writes (its bytes then show in the free space) and is
// released with done.
func (b *Backend) reserveSpace(name string) (*spaceCharge, error) {
	minFree := b.minFree.Load()
	if minFree <= 0 {
		return &spaceCharge{}, nil
	}
	b.spaceMu.Lock()
	defer b.spaceMu.Unlock()
	avail, err := fsutil.Available(b.dir)
	if err != nil {
		return nil, fmt.Errorf("local: put %s: free space: %w", name, err)
	}
	if avail-b.pending < minFree+maxSealed {
		return nil, fmt.Errorf("local: put %s: %d bytes free under %s (%d being written), %d kept in reserve: %w",
			name, avail, b.dir, b.pending, minFree, syscall.ENOSPC)
	}
	b.pending += maxSealed
	return &spaceCharge{b: b, left: maxSealed}, nil
}

// spaceCharge is one Put's share of Backend.pending.
type spaceCharge struct {
	b    *Backend // nil: no reserve is kept
	left int64
}

// wrote releases n bytes of the charge: they are on the filesystem now.
func (c *spaceCharge) wrote(n int64) {
	if c.b == nil || c.left == 0 {
		return
	}
	n = min(n, c.left)
	c.left -= n
	c.b.spaceMu.Lock()
	c.b.pending -= n
	c.b.spaceMu.Unlock()
}

func (c *spaceCharge) done() { c.wrote(c.left) }

// chargedWriter releases a charge as bytes are written.
type chargedWriter struct {
	w io.Writer
	c *spaceCharge
}

func (w chargedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.c.wrote(int64(n))
	return n, err
}

// Dir returns the directory the backend keeps its files in.
func (b *Backend) Dir() string { return b.dir }

// Path returns the file path for name (docs/format.md, "Data directory");
// name must be a valid backend name (at least 4 characters).
func (b *Backend) Path(name string) string {
	return filepath.Join(b.dir, name[0:2], name[2:4], name)
}

// checkName admits names that are safe as file names and long enough to
// shard; the store only uses 64-digit hex ids.
func checkName(name string) error {
	if len(name) < 4 || len(name) > 255 || name[0] == '.' {
		return fmt.Errorf("local: bad name %q: %w", name, fs.ErrInvalid)
	}
	for _, c := range []byte(name) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("local: bad name %q: %w", name, fs.ErrInvalid)
		}
	}
	return nil
}

func (b *Backend) stripe(name string) *sync.RWMutex {
	return &b.publish[maphash.String(b.seed, name)%uint64(len(b.publish))]
}

// Put writes r to a temporary file, fsyncs it, links it under name and
// fsyncs the shard directory. An existing name is kept: names are content
// addresses, and replacing a file under a reader would mix two sealings.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader) (err error) {
	if err := checkName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	charge, err := b.reserveSpace(name)
	if err != nil {
		return err
	}
	defer charge.done()
	f, err := os.CreateTemp(filepath.Join(b.dir, tmpDir), "put-*")
	if err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
	}()
	if err := copyCtx(ctx, chargedWriter{f, charge}, r); err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	shard := filepath.Join(b.dir, name[0:2], name[2:4])
	if err := b.ensureDir(filepath.Dir(shard)); err != nil {
		return err
	}
	if err := b.ensureDir(shard); err != nil {
		return err
	}
	// The last chance to honour a cancellation before the name appears.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	mu := b.stripe(name)
	mu.Lock()
	defer mu.Unlock()
	if err := os.Link(tmp, filepath.Join(shard, name)); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local: put %s: %w", name, err)
	}
	// Sync even when the name existed: it may have been linked by a Put
	// that has not synced yet.
	if err := fsutil.SyncDir(shard); err != nil {
		return fmt.Errorf("local: put %s: sync dir: %w", name, err)
	}
	return nil
}

// copyCtx copies r to w, checking ctx between reads.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) error {
	buf := make([]byte, 128<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shardDir serializes making one directory durable, so that writers to
// different shards never wait for each other's fsyncs.
type shardDir struct {
	mu      sync.Mutex
	durable bool
}

// ensureDir creates dir if needed and, the first time this process uses
// it, fsyncs its parent so that the directory entry is durable.
func (b *Backend) ensureDir(dir string) error {
	b.mu.Lock()
	d := b.shards[dir]
	if d == nil {
		d = new(shardDir)
		b.shards[dir] = d
	}
	b.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.durable {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("local: sync dir: %w", err)
	}
	d.durable = true
	return nil
}

// Open returns a reader of the byte range, reading with pread on one file
// descriptor and checking ctx on every Read.
func (b *Backend) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("local: open %s: negative offset %d: %w", name, off, fs.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: open %s: %w", name, err)
	}
	f, err := os.Open(b.Path(name))
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if length < 0 {
		length = math.MaxInt64 - off
	}
	return &rangeReader{ctx: ctx, f: f, r: io.NewSectionReader(f, off, length)}, nil
}

type rangeReader struct {
	ctx context.Context
	f   *os.File
	r   *io.SectionReader
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Stat returns the size of name's file.
func (b *Backend) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("local: stat %s: %w", name, err)
	}
	mu := b.stripe(name)
	mu.RLock()
	fi, err := os.Stat(b.Path(name))
	mu.RUnlock()
	if err != nil {
		return 0, fmt.Errorf("local: %w", err)
	}
	return fi.Size(), nil
}

// Delete removes name's file. The removal is not fsynced: a chunk that
// reappears after a crash is unreferenced and is collected again.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: delete %s: %w", name, err)
	}
	if err := os.Remove(b.Path(name)); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// List walks the shard directories, skipping those that cannot hold a name
// with prefix, and anything that is not a file under its own shard.
func (b *Backend) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: list: %w", err)
	}
	l1, err := readDirNames(b.dir)
	if err != nil {
		return err
	}
	for _, d1 := range l1 {
		if len(d1) != 2 || !shardMatches(d1, prefix, 0) {
			continue
		}
		l2, err := readDirNames(filepath.Join(b.dir, d1))
		if err != nil {
			return err
		}
		for _, d2 := range l2 {
			if len(d2) != 2 || !shardMatches(d2, prefix, 2) {
				continue
			}
			shard := filepath.Join(b.dir, d1, d2)
			ents, err := os.ReadDir(shard)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("local: list: %w", err)
			}
			for _, e := range ents {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("local: list: %w", err)
				}
				name := e.Name()
				if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) || len(name) < 4 || name[0:2] != d1 || name[2:4] != d2 {
					continue
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted while we listed
				}
				if err != nil {
					return fmt.Errorf("local: list: %w", err)
				}
				if err := fn(name, fi.Size()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// shardMatches reports whether the two-character shard s, holding name
// characters [at, at+2), can contain names starting with prefix.
func shardMatches(s, prefix string, at int) bool {
	if len(prefix) <= at {
		return true
	}
	p := prefix[at:min(len(prefix), at+2)]
	return strings.HasPrefix(s, p)
}

func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local: list: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

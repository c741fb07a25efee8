// Package migrate copies a store's chunk files from one backend to another
// (the data directory's chunks/ to an S3 chunk store, or back), as exc
// chunks migrate does. Chunk objects and chunk files are byte-identical, so
// a copy is a copy: no key is needed, nothing is decrypted.
//
// A copy is verified by reading back what the target holds: its size, the
// chunk header (salt, segment size, length) and the last segment's tag,
// which must equal the source's; a target that kept a different sealing of
// the same chunk (another salt) would differ there. A run is resumable:
// chunks the target already holds, verified the same way, are skipped.
package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"excloud.dev/buckets/chunkstore"
)

// tail is how many bytes at the end of a chunk file are compared: the last
// segment's authentication tag and more.
const tail = 64

// Report counts what a run did.
type Report struct {
	Chunks   int64 // in the source
	Copied   int64
	Skipped  int64 // already in the target, verified
	Bytes    int64 // copied
	Mismatch []string
}

// Options of a run.
type Options struct {
	Jobs int // copies at once; default 8
}

// Run copies every chunk file of src that dst lacks, and verifies each.
// It stops at the first error other than a mismatch (which it lists).
func Run(ctx context.Context, src, dst chunkstore.Backend, o Options) (Report, error) {
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	var (
		rep      Report
		copied   atomic.Int64
		skipped  atomic.Int64
		bytesOut atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := make(chan [2]any)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range o.Jobs {
		wg.Go(func() {
			for nv := range names {
				name, size := nv[0].(string), nv[1].(int64)
				did, err := one(ctx, src, dst, name, size)
				switch {
				case errors.Is(err, errMismatch):
					mu.Lock()
					rep.Mismatch = append(rep.Mismatch, name)
					mu.Unlock()
				case err != nil:
					fail(err)
				case did:
					copied.Add(1)
					bytesOut.Add(size)
				default:
					skipped.Add(1)
				}
			}
		})
	}
	var total int64
	lerr := src.List(ctx, "", func(name string, size int64) error {
		if _, err := chunkstore.ParseID(name); err != nil {
			return nil // not a chunk
		}
		total++
		select {
		case names <- [2]any{name, size}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(names)
	wg.Wait()
	rep.Chunks, rep.Copied, rep.Skipped, rep.Bytes = total, copied.Load(), skipped.Load(), bytesOut.Load()
	if firstErr != nil {
		return rep, firstErr
	}
	if lerr != nil {
		return rep, fmt.Errorf("migrate: list source: %w", lerr)
	}
	return rep, nil
}

var errMismatch = errors.New("target differs from source")

// one copies name unless dst holds it already; did reports a copy.
func one(ctx context.Context, src, dst chunkstore.Backend, name string, size int64) (did bool, err error) {
	switch dsize, err := dst.Stat(ctx, name); {
	case err == nil && dsize == size:
		if err := verify(ctx, src, dst, name, size); err != nil {
			return false, err
		}
		return false, nil
	case err == nil:
		// A partial or foreign object: names are content addresses, so a
		// wrong size is damage; replace it.
		if err := dst.Delete(ctx, name); err != nil {
			return false, fmt.Errorf("migrate: %s: replace %d-byte target: %w", name, dsize, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("migrate: %s: %w", name, err)
	}
	r, err := src.Open(ctx, name, 0, -1)
	if err != nil {
		return false, fmt.Errorf("migrate: %s: %w", name, err)
	}
	err = dst.Put(ctx, name, r)
	r.Close()
	if err != nil {
		return false, fmt.Errorf("migrate: %s: %w", name, err)
	}
	dsize, err := dst.Stat(ctx, name)
	if err != nil {
		return false, fmt.Errorf("migrate: %s: after copy: %w", name, err)
	}
	if dsize != size {
		return false, fmt.Errorf("migrate: %s: %d bytes after copy, source %d: %w", name, dsize, size, errMismatch)
	}
	if err := verify(ctx, src, dst, name, size); err != nil {
		return false, err
	}
	return true, nil
}

// verify compares the header and the tail of the two copies.
func verify(ctx context.Context, src, dst chunkstore.Backend, name string, size int64) error {
	for _, rg := range [][2]int64{{0, min(size, int64(chunkstore.HeaderSize))}, {max(0, size-tail), min(size, tail)}} {
		a, err := readRange(ctx, src, name, rg[0], rg[1])
		if err != nil {
			return fmt.Errorf("migrate: %s: read source: %w", name, err)
		}
		b, err := readRange(ctx, dst, name, rg[0], rg[1])
		if err != nil {
			return fmt.Errorf("migrate: %s: read back target: %w", name, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("migrate: %s: bytes [%d, +%d) differ: %w", name, rg[0], rg[1], errMismatch)
		}
	}
	return nil
}

func readRange(ctx context.Context, b chunkstore.Backend, name string, off, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	r, err := b.Open(ctx, name, off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

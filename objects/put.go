package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Put stores body under key. Nothing is visible until every chunk is durable
// and the one catalog transaction has committed; any error before that
// (a short body, a bad digest, a full disk, a cancelled request) leaves the
// previous version, if any, untouched. Chunks written by a failed put are
// reclaimed by the collector.
func (l *Layer) Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts PutOptions) (*catalog.Manifest, error) {
	// Before the body: a client refused for its metadata uploads nothing.
	if err := CheckMeta(&opts.Meta); err != nil {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, err)
	}
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, err
	}
	ctx = l.fence(ctx)
	release, err := l.reserveBody(ctx, opts.Size)
	if err != nil {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, err)
	}
	defer release()
	m, sum, leased, err := l.write(ctx, orgID, body, opts.Size, true)
	defer l.pins.Unpin(leased...)
	if err != nil {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, err)
	}
	if opts.ContentMD5 != nil && !bytes.Equal(opts.ContentMD5, sum) {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, ErrBadDigest)
	}
	setMeta(m, &opts.Meta)
	m.Checksums = opts.Meta.Checksums
	m.Tags = opts.Meta.Tags
	m.ModTime = l.now().UTC()
	if opts.Verify != nil {
		if err := opts.Verify(m); err != nil {
			return nil, err
		}
	}
	if l.beforeCommit != nil {
		l.beforeCommit()
	}
	end, err := l.commitGuard(leased)
	if err != nil {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, err)
	}
	defer end()
	if _, err := l.meta.PutObject(ctx, b, key, m, opts.Cond); err != nil {
		return nil, fmt.Errorf("objects: put %s/%s: %w", bucket, key, err)
	}
	return bodyless(m), nil
}

// bodyBudget bounds the bytes of bodies the catalog will keep (objects of
// up to BodyMax) held in memory by puts in flight, as maxBuffers bounds
// chunk buffers: without it, every open connection could hold BodyMax.
const bodyBudget = 64 << 20

// reserveBody takes, from the body budget, the memory a put of size bytes
// (-1: unknown) buffers before deciding where its bytes go, and returns
// its release. Objects of up to InlineMax, and those declared larger than
// BodyMax, buffer no more than before and take nothing.
func (l *Layer) reserveBody(ctx context.Context, size int64) (release func(), err error) {
	n := int64(BodyMax + 1)
	if size >= 0 {
		n = size + 1
	}
	if n <= InlineMax+1 || n > BodyMax+1 {
		return func() {}, nil
	}
	if err := l.bodyMem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return func() { l.bodyMem.Release(n) }, nil
}

// write reads r to its end into inline bytes or durable chunks of orgID
// (chunk ids are per org) and returns
// the manifest's data fields, the MD5 of the content, and the chunk ids it
// leased (the caller releases them after the commit, whether or not it
// happened).
//
// Multipart parts pass inline=false: a completed object is the concatenation
// of its parts' extents, so a part's bytes must live in chunks.
func (l *Layer) write(ctx context.Context, orgID string, r io.Reader, size int64, inline bool) (*catalog.Manifest, []byte, []chunkstore.ID, error) {
	if size >= 0 {
		// One byte more than declared is enough to detect a body that runs on.
		r = io.LimitReader(r, size+1)
	}
	var prefix []byte
	if inline && (size < 0 || size <= BodyMax) {
		// One byte more than the catalog keeps tells a small body from a
		// large one; with a declared size, one more than that suffices.
		bufLen := BodyMax + 1
		if size >= 0 {
			bufLen = int(size) + 1
		}
		start := bufLen
		if size < 0 {
			start = InlineMax + 1
		}
		small, n, err := readPrefix(r, start, bufLen)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return l.inline(small[:n], size)
		case err != nil:
			return nil, nil, nil, err
		case size >= 0:
			return nil, nil, nil, fmt.Errorf("body runs past the declared %d bytes: %w", size, ErrIncompleteBody)
		}
		prefix = small[:n]
	}
	exts, sum, total, leased, err := l.writeChunks(ctx, orgID, r, prefix)
	if err != nil {
		return nil, nil, leased, err
	}
	if size >= 0 && total != size {
		return nil, nil, leased, fmt.Errorf("got %d bytes, declared %d: %w", total, size, ErrIncompleteBody)
	}
	return &catalog.Manifest{Size: total, ETag: etag(sum), Extents: exts}, sum, leased, nil
}

// readPrefix reads up to max bytes of r as io.ReadFull would, into a buffer
// of start bytes that doubles while it fills: a PUT of unknown length then
// does not allocate (and zero) BodyMax bytes before knowing it is small.
func readPrefix(r io.Reader, start, max int) ([]byte, int, error) {
	buf := make([]byte, min(max, start))
	n := 0
	for {
		m, err := io.ReadFull(r, buf[n:])
		n += m
		if err != nil || len(buf) == max {
			return buf, n, err
		}
		grown := make([]byte, min(2*len(buf), max))
		copy(grown, buf[:n])
		buf = grown
	}
}

// inline keeps p (at most BodyMax bytes) in the catalog: inside the
// manifest up to InlineMax, as a body of its own above. Its caller
// allocated p for this put alone.
func (l *Layer) inline(p []byte, size int64) (*catalog.Manifest, []byte, []chunkstore.ID, error) {
	if size >= 0 && int64(len(p)) != size {
		return nil, nil, nil, fmt.Errorf("got %d bytes, declared %d: %w", len(p), size, ErrIncompleteBody)
	}
	sum := md5.Sum(p)
	return catalogManifest(p, etag(sum[:])), sum[:], nil, nil
}

// catalogManifest is the manifest of an object whose bytes p (at most
// BodyMax) the catalog keeps: the PutObject that commits it writes them.
func catalogManifest(p []byte, etag string) *catalog.Manifest {
	m := &catalog.Manifest{Size: int64(len(p)), ETag: etag}
	if len(p) > 0 {
		m.Inline = p
	}
	if len(p) > InlineMax {
		m.BodyID = catalog.NewBodyID()
	}
	return m
}

func etag(sum []byte) string { return fmt.Sprintf("%q", fmt.Sprintf("%x", sum)) }

// chunkJob is one chunk on its way through the pipeline. Two stages see it
// (the MD5 stage and a chunk worker); the last to finish recycles the buffer.
type chunkJob struct {
	idx     int
	buf     []byte
	pending atomic.Int32
}

// writeChunks cuts r (after prefix) into chunks and writes them. The reader
// goroutine only reads; MD5 runs in its own goroutine (it is serial over the
// whole object) and hashing, sealing and writing of chunks run on l.workers
// goroutines, so a single stream uses every core.
func (l *Layer) writeChunks(ctx context.Context, orgID string, r io.Reader, prefix []byte) (exts []catalog.Extent, sum []byte, total int64, leased []chunkstore.ID, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(e error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = e
			cancel()
		}
		mu.Unlock()
	}
	perPut := l.workers + 2
	slots := make(chan struct{}, perPut) // this put's share of the buffers
	finish := func(j *chunkJob) {
		if j.pending.Add(-1) == 0 {
			l.putBuf(j.buf)
			<-slots
		}
	}

	jobs := make(chan *chunkJob)
	var wg sync.WaitGroup
	for range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() == nil {
					id := l.chunks.Sum(orgID, j.buf)
					l.pins.Pin(id)
					mu.Lock()
					leased = append(leased, id)
					exts[j.idx] = catalog.Extent{Chunk: id, Length: int64(len(j.buf))}
					mu.Unlock()
					if err := l.chunks.Put(ctx, id, j.buf); err != nil {
						fail(err)
					}
				}
				finish(j)
			}
		}()
	}
	hashq := make(chan *chunkJob, perPut)
	md5done := make(chan []byte)
	go func() {
		h := md5.New()
		for j := range hashq {
			h.Write(j.buf)
			finish(j)
		}
		md5done <- h.Sum(nil)
	}()

	for idx := 0; ; idx++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			fail(ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
		buf, berr := l.getBuf(ctx)
		if berr != nil {
			<-slots
			fail(berr)
			break
		}
		n := copy(buf, prefix)
		prefix = nil
		m, rerr := io.ReadFull(r, buf[n:])
		n += m
		if n == 0 {
			l.putBuf(buf)
			<-slots
		} else {
			j := &chunkJob{idx: idx, buf: buf[:n]}
			j.pending.Store(2)
			mu.Lock()
			exts = append(exts, catalog.Extent{})
			mu.Unlock()
			total += int64(n)
			hashq <- j // never blocks: capacity equals this put's slots
			select {
			case jobs <- j:
			case <-ctx.Done():
				finish(j)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			fail(rerr)
			break
		}
	}
	close(jobs)
	close(hashq)
	wg.Wait()
	sum = <-md5done

	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return nil, nil, 0, leased, firstErr
	}
	return exts, sum, total, leased, nil
}

// getBuf returns a chunk buffer, allocating one only while fewer than
// maxBuffers exist, and otherwise waiting for one to be returned.
func (l *Layer) getBuf(ctx context.Context) ([]byte, error) {
	select {
	case b := <-l.bufs:
		return b, nil
	default:
	}
	select {
	case b := <-l.bufs:
		return b, nil
	case l.sem <- struct{}{}:
		return make([]byte, chunkSize), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// putBuf returns a buffer; it never blocks, since at most cap(l.bufs)
// buffers exist.
func (l *Layer) putBuf(b []byte) { l.bufs <- b[:chunkSize] }

package objects

import (
	"context"
	"io"
	"sync"
)

// Read-ahead for long sequential reads: one goroutine opens chunks and
// decrypts into blocks while the consumer (an HTTP response, a FUSE read
// loop) writes out the previous block, so a single GET uses two cores.
// Memory per reader is bounded by aheadBlocks+2 blocks.
const (
	aheadMin    = 1 << 20 // ranges shorter than this are read directly
	aheadBlock  = 512 << 10
	aheadBlocks = 2
)

var blockPool = sync.Pool{New: func() any { b := make([]byte, aheadBlock); return &b }}

type block struct {
	buf *[]byte
	n   int
	err error
}

type aheadReader struct {
	cancel context.CancelFunc
	blocks chan block
	cur    block
	off    int
	done   chan struct{}
}

func newAheadReader(ctx context.Context, src io.ReadCloser) *aheadReader {
	if er, ok := src.(*extentReader); ok {
		er.prefetch = true
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &aheadReader{cancel: cancel, blocks: make(chan block, aheadBlocks), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		defer close(a.blocks)
		defer src.Close()
		for {
			buf := blockPool.Get().(*[]byte)
			n, err := io.ReadFull(src, *buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case a.blocks <- block{buf: buf, n: n, err: err}:
			case <-ctx.Done():
				blockPool.Put(buf)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for a.cur.buf == nil || a.off == a.cur.n {
		if a.cur.buf != nil {
			if a.cur.err != nil {
				return 0, a.cur.err
			}
			blockPool.Put(a.cur.buf)
			a.cur.buf = nil
		}
		b, ok := <-a.blocks
		if !ok {
			return 0, io.EOF
		}
		a.cur, a.off = b, 0
	}
	n := copy(p, (*a.cur.buf)[a.off:a.cur.n])
	a.off += n
	return n, nil
}

// Close stops the read-ahead and waits for it, so no chunk is being read
// once Close returns (the object's reader registration may then end).
func (a *aheadReader) Close() error {
	a.cancel()
	for b := range a.blocks {
		blockPool.Put(b.buf)
	}
	<-a.done
	if a.cur.buf != nil {
		blockPool.Put(a.cur.buf)
		a.cur.buf = nil
	}
	return nil
}

// Opening the next extent ahead: on an object store each chunk opened is a
// request (a GET, and its first segment read and authenticated before Open
// returns), whose latency the block read-ahead above hides only while it is
// shorter than reading aheadBlocks blocks out. A long read therefore opens
// the next extent's chunk while it reads the current one, so that a
// sequential GET pays one round trip per object, not one per chunk.

// prefetched is the next extent's chunk, opened (or failed) ahead.
type prefetched struct {
	idx   int   // extent index
	inner int64 // offset in the extent it was opened at
	n     int64 // bytes it covers
	done  chan struct{}
	rc    io.ReadCloser
	err   error
}

// openExtent opens n bytes at inner of extent i, from the prefetch when
// it was opened for exactly that, and starts opening the next extent when
// the reader reads ahead.
func (r *extentReader) openExtent(i int, inner, n int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	var err error
	if p := r.pre; p != nil && p.idx == i && p.inner == inner && p.n == n {
		r.pre = nil
		<-p.done
		rc, err = p.rc, p.err
	} else {
		r.dropPrefetch()
		e := r.o.Manifest.Extents[i]
		rc, err = r.o.l.openChunk(r.ctx, e.Chunk, e.Offset+inner, n)
	}
	if err == nil && r.prefetch {
		r.startPrefetch(i + 1)
	}
	return rc, err
}

// startPrefetch opens extent i from its start, if the range reaches it.
func (r *extentReader) startPrefetch(i int) {
	m := r.o.Manifest
	if i >= len(m.Extents) || r.o.starts[i] >= r.end || m.Extents[i].IsZeroRun() {
		return
	}
	e := m.Extents[i]
	p := &prefetched{idx: i, n: min(e.Length, r.end-r.o.starts[i]), done: make(chan struct{})}
	r.pre = p
	go func() {
		defer close(p.done)
		p.rc, p.err = r.o.l.openChunk(r.ctx, e.Chunk, e.Offset, p.n)
	}()
}

// dropPrefetch waits for a prefetch nobody will use and closes it.
func (r *extentReader) dropPrefetch() {
	if p := r.pre; p != nil {
		r.pre = nil
		<-p.done
		if p.rc != nil {
			p.rc.Close()
		}
	}
}

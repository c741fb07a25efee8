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

package objects

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sort"
	"sync"
)

// Read-ahead for long sequential reads: the range is cut into pieces of at
// most aheadPiece bytes that never straddle an extent, so each piece is
// one chunk reader (one file, read front to back, which the kernel's own
// read-ahead follows). aheadWorkers goroutines each read and decrypt a
// piece into blocks, so the next chunk decrypts on one core while the
// consumer (an HTTP response, a FUSE read loop) writes out the current one;
// on an object store the next chunk's GET is thus in flight while the
// current chunk is read, so a long GET does not wait a round trip at each
// chunk boundary (TestReadAheadOpensNextExtent).
// Pieces, and blocks within a piece, are handed out in order. Memory per
// reader is bounded: at most aheadWorkers+1 pieces are in flight, each
// holding at most two blocks.
//
// A block that fails (a corrupt segment, a missing chunk) carries the
// verified bytes before the failure and the error: the consumer gets those
// bytes and then the error, never a later block, so nothing after a bad
// segment is sent and nothing unverified ever is.
const (
	aheadMin   = 1 << 20 // ranges shorter than this are read directly
	aheadBlock = 512 << 10
	aheadPiece = 4 << 20
)

var errClosed = errors.New("objects: read after close")

// aheadWorkers is how many pieces are read and decrypted at once.
var aheadWorkers = min(max(runtime.GOMAXPROCS(0), 2), 4)

var blockPool = sync.Pool{New: func() any { b := make([]byte, aheadBlock); return &b }}

type block struct {
	buf *[]byte
	n   int
	err error
}

// aheadJob is one piece to read: [off, off+n) of the object, delivered as
// blocks on out, which the worker closes.
type aheadJob struct {
	off, n int64
	out    chan block
}

type aheadReader struct {
	cancel context.CancelFunc
	order  chan chan block // one per piece, in object order
	piece  chan block      // the piece being consumed
	cur    block
	off    int
	done   chan struct{}
	err    error // sticky: the failed block's error, after its bytes
}

// newAheadReader reads [pos, end) of o.
func newAheadReader(ctx context.Context, o *Object, pos, end int64) *aheadReader {
	ctx, cancel := context.WithCancel(ctx)
	a := &aheadReader{cancel: cancel, order: make(chan chan block, aheadWorkers), done: make(chan struct{})}
	jobs := make(chan aheadJob)
	var wg sync.WaitGroup
	for range aheadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				readPiece(ctx, o, j)
			}
		}()
	}
	go func() {
		defer close(a.done)
		defer wg.Wait()
		defer close(jobs)
		defer close(a.order)
		for off := pos; off < end; {
			n := min(o.extentEnd(off), off+aheadPiece, end) - off
			if n <= 0 { // an empty extent: extentReader steps over it
				n = min(aheadPiece, end-off)
			}
			out := make(chan block, 1)
			// The order slot first: its capacity is what bounds the
			// pieces in flight.
			select {
			case a.order <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- aheadJob{off: off, n: n, out: out}:
			case <-ctx.Done():
				close(out) // no block will come: Close must not wait for one
				return
			}
			off += n
		}
	}()
	return a
}

// extentEnd is where the extent holding object offset off ends.
func (o *Object) extentEnd(off int64) int64 {
	i := sort.Search(len(o.starts), func(i int) bool { return o.starts[i] > off }) - 1
	return o.starts[i] + o.Manifest.Extents[i].Length
}

// readPiece reads j's range with one chunk reader into pooled blocks.
func readPiece(ctx context.Context, o *Object, j aheadJob) {
	defer close(j.out)
	er := &extentReader{ctx: ctx, o: o, pos: j.off, end: j.off + j.n}
	defer er.Close()
	for left := j.n; left > 0; {
		buf := blockPool.Get().(*[]byte)
		want := min(left, aheadBlock)
		k, err := io.ReadFull(er, (*buf)[:want])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// extentReader reports damage itself; a clean short read
			// cannot happen for a range within the object.
			err = io.ErrUnexpectedEOF
		}
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		select {
		case j.out <- block{buf: buf, n: k, err: err}:
		case <-ctx.Done():
			blockPool.Put(buf)
			return
		}
		if err != nil {
			return
		}
		left -= want
	}
}

// next makes the next block current; false at the end or after an error.
func (a *aheadReader) next() bool {
	if a.cur.buf != nil {
		blockPool.Put(a.cur.buf)
		a.cur.buf = nil
	}
	if a.err != nil {
		return false
	}
	for {
		if a.piece == nil {
			p, ok := <-a.order
			if !ok {
				return false
			}
			a.piece = p
		}
		if b, ok := <-a.piece; ok {
			a.cur, a.off = b, 0
			return true
		}
		a.piece = nil
	}
}

// fail records the current block's error once its bytes are consumed.
func (a *aheadReader) fail() error {
	if a.cur.err != nil && a.err == nil {
		a.err = a.cur.err
	}
	return a.err
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for a.cur.buf == nil || a.off == a.cur.n {
		if a.cur.buf != nil && a.fail() != nil {
			return 0, a.err
		}
		if !a.next() {
			if a.err != nil {
				return 0, a.err
			}
			return 0, io.EOF
		}
	}
	n := copy(p, (*a.cur.buf)[a.off:a.cur.n])
	a.off += n
	return n, nil
}

// WriteTo hands each decrypted block to w as it is, without the copy into
// a caller's buffer that Read makes: io.Copy into an http.ResponseWriter
// then writes half a megabyte per call instead of 32 KiB.
func (a *aheadReader) WriteTo(w io.Writer) (int64, error) {
	var sum int64
	for {
		if a.cur.buf != nil && a.off < a.cur.n {
			n, err := w.Write((*a.cur.buf)[a.off:a.cur.n])
			a.off += n
			sum += int64(n)
			if err != nil {
				return sum, err
			}
		}
		if a.cur.buf != nil && a.fail() != nil {
			return sum, a.err
		}
		if !a.next() {
			return sum, a.err
		}
	}
}

// Close stops the read-ahead and waits for it, so no chunk is being read
// once Close returns (the object's pins may then be released).
func (a *aheadReader) Close() error {
	a.cancel()
	if a.cur.buf != nil {
		blockPool.Put(a.cur.buf)
		a.cur.buf = nil
	}
	// Drain what the workers deliver until they have all stopped: every
	// piece channel is closed, by its worker or by the dispatcher.
	drain := func(p chan block) {
		for b := range p {
			blockPool.Put(b.buf)
		}
	}
	if a.piece != nil {
		drain(a.piece)
		a.piece = nil
	}
	for p := range a.order {
		drain(p)
	}
	<-a.done
	a.err = errClosed
	return nil
}

package chunkstore

import (
	"errors"
	"io"
)

// Size is the length of the chunk file, so that a remote backend can send
// it with a Content-Length without reading it first.
func (r *sealReader) Size() int64 { return r.h.sealedSize() }

// Seek lets a remote backend hash the body for its signature and resend it
// on a retry. Sealing is deterministic for a given salt (the nonce is the
// segment index), so rewinding re-seals the same bytes; seeking forward
// seals and skips.
func (r *sealReader) Seek(offset int64, whence int) (int64, error) {
	cur := r.pos()
	switch whence {
	case io.SeekCurrent:
		offset += cur
	case io.SeekEnd:
		offset += r.Size()
	case io.SeekStart:
	default:
		return cur, errors.New("chunkstore: seal reader: bad whence")
	}
	if offset < 0 || offset > r.Size() {
		return cur, errors.New("chunkstore: seal reader: seek out of range")
	}
	if offset == cur {
		return cur, nil
	}
	if offset < cur {
		raw := r.h.marshal()
		r.p, r.pending, r.i = r.all, raw[:], 0
		cur = 0
	}
	if _, err := io.CopyN(io.Discard, r, offset-cur); err != nil {
		return r.pos(), err
	}
	return offset, nil
}

// pos is the offset of the next byte Read returns.
func (r *sealReader) pos() int64 {
	if r.i == 0 {
		return int64(HeaderSize - len(r.pending))
	}
	// Segments before r.i have been sealed; pending holds what is left of
	// segment r.i-1.
	return r.h.segmentOffset(r.i-1) + r.h.plainLen(r.i-1) + SegmentOverhead - int64(len(r.pending))
}

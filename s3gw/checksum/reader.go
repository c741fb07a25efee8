package checksum

import (
	"bytes"
	"fmt"
	"hash"
	"io"
)

// Reader passes an upload through and hashes it with each requested
// algorithm as it goes. The sums are available once Read has returned
// io.EOF. One pass, no buffering beyond the caller's slice, and no
// allocation per Read. MD5 (Content-MD5 and the ETag) is not its job: the
// object layer computes it in a goroutine of its own, off the request's.
type Reader struct {
	r      io.Reader
	algs   []Algorithm
	hashes []hash.Hash
	n      int64
	eof    bool
}

// NewReader wraps r, computing the given algorithms (duplicates and
// unknown algorithms are ignored).
func NewReader(r io.Reader, algs ...Algorithm) *Reader {
	cr := &Reader{r: r}
	for _, a := range algs {
		if a.Valid() && !cr.has(a) {
			cr.algs = append(cr.algs, a)
			cr.hashes = append(cr.hashes, New(a))
		}
	}
	return cr
}

func (cr *Reader) has(a Algorithm) bool {
	for _, b := range cr.algs {
		if a == b {
			return true
		}
	}
	return false
}

// Read implements io.Reader.
func (cr *Reader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if n > 0 {
		for _, h := range cr.hashes {
			h.Write(p[:n])
		}
		cr.n += int64(n)
	}
	if err == io.EOF {
		cr.eof = true
	}
	return n, err
}

// Size is the number of bytes read so far.
func (cr *Reader) Size() int64 { return cr.n }

// Done reports whether the underlying reader has returned io.EOF, after
// which the sums are final.
func (cr *Reader) Done() bool { return cr.eof }

// Sum is the raw checksum of algorithm a over what has been read, or nil
// if a was not requested.
func (cr *Reader) Sum(a Algorithm) []byte {
	for i, b := range cr.algs {
		if a == b {
			return cr.hashes[i].Sum(nil)
		}
	}
	return nil
}

// Sums returns the base64 value of every requested algorithm.
func (cr *Reader) Sums() map[Algorithm]string {
	m := make(map[Algorithm]string, len(cr.algs))
	for i, a := range cr.algs {
		m[a] = Encode(cr.hashes[i].Sum(nil))
	}
	return m
}

// Verify compares the checksum of algorithm a with an expected base64
// value. A malformed value wraps ErrInvalidValue, a different one
// ErrMismatch (BadDigest), an algorithm not requested ErrUnknownAlgorithm.
// Call it after io.EOF.
func (cr *Reader) Verify(a Algorithm, expected string) error {
	want, err := Decode(a, expected)
	if err != nil {
		return err
	}
	got := cr.Sum(a)
	if got == nil {
		return fmt.Errorf("%w: %s was not computed by this reader", ErrUnknownAlgorithm, a)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s declared %s, data has %s", ErrMismatch, HeaderName(a), expected, Encode(got))
	}
	return nil
}

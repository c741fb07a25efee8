package checksum

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// Reader passes an upload through and hashes it as it goes: always MD5
// (for Content-MD5 and the ETag), plus each requested algorithm. The sums
// are available once Read has returned io.EOF. One pass, no buffering
// beyond the caller's slice, and no allocation per Read.
type Reader struct {
	r      io.Reader
	md5    hash.Hash
	algs   []Algorithm
	hashes []hash.Hash
	n      int64
	eof    bool
}

// NewReader wraps r, computing MD5 and the given algorithms (duplicates
// and unknown algorithms are ignored).
func NewReader(r io.Reader, algs ...Algorithm) *Reader {
	cr := NewSumReader(r, algs...)
	cr.md5 = md5.New()
	return cr
}

// NewSumReader is NewReader without MD5, for callers that compute MD5
// elsewhere: the object layer hashes MD5 in its own goroutine, and a second
// MD5 on the request goroutine would halve a single upload's speed. MD5 and
// ETag then return nil and "".
func NewSumReader(r io.Reader, algs ...Algorithm) *Reader {
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
		if cr.md5 != nil {
			cr.md5.Write(p[:n])
		}
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

// MD5 is the raw MD5 of what has been read.
func (cr *Reader) MD5() []byte {
	if cr.md5 == nil {
		return nil
	}
	return cr.md5.Sum(nil)
}

// ETag is the lowercase hex MD5, as S3 reports it for a single-part object.
func (cr *Reader) ETag() string {
	if cr.md5 == nil {
		return ""
	}
	return hex.EncodeToString(cr.MD5())
}

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

// VerifyMD5 compares the MD5 with a Content-MD5 header value.
func (cr *Reader) VerifyMD5(contentMD5 string) error {
	want, err := DecodeContentMD5(contentMD5)
	if err != nil {
		return err
	}
	if got := cr.MD5(); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: Content-MD5 declared %s, data has %s", ErrMismatch, contentMD5, Encode(got))
	}
	return nil
}

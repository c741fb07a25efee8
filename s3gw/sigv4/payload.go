package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
)

// sha256Reader passes a plain body through and, at its end, compares the
// SHA-256 of what passed with the signed x-amz-content-sha256. A mismatch
// replaces io.EOF, so a caller that commits only after a clean EOF never
// stores a body other than the one signed.
type sha256Reader struct {
	r    io.Reader
	h    hash.Hash
	want string // lowercase hex
	n    int64
	err  error
}

func newSHA256Reader(r io.Reader, want string) *sha256Reader {
	return &sha256Reader{r: r, h: sha256.New(), want: strings.ToLower(want)}
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err == io.EOF {
		var sum [sha256.Size]byte
		var got [2 * sha256.Size]byte
		hex.Encode(got[:], s.h.Sum(sum[:0]))
		if string(got[:]) != s.want {
			err = fmt.Errorf("%w: body of %d bytes hashes to %s, signed %s", ErrContentSHA256, s.n, got[:], s.want)
		}
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

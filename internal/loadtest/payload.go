package loadtest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"excloud.dev/buckets/internal/seeded"
)

// Payload is the content of one object: Size bytes derived from Seed, the
// same on every call, at any offset, so a reader can check a full or ranged
// read of any version it can name without keeping the bytes (package
// seeded; Seed is never 0, which would be all zeros).
type Payload struct {
	Seed uint64
	Size int64
}

// ReadAt fills p with the content at off; io.EOF past Size, as io.ReaderAt
// requires.
func (pl Payload) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("loadtest: negative offset")
	}
	if off >= pl.Size {
		return 0, io.EOF
	}
	n := len(p)
	if rem := pl.Size - off; int64(n) > rem {
		n = int(rem)
	}
	seeded.Fill(p[:n], pl.Seed, off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader is the content as an io.ReadSeeker, which aws-sdk-go-v2 needs to
// sign a body over plain HTTP (it reads it once for the hash, then rewinds).
func (pl Payload) Reader() *io.SectionReader { return io.NewSectionReader(pl, 0, pl.Size) }

// MD5 is the hex MD5 of the content: the ETag of a single PUT.
func (pl Payload) MD5() string {
	h := md5.New()
	io.Copy(h, pl.Reader())
	return hex.EncodeToString(h.Sum(nil))
}

// Verify reads r to its end and checks that it is exactly the n bytes of
// the content at off. The error names the first wrong offset.
func (pl Payload) Verify(r io.Reader, off, n int64) error {
	got := make([]byte, 64<<10)
	want := make([]byte, 64<<10)
	var done int64
	for {
		k, err := r.Read(got)
		if k > 0 {
			if done+int64(k) > n {
				return fmt.Errorf("more than %d bytes (seed %x size %d off %d)", n, pl.Seed, pl.Size, off)
			}
			seeded.Fill(want[:k], pl.Seed, off+done)
			if !bytes.Equal(got[:k], want[:k]) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				return fmt.Errorf("wrong byte at offset %d (seed %x size %d): got %#x want %#x",
					off+done+int64(i), pl.Seed, pl.Size, got[i], want[i])
			}
			done += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read after %d of %d bytes: %w", done, n, err)
		}
	}
	if done != n {
		return fmt.Errorf("short body: %d of %d bytes (seed %x size %d off %d)", done, n, pl.Seed, pl.Size, off)
	}
	return nil
}

package crashtest

import (
	"fmt"
	"io"
	"slices"

	"excloud.dev/buckets/internal/seeded"
)

// Seg is a run of content: the bytes at positions [Off, End) of the object
// are the bytes at the same positions of Seed's stream.
type Seg struct {
	Seed     uint64
	Off, End int64
}

// Content is an object's bytes as runs of seeded streams, in order and
// contiguous from 0. Every byte depends on its seed and its position, so
// two versions of an object differ at (nearly) every position, and a mix
// of them, a shifted copy or a torn write differs from both.
type Content []Seg

// Gen is size bytes of seed's stream.
func Gen(seed uint64, size int64) Content {
	if size == 0 {
		return Content{}
	}
	return Content{{Seed: seed, End: size}}
}

// Size is the content's length.
func (c Content) Size() int64 {
	if len(c) == 0 {
		return 0
	}
	return c[len(c)-1].End
}

// Patch returns c with [off, off+n) replaced by seed's bytes at the same
// positions, as a pwrite of that range does; writing past the end extends
// it, with zeros in any gap (seed 0 is the zero run).
func (c Content) Patch(seed uint64, off, n int64) Content {
	var out Content
	add := func(s Seg) {
		if s.End <= s.Off {
			return
		}
		if k := len(out); k > 0 && out[k-1].Seed == s.Seed && out[k-1].End == s.Off {
			out[k-1].End = s.End
			return
		}
		out = append(out, s)
	}
	for _, s := range c {
		add(Seg{s.Seed, s.Off, min(s.End, off)})
	}
	if size := c.Size(); off > size {
		add(Seg{0, size, off})
	}
	add(Seg{seed, off, off + n})
	for _, s := range c {
		add(Seg{s.Seed, max(s.Off, off+n), s.End})
	}
	return out
}

// Equal reports whether c and d describe the same bytes.
func (c Content) Equal(d Content) bool { return slices.Equal(c, d) }

func (c Content) String() string {
	if len(c) == 1 {
		return fmt.Sprintf("seed %x, %d bytes", c[0].Seed, c[0].End)
	}
	return fmt.Sprintf("%d bytes in %d runs %v", c.Size(), len(c), []Seg(c))
}

// ReadAt implements io.ReaderAt over the content's bytes.
func (c Content) ReadAt(p []byte, off int64) (int, error) {
	size := c.Size()
	if off >= size {
		return 0, io.EOF
	}
	n := 0
	i, _ := slices.BinarySearchFunc(c, off, func(s Seg, off int64) int {
		switch {
		case s.End <= off:
			return -1
		case s.Off > off:
			return 1
		}
		return 0
	})
	for ; i < len(c) && n < len(p); i++ {
		s := c[i]
		k := int(min(int64(len(p)-n), s.End-off))
		seeded.Fill(p[n:n+k], s.Seed, off)
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader is a fresh io.ReadSeeker over the content (the SDK rewinds bodies
// to sign them).
func (c Content) Reader() io.ReadSeeker { return io.NewSectionReader(c, 0, c.Size()) }

// Bytes is what Match compares with: a Content, or a range of one
// (io.NewSectionReader).
type Bytes interface {
	io.ReaderAt
	Size() int64
}

// Match reads r to its end and reports which of cands it equals: the index
// of the first equal one, or -1. diff holds, per candidate, the first
// position where r differs (its length when r is a prefix or an extension
// of it, -1 when equal), for the report when nothing matches. n is the
// number of bytes read.
func Match(r io.Reader, cands []Bytes) (idx int, n int64, diff []int64, err error) {
	diff = make([]int64, len(cands))
	for i := range diff {
		diff[i] = -1
	}
	buf := make([]byte, 256<<10)
	want := make([]byte, len(buf))
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			for i, c := range cands {
				if diff[i] >= 0 {
					continue
				}
				m, _ := c.ReadAt(want[:k], n)
				for j := range k {
					if j >= m || buf[j] != want[j] {
						diff[i] = n + int64(j)
						break
					}
				}
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return -1, n, diff, rerr
		}
	}
	idx = -1
	for i, c := range cands {
		if diff[i] < 0 && c.Size() != n {
			diff[i] = min(n, c.Size())
		}
		if diff[i] < 0 && idx < 0 {
			idx = i
		}
	}
	return idx, n, diff, nil
}

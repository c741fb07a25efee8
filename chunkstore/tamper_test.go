package chunkstore_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

// readChecked reads a range and checks the one promise that matters under
// attack: every byte handed out is the right byte. It returns the error.
func readChecked(t *testing.T, s *chunkstore.Store, id chunkstore.ID, p []byte, off, length int64) error {
	t.Helper()
	r, err := s.Open(ctx, id, off, length)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if w := want(p, off, length); !bytes.HasPrefix(w, got) {
		t.Fatalf("range [%d,+%d) returned wrong bytes", off, length)
	}
	return err
}

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("%s: got %v, want ErrCorrupt", what, err)
	}
}

// TestFlipEveryByte flips bits in every byte of a sealed 3-segment chunk:
// reads of the damaged segment (or of anything, if the header is damaged)
// fail with ErrCorrupt, and reads of other segments still succeed.
func TestFlipEveryByte(t *testing.T) {
	const seg, n = 16, 40
	s, b := newStore(t, seg)
	p := pseudoRandom(11, n)
	id := putChunk(t, s, p)
	path := b.Path(id.String())
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	segAt := func(pos int) int64 { return int64(pos-chunkstore.HeaderSize) / (seg + chunkstore.SegmentOverhead) }
	for pos := range orig {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(orig)
			bad[pos] ^= mask
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, "whole chunk", readChecked(t, s, id, p, 0, -1))
			if pos < chunkstore.HeaderSize {
				wantCorrupt(t, "empty range, damaged header", readChecked(t, s, id, p, 0, 0))
				// Even a range the forged header rules out is corruption,
				// not a bad range.
				wantCorrupt(t, "bad range, damaged header", readChecked(t, s, id, p, n, 1))
				continue
			}
			k := segAt(pos)
			wantCorrupt(t, "damaged segment", readChecked(t, s, id, p, k*seg, min(seg, n-k*seg)))
			for j := int64(0); j*seg < n; j++ {
				if j != k {
					if err := readChecked(t, s, id, p, j*seg, min(seg, n-j*seg)); err != nil {
						t.Fatalf("byte %d (segment %d) damaged; reading segment %d: %v", pos, k, j, err)
					}
				}
			}
		}
	}
	if st := s.Stats(); st.CorruptReads == 0 {
		t.Error("CorruptReads not counted")
	}
}

// TestFlipDefaultSegments spot-checks damage in a chunk with real 64 KiB
// segments: header, first and last byte of each segment, tags.
func TestFlipDefaultSegments(t *testing.T) {
	s, b := newStore(t, 0)
	n := chunkstore.SegmentSize + 100
	p := pseudoRandom(12, n)
	id := putChunk(t, s, p)
	path := b.Path(id.String())
	orig, _ := os.ReadFile(path)
	h, S := chunkstore.HeaderSize, chunkstore.SegmentSize+chunkstore.SegmentOverhead
	for _, pos := range []int{0, 4, 5, 8, 9, 16, 17, h - 1, h, h + 1, h + S - 17, h + S - 1, h + S, len(orig) - 1} {
		bad := bytes.Clone(orig)
		bad[pos] ^= 0x40
		os.WriteFile(path, bad, 0o600)
		wantCorrupt(t, "whole chunk", readChecked(t, s, id, p, 0, -1))
	}
}

func TestTruncate(t *testing.T) {
	const seg, n = 16, 40
	s, b := newStore(t, seg)
	p := pseudoRandom(13, n)
	id := putChunk(t, s, p)
	path := b.Path(id.String())
	orig, _ := os.ReadFile(path)
	for size := range len(orig) {
		if err := os.WriteFile(path, orig[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		err := readChecked(t, s, id, p, 0, -1)
		wantCorrupt(t, "truncated", err)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated to %d: %v leaks an EOF", size, err)
		}
	}
}

func TestExtend(t *testing.T) {
	const seg, n = 16, 40
	s, b := newStore(t, seg)
	p := pseudoRandom(14, n)
	id := putChunk(t, s, p)
	path := b.Path(id.String())
	orig, _ := os.ReadFile(path)
	last := orig[len(orig)-(n%seg+chunkstore.SegmentOverhead):]
	for _, tail := range [][]byte{{0}, last, orig} {
		os.WriteFile(path, append(bytes.Clone(orig), tail...), 0o600)
		wantCorrupt(t, "extended", readChecked(t, s, id, p, 0, -1))
		wantCorrupt(t, "extended, last byte", readChecked(t, s, id, p, n-1, 1))
	}
}

// TestSwapAndSplice: chunk files and segments are bound to their chunk id
// and their place, so moving them around is detected.
func TestSwapAndSplice(t *testing.T) {
	const seg, n = 16, 40
	s, b := newStore(t, seg)
	pa, pb := pseudoRandom(15, n), pseudoRandom(16, n)
	a, bID := putChunk(t, s, pa), putChunk(t, s, pb)
	fa, _ := os.ReadFile(b.Path(a.String()))
	fb, _ := os.ReadFile(b.Path(bID.String()))
	h, S := chunkstore.HeaderSize, seg+chunkstore.SegmentOverhead

	// Segments 0 and 1 swapped within a file.
	re := bytes.Clone(fa)
	copy(re[h:], fa[h+S:h+2*S])
	copy(re[h+S:], fa[h:h+S])
	os.WriteFile(b.Path(a.String()), re, 0o600)
	wantCorrupt(t, "reordered", readChecked(t, s, a, pa, 0, seg))

	// A segment of chunk B spliced into chunk A (header of A kept).
	sp := bytes.Clone(fa)
	copy(sp[h:], fb[h:h+S])
	os.WriteFile(b.Path(a.String()), sp, 0o600)
	wantCorrupt(t, "spliced", readChecked(t, s, a, pa, 0, seg))

	// A's file renamed to B's name.
	os.WriteFile(b.Path(a.String()), fa, 0o600)
	if err := os.Rename(b.Path(a.String()), b.Path(bID.String())); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, "swapped", readChecked(t, s, bID, pb, 0, -1))
	if _, err := s.Open(ctx, a, 0, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("moved-away chunk: %v", err)
	}
}

package crashtest

import (
	"bytes"
	"io"
	"testing"

	"excloud.dev/buckets/internal/seeded"
)

// The model must describe exactly the bytes a pwrite sequence produces, or
// the harness would call a correct daemon wrong.
func TestContentPatchMatchesBytes(t *testing.T) {
	c := Gen(7, 100_003)
	want := make([]byte, c.Size())
	if _, err := io.ReadFull(c.Reader(), want); err != nil {
		t.Fatal(err)
	}
	patch := func(seed uint64, off, n int64) {
		c = c.Patch(seed, off, n)
		if end := off + n; end > int64(len(want)) {
			want = append(want, make([]byte, end-int64(len(want)))...)
		}
		seeded.Fill(want[off:off+n], seed, off)
	}
	patch(9, 13, 4096)
	patch(11, 99_000, 3000) // past the end
	patch(12, 120_000, 5)   // leaves a hole of zeros
	patch(9, 4000, 200)     // inside an earlier patch of the same seed
	patch(13, 0, c.Size())  // everything
	patch(14, 1, 1)
	got := make([]byte, c.Size())
	if _, err := io.ReadFull(c.Reader(), got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("content model %v disagrees with the bytes", c)
	}
	idx, n, _, err := Match(bytes.NewReader(got), []Bytes{Gen(13, c.Size()), c})
	if err != nil || idx != 1 || n != c.Size() {
		t.Fatalf("Match = %d, %d, %v; want 1, %d", idx, n, err, c.Size())
	}
}

// A mix of two versions (the first half of one, the second of the other)
// matches neither, and a prefix matches nothing either.
func TestMatchRejectsMixAndPrefix(t *testing.T) {
	a, b := Gen(1, 1<<20), Gen(2, 1<<20)
	mix := make([]byte, 1<<20)
	a.ReadAt(mix[:1<<19], 0)
	b.ReadAt(mix[1<<19:], 1<<19)
	idx, _, diff, err := Match(bytes.NewReader(mix), []Bytes{a, b})
	if err != nil || idx != -1 || diff[0] != 1<<19 || diff[1] != 0 {
		t.Fatalf("mix: idx %d diff %v err %v", idx, diff, err)
	}
	idx, _, diff, _ = Match(bytes.NewReader(mix[:1000]), []Bytes{a})
	if idx != -1 || diff[0] != 1000 {
		t.Fatalf("prefix: idx %d diff %v", idx, diff)
	}
}

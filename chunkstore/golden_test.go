package chunkstore_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

var update = flag.Bool("update", false, "rewrite the golden chunk files in testdata")

// goldenChunks are chunk files written by format version 1 and committed as
// hex. Today's code must still read them: a failure here means the on-disk
// format changed, which needs a new FormatVersion, not a new golden file.
var goldenChunks = []struct {
	seg, n int
	seed   uint64
}{
	{0, 0, 20},
	{0, 100, 21},
	{16, 40, 22},
}

func goldenPath(seg, n int) string {
	return filepath.Join("testdata", "golden", fmt.Sprintf("v1-seg%d-len%d.hex", seg, n))
}

func TestGoldenChunks(t *testing.T) {
	if got := chunkstore.SealedSize(chunkstore.MaxChunkSize); got != 4195377 {
		t.Errorf("SealedSize(MaxChunkSize) = %d, docs/format.md says 4195377", got)
	}
	for _, g := range goldenChunks {
		s, b := newStore(t, g.seg)
		p := pseudoRandom(g.seed, g.n)
		// Golden chunks predate per-org ids; they keep their version 1 ids.
		id := chunkstore.SumV1(s, p)
		path := goldenPath(g.seg, g.n)
		if *update {
			putChunk(t, s, p)
			data, err := os.ReadFile(b.Path(id.String()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(hex.EncodeToString(data)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Logf("%s holds chunk %v", path, id)
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := hex.DecodeString(strings.TrimSpace(string(text)))
		if err != nil {
			t.Fatal(err)
		}
		if err := plant(b.Path(id.String()), data); err != nil {
			t.Fatal(err)
		}
		got, err := readRange(s, id, 0, -1, nil)
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("%s: %v", path, err)
		}
		seg := g.seg
		if seg == 0 {
			seg = chunkstore.SegmentSize
		}
		nseg := max(1, (g.n+seg-1)/seg)
		if len(data) != chunkstore.HeaderSize+g.n+nseg*chunkstore.SegmentOverhead {
			t.Errorf("%s: %d bytes, not header + plaintext + one tag per segment", path, len(data))
		}
	}
}

// plant writes a chunk file straight into the local backend's layout.
func plant(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

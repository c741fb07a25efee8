package chunkstore_test

import (
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

// FuzzOpen feeds arbitrary bytes to the chunk decoder as the file of a
// chunk. Whatever the input, Open and Read must not panic, must allocate
// no more than a bounded segment buffer, and must either fail or return
// exactly the requested number of bytes.
func FuzzOpen(f *testing.F) {
	s, b := newStore(f, 16)
	// All seeds are files of this one id, so that valid ones authenticate.
	id := s.Sum(testOrg, pseudoRandom(22, 40))
	for _, g := range goldenChunks {
		if g.seg != 16 {
			continue
		}
		text, err := os.ReadFile(goldenPath(g.seg, g.n))
		if err != nil {
			f.Fatal(err)
		}
		data, _ := hex.DecodeString(strings.TrimSpace(string(text)))
		f.Add(data, int64(0), int64(-1))
		f.Add(data, int64(17), int64(5))
		f.Add(data[:len(data)-1], int64(0), int64(-1))
	}
	f.Add([]byte("EXCK\x01\x00\x10\x00\x00\x00\x00\x00\x00\x40\x00\x00"), int64(0), int64(-1))
	f.Add([]byte{}, int64(0), int64(0))
	path := b.Path(id.String())
	f.Fuzz(func(t *testing.T, data []byte, off, length int64) {
		if err := plant(path, data); err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, id, off, length)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("planted file reported missing: %v", err)
			}
			return
		}
		defer r.Close()
		got, err := io.ReadAll(io.LimitReader(r, chunkstore.MaxChunkSize+1))
		if err == nil && length >= 0 && int64(len(got)) != length {
			t.Fatalf("asked for %d bytes, got %d without an error", length, len(got))
		}
	})
}

package chunkstore_test

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
)

var ctx = context.Background()

func testKeys(t testing.TB, seed byte) chunkstore.Keys {
	t.Helper()
	k, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{seed}, chunkstore.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newStore returns a store on a real local backend in a temporary directory;
// seg > 0 selects a small segment size.
func newStore(t testing.TB, seg int) (*chunkstore.Store, *local.Backend) {
	t.Helper()
	b, err := local.New(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(b, testKeys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if seg > 0 {
		chunkstore.SetSegmentSize(s, seg)
	}
	return s, b
}

// pseudoRandom stays apart from internal/seeded: the golden chunks in
// testdata/golden were written from its ChaCha8 stream.
func pseudoRandom(seed uint64, n int) []byte {
	p := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(p)
	return p
}

func putChunk(t testing.TB, s *chunkstore.Store, p []byte) chunkstore.ID {
	t.Helper()
	id := s.Sum(testOrg, p)
	if err := s.Put(ctx, id, p); err != nil {
		t.Fatal(err)
	}
	return id
}

// readRange reads a range through wrap (an iotest reader, or nil).
func readRange(s *chunkstore.Store, id chunkstore.ID, off, length int64, wrap func(io.Reader) io.Reader) ([]byte, error) {
	r, err := s.Open(ctx, id, off, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var src io.Reader = r
	if wrap != nil {
		src = wrap(r)
	}
	return io.ReadAll(src)
}

func want(p []byte, off, length int64) []byte {
	if length < 0 {
		return p[off:]
	}
	return p[off : off+length]
}

func TestRoundTrip(t *testing.T) {
	s, b := newStore(t, 0)
	const S = chunkstore.SegmentSize
	for _, n := range []int{0, 1, S - 1, S, S + 1, 2*S + 7, chunkstore.MaxChunkSize - 1, chunkstore.MaxChunkSize} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := pseudoRandom(uint64(n), n)
			id := putChunk(t, s, p)
			fi, err := os.Stat(b.Path(id.String()))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != chunkstore.SealedSize(int64(n)) {
				t.Errorf("file is %d bytes, SealedSize says %d", fi.Size(), chunkstore.SealedSize(int64(n)))
			}
			r, err := s.Open(ctx, id, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			// TestReader checks short reads, zero-length reads and EOF handling.
			if err := iotest.TestReader(r, p); err != nil {
				t.Fatal(err)
			}
			r.Close()
			// Spot ranges around the first and last segment boundaries and
			// both ends; the boundaries in between are no different.
			var offs []int64
			for k := int64(0); k <= int64(n); k += S {
				if k <= 2*S || k >= int64(n)-2*S {
					offs = append(offs, k-1, k, k+1)
				}
			}
			offs = append(offs, int64(n)-1, int64(n))
			for _, off := range offs {
				for _, length := range []int64{-1, 0, 1, 2, 4096, S - 1, S, S + 1} {
					if off < 0 || off > int64(n) || length > int64(n)-off {
						continue
					}
					if length < 0 && off > 0 && int64(n)-off > 3*S {
						continue // a long read to the end proves nothing new
					}
					got, err := readRange(s, id, off, length, iotest.HalfReader)
					if err != nil || !bytes.Equal(got, want(p, off, length)) {
						t.Fatalf("range [%d,+%d): %d bytes, %v", off, length, len(got), err)
					}
				}
			}
		})
	}
}

// TestAllRanges reads every (off, length) of a 4-segment chunk and checks
// that each read fetches exactly the segments it overlaps, and the header
// the first time.
func TestAllRanges(t *testing.T) {
	const seg, n = 16, 50
	s, _ := newStore(t, seg)
	p := pseudoRandom(7, n)
	id := putChunk(t, s, p)
	wraps := []func(io.Reader) io.Reader{nil, iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader}
	k := 0
	for off := int64(0); off <= n; off++ {
		for length := int64(-1); length <= n-off; length++ {
			end := n
			if length >= 0 {
				end = int(off + length)
			}
			first := min(off/seg, (n-1)/seg)
			last := first
			if int64(end) > off {
				last = int64(end-1) / seg
			}
			var sealed int64
			for i := first; i <= last; i++ {
				sealed += min(seg, n-i*seg) + chunkstore.SegmentOverhead
			}
			before := s.Stats()
			k++
			got, err := readRange(s, id, off, length, wraps[k%len(wraps)])
			if err != nil || !bytes.Equal(got, p[off:end]) {
				t.Fatalf("range [%d,+%d): %x, %v; want %x", off, length, got, err, p[off:end])
			}
			after := s.Stats()
			// The header is read by the first Open only: later ones find
			// it in the store's header cache.
			want := sealed
			if k == 1 {
				want += int64(chunkstore.HeaderSize)
			}
			if d := after.BytesReadFromBackend - before.BytesReadFromBackend; d != want {
				t.Fatalf("range [%d,+%d) read %d bytes from the backend, want %d", off, length, d, want)
			}
		}
	}
}

func TestRangeErrors(t *testing.T) {
	s, _ := newStore(t, 0)
	id := putChunk(t, s, make([]byte, 100))
	for _, r := range [][2]int64{{-1, 1}, {101, 0}, {101, -1}, {0, 101}, {100, 1}, {50, 51}} {
		if _, err := s.Open(ctx, id, r[0], r[1]); !errors.Is(err, chunkstore.ErrRange) {
			t.Errorf("Open(%d, %d) = %v, want ErrRange", r[0], r[1], err)
		}
	}
}

func TestMissing(t *testing.T) {
	s, _ := newStore(t, 0)
	id := s.Sum(testOrg, []byte("never stored"))
	if _, err := s.Open(ctx, id, 0, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open: %v", err)
	}
	if ok, err := s.Has(ctx, id); ok || err != nil {
		t.Errorf("Has = %v, %v", ok, err)
	}
	if err := s.Delete(ctx, id); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete: %v", err)
	}
}

// TestMultiChunkStream cuts a stream into chunks the way the object layer
// does and reads it back through the chunk readers.
func TestMultiChunkStream(t *testing.T) {
	s, _ := newStore(t, 0)
	const total = 2*chunkstore.MaxChunkSize + 12345
	src := iotest.HalfReader(iotest.DataErrReader(io.LimitReader(rand.NewChaCha8([32]byte{9}), total)))
	in := sha256.New()
	buf := make([]byte, chunkstore.MaxChunkSize)
	var ids []chunkstore.ID
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			in.Write(buf[:n])
			ids = append(ids, putChunk(t, s, buf[:n]))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d chunks, want 3", len(ids))
	}
	out := sha256.New()
	var n int64
	wraps := []func(io.Reader) io.Reader{iotest.HalfReader, iotest.DataErrReader, iotest.OneByteReader}
	for i, id := range ids {
		r, err := s.Open(ctx, id, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		m, err := io.Copy(out, wraps[i](r))
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if n != total || !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Fatalf("read back %d bytes, want %d; digests equal: %v", n, total, bytes.Equal(in.Sum(nil), out.Sum(nil)))
	}
}

func TestDedup(t *testing.T) {
	s, b := newStore(t, 0)
	p := pseudoRandom(3, 100_000)
	id := putChunk(t, s, p)
	if id2 := putChunk(t, s, bytes.Clone(p)); id2 != id {
		t.Fatalf("equal data, different ids")
	}
	st := s.Stats()
	if st.ChunksWritten != 1 || st.ChunksDeduped != 1 {
		t.Fatalf("written %d, deduped %d; want 1, 1", st.ChunksWritten, st.ChunksDeduped)
	}
	var files int
	filepath.WalkDir(b.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return nil
	})
	if files != 1 {
		t.Fatalf("%d files on disk, want 1", files)
	}
	var listed []chunkstore.ID
	if err := s.List(ctx, func(id chunkstore.ID, size int64) error {
		listed = append(listed, id)
		if size != chunkstore.SealedSize(int64(len(p))) {
			t.Errorf("List size %d, want %d", size, chunkstore.SealedSize(int64(len(p))))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != id {
		t.Fatalf("List = %v", listed)
	}
}

// TestDamagedFileReplaced: a file of the wrong size under a chunk's name can
// never authenticate, so Put must replace it rather than dedup against it.
func TestDamagedFileReplaced(t *testing.T) {
	s, b := newStore(t, 0)
	p := pseudoRandom(4, 1000)
	id := putChunk(t, s, p)
	path := b.Path(id.String())
	if err := os.Truncate(path, 500); err != nil {
		t.Fatal(err)
	}
	putChunk(t, s, p)
	if got, err := readRange(s, id, 0, -1, nil); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("after re-Put: %v", err)
	}
}

func TestListSkipsForeignNames(t *testing.T) {
	s, b := newStore(t, 0)
	id := putChunk(t, s, []byte("a chunk"))
	for _, name := range []string{"notachunk", "3FA4" + id.String()[4:], id.String()[:60]} {
		if err := b.Put(ctx, name, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	s.List(ctx, func(got chunkstore.ID, size int64) error {
		n++
		if got != id {
			t.Errorf("List gave %v", got)
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("List gave %d ids, want 1", n)
	}
}

func TestSumIsKeyed(t *testing.T) {
	s1, _ := newStore(t, 0)
	b, _ := local.New(t.TempDir())
	s2, _ := chunkstore.New(b, testKeys(t, 2))
	p := []byte("same data")
	if s1.Sum(testOrg, p) != s1.Sum(testOrg, bytes.Clone(p)) {
		t.Fatal("Sum is not deterministic")
	}
	if s1.Sum(testOrg, p) == s2.Sum(testOrg, p) {
		t.Fatal("Sum does not depend on the key")
	}
	if s1.Sum(testOrg, p) == chunkstore.ID(sha256.Sum256(p)) {
		t.Fatal("Sum is a plain hash")
	}
}

// testOrg is the org the tests' chunks are written for.
const testOrg = "otest00000000"

// Chunk ids are keyed per org (format version 2 of chunk ids): equal data
// gets equal ids inside an org and unrelated ones across orgs, and neither
// is the version 1 id (HMAC under the id key itself) that existing chunks
// keep.
func TestSumIsPerOrg(t *testing.T) {
	s, _ := newStore(t, 0)
	p := []byte("the same file in two orgs")
	a, b := s.Sum("oaaaaaaaaaaaa", p), s.Sum("obbbbbbbbbbbb", p)
	if a == b {
		t.Fatal("two orgs get the same id for the same data: dedup would cross tenants")
	}
	if a != s.Sum("oaaaaaaaaaaaa", bytes.Clone(p)) {
		t.Fatal("one org gets two ids for the same data: no dedup inside an org")
	}
	if v1 := chunkstore.SumV1(s, p); v1 == a || v1 == b {
		t.Fatal("a version 2 id equals the version 1 id of the same data")
	}
	k := testKeys(t, 1)
	mac := hmac.New(sha256.New, k.ID[:])
	mac.Write(p)
	if chunkstore.SumV1(s, p) != chunkstore.ID(mac.Sum(nil)) {
		t.Fatal("SumV1 is not HMAC-SHA-256 under the id key")
	}
	// docs/format.md, "Chunk ids": the org's key is HKDF-SHA-256 of the id
	// key with info "excloud-buckets v2 chunk-id org " || org id.
	orgKey, err := hkdf.Key(sha256.New, k.ID[:], nil, "excloud-buckets v2 chunk-id org oaaaaaaaaaaaa", 32)
	if err != nil {
		t.Fatal(err)
	}
	mac = hmac.New(sha256.New, orgKey)
	mac.Write(p)
	if a != chunkstore.ID(mac.Sum(nil)) {
		t.Fatal("Sum does not follow docs/format.md")
	}
}

func TestPutTooLarge(t *testing.T) {
	s, _ := newStore(t, 0)
	p := make([]byte, chunkstore.MaxChunkSize+1)
	if err := s.Put(ctx, s.Sum(testOrg, p), p); err == nil {
		t.Fatal("Put accepted a chunk over MaxChunkSize")
	}
}

func TestNewRejects(t *testing.T) {
	b, _ := local.New(t.TempDir())
	if _, err := chunkstore.New(b, chunkstore.Keys{}); err == nil {
		t.Error("New accepted zero keys")
	}
	if _, err := chunkstore.New(nil, testKeys(t, 1)); err == nil {
		t.Error("New accepted a nil backend")
	}
}

// TestMemory checks that Put and a full read hold O(segment) memory beyond
// the caller's buffer, not a sealed copy of the chunk.
func TestMemory(t *testing.T) {
	s, _ := newStore(t, 0)
	p := pseudoRandom(5, chunkstore.MaxChunkSize)
	id := s.Sum(testOrg, p)
	alloc := func(f func()) uint64 {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		return b.TotalAlloc - a.TotalAlloc
	}
	const limit = 1 << 20
	if n := alloc(func() {
		if err := s.Put(ctx, id, p); err != nil {
			t.Fatal(err)
		}
	}); n > limit {
		t.Errorf("Put of %d bytes allocated %d bytes", len(p), n)
	}
	if n := alloc(func() {
		r, err := s.Open(ctx, id, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, make([]byte, 32<<10))
		r.Close()
	}); n > limit {
		t.Errorf("reading %d bytes allocated %d bytes", len(p), n)
	}
}

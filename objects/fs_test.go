package objects_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/testutil/fulldisk"
	"excloud.dev/buckets/objects"
)

func (e *env) writer(t testing.TB, key string, truncate bool) *objects.FileWriter {
	t.Helper()
	w, err := e.l.OpenWriter(context.Background(), e.org, "b", key, truncate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func commit(t testing.TB, w *objects.FileWriter) *catalog.Manifest {
	t.Helper()
	m, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFileWriterSequentialETag(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(2*chunk+12345, 3)
	w := e.writer(t, "seq", false)
	for off := 0; off < len(data); off += 128 << 10 {
		end := min(off+128<<10, len(data))
		if _, err := w.WriteAt(ctx, data[off:end], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	m := commit(t, w)
	if m.ETag != quotedMD5(data) {
		t.Fatalf("ETag %s, want the MD5 %s", m.ETag, quotedMD5(data))
	}
	// Sequential writes make full chunks: 4 MiB, 4 MiB, the rest.
	if len(m.Extents) != 3 || m.Extents[0].Length != chunk || m.Extents[1].Length != chunk {
		t.Fatalf("extents %+v", m.Extents)
	}
	if got, _ := e.get(t, "seq", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// A small write into a large file writes one small chunk and a manifest,
// never the untouched data.
func TestFileWriterSmallWriteIntoLargeFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(3*chunk, 4)
	e.put(t, "big", data)
	before := e.chunkFiles(t)

	w := e.writer(t, "big", false)
	patch := bytes.Repeat([]byte{0xAB}, 4096)
	off := int64(chunk + chunk/4)
	if _, err := w.WriteAt(ctx, patch, off); err != nil {
		t.Fatal(err)
	}
	m := commit(t, w)
	if after := e.chunkFiles(t); after != before+1 {
		t.Fatalf("%d chunk files after, %d before: want one more", after, before)
	}
	if len(m.Extents) != 5 || m.Extents[2].Length != 4096 {
		t.Fatalf("extents %+v", m.Extents)
	}
	if !strings.HasSuffix(m.ETag, `-1"`) {
		t.Fatalf("ETag %s of a patched file looks like an MD5", m.ETag)
	}
	want := bytes.Clone(data)
	copy(want[off:], patch)
	if got, _ := e.get(t, "big", 0, -1); !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
}

// Random writes, truncates and commits, checked against a byte slice.
func TestFileWriterRandomAgainstReference(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	ref := randBytes(chunk+777, 6)
	e.put(t, "r", ref)
	w := e.writer(t, "r", false)
	for i := range 300 {
		switch op := r.IntN(10); {
		case op < 6:
			n := r.IntN(300 << 10)
			off := r.Int64N(int64(len(ref)) + 64<<10)
			p := randBytes(n, uint64(i)+100)
			if _, err := w.WriteAt(ctx, p, off); err != nil {
				t.Fatal(err)
			}
			if end := int(off) + n; end > len(ref) {
				ref = append(ref, make([]byte, end-len(ref))...)
			}
			copy(ref[off:], p)
		case op < 8:
			size := r.Int64N(int64(len(ref)) + 2<<20)
			if err := w.Truncate(ctx, size); err != nil {
				t.Fatal(err)
			}
			if int(size) < len(ref) {
				ref = ref[:size]
			} else {
				ref = append(ref, make([]byte, int(size)-len(ref))...)
			}
		case op < 9:
			commit(t, w)
		default:
			off := r.Int64N(int64(len(ref)) + 1)
			p := make([]byte, r.IntN(200<<10))
			n, err := w.ReadAt(ctx, p, off)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(p[:n], ref[off:min(int(off)+len(p), len(ref))]) {
				t.Fatalf("op %d: uncommitted read at %d differs", i, off)
			}
		}
		if w.Size() != int64(len(ref)) {
			t.Fatalf("op %d: size %d, want %d", i, w.Size(), len(ref))
		}
	}
	m := commit(t, w)
	if got, _ := e.get(t, "r", 0, -1); !bytes.Equal(got, ref) {
		t.Fatalf("committed content differs (size %d vs %d)", len(got), len(ref))
	}
	if m != nil && m.Size != int64(len(ref)) {
		t.Fatalf("size %d", m.Size)
	}
}

func TestFileWriterSmallFilesInline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := e.writer(t, "small", true)
	w.WriteAt(ctx, []byte("world"), 6)
	w.WriteAt(ctx, []byte("hello "), 0)
	m := commit(t, w)
	if string(m.Inline) != "hello world" || len(m.Extents) != 0 {
		t.Fatalf("manifest %+v", m)
	}
	if sum := md5.Sum([]byte("hello world")); m.ETag != fmt.Sprintf(`"%x"`, sum) {
		t.Fatalf("ETag %s", m.ETag)
	}
	if e.chunkFiles(t) != 0 {
		t.Fatal("a small file wrote a chunk")
	}
}

type fsPathError struct{ errno syscall.Errno }

func (e *fsPathError) Error() string { return "put chunk: " + e.errno.Error() }
func (e *fsPathError) Unwrap() error { return e.errno }

func TestFileWriterFailureKeepsPrevious(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base, err := local.New(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	fb := &fulldisk.Backend{Backend: base}
	keys, _ := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	store, err := chunkstore.New(fb, keys)
	if err != nil {
		t.Fatal(err)
	}
	l := objects.New(e.db, store, nil)
	old := randBytes(chunk+10, 8)
	if _, err := l.Put(ctx, e.org, "b", "k", bytes.NewReader(old), objects.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	w, err := l.OpenWriter(ctx, e.org, "b", "k", true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fb.Full.Store(true)
	big := randBytes(chunk+1, 9)
	// The chunk write runs in the background: the failure surfaces at the
	// write or at the commit, whichever comes first, and then sticks.
	_, werr := w.WriteAt(ctx, big, 0)
	_, cerr := w.Commit(ctx)
	if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(cerr, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, commit: %v", werr, cerr)
	}
	fb.Full.Store(false)
	if _, err := w.Commit(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit after a failed write: %v, want the sticky ENOSPC", err)
	}
	o, err := l.Open(ctx, e.org, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rd, _ := o.NewReader(ctx, 0, -1)
	got, _ := io.ReadAll(rd)
	if !bytes.Equal(got, old) {
		t.Fatal("previous version damaged")
	}
}

// A session's chunks (its base's and its own) survive GC and an S3
// overwrite of the key while it is open.
func TestFileWriterLeasesSurviveGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(2*chunk, 10)
	e.put(t, "g", data)
	w := e.writer(t, "g", false)
	if _, err := w.WriteAt(ctx, []byte("x"), 3*chunk); err != nil { // hole, then one byte
		t.Fatal(err)
	}
	e.put(t, "g", []byte("replaced")) // base chunks now unreferenced
	if _, err := e.l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	want := append(bytes.Clone(data), make([]byte, chunk)...)
	want = append(want, 'x')
	if got, err := e.get(t, "g", 0, -1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after GC: %v", err)
	}
}

func TestRenameAndSetMeta(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "d/a", []byte("A"))
	e.put(t, "d/b", []byte("B"))
	if err := e.l.Rename(ctx, e.org, "b", "d/a", "d/c"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.l.RenamePrefix(ctx, e.org, "b", "d/", "e/", 0); err != nil || n != 2 {
		t.Fatalf("%d %v", n, err)
	}
	if got, err := e.get(t, "e/c", 0, -1); err != nil || string(got) != "A" {
		t.Fatalf("%q %v", got, err)
	}
	m, err := e.l.SetMeta(ctx, e.org, "b", "e/c", map[string]string{"mode": "33261"})
	if err != nil || m.Meta["mode"] != "33261" || m.ETag != quotedMD5([]byte("A")) {
		t.Fatalf("%+v %v", m, err)
	}
}

// A chunk that a file's committed content references, gone from the store,
// reads through an open write session as damage (ErrCorrupt: EIO through
// FUSE), as it does through a plain read, not as a missing file.
func TestFileWriterMissingChunkIsCorrupt(t *testing.T) {
	e := newEnv(t)
	m := e.put(t, "gone", randBytes(chunk, 9))
	w := e.writer(t, "gone", false)
	path := ""
	filepath.WalkDir(filepath.Join(e.dir, "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == m.Extents[0].Chunk.String() {
			path = p
		}
		return nil
	})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err := w.ReadAt(context.Background(), make([]byte, 100), 10)
	if !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("read of a missing chunk through a write session: %v, want ErrCorrupt", err)
	}
}

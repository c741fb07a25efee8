package objects_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/objects"
)

const chunk = 4 << 20

// env is a real stack in a directory: Badger catalog, local chunk files,
// the object layer, one org with one bucket.
type env struct {
	dir   string
	db    *catalog.DB
	store *chunkstore.Store
	l     *objects.Layer
	org   string
}

func open(t testing.TB, dir string) *env {
	t.Helper()
	master := bytes.Repeat([]byte{7}, 32)
	keys, err := chunkstore.DeriveKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(catalog.Options{Dir: filepath.Join(dir, "catalog"), EncryptionKey: keys.Catalog[:], SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := local.New(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, db: db, store: store, l: objects.New(db, store, nil)}
	ctx := context.Background()
	orgs, err := db.ListOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orgs) == 0 {
		org, err := db.CreateOrg(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateBucket(ctx, org.ID, "b"); err != nil {
			t.Fatal(err)
		}
		e.org = org.ID
	} else {
		e.org = orgs[0].ID
	}
	return e
}

func newEnv(t testing.TB) *env { return open(t, t.TempDir()) }

// collectContinuously runs GC over and over in the background, failing the
// test if a collection fails, until the returned stopGC is called; stopGC
// returns once the last collection has ended.
func (e *env) collectContinuously(t testing.TB) (stopGC func()) {
	ctx := context.Background()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.l.GC(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	return func() {
		close(stop)
		bg.Wait()
	}
}

func (e *env) put(t testing.TB, key string, data []byte) *catalog.Manifest {
	t.Helper()
	m, err := e.l.Put(context.Background(), e.org, "b", key, bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return m
}

func (e *env) get(t testing.TB, key string, off, n int64) ([]byte, error) {
	t.Helper()
	o, err := e.l.Open(context.Background(), e.org, "b", key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	r, err := o.NewReader(context.Background(), off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (e *env) chunkFiles(t testing.TB) int {
	t.Helper()
	n := 0
	if err := e.store.List(context.Background(), func(chunkstore.ID, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// randBytes: the shared seeded content (internal/seeded).
func randBytes(n int, seed uint64) []byte { return seeded.Bytes(seed, n) }

func quotedMD5(p []byte) string { return fmt.Sprintf("\"%x\"", md5.Sum(p)) }

func TestPutGetSizes(t *testing.T) {
	e := newEnv(t)
	sizes := []int{0, 1, objects.InlineMax, objects.InlineMax + 1, objects.BodyMax, objects.BodyMax + 1, chunk - 1, chunk, chunk + 1, 2*chunk + chunk/2}
	readers := map[string]func(io.Reader) io.Reader{
		"plain":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
	}
	for _, size := range sizes {
		for name, wrap := range readers {
			if name == "onebyte" && size > chunk {
				continue // correct but slow; the half reader covers short reads
			}
			t.Run(fmt.Sprintf("%d/%s", size, name), func(t *testing.T) {
				data := randBytes(size, uint64(size))
				key := fmt.Sprintf("k%d-%s", size, name)
				m, err := e.l.Put(context.Background(), e.org, "b", key, wrap(bytes.NewReader(data)), objects.PutOptions{Size: int64(size)})
				if err != nil {
					t.Fatal(err)
				}
				if m.Size != int64(size) || m.ETag != quotedMD5(data) {
					t.Fatalf("manifest size %d etag %s, want %d %s", m.Size, m.ETag, size, quotedMD5(data))
				}
				if size <= objects.InlineMax && len(m.Extents) != 0 {
					t.Fatalf("object of %d bytes not inline", size)
				}
				got, err := e.get(t, key, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("get: err %v, equal %v", err, bytes.Equal(got, data))
				}
				if name != "plain" {
					return // ranges do not depend on how the body arrived
				}
				// Ranges around every boundary that matters.
				points := []int{0, 1, size / 2, size - 1, size, objects.InlineMax, objects.BodyMax, chunk - 1, chunk, chunk + 1, 64 << 10, 2 * chunk}
				for _, a := range points {
					for _, b := range points {
						if a < 0 || b < a || b > size {
							continue
						}
						got, err := e.get(t, key, int64(a), int64(b-a))
						if err != nil || !bytes.Equal(got, data[a:b]) {
							t.Fatalf("range [%d,%d): err %v", a, b, err)
						}
					}
				}
			})
		}
	}
}

func TestPutUnknownSize(t *testing.T) {
	e := newEnv(t)
	// Sizes around the doublings of the buffer that tells a catalog object
	// from a chunked one.
	for _, size := range []int{0, 100, objects.InlineMax, objects.InlineMax + 1, 2 * (objects.InlineMax + 1), 2*(objects.InlineMax+1) + 1, 64 << 10, objects.BodyMax, objects.BodyMax + 1, chunk + 7} {
		data := randBytes(size, 3)
		m, err := e.l.Put(context.Background(), e.org, "b", "u", iotest.HalfReader(bytes.NewReader(data)), objects.PutOptions{Size: -1})
		if err != nil || m.Size != int64(size) {
			t.Fatalf("size %d: %v %v", size, m, err)
		}
		if got, _ := e.get(t, "u", 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("size %d: content differs", size)
		}
	}
}

func TestRangeOutside(t *testing.T) {
	e := newEnv(t)
	e.put(t, "k", []byte("hello"))
	for _, r := range [][2]int64{{-1, 1}, {0, 6}, {5, 1}, {6, -1}} {
		if _, err := e.get(t, "k", r[0], r[1]); !errors.Is(err, objects.ErrInvalidRange) {
			t.Errorf("range %v: err %v, want ErrInvalidRange", r, err)
		}
	}
	if got, err := e.get(t, "k", 5, 0); err != nil || len(got) != 0 {
		t.Errorf("empty range at end: %q %v", got, err)
	}
}

// A failed put of any kind leaves the previous version as it was.
func TestFailedPutKeepsPrevious(t *testing.T) {
	e := newEnv(t)
	old := randBytes(chunk+5, 1)
	e.put(t, "k", old)
	next := randBytes(2*chunk, 2)
	wrongMD5 := md5.Sum([]byte("other"))
	cases := []struct {
		name string
		body io.Reader
		opts objects.PutOptions
		want error
	}{
		{"short body", bytes.NewReader(next[:chunk]), objects.PutOptions{Size: int64(len(next))}, objects.ErrIncompleteBody},
		{"long body", bytes.NewReader(next), objects.PutOptions{Size: chunk}, objects.ErrIncompleteBody},
		{"short small body", bytes.NewReader(next[:10]), objects.PutOptions{Size: 11}, objects.ErrIncompleteBody},
		{"bad md5", bytes.NewReader(next), objects.PutOptions{Size: int64(len(next)), ContentMD5: wrongMD5[:]}, objects.ErrBadDigest},
		{"reader error", io.MultiReader(bytes.NewReader(next[:chunk+3]), iotest.ErrReader(io.ErrClosedPipe)), objects.PutOptions{Size: -1}, io.ErrClosedPipe},
		{"verify refuses", bytes.NewReader(next), objects.PutOptions{Size: -1, Verify: func(*catalog.Manifest) error { return io.ErrNoProgress }}, io.ErrNoProgress},
		{"if-none-match", bytes.NewReader(next), objects.PutOptions{Size: -1, Cond: catalog.Condition{IfNoneMatchAny: true}}, catalog.ErrPreconditionFailed},
		{"if-match stale", bytes.NewReader(next), objects.PutOptions{Size: -1, Cond: catalog.Condition{IfMatch: `"0123"`}}, catalog.ErrPreconditionFailed},
	}
	for _, c := range cases {
		_, err := e.l.Put(context.Background(), e.org, "b", "k", c.body, c.opts)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if got, err := e.get(t, "k", 0, -1); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("%s: previous version changed (err %v)", c.name, err)
		}
	}
	// The failed puts' chunks are garbage; the live object's are not.
	if _, err := e.l.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.chunkFiles(t); n != 2 {
		t.Errorf("after GC %d chunk files, want the 2 of the live object", n)
	}
	if got, _ := e.get(t, "k", 0, -1); !bytes.Equal(got, old) {
		t.Fatal("GC damaged the live object")
	}
}

func TestMissing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.l.Open(ctx, e.org, "b", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("open missing key: %v", err)
	}
	if err := e.l.Delete(ctx, e.org, "b", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("delete missing key: %v", err)
	}
	if _, err := e.l.Put(ctx, e.org, "nobucket", "k", bytes.NewReader(nil), objects.PutOptions{Size: 0}); !errors.Is(err, catalog.ErrNoSuchBucket) {
		t.Errorf("put to missing bucket: %v", err)
	}
}

func TestCopyIsMetadataOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(3*chunk, 9)
	src := e.put(t, "src", data)
	before := e.chunkFiles(t)
	m, err := e.l.Copy(ctx, e.org, "b", "src", "b", "dst", objects.CopyOptions{
		ReplaceMeta: true, Meta: catalog.Manifest{ContentType: "text/x-copied", Meta: map[string]string{"a": "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.chunkFiles(t) != before {
		t.Error("copy wrote chunk files")
	}
	if m.ETag != src.ETag || m.ContentType != "text/x-copied" || m.Meta["a"] != "1" {
		t.Errorf("copy manifest %+v", m)
	}
	// Deleting the source must not free the copy's chunks.
	if err := e.l.Delete(ctx, e.org, "b", "src"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(t, "dst", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy unreadable after source deleted and GC: %v", err)
	}
	if e.chunkFiles(t) != before {
		t.Error("GC freed chunks the copy references")
	}
	checkErr := errors.New("precondition")
	if _, err := e.l.Copy(ctx, e.org, "b", "dst", "b", "x", objects.CopyOptions{Check: func(*catalog.Manifest) error { return checkErr }}); !errors.Is(err, checkErr) {
		t.Errorf("copy with failing check: %v", err)
	}
}

func TestDedup(t *testing.T) {
	e := newEnv(t)
	data := randBytes(2*chunk, 4)
	e.put(t, "a", data)
	e.put(t, "b", data)
	if n := e.chunkFiles(t); n != 2 {
		t.Fatalf("%d chunk files for two equal objects of 2 chunks", n)
	}
	ctx := context.Background()
	if err := e.l.Delete(ctx, e.org, "b", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.get(t, "b", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("deleting one of two equal objects damaged the other")
	}
	if err := e.l.Delete(ctx, e.org, "b", "b"); err != nil {
		t.Fatal(err)
	}
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 2 || e.chunkFiles(t) != 0 {
		t.Fatalf("GC after both deleted: %+v %v, %d files left", st, err, e.chunkFiles(t))
	}
}

// A reader that opened the old version keeps it whole while the key is
// replaced and the collector runs.
func TestReaderSurvivesOverwriteAndGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := randBytes(2*chunk, 5)
	e.put(t, "k", old)
	o, err := e.l.Open(ctx, e.org, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "k", randBytes(2*chunk, 6))
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 0 || st.Deferred != 2 {
		t.Fatalf("GC while the old version is open: %+v %v, want its 2 chunks kept", st, err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	o.Close()
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old version while replaced: err %v equal %v", err, bytes.Equal(got, old))
	}
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 2 {
		t.Errorf("GC after the reader closed: %+v %v, want the 2 old chunks deleted", st, err)
	}
}

// Concurrent writers, readers and collectors: every committed object stays
// readable with its bytes, and at the end no unreferenced chunk remains.
func TestConcurrentWritersAndGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const writers, rounds = 3, 4
	var wg sync.WaitGroup
	stopGC := e.collectContinuously(t)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				// Shared seeds make writers dedup against each other's
				// chunks, the case where a collector could race a writer.
				data := randBytes(chunk+int(i)*1000, uint64(i%3))
				key := fmt.Sprintf("w%d/%d", w, i%2)
				if _, err := e.l.Put(ctx, e.org, "b", key, bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))}); err != nil {
					t.Error(err)
					return
				}
				// Only this goroutine writes key, so it must read back
				// exactly, whatever the collector is doing meanwhile.
				got, err := e.get(t, key, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("read %s back: err %v", key, err)
					return
				}
				if i%3 == 2 {
					if err := e.l.Delete(ctx, e.org, "b", key); err != nil && !errors.Is(err, catalog.ErrNotFound) {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	stopGC()
	if _, err := e.l.GC(ctx); err != nil {
		t.Fatal(err)
	}
	// Every live object reads back; every chunk file is referenced.
	res, err := e.l.List(ctx, e.org, "b", catalog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		got, err := e.get(t, o.Key, 0, -1)
		if err != nil || quotedMD5(got) != o.ETag {
			t.Errorf("%s after concurrent GC: err %v", o.Key, err)
		}
	}
	err = e.store.List(ctx, func(id chunkstore.ID, _ int64) error {
		if n, _ := e.db.RefCount(ctx, id); n == 0 {
			t.Errorf("chunk %s unreferenced after final GC", id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptChunkIsAnError(t *testing.T) {
	e := newEnv(t)
	data := randBytes(chunk, 8)
	m := e.put(t, "k", data)
	id := m.Extents[0].Chunk.String()
	var path string
	filepath.WalkDir(filepath.Join(e.dir, "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == id {
			path = p
		}
		return nil
	})
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = e.get(t, "k", 0, -1)
	if !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("read of a flipped bit: %v, want ErrCorrupt", err)
	}
	// A range in a segment before the damage still reads.
	if got, err := e.get(t, "k", 0, 4096); err != nil || !bytes.Equal(got, data[:4096]) {
		t.Fatalf("undamaged range: %v", err)
	}
}

// TestCrashBeforeCommit kills a writer process after its chunks are durable
// and before its catalog commit. After a restart the object is absent and
// the collector reclaims the orphaned chunks.
func TestCrashBeforeCommit(t *testing.T) {
	if dir := os.Getenv("EXC_CRASH_DIR"); dir != "" {
		e := open(t, dir)
		e.put(t, "survivor", []byte("committed before the crash"))
		objects.SetBeforeCommit(e.l, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		e.put(t, "doomed", randBytes(3*chunk, 10))
		t.Fatal("still alive after SIGKILL")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashBeforeCommit$")
	cmd.Env = append(os.Environ(), "EXC_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	e := open(t, dir)
	if n := e.chunkFiles(t); n != 3 {
		t.Fatalf("%d chunk files after the crash, want the doomed object's 3", n)
	}
	if _, err := e.get(t, "doomed", 0, -1); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("uncommitted object visible after restart: %v", err)
	}
	if got, err := e.get(t, "survivor", 0, -1); err != nil || string(got) != "committed before the crash" {
		t.Fatalf("committed object after restart: %q %v", got, err)
	}
	st, err := e.l.GC(context.Background())
	if err != nil || st.Deleted != 3 || e.chunkFiles(t) != 0 {
		t.Fatalf("GC after crash: %+v %v", st, err)
	}
}

// A long read abandoned half way stops its read-ahead on Close: nothing
// keeps reading chunks, and the collector is not held back.
func TestAbandonedReadStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := randBytes(3*chunk, 12)
	e.put(t, "k", data)
	o, err := e.l.Open(ctx, e.org, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.NewReader(ctx, 10, -1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, data[10:1010]) {
		t.Fatalf("first bytes: %v", err)
	}
	r.Close()
	o.Close()
	e.put(t, "k", []byte("small now"))
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 3 || st.Deferred != 0 {
		t.Fatalf("GC after an abandoned read: %+v %v", st, err)
	}
}

// Package chunkstoretest is the conformance suite of the chunkstore.Backend
// contract. Every backend runs it from its own tests:
//
//	func TestBackend(t *testing.T) {
//		chunkstoretest.Run(t, func(t *testing.T) chunkstore.Backend {
//			b, err := local.New(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return b
//		})
//	}
//
// newBackend must return an empty backend each time it is called.
package chunkstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"testing/iotest"

	"excloud.dev/buckets/chunkstore"
)

// Run runs the conformance suite against backends made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) chunkstore.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, chunkstore.Backend)
	}{
		{"PutOpen", testPutOpen},
		{"Ranges", testRanges},
		{"Empty", testEmpty},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"PutReaderError", testPutReaderError},
		{"PutCancel", testPutCancel},
		{"OpenCancel", testOpenCancel},
		{"PutExisting", testPutExisting},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBackend(t)) })
	}
}

func randomBytes(t testing.TB, n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

// randomName returns a name shaped like a chunk id.
func randomName(t testing.TB) string { return hex.EncodeToString(randomBytes(t, chunkstore.IDSize)) }

func put(t *testing.T, b chunkstore.Backend, name string, p []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, bytes.NewReader(p)); err != nil {
		t.Fatalf("Put(%s): %v", name, err)
	}
}

func read(t *testing.T, b chunkstore.Backend, name string, off, length int64) ([]byte, error) {
	t.Helper()
	r, err := b.Open(context.Background(), name, off, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func wantNotExist(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: got %v, want an fs.ErrNotExist error", op, err)
	}
}

// wantAbsent checks that nothing is visible under name, by every method.
func wantAbsent(t *testing.T, b chunkstore.Backend, name string) {
	t.Helper()
	_, err := b.Stat(context.Background(), name)
	wantNotExist(t, "Stat", err)
	_, err = b.Open(context.Background(), name, 0, -1)
	wantNotExist(t, "Open", err)
	if names := list(t, b, ""); slices.Contains(names, name) {
		t.Errorf("List shows %s", name)
	}
}

func list(t *testing.T, b chunkstore.Backend, prefix string) []string {
	t.Helper()
	var names []string
	err := b.List(context.Background(), prefix, func(name string, size int64) error {
		names = append(names, name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(names)
	return names
}

func testPutOpen(t *testing.T, b chunkstore.Backend) {
	// Adversarial readers: the backend must not assume full or error-free
	// reads from the source.
	wraps := map[string]func(io.Reader) io.Reader{
		"OneByte": iotest.OneByteReader,
		"Half":    iotest.HalfReader,
		"DataErr": iotest.DataErrReader,
	}
	for wname, wrap := range wraps {
		t.Run(wname, func(t *testing.T) {
			p := randomBytes(t, 100_003)
			name := randomName(t)
			if err := b.Put(context.Background(), name, wrap(bytes.NewReader(p))); err != nil {
				t.Fatal(err)
			}
			size, err := b.Stat(context.Background(), name)
			if err != nil || size != int64(len(p)) {
				t.Fatalf("Stat = %d, %v; want %d", size, err, len(p))
			}
			r, err := b.Open(context.Background(), name, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, p); err != nil {
				t.Error(err)
			}
			r.Close()
		})
	}
}

func testRanges(t *testing.T, b chunkstore.Backend) {
	p := randomBytes(t, 10_000)
	name := randomName(t)
	put(t, b, name, p)
	n := int64(len(p))
	for _, off := range []int64{0, 1, 4095, 4096, n - 1, n} {
		for _, length := range []int64{-1, 0, 1, 2, 4096, n - off} {
			if length > n-off {
				continue
			}
			want := p[off:]
			if length >= 0 {
				want = p[off : off+length]
			}
			got, err := read(t, b, name, off, length)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Open(%d, %d): %d bytes, %v; want %d bytes", off, length, len(got), err, len(want))
			}
		}
	}
	// Past the end: a short read or io.ErrUnexpectedEOF, never invented bytes.
	for _, r := range [][2]int64{{n - 10, 20}, {n, 5}, {n + 100, 5}, {n + 100, -1}} {
		got, err := read(t, b, name, r[0], r[1])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Open(%d, %d) past the end: %v", r[0], r[1], err)
		}
		if want := p[min(r[0], n):]; !bytes.Equal(got, want) {
			t.Errorf("Open(%d, %d) past the end: got %d bytes, want %d", r[0], r[1], len(got), len(want))
		}
	}
}

func testEmpty(t *testing.T, b chunkstore.Backend) {
	name := randomName(t)
	put(t, b, name, nil)
	if size, err := b.Stat(context.Background(), name); err != nil || size != 0 {
		t.Fatalf("Stat = %d, %v; want 0", size, err)
	}
	got, err := read(t, b, name, 0, -1)
	if err != nil || len(got) != 0 {
		t.Fatalf("read = %d bytes, %v", len(got), err)
	}
}

func testMissing(t *testing.T, b chunkstore.Backend) {
	name := randomName(t)
	wantAbsent(t, b, name)
	wantNotExist(t, "Delete", b.Delete(context.Background(), name))
	_, err := b.Open(context.Background(), name, 10, 10)
	wantNotExist(t, "Open range", err)
}

func testDelete(t *testing.T, b chunkstore.Backend) {
	keep, gone := randomName(t), randomName(t)
	put(t, b, keep, []byte("keep"))
	put(t, b, gone, []byte("gone"))
	if err := b.Delete(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, b, gone)
	wantNotExist(t, "second Delete", b.Delete(context.Background(), gone))
	if got, err := read(t, b, keep, 0, -1); err != nil || string(got) != "keep" {
		t.Fatalf("other name after Delete: %q, %v", got, err)
	}
}

func testList(t *testing.T, b chunkstore.Backend) {
	if names := list(t, b, ""); len(names) != 0 {
		t.Fatalf("empty backend lists %v", names)
	}
	sizes := map[string]int64{}
	for i, pre := range []string{"00", "0011", "001122", "ff", "ab", "abab"} {
		name := pre + randomName(t)[len(pre):]
		put(t, b, name, make([]byte, i*10))
		sizes[name] = int64(i * 10)
	}
	got := map[string]int64{}
	err := b.List(context.Background(), "", func(name string, size int64) error {
		if _, dup := got[name]; dup {
			t.Errorf("List repeats %s", name)
		}
		got[name] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(sizes) {
		t.Fatalf("List = %v, want %v", got, sizes)
	}
	for _, prefix := range []string{"0", "00", "001", "0011", "00112", "001122", "ab", "f", "ffff", "zz", "e"} {
		var want []string
		for name := range sizes {
			if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		if got := list(t, b, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %v, want %v", prefix, got, want)
		}
	}
}

func testListStops(t *testing.T, b chunkstore.Backend) {
	for range 3 {
		put(t, b, randomName(t), []byte("x"))
	}
	stop := errors.New("stop")
	calls := 0
	err := b.List(context.Background(), "", func(string, int64) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List after fn error: %v after %d calls; want the error after 1 call", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = b.List(ctx, "", func(string, int64) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("List with cancelled ctx: %v", err)
	}
}

func testPutReaderError(t *testing.T, b chunkstore.Backend) {
	boom := errors.New("boom")
	for wname, r := range map[string]io.Reader{
		"ErrAfterData": io.MultiReader(bytes.NewReader(randomBytes(t, 300_000)), iotest.ErrReader(boom)),
		"Timeout":      iotest.TimeoutReader(bytes.NewReader(randomBytes(t, 300_000))),
	} {
		t.Run(wname, func(t *testing.T) {
			name := randomName(t)
			if err := b.Put(context.Background(), name, r); err == nil {
				t.Fatal("Put succeeded with a failing reader")
			}
			wantAbsent(t, b, name)
		})
	}
}

// cancelReader cancels its context after the first read.
type cancelReader struct {
	r      io.Reader
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.cancel()
	return n, err
}

func testPutCancel(t *testing.T, b chunkstore.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	name := randomName(t)
	if err := b.Put(ctx, name, bytes.NewReader([]byte("data"))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled ctx: %v", err)
	}
	wantAbsent(t, b, name)

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	name = randomName(t)
	r := &cancelReader{r: iotest.HalfReader(bytes.NewReader(randomBytes(t, 1<<20))), cancel: cancel}
	if err := b.Put(ctx, name, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled midway: %v", err)
	}
	wantAbsent(t, b, name)
}

func testOpenCancel(t *testing.T, b chunkstore.Backend) {
	name := randomName(t)
	put(t, b, name, randomBytes(t, 1<<20))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := b.Open(ctx, name, 0, -1); err == nil {
		_, err = io.ReadAll(r)
		r.Close()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read with cancelled ctx: %v", err)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled ctx: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	r, err := b.Open(ctx, name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v", err)
	}
}

// testPutExisting: names are content addresses, so a backend may keep or
// replace an existing name, but a reader sees one whole version.
func testPutExisting(t *testing.T, b chunkstore.Backend) {
	name := randomName(t)
	first, second := randomBytes(t, 5000), randomBytes(t, 5000)
	put(t, b, name, first)
	put(t, b, name, second)
	got, err := read(t, b, name, 0, -1)
	if err != nil || !(bytes.Equal(got, first) || bytes.Equal(got, second)) {
		t.Fatalf("after second Put: %d bytes, %v; want one of the two contents", len(got), err)
	}
	if names := list(t, b, ""); len(names) != 1 {
		t.Fatalf("List = %v, want one name", names)
	}
}

func testConcurrent(t *testing.T, b chunkstore.Backend) {
	const n = 16
	data := make([][]byte, n)
	names := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		data[i], names[i] = randomBytes(t, 20_000+i), randomName(t)
		// Half the writers share a name: same-name Puts must not corrupt
		// each other.
		if i%2 == 1 {
			names[i], data[i] = names[i-1], data[i-1]
		}
	}
	for i := range n {
		wg.Go(func() {
			if err := b.Put(context.Background(), names[i], bytes.NewReader(data[i])); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if got, err := read(t, b, names[i], 0, -1); err != nil || !bytes.Equal(got, data[i]) {
			t.Errorf("%s: %d bytes, %v", names[i], len(got), err)
		}
	}
}

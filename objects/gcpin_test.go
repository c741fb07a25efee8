package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// A reader held open on one object (a client reading slowly, a file left
// open on the mount) does not hold back the collection of anything else:
// the deleted objects' chunks are freed at once, the held object's are kept
// although nothing references them any more, and it reads to its end.
func TestHeldReaderDoesNotStopGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	held := randBytes(3*chunk, 30)
	e.put(t, "held", held)
	e.put(t, "other", randBytes(2*chunk, 31))

	o, err := e.l.Open(ctx, e.org, "b", "held")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := o.NewReader(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 1000)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"other", "held"} {
		if err := e.l.Delete(ctx, e.org, "b", k); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 2 || st.Deferred != 3 {
		t.Fatalf("GC with a reader held open: %+v %v; want other's 2 chunks deleted, held's 3 kept", st, err)
	}
	if n := e.chunkFiles(t); n != 3 {
		t.Fatalf("%d chunk files after GC, want the held object's 3", n)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(got, rest...), held) {
		t.Fatalf("held object after GC: err %v, %d bytes, equal %v", err, len(got)+len(rest), bytes.Equal(append(got, rest...), held))
	}
	r.Close()
	o.Close()
	if st, err := e.l.GC(ctx); err != nil || st.Deleted != 3 || st.Deferred != 0 || e.chunkFiles(t) != 0 {
		t.Fatalf("GC after the reader closed: %+v %v, %d files left", st, err, e.chunkFiles(t))
	}
}

// A write session keeps what it may still commit (its base's chunks and
// its own) while collections free everything else, and commits whole.
func TestWriteSessionDoesNotStopGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := randBytes(2*chunk, 32)
	e.put(t, "f", base)
	e.put(t, "other", randBytes(chunk, 33))
	w, err := e.l.OpenWriter(ctx, e.org, "b", "f", false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tail := randBytes(chunk, 34)
	if _, err := w.WriteAt(ctx, tail, int64(len(base))); err != nil {
		t.Fatal(err)
	}
	// An S3 client replaces the key under the session, and deletes another.
	e.put(t, "f", []byte("replaced"))
	if err := e.l.Delete(ctx, e.org, "b", "other"); err != nil {
		t.Fatal(err)
	}
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 1 {
		t.Fatalf("GC during a write session: %+v %v; want other's chunk deleted", st, err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.get(t, "f", 0, -1)
	if want := append(append([]byte{}, base...), tail...); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("committed session after GC: err %v equal %v", err, bytes.Equal(got, want))
	}
}

// Readers, writers, deleters and collectors at once: every read either
// finds no object or returns one committed version whole, never a missing
// chunk.
func TestReadersWritersAndGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	versions := [][]byte{randBytes(chunk+100, 40), randBytes(2*chunk, 41), randBytes(chunk/2, 42)}
	const keys, rounds = 3, 12
	var wg sync.WaitGroup
	stopGC := e.collectContinuously(t)
	for k := range keys {
		wg.Add(2)
		key := fmt.Sprintf("k%d", k)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if i%4 == 3 {
					if err := e.l.Delete(ctx, e.org, "b", key); err != nil && !errors.Is(err, catalog.ErrNotFound) {
						t.Error(err)
					}
					continue
				}
				data := versions[(i+k)%len(versions)]
				if _, err := e.l.Put(ctx, e.org, "b", key, bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 2 * rounds {
				o, err := e.l.Open(ctx, e.org, "b", key)
				if errors.Is(err, catalog.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				r, err := o.NewReader(ctx, 0, -1)
				if err != nil {
					t.Error(err)
					o.Close()
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				o.Close()
				if err != nil || quotedMD5(got) != o.Manifest.ETag {
					t.Errorf("read %s under GC: err %v, %d bytes", key, err, len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	stopGC()
}

// An UploadPart in flight holds the chunks it has written but not yet
// committed: a collection meanwhile (other garbage present) frees the
// garbage and keeps them, and the completed object reads back whole.
func TestUploadPartInFlightSurvivesGC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "garbage", randBytes(chunk, 43))
	if err := e.l.Delete(ctx, e.org, "b", "garbage"); err != nil {
		t.Fatal(err)
	}
	up, err := e.l.CreateMultipart(ctx, e.org, "b", "mp", catalog.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(chunk+1000, 44)
	pr, pw := io.Pipe()
	type result struct {
		p   *catalog.UploadPart
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := e.l.UploadPart(ctx, e.org, "b", "mp", up.ID, 1, pr, objects.PartOptions{Size: int64(len(data))})
		done <- result{p, err}
	}()
	// The first chunk is written once the body runs past it; wait until
	// its file exists (the garbage's is the other one).
	if _, err := pw.Write(data[:chunk+1]); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); e.chunkFiles(t) != 2; {
		if time.Now().After(deadline) {
			t.Fatal("the part's first chunk was not written within a minute")
		}
		select {
		case r := <-done:
			t.Fatalf("part ended early: %+v %v", r.p, r.err)
		case <-tick.C:
		}
	}
	st, err := e.l.GC(ctx)
	if err != nil || st.Deleted != 1 || st.Deferred != 1 {
		t.Fatalf("GC with a part in flight: %+v %v; want the garbage deleted, the part's chunk kept", st, err)
	}
	if _, err := pw.Write(data[chunk+1:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := e.l.CompleteMultipart(ctx, e.org, "b", "mp", up.ID, []objects.CompletePart{{Number: 1, ETag: r.p.ETag}}, objects.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(t, "mp", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("completed object after GC during its upload: err %v equal %v", err, bytes.Equal(got, data))
	}
}

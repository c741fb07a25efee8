package catalog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"excloud.dev/buckets/chunkstore"
)

func TestPutGetDelete(t *testing.T) {
	db, b := newTestBucket(t)
	if _, err := db.Object(ctx, b.ID, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	m1 := manifest("one", 1, 2, 2) // chunk 2 twice: counted once
	old, err := db.PutObject(ctx, b, "k", m1, Condition{})
	if err != nil || old != nil {
		t.Fatalf("first put: %v %v", old, err)
	}
	got, err := db.Object(ctx, b.ID, "k")
	if err != nil || !reflect.DeepEqual(got, m1) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if refCount(t, db, 1) != 1 || refCount(t, db, 2) != 1 {
		t.Fatal("refs after first put")
	}
	mustPut(t, db, b, "other", manifest("x", 2))
	old, err = db.PutObject(ctx, b, "k", manifest("two", 2, 3), Condition{})
	if err != nil || old == nil || old.ETag != m1.ETag {
		t.Fatalf("overwrite returned %v %v", old, err)
	}
	if refCount(t, db, 1) != 0 || refCount(t, db, 2) != 2 || refCount(t, db, 3) != 1 {
		t.Fatalf("refs after overwrite: %d %d %d", refCount(t, db, 1), refCount(t, db, 2), refCount(t, db, 3))
	}
	old, err = db.DeleteObject(ctx, b, "k")
	if err != nil || old.ETag != `"two"` {
		t.Fatalf("delete: %v %v", old, err)
	}
	if _, err := db.DeleteObject(ctx, b, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if refCount(t, db, 2) != 1 || refCount(t, db, 3) != 0 {
		t.Fatal("refs after delete")
	}
	// A deleted bucket, or one re-created under the same name, refuses puts.
	mustDelete(t, db, b, "other")
	if err := db.DeleteBucket(ctx, b.OrgID, b.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutObject(ctx, b, "k", m1, Condition{}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("put into deleted bucket: %v", err)
	}
	if _, err := db.CreateBucket(ctx, b.OrgID, b.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutObject(ctx, b, "k", m1, Condition{}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("put with a stale bucket id: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	db, b := newTestBucket(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.PutObject(cctx, b, "k", manifest("x", 1), Condition{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	if _, err := db.Object(ctx, b.ID, "k"); !errors.Is(err, ErrNotFound) || refCount(t, db, 1) != 0 {
		t.Fatalf("cancelled put left state: %v", err)
	}
	if err := db.ForEachRef(cctx, func(chunkstore.ID, int64) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("ForEachRef with a cancelled context: %v", err)
	}
}

func mustDelete(t *testing.T, db *DB, b Bucket, key string) {
	t.Helper()
	if _, err := db.DeleteObject(ctx, b, key); err != nil {
		t.Fatal(err)
	}
}

func TestConditionalPut(t *testing.T) {
	db, b := newTestBucket(t)
	// Racing creates of one key: exactly one wins.
	for round := range 20 {
		key := fmt.Sprint("race", round)
		var wins, fails atomic.Int32
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, err := db.PutObject(ctx, b, key, manifest(fmt.Sprint(i), 100+i), Condition{IfNoneMatchAny: true})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrPreconditionFailed):
					fails.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || fails.Load() != 3 {
			t.Fatalf("round %d: %d wins, %d failures", round, wins.Load(), fails.Load())
		}
	}
	mustPut(t, db, b, "k", manifest("v1", 1))
	if _, err := db.PutObject(ctx, b, "k", manifest("v2", 2), Condition{IfMatch: `"stale"`}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := db.PutObject(ctx, b, "absent", manifest("v2", 2), Condition{IfMatch: `"v1"`}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("If-Match on a missing key: %v", err)
	}
	if _, err := db.PutObject(ctx, b, "k", manifest("v2", 2), Condition{IfMatch: `v1`}); err != nil {
		t.Fatalf("If-Match with the current (unquoted) ETag: %v", err)
	}
	if _, err := db.PutObject(ctx, b, "k", manifest("v3", 3), Condition{IfMatch: `"v1"`}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("If-Match with the replaced ETag: %v", err)
	}
	if refCount(t, db, 1) != 0 || refCount(t, db, 2) != 1 || refCount(t, db, 3) != 0 {
		t.Fatal("failed conditional puts changed reference counts")
	}
}

// TestConcurrentWriters: writers put, overwrite and delete overlapping keys
// whose manifests share chunks. Afterwards every reference count must equal
// the number of live manifests using the chunk, and the feed must have
// delivered each key's events in commit order with increasing Seq.
func TestConcurrentWriters(t *testing.T) {
	db, b := newTestBucket(t)
	const (
		writers = 8
		ops     = 150
		keys    = 12
		chunks  = 10
	)
	// The subscriber reads the key's state while the writer still holds the
	// key's lock: that state is the one the event reports.
	type delivered struct {
		seq   uint64
		kind  EventKind
		etag  string // "" once deleted
		valid bool
	}
	var mu sync.Mutex
	var lastSeq uint64
	perKey := map[string][]delivered{}
	cancel := db.Subscribe(func(ev Event) {
		if ev.Kind != ObjectPut && ev.Kind != ObjectDelete {
			return
		}
		d := delivered{seq: ev.Seq, kind: ev.Kind}
		m, err := db.Object(ctx, ev.BucketID, ev.Key)
		switch {
		case err == nil:
			d.etag, d.valid = m.ETag, ev.Kind == ObjectPut
		case errors.Is(err, ErrNotFound):
			d.valid = ev.Kind == ObjectDelete
		}
		mu.Lock()
		defer mu.Unlock()
		if ev.Seq <= lastSeq {
			t.Errorf("seq %d delivered after %d", ev.Seq, lastSeq)
		}
		lastSeq = ev.Seq
		perKey[ev.Key] = append(perKey[ev.Key], d)
	})
	defer cancel()

	// What each writer saw: for a put, the etag it wrote and the one it
	// replaced; for a delete, the one it removed.
	type result struct {
		key, etag, old string
		del            bool
	}
	results := make([][]result, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for i := range ops {
				key := fmt.Sprint("k", rng.IntN(keys))
				if rng.IntN(4) == 0 {
					old, err := db.DeleteObject(ctx, b, key)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					results[w] = append(results[w], result{key: key, old: old.ETag, del: true})
					continue
				}
				cs := make([]int, 1+rng.IntN(4))
				for j := range cs {
					cs[j] = rng.IntN(chunks)
				}
				m := manifest(fmt.Sprintf("w%d-%d", w, i), cs...)
				old, err := db.PutObject(ctx, b, key, m, Condition{})
				if err != nil {
					t.Error(err)
					return
				}
				r := result{key: key, etag: m.ETag}
				if old != nil {
					r.old = old.ETag
				}
				results[w] = append(results[w], r)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Reference counts against a recount of the live manifests.
	want := map[chunkstore.ID]int64{}
	page, err := db.List(ctx, b.ID, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Objects {
		m, err := db.Object(ctx, b.ID, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range m.Chunks() {
			want[id]++
		}
	}
	got := map[chunkstore.ID]int64{}
	if err := db.ForEachRef(ctx, func(id chunkstore.ID, n int64) error { got[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reference counts %v, recount %v", got, want)
	}
	for c := range chunks {
		if refCount(t, db, c) != want[chunk(c)] {
			t.Fatalf("RefCount(%d) = %d, want %d", c, refCount(t, db, c), want[chunk(c)])
		}
	}

	// Per key, the delivered states must form the chain the writers saw:
	// each put replaced the state delivered just before it, and each delete
	// removed it.
	replaced := map[string]string{} // put etag → etag it replaced
	deletes := map[string]map[string]int{}
	for _, rs := range results {
		for _, r := range rs {
			if r.del {
				if deletes[r.key] == nil {
					deletes[r.key] = map[string]int{}
				}
				deletes[r.key][r.old]++
			} else {
				replaced[r.etag] = r.old
			}
		}
	}
	for key, evs := range perKey {
		prev := ""
		for i, d := range evs {
			if !d.valid {
				t.Fatalf("key %s event %d (%v) does not match the state read during its delivery", key, i, d.kind)
			}
			if i > 0 && d.seq <= evs[i-1].seq {
				t.Fatalf("key %s: seq not increasing", key)
			}
			if d.kind == ObjectPut {
				if replaced[d.etag] != prev {
					t.Fatalf("key %s event %d: put %s replaced %q, but the previous event left %q", key, i, d.etag, replaced[d.etag], prev)
				}
			} else {
				if deletes[key][prev] == 0 {
					t.Fatalf("key %s event %d: delete of %q that no writer reported", key, i, prev)
				}
				deletes[key][prev]--
			}
			prev = d.etag
		}
		final, err := db.Object(ctx, b.ID, key)
		if (err == nil) != (prev != "") || err == nil && final.ETag != prev {
			t.Fatalf("key %s: last event left %q, catalog has %v %v", key, prev, final, err)
		}
	}
	total := 0
	for _, rs := range results {
		total += len(rs)
	}
	n := 0
	for _, evs := range perKey {
		n += len(evs)
	}
	if n != total {
		t.Fatalf("%d events for %d committed writes", n, total)
	}
}

func TestFeed(t *testing.T) {
	db := newTestDB(t)
	var evs []Event
	cancel := db.Subscribe(func(ev Event) { evs = append(evs, ev) })
	org, _ := db.CreateOrg(ctx, "o")
	b, err := db.CreateBucket(ctx, org.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, b, "k", manifest("x", 1))
	if _, err := db.PutObject(ctx, b, "k", manifest("y"), Condition{IfNoneMatchAny: true}); err == nil {
		t.Fatal("conditional put succeeded")
	}
	mustDelete(t, db, b, "k")
	if err := db.DeleteBucket(ctx, org.ID, "b"); err != nil {
		t.Fatal(err)
	}
	cancel()
	mustPut(t, db, mustBucket(t, db, org.ID, "c"), "k", manifest("z"))
	want := []Event{
		{Seq: 1, Kind: BucketCreate, OrgID: org.ID, BucketID: b.ID, Bucket: "b"},
		{Seq: 2, Kind: ObjectPut, OrgID: org.ID, BucketID: b.ID, Bucket: "b", Key: "k"},
		{Seq: 3, Kind: ObjectDelete, OrgID: org.ID, BucketID: b.ID, Bucket: "b", Key: "k"},
		{Seq: 4, Kind: BucketDelete, OrgID: org.ID, BucketID: b.ID, Bucket: "b"},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("events\n got %+v\nwant %+v", evs, want)
	}
}

func mustBucket(t *testing.T, db *DB, orgID, name string) Bucket {
	t.Helper()
	b, err := db.CreateBucket(ctx, orgID, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package catalog

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func recordEvents(db *DB) (get func() []Event) {
	var mu sync.Mutex
	var evs []Event
	db.Subscribe(func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() })
	return func() []Event { mu.Lock(); defer mu.Unlock(); return append([]Event(nil), evs...) }
}

func TestRenameObject(t *testing.T) {
	db, b := newTestBucket(t)
	mustPut(t, db, b, "a", manifest("a", 1, 2))
	mustPut(t, db, b, "t", manifest("t", 2, 3))
	evs := recordEvents(db)

	if err := db.RenameObject(ctx, b, "a", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Object(ctx, b.ID, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("source still there: %v", err)
	}
	m, err := db.Object(ctx, b.ID, "t")
	if err != nil || m.ETag != `"a"` {
		t.Fatalf("target %+v %v", m, err)
	}
	// The replaced target's chunks lost a reference; the moved ones kept theirs.
	for c, want := range map[int]int64{1: 1, 2: 1, 3: 0} {
		if n := refCount(t, db, c); n != want {
			t.Errorf("chunk %d: %d refs, want %d", c, n, want)
		}
	}
	got := evs()
	if len(got) != 2 || got[0].Kind != ObjectDelete || got[0].Key != "a" || got[1].Kind != ObjectPut || got[1].Key != "t" {
		t.Fatalf("events %+v", got)
	}
	if err := db.RenameObject(ctx, b, "missing", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing source: %v", err)
	}
}

func TestRenamePrefix(t *testing.T) {
	db, b := newTestBucket(t)
	for i := range 5 {
		mustPut(t, db, b, fmt.Sprintf("d/%d", i), manifest("x", i))
	}
	mustPut(t, db, b, "d/", manifest("marker"))
	mustPut(t, db, b, "d0", manifest("other", 9)) // shares the prefix "d" but not "d/"
	mustPut(t, db, b, "e/2", manifest("old", 7))
	evs := recordEvents(db)

	n, err := db.RenamePrefix(ctx, b, "d/", "e/", 0)
	if err != nil || n != 6 {
		t.Fatalf("moved %d, %v", n, err)
	}
	res, err := db.List(ctx, b.ID, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	if fmt.Sprint(keys) != "[d0 e/ e/0 e/1 e/2 e/3 e/4]" {
		t.Fatalf("keys after rename: %v", keys)
	}
	if refCount(t, db, 7) != 0 || refCount(t, db, 2) != 1 {
		t.Fatal("replaced target's references not released, or moved ones changed")
	}
	if got := evs(); len(got) != 12 {
		t.Fatalf("%d events, want 12", len(got))
	}

	// Over the limit: nothing moves.
	if _, err := db.RenamePrefix(ctx, b, "e/", "f/", 3); !errors.Is(err, ErrRenameTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	if _, err := db.Object(ctx, b.ID, "e/0"); err != nil {
		t.Fatal("a refused rename moved keys")
	}
	if _, err := db.RenamePrefix(ctx, b, "e/", "e/sub/", 0); err == nil {
		t.Fatal("rename into itself accepted")
	}
}

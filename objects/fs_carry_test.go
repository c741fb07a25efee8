package objects_test

import (
	"context"
	"testing"

	"excloud.dev/buckets/catalog"
)

// TestFileWriterCarriesOnFirstCommit: a follow-up attached to a session
// (the mount's directory times for a file it created) rides in the
// session's first commit that reaches the catalog, in its transaction, and
// only in that one.
func TestFileWriterCarriesOnFirstCommit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "d/", nil)
	touch := &catalog.Touch{OrgID: e.org, Bucket: "b", Keys: []catalog.TouchKey{{Key: "d/", Meta: map[string]string{"mtime": "1"}}}}
	var ends []bool
	w := e.writer(t, "d/f", true)
	w.CarryOnCommit(func(ctx context.Context) (context.Context, func(bool)) {
		return catalog.WithTouch(ctx, touch), func(ok bool) { ends = append(ends, ok) }
	})
	if _, err := w.WriteAt(ctx, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	w0 := e.db.WriteTransactions()
	commit(t, w)
	if n := e.db.WriteTransactions() - w0; n != 1 {
		t.Errorf("first commit: %d write transactions, want 1", n)
	}
	m, err := e.l.Head(ctx, e.org, "b", "d/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ends) != 1 || !ends[0] || !touch.Keys[0].Done || m.Meta["mtime"] != "1" {
		t.Fatalf("after the first commit: ends %v, done %v, marker %v", ends, touch.Keys[0].Done, m.Meta)
	}
	// Spent: the next commit carries nothing.
	if _, err := w.WriteAt(ctx, []byte("y"), 1); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	if len(ends) != 1 {
		t.Errorf("a second commit carried the follow-up again: %v", ends)
	}
}

package catalog

import (
	"context"
	"testing"
)

func TestNames(t *testing.T) {
	db, b := newTestBucket(t)
	ctx := context.Background()
	for _, k := range []string{"file", "both", "both/x", "marked/", "marked/y", "implicit/z", "file-not-dir/"} {
		mustPut(t, db, b, k, manifest(k))
	}
	got, err := db.Names(ctx, b.ID, "file", "both", "marked", "implicit", "absent", "file-not-dir", "fil")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		object, dir bool
		marker      string
	}
	for i, w := range []want{
		{object: true},
		{object: true, dir: true},
		{dir: true, marker: `"marked/"`},
		{dir: true},
		{},
		{dir: true, marker: `"file-not-dir/"`},
		{},
	} {
		g := got[i]
		marker := ""
		if g.Marker != nil {
			marker = g.Marker.ETag
		}
		if (g.Object != nil) != w.object || g.Dir != w.dir || marker != w.marker {
			t.Errorf("name %d: object=%v dir=%v marker=%q, want %+v", i, g.Object != nil, g.Dir, marker, w)
		}
	}
}

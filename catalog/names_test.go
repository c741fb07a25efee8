package catalog

import (
	"context"
	"fmt"
	"slices"
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

// TestNamesSubdirs: a directory's subdirectories are counted (the mount's
// link count), the bucket is the empty key, and a directory too long to
// walk in one lookup is not counted.
func TestNamesSubdirs(t *testing.T) {
	db, b := newTestBucket(t)
	ctx := context.Background()
	for _, k := range []string{"top", "d/", "d/f", "d/s1/", "d/s1/deep/x", "d/s2/y", "d/s2/z", "d/s3.x/q", "d/t", "e/only"} {
		mustPut(t, db, b, k, manifest(k))
	}
	for i := range SubdirScan + 5 {
		mustPut(t, db, b, fmt.Sprintf("big/f%05d", i), manifest("f"))
	}
	got, err := db.Names(ctx, b.ID, "d", "e", "", "top", "big")
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; !g.SubdirsKnown || !slices.Equal(g.Subdirs, []string{"s1", "s2", "s3.x"}) {
		t.Errorf("d: %v %v", g.Subdirs, g.SubdirsKnown)
	}
	if g := got[1]; !g.SubdirsKnown || len(g.Subdirs) != 0 {
		t.Errorf("e: %v %v", g.Subdirs, g.SubdirsKnown)
	}
	if g := got[2]; !g.Dir || g.Object != nil || g.Marker != nil || !g.SubdirsKnown || !slices.Equal(g.Subdirs, []string{"big", "d", "e"}) {
		t.Errorf("bucket: %+v", g)
	}
	if g := got[3]; g.Dir || g.Subdirs != nil {
		t.Errorf("top: %+v", g)
	}
	if g := got[4]; !g.Dir || g.SubdirsKnown {
		t.Errorf("big: known=%v", g.SubdirsKnown)
	}
}

package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestTouchFoldsIntoRename: a Touch carried by a rename sets the renamed
// key's and the directory marker's metadata in the rename's one
// transaction, keeps their other metadata, and publishes one event per key.
func TestTouchFoldsIntoRename(t *testing.T) {
	db, b := newTestBucket(t)
	f := manifest("f", 1)
	f.Meta = map[string]string{"mode": "644", "ctime": "old"}
	mustPut(t, db, b, "d/f", f)
	marker := manifest("marker")
	marker.Meta = map[string]string{"mode": "755", "mtime": "old", "ctime": "old"}
	mustPut(t, db, b, "d/", marker)
	evs := recordEvents(db)

	tc := &Touch{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{
		{Key: "d/g", Meta: map[string]string{"ctime": "new"}},
		{Key: "d/", Meta: map[string]string{"mtime": "new", "ctime": "new"}},
		{Key: "nodir/", Meta: map[string]string{"mtime": "new"}},
	}}
	w0 := db.WriteTransactions()
	if err := db.RenameObject(WithTouch(ctx, tc), b, "d/f", "d/g"); err != nil {
		t.Fatal(err)
	}
	if n := db.WriteTransactions() - w0; n != 1 {
		t.Errorf("rename with a touch: %d write transactions, want 1", n)
	}
	for i, want := range []map[string]string{
		{"mode": "644", "ctime": "new"},
		{"mode": "755", "mtime": "new", "ctime": "new"},
	} {
		k := tc.Keys[i]
		m, err := db.Object(ctx, b.ID, k.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Done || k.Manifest == nil || !sameMeta(m.Meta, want) || !sameMeta(k.Manifest.Meta, want) {
			t.Errorf("%s: done %v, stored %v, returned %+v; want %v", k.Key, k.Done, m.Meta, k.Manifest, want)
		}
		if m.ETag != []string{`"f"`, `"marker"`}[i] || !m.ModTime.Equal(f.ModTime) {
			t.Errorf("%s: the touch changed more than metadata: %+v", k.Key, m)
		}
	}
	if k := tc.Keys[2]; !k.Done || k.Manifest != nil {
		t.Errorf("a missing key: done %v, manifest %+v", k.Done, k.Manifest)
	}
	if _, err := db.Object(ctx, b.ID, "nodir/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a touch created a missing key: %v", err)
	}
	got := evs()
	var kinds []string
	for _, ev := range got {
		kinds = append(kinds, ev.Key+"/"+map[EventKind]string{ObjectPut: "put", ObjectDelete: "delete"}[ev.Kind])
	}
	if len(got) != 3 || got[0].Key != "d/f" || got[0].Kind != ObjectDelete ||
		got[1].Key != "d/g" || got[1].Kind != ObjectPut || got[2].Key != "d/" || got[2].Kind != ObjectPut {
		t.Errorf("events %v, want d/f deleted, d/g put once, d/ put", kinds)
	}

	// The Touch is spent: a later write with the same context leaves the
	// marker alone.
	tc.Keys[1].Meta = map[string]string{"mtime": "later"}
	mustPut(t, db, b, "d/h", manifest("h"))
	if m, _ := db.Object(ctx, b.ID, "d/"); m.Meta["mtime"] != "new" {
		t.Errorf("a spent touch applied again: %v", m.Meta)
	}
}

// TestTouchNotAppliedOnFailure: a write that fails changes none of its
// Touch's keys, and says so.
func TestTouchNotAppliedOnFailure(t *testing.T) {
	db, b := newTestBucket(t)
	marker := manifest("marker")
	marker.Meta = map[string]string{"mtime": "old"}
	mustPut(t, db, b, "d/", marker)
	tc := &Touch{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{{Key: "d/", Meta: map[string]string{"mtime": "new"}}}}
	tctx := WithTouch(ctx, tc)
	if err := db.RenameObject(tctx, b, "d/missing", "d/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rename of a missing key: %v", err)
	}
	if _, err := db.DeleteObject(tctx, b, "d/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing key: %v", err)
	}
	if tc.Keys[0].Done {
		t.Error("failed writes report the touch done")
	}
	if m, _ := db.Object(ctx, b.ID, "d/"); m.Meta["mtime"] != "old" {
		t.Errorf("a failed write touched the marker: %v", m.Meta)
	}
	// A write in another bucket does not carry it either.
	other, err := db.CreateBucket(ctx, b.OrgID, "other")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, other, "k", manifest("k"))
	if _, err := db.DeleteObject(tctx, other, "k"); err != nil {
		t.Fatal(err)
	}
	if tc.Keys[0].Done {
		t.Error("a write in another bucket carried the touch")
	}
	// The next write in the bucket does.
	mustPut(t, db, b, "d/x", manifest("x"))
	if _, err := db.DeleteObject(tctx, b, "d/x"); err != nil {
		t.Fatal(err)
	}
	if m, _ := db.Object(ctx, b.ID, "d/"); !tc.Keys[0].Done || m.Meta["mtime"] != "new" {
		t.Errorf("delete with a touch: done %v, marker %v", tc.Keys[0].Done, m.Meta)
	}
}

// TestTouchBusyStripe: a key whose stripe another writer holds is not
// touched (the write does not wait for it), and the caller is told.
func TestTouchBusyStripe(t *testing.T) {
	db, b := newTestBucket(t)
	mustPut(t, db, b, "d/", manifest("marker"))
	kl := db.keyLock(b.ID, "d/")
	// Stripes are seeded per catalog: pick a file on another stripe than
	// the marker's, so the test never has to skip.
	f := "d/f"
	for i := 0; db.keyLock(b.ID, f) == kl; i++ {
		f = fmt.Sprintf("d/f%d", i)
	}
	mustPut(t, db, b, f, manifest("f"))
	kl.Lock()
	tc := &Touch{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{{Key: "d/", Meta: map[string]string{"mtime": "new"}}}}
	_, err := db.DeleteObject(WithTouch(ctx, tc), b, f)
	kl.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if tc.Keys[0].Done {
		t.Error("a busy stripe's key reported done")
	}
	if m, _ := db.Object(ctx, b.ID, "d/"); m.Meta["mtime"] != "" {
		t.Errorf("a busy stripe's key was touched: %v", m.Meta)
	}
}

func sameMeta(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTouchFoldKeepsContent: the renamed entry's metadata goes into the
// manifest the rename writes, and the object keeps every byte, whether
// they live in the manifest (inline) or under a body key; a Touch of
// another bucket, or without the key, leaves the manifest as it was.
func TestTouchFoldKeepsContent(t *testing.T) {
	db, b := newTestBucket(t)
	inline := bytes.Repeat([]byte("i"), 4096)
	body := bytes.Repeat([]byte("b"), 64<<10)
	for _, c := range []struct {
		key string
		m   *Manifest
		p   []byte
	}{
		{"inline", &Manifest{Size: int64(len(inline)), ETag: `"i"`, ModTime: time.Unix(1700000000, 0).UTC(), Inline: inline,
			Meta: map[string]string{"mode": "644", "ctime": "old"}}, inline},
		{"body", bodyManifest(body), body},
	} {
		mustPut(t, db, b, c.key, c.m)
		tc := &Touch{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{{Key: c.key + "2", Meta: map[string]string{"ctime": "new"}}}}
		if err := db.RenameObject(WithTouch(ctx, tc), b, c.key, c.key+"2"); err != nil {
			t.Fatal(err)
		}
		got, err := db.ObjectData(ctx, b.ID, c.key+"2")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Inline, c.p) || got.Size != int64(len(c.p)) || got.ETag != c.m.ETag || got.Meta["ctime"] != "new" {
			t.Errorf("%s: after a touched rename: %d bytes (same: %v), size %d, etag %s, meta %v",
				c.key, len(got.Inline), bytes.Equal(got.Inline, c.p), got.Size, got.ETag, got.Meta)
		}
		if k := tc.Keys[0]; !k.Done || k.Manifest == nil || k.Manifest.Meta["ctime"] != "new" {
			t.Errorf("%s: touch result done %v, manifest %+v", c.key, k.Done, k.Manifest)
		}
		if c.key == "inline" && got.Meta["mode"] != "644" {
			t.Errorf("the fold lost the other metadata: %v", got.Meta)
		}
	}
	mustPut(t, db, b, "x", manifest("x"))
	for _, tc := range []*Touch{
		{OrgID: b.OrgID, Bucket: "other", Keys: []TouchKey{{Key: "y", Meta: map[string]string{"ctime": "new"}}}},
		{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{{Key: "z", Meta: map[string]string{"ctime": "new"}}}},
	} {
		if err := db.RenameObject(WithTouch(ctx, tc), b, "x", "y"); err != nil {
			t.Fatal(err)
		}
		if m, err := db.Object(ctx, b.ID, "y"); err != nil || m.Meta["ctime"] != "" {
			t.Errorf("touch of %s/%s: renamed to y: %v %v", tc.Bucket, tc.Keys[0].Key, m, err)
		}
		if err := db.RenameObject(ctx, b, "y", "x"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTouchFoldsIntoRenamePrefix: a directory's rename carries the moved
// marker's ctime (under its new key) and the parent's times, one event
// each.
func TestTouchFoldsIntoRenamePrefix(t *testing.T) {
	db, b := newTestBucket(t)
	mustPut(t, db, b, "p/", manifest("parent"))
	mustPut(t, db, b, "p/d/", manifest("marker"))
	mustPut(t, db, b, "p/d/f", manifest("f", 1))
	evs := recordEvents(db)
	tc := &Touch{OrgID: b.OrgID, Bucket: b.Name, Keys: []TouchKey{
		{Key: "p/e/", Meta: map[string]string{"ctime": "new"}},
		{Key: "p/", Meta: map[string]string{"mtime": "new", "ctime": "new"}},
	}}
	w0 := db.WriteTransactions()
	if n, err := db.RenamePrefix(WithTouch(ctx, tc), b, "p/d/", "p/e/", 0); err != nil || n != 2 {
		t.Fatalf("rename prefix: %d, %v", n, err)
	}
	if n := db.WriteTransactions() - w0; n != 1 {
		t.Errorf("%d write transactions, want 1", n)
	}
	for _, k := range tc.Keys {
		m, err := db.Object(ctx, b.ID, k.Key)
		if err != nil || !k.Done || m.Meta["ctime"] != "new" {
			t.Errorf("%s: done %v, %+v, %v", k.Key, k.Done, m, err)
		}
	}
	puts := map[string]int{}
	for _, ev := range evs() {
		if ev.Kind == ObjectPut {
			puts[ev.Key]++
		}
	}
	if len(puts) != 3 || puts["p/e/"] != 1 || puts["p/"] != 1 || puts["p/e/f"] != 1 {
		t.Errorf("puts %v, want one each of p/e/, p/e/f and p/", puts)
	}
}

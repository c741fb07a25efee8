package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"time"
)

func part(n int, etag string, chunks ...int) UploadPart {
	m := manifest(etag, chunks...)
	return UploadPart{Number: n, Size: m.Size, ETag: m.ETag, ModTime: m.ModTime, Extents: m.Extents}
}

func TestMultipart(t *testing.T) {
	db, b := newTestBucket(t)
	tmpl := Manifest{ContentType: "video/mp4", Meta: map[string]string{"a": "b"}}
	u, err := db.CreateUpload(ctx, b, "movie", tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(u.ID) {
		t.Fatalf("upload id %q", u.ID)
	}
	if got, err := db.Upload(ctx, b.ID, u.ID); err != nil || !reflect.DeepEqual(got, u) || got.Template.ContentType != "video/mp4" {
		t.Fatalf("Upload = %+v %v", got, err)
	}
	if _, err := db.Upload(ctx, b.ID, "nope"); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("missing upload: %v", err)
	}

	// Parts replace: the replaced part's chunks are released.
	if old, err := db.PutPart(ctx, b, u.ID, part(1, "p1", 1, 2)); err != nil || old != nil {
		t.Fatal(old, err)
	}
	old, err := db.PutPart(ctx, b, u.ID, part(1, "p1b", 2, 3))
	if err != nil || old == nil || old.ETag != `"p1"` {
		t.Fatalf("replace part: %+v %v", old, err)
	}
	if refCount(t, db, 1) != 0 || refCount(t, db, 2) != 1 || refCount(t, db, 3) != 1 {
		t.Fatal("refs after part replace")
	}
	for n := 2; n <= 5; n++ {
		if _, err := db.PutPart(ctx, b, u.ID, part(n, fmt.Sprint("p", n), 3, 10+n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutPart(ctx, b, "0123456789abcdef0123456789abcdef", part(1, "x", 1)); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("part of a missing upload: %v", err)
	}
	parts, trunc, err := db.ListParts(ctx, b.ID, u.ID, 0, 2)
	if err != nil || len(parts) != 2 || !trunc || parts[0].ETag != `"p1b"` || parts[1].Number != 2 {
		t.Fatalf("ListParts page 1: %+v %v %v", parts, trunc, err)
	}
	if all, _, err := db.ListParts(ctx, b.ID, u.ID, -1, 0); err != nil || len(all) != 5 {
		t.Fatalf("ListParts after -1: %d parts, %v", len(all), err)
	}
	parts, trunc, err = db.ListParts(ctx, b.ID, u.ID, 2, 10)
	if err != nil || len(parts) != 3 || trunc || parts[0].Number != 3 || parts[2].Number != 5 {
		t.Fatalf("ListParts page 2: %+v %v %v", parts, trunc, err)
	}
	if refCount(t, db, 3) != 5 {
		t.Fatalf("chunk 3 used by 5 parts: %d", refCount(t, db, 3))
	}

	// An existing object will be replaced; the completed manifest uses
	// parts 1..4 (part 5 is left out and must be released).
	mustPut(t, db, b, "movie", manifest("prev", 20))
	final := manifest("final-4", 2, 3, 11, 12, 13, 14)
	for n := 1; n <= 4; n++ {
		final.Parts = append(final.Parts, Part{Number: n, Size: 20, ETag: fmt.Sprint(`"p`, n, `"`)})
	}
	if _, err := db.CompleteUpload(ctx, b, u.ID, final, Condition{IfNoneMatchAny: true}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("complete with a failing condition: %v", err)
	}
	var evs []Event
	cancel := db.Subscribe(func(ev Event) { evs = append(evs, ev) })
	old2, err := db.CompleteUpload(ctx, b, u.ID, final, Condition{})
	cancel()
	if err != nil || old2 == nil || old2.ETag != `"prev"` {
		t.Fatalf("complete: %+v %v", old2, err)
	}
	if len(evs) != 1 || evs[0].Kind != ObjectPut || evs[0].Key != "movie" {
		t.Fatalf("events %+v", evs)
	}
	got, err := db.Object(ctx, b.ID, "movie")
	if err != nil || !reflect.DeepEqual(got, final) {
		t.Fatalf("completed object %+v %v", got, err)
	}
	// Refs now equal the manifest's alone: the parts and the old object
	// released theirs, so part 5's private chunk and "prev"'s are free.
	for c, want := range map[int]int64{1: 0, 2: 1, 3: 1, 11: 1, 14: 1, 15: 0, 20: 0} {
		if got := refCount(t, db, c); got != want {
			t.Errorf("chunk %d: %d refs, want %d", c, got, want)
		}
	}
	if _, err := db.Upload(ctx, b.ID, u.ID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("upload after complete: %v", err)
	}
	if _, err := db.CompleteUpload(ctx, b, u.ID, final, Condition{}); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("second complete: %v", err)
	}
	if _, _, err := db.ListParts(ctx, b.ID, u.ID, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("parts after complete: %v", err)
	}

	// Abort releases everything.
	u2, _ := db.CreateUpload(ctx, b, "other", Manifest{})
	db.PutPart(ctx, b, u2.ID, part(1, "a", 30, 31))
	db.PutPart(ctx, b, u2.ID, part(2, "b", 31, 2))
	if refCount(t, db, 31) != 2 || refCount(t, db, 2) != 2 {
		t.Fatal("refs of the second upload")
	}
	if err := db.AbortUpload(ctx, b, u2.ID); err != nil {
		t.Fatal(err)
	}
	if refCount(t, db, 30) != 0 || refCount(t, db, 31) != 0 || refCount(t, db, 2) != 1 {
		t.Fatal("refs after abort")
	}
	if err := db.AbortUpload(ctx, b, u2.ID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("second abort: %v", err)
	}
}

func TestListUploads(t *testing.T) {
	db, b := newTestBucket(t)
	var ids = map[string][]string{}
	for _, k := range []string{"b", "a", "a\x00", "b", "a/x", "b", "c"} {
		u, err := db.CreateUpload(ctx, b, k, Manifest{})
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = append(ids[k], u.ID)
		time.Sleep(time.Microsecond) // distinct initiation times
	}
	type ref struct{ key, id string }
	all := []ref{{"a", ids["a"][0]}, {"a\x00", ids["a\x00"][0]}, {"a/x", ids["a/x"][0]},
		{"b", ids["b"][0]}, {"b", ids["b"][1]}, {"b", ids["b"][2]}, {"c", ids["c"][0]}}
	list := func(prefix, km, um string, max int) ([]ref, bool) {
		t.Helper()
		ups, trunc, err := db.ListUploads(ctx, b.ID, prefix, km, um, max)
		if err != nil {
			t.Fatal(err)
		}
		var out []ref
		for _, u := range ups {
			out = append(out, ref{u.Key, u.ID})
		}
		return out, trunc
	}
	if got, trunc := list("", "", "", 0); !reflect.DeepEqual(got, all) || trunc {
		t.Fatalf("all uploads %q", got)
	}
	if got, _ := list("a", "", "", 0); !reflect.DeepEqual(got, all[:3]) {
		t.Fatalf("prefix a: %q", got)
	}
	if got, _ := list("", "a\x00", "", 0); !reflect.DeepEqual(got, all[2:]) {
		t.Fatalf("key marker: %q", got)
	}
	if got, _ := list("", "b", ids["b"][0], 0); !reflect.DeepEqual(got, all[4:]) {
		t.Fatalf("key and upload id marker: %q", got)
	}
	// Paging with both markers visits everything once.
	var walked []ref
	km, um := "", ""
	for {
		page, trunc := list("", km, um, 2)
		walked = append(walked, page...)
		if !trunc {
			break
		}
		km, um = page[len(page)-1].key, page[len(page)-1].id
	}
	if !reflect.DeepEqual(walked, all) {
		t.Fatalf("paged: %q", walked)
	}
}

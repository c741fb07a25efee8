package objects_test

import (
	"bytes"
	"context"
	"maps"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// TestTagsSurviveEdits: SetTags changes only the tags, and editing the
// file through the mount's writer keeps them, as it keeps user metadata.
func TestTagsSurviveEdits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tags := map[string]string{"team": "data"}
	m, err := e.l.Put(ctx, e.org, "b", "k", bytes.NewReader([]byte("hello")), objects.PutOptions{
		Size: 5, Meta: catalog.Manifest{Meta: map[string]string{"m": "1"}, Tags: tags}})
	if err != nil {
		t.Fatal(err)
	}
	tags2 := map[string]string{"team": "ops", "x": "y"}
	got, err := e.l.SetTags(ctx, e.org, "b", "k", tags2)
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != m.ETag || !got.ModTime.Equal(m.ModTime) || !maps.Equal(got.Meta, m.Meta) {
		t.Errorf("SetTags changed the object: %+v", got)
	}
	w := e.writer(t, "k", false)
	if _, err := w.WriteAt(ctx, []byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	commit(t, w)
	h, err := e.l.Head(ctx, e.org, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(h.Tags, tags2) || h.Meta["m"] != "1" {
		t.Errorf("after an edit through the writer: tags %v, meta %v", h.Tags, h.Meta)
	}
}

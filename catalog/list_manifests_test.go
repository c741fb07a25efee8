package catalog

import (
	"reflect"
	"testing"
)

// ListManifests returns, for every object on the page and no other, the
// manifest Object returns for it, metadata and inline bytes included.
func TestListManifestsMatchesObject(t *testing.T) {
	db, b := newTestBucket(t)
	a := manifest("a", 1, 2)
	a.Meta = map[string]string{"mode": "33188", "mtime": "1700000000.5"}
	inl := &Manifest{ETag: `"i"`, Size: 3, Inline: []byte("abc"), Meta: map[string]string{"k": "v"}}
	mustPut(t, db, b, "d/a", a)
	mustPut(t, db, b, "d/inline", inl)
	mustPut(t, db, b, "d/sub/x", manifest("x", 3))
	mustPut(t, db, b, "e", manifest("e", 4))

	res, ms, err := db.ListManifests(ctx, b.ID, ListOptions{Prefix: "d/", Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 || !reflect.DeepEqual(res.CommonPrefixes, []string{"d/sub/"}) || len(ms) != 2 {
		t.Fatalf("page %+v, %d manifests; want d/a, d/inline and d/sub/", res, len(ms))
	}
	for _, o := range res.Objects {
		want, err := db.Object(ctx, b.ID, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		// A listing describes; it carries none of the object's bytes.
		want.Inline = nil
		if !reflect.DeepEqual(ms[o.Key], want) {
			t.Errorf("%s: listed %+v, Object %+v", o.Key, ms[o.Key], want)
		}
	}
}

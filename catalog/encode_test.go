package catalog

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func fullManifest() *Manifest {
	return &Manifest{
		Size:    12345,
		ETag:    `"d41d8cd98f00b204e9800998ecf8427e-2"`,
		ModTime: time.Date(2025, 11, 25, 19, 40, 1, 123456789, time.UTC),
		Extents: []Extent{{Chunk: chunk(1), Offset: 0, Length: 10000}, {Chunk: chunk(2), Offset: 5, Length: 2345}},
		Parts:   []Part{{Number: 1, Size: 10000, ETag: `"a"`}, {Number: 2, Size: 2345, ETag: `"b"`}},

		ContentType:        "image/jpeg",
		ContentEncoding:    "gzip",
		ContentDisposition: `attachment; filename="x.jpg"`,
		ContentLanguage:    "fr",
		CacheControl:       "no-cache",
		Expires:            "Wed, 21 Oct 2015 07:28:00 GMT",
		Meta:               map[string]string{"owner": "é", "empty": ""},
		Checksums:          map[string]string{"CRC32": "AAAAAA==", "SHA256": "x"},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	for name, m := range map[string]*Manifest{
		"empty":  {},
		"inline": {Size: 3, ETag: `"x"`, ModTime: time.Unix(0, 1).UTC(), Inline: []byte("abc")},
		"full":   fullManifest(),
		"neg":    {Size: -1, Extents: []Extent{{Offset: -5, Length: -1}}},
		"tagged": {Size: 1, ETag: `"t"`, Inline: []byte("t"), Tags: map[string]string{"project": "é", "empty": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			enc := encodeManifest(m)
			got, err := decodeManifest(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
			if !bytes.Equal(encodeManifest(got), enc) {
				t.Fatal("encoding not deterministic")
			}
			head, err := decodeManifestHead(enc)
			if err != nil || head.Size != m.Size || head.ETag != m.ETag || !head.ModTime.Equal(m.ModTime) {
				t.Fatalf("head = %+v, %v", head, err)
			}
			// Every truncation must fail cleanly.
			for i := range enc {
				if _, err := decodeManifest(enc[:i]); err == nil {
					t.Fatalf("truncated at %d decoded", i)
				}
			}
		})
	}
}

func TestUploadAndPartRoundTrip(t *testing.T) {
	u := Upload{ID: "0123456789abcdef0123456789abcdef", BucketID: 7, Key: "a/b\x00c",
		Initiated: time.Unix(1700000000, 42).UTC(), Template: Manifest{ContentType: "text/plain", Meta: map[string]string{"a": "b"}}}
	gu, err := decodeUpload(encodeUpload(&u))
	if err != nil || !reflect.DeepEqual(gu, u) {
		t.Fatalf("upload round trip: %+v, %v", gu, err)
	}
	p := &UploadPart{Number: 10000, Size: 5 << 20, ETag: `"e"`, ModTime: time.Unix(5, 0).UTC(),
		Extents: []Extent{{Chunk: chunk(3), Length: 5 << 20}}, Checksum: map[string]string{"CRC32C": "q"}}
	gp, err := decodePart(encodePart(p))
	if err != nil || !reflect.DeepEqual(gp, p) {
		t.Fatalf("part round trip: %+v, %v", gp, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	now := time.Now().UTC().Round(0)
	o := Org{ID: "oabcdefghijkl", Name: "acme", Created: now}
	if g, err := decodeOrg(encodeOrg(o)); err != nil || !reflect.DeepEqual(g, o) {
		t.Fatalf("org: %+v %v", g, err)
	}
	k := AccessKey{ID: "EXCAAAA", Secret: "s/+", OrgID: o.ID, ReadOnly: true, Buckets: []string{"a"}, Created: now}
	if g, err := decodeAccessKey(encodeAccessKey(k)); err != nil || !reflect.DeepEqual(g, k) {
		t.Fatalf("key: %+v %v", g, err)
	}
	b := Bucket{ID: 9, OrgID: o.ID, Name: "photos", Public: true, Created: now}
	if g, err := decodeBucket(encodeBucket(b)); err != nil || !reflect.DeepEqual(g, b) {
		t.Fatalf("bucket: %+v %v", g, err)
	}
	if _, err := decodeBucket([]byte(`{"v":2}`)); err == nil {
		t.Fatal("unknown record version decoded")
	}
}

func TestEscapedKeys(t *testing.T) {
	keys := []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "a", "a\x00", "a\x00b", "a\x01", "ab", "a\xff"}
	for i, a := range keys {
		ka := uploadIndexKey(1, a, "0123456789abcdef0123456789abcdef")
		k, rest, ok := splitEscaped(ka[9:])
		if !ok || k != a || string(rest) != "0123456789abcdef0123456789abcdef" {
			t.Fatalf("split(%q) = %q %q %v", a, k, rest, ok)
		}
		for _, b := range keys[i+1:] {
			kb := uploadIndexKey(1, b, "00000000000000000000000000000000")
			if bytes.Compare(ka, kb) >= 0 {
				t.Fatalf("esc(%q) >= esc(%q)", a, b)
			}
		}
	}
}

// FuzzDecode: no decoder may panic or over-allocate on arbitrary bytes, and
// whatever decodes must re-encode to something that decodes the same.
func FuzzDecode(f *testing.F) {
	f.Add(encodeManifest(fullManifest()))
	f.Add(encodeManifest(&Manifest{Inline: []byte("hi")}))
	f.Add(encodeUpload(&Upload{ID: "x", Key: "k", Template: *fullManifest()}))
	f.Add(encodePart(&UploadPart{Number: 1, Extents: []Extent{{Chunk: chunk(1)}}}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeManifest(b); err == nil {
			m2, err := decodeManifest(encodeManifest(m))
			if err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("manifest re-encode: %v", err)
			}
		}
		decodeManifestHead(b)
		if u, err := decodeUpload(b); err == nil {
			if _, err := decodeUpload(encodeUpload(&u)); err != nil {
				t.Fatalf("upload re-encode: %v", err)
			}
		}
		if p, err := decodePart(b); err == nil {
			if _, err := decodePart(encodePart(p)); err != nil {
				t.Fatalf("part re-encode: %v", err)
			}
		}
		decodeCount(b)
		decodeBucket(b)
		splitEscaped(b)
	})
}

// TestManifestTagsVersion checks that only a manifest with tags is written
// as v3, so catalogs that never used tags keep v1 (or v2, with a zero run)
// bytes, and that a tagged manifest keeps its zero runs.
func TestManifestTagsVersion(t *testing.T) {
	m := fullManifest()
	if v := encodeManifest(m)[0]; v != manifestV1 {
		t.Fatalf("untagged manifest written as version %d", v)
	}
	m.Tags = map[string]string{"a": "b"}
	enc := encodeManifest(m)
	if enc[0] != manifestV3 {
		t.Fatalf("tagged manifest written as version %d", enc[0])
	}
	m.Extents = append(m.Extents, ZeroRun(1<<40))
	got, err := decodeManifest(encodeManifest(m))
	if err != nil {
		t.Fatalf("tagged manifest with a zero run: %v", err)
	}
	if !reflect.DeepEqual(got.Tags, m.Tags) || !got.Extents[len(got.Extents)-1].IsZeroRun() {
		t.Fatalf("tagged manifest with a zero run read back as %+v", got)
	}
	// A v3 value whose tag map is empty is not one encodeManifest writes.
	bad := append([]byte{manifestV3}, encodeManifest(fullManifest())[1:]...)
	bad = append(bad, 0)
	if _, err := decodeManifest(bad); err == nil {
		t.Fatal("v3 manifest with an empty tag map decoded")
	}
}

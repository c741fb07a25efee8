package objects_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// untouchable is a body a refused write must not read.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the body of a write refused for its metadata was read")
	return 0, errors.New("not to be read")
}

// TestMetadataLimits checks the one metadata rule every door meets: user
// metadata (names plus values) at most MaxUserMeta, the stored standard
// headers at most MaxHeaderMeta; a write over either stores nothing.
func TestMetadataLimits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.put(t, "src", []byte("source"))

	full := map[string]string{"k": strings.Repeat("v", objects.MaxUserMeta-1)} // exactly the limit
	over := map[string]string{"k": strings.Repeat("v", objects.MaxUserMeta)}
	longHeader := catalog.Manifest{ContentDisposition: "attachment; filename=\"" + strings.Repeat("n", objects.MaxHeaderMeta) + "\""}
	for _, tc := range []struct {
		name string
		meta catalog.Manifest
		ok   bool
	}{
		{"user metadata at the limit", catalog.Manifest{Meta: full}, true},
		{"headers at the limit", catalog.Manifest{ContentType: strings.Repeat("t", objects.MaxHeaderMeta/2), CacheControl: strings.Repeat("c", objects.MaxHeaderMeta/2)}, true},
		{"both at their limits", catalog.Manifest{Meta: full, Expires: strings.Repeat("e", objects.MaxHeaderMeta)}, true},
		{"user metadata over", catalog.Manifest{Meta: over}, false},
		{"many small entries over", catalog.Manifest{Meta: manyEntries(40, 60)}, false},
		{"Content-Disposition over", longHeader, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "-")
			body := bytes.NewReader([]byte("data"))
			_, err := e.l.Put(ctx, e.org, "b", key, body, objects.PutOptions{Size: 4, Meta: tc.meta})
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, objects.ErrMetadataTooLarge) {
				t.Fatalf("Put: %v (want ok=%v)", err, tc.ok)
			}
			_, err = e.l.Copy(ctx, e.org, "b", "src", "b", key+"-copy", objects.CopyOptions{ReplaceMeta: true, Meta: tc.meta})
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, objects.ErrMetadataTooLarge) {
				t.Fatalf("Copy: %v (want ok=%v)", err, tc.ok)
			}
			_, err = e.l.CreateMultipart(ctx, e.org, "b", key+"-mp", tc.meta)
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, objects.ErrMetadataTooLarge) {
				t.Fatalf("CreateMultipart: %v (want ok=%v)", err, tc.ok)
			}
			if tc.ok {
				return
			}
			for _, k := range []string{key, key + "-copy"} {
				if _, err := e.l.Head(ctx, e.org, "b", k); !errors.Is(err, catalog.ErrNotFound) {
					t.Errorf("%s after a refused write: %v", k, err)
				}
			}
			if ups, _, err := e.l.ListUploads(ctx, e.org, "b", key, "", "", 10); err != nil || len(ups) != 0 {
				t.Errorf("uploads after a refused create: %v, %v", ups, err)
			}
			// Refused before the body is read: a client is not made to
			// upload what cannot be stored.
			if _, err := e.l.Put(ctx, e.org, "b", key, untouchable{t}, objects.PutOptions{Size: 4, Meta: tc.meta}); !errors.Is(err, objects.ErrMetadataTooLarge) {
				t.Errorf("Put with an unread body: %v", err)
			}
		})
	}

	// SetMeta (the mount's setxattr and chmod on a closed file) may not
	// grow user metadata past the limit; the object keeps what it had.
	if _, err := e.l.SetMeta(ctx, e.org, "b", "src", over); !errors.Is(err, objects.ErrMetadataTooLarge) {
		t.Errorf("SetMeta over the limit: %v", err)
	}
	if m, err := e.l.Head(ctx, e.org, "b", "src"); err != nil || len(m.Meta) != 0 {
		t.Errorf("src after a refused SetMeta: %+v, %v", m, err)
	}
	if _, err := e.l.SetMeta(ctx, e.org, "b", "src", full); err != nil {
		t.Errorf("SetMeta at the limit: %v", err)
	}
}

// TestMetadataLimitLegacy: an object stored with more metadata than the
// limit (before it existed) keeps reading, and edits that shrink its
// metadata succeed; only growing it is refused.
func TestMetadataLimitLegacy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b, err := e.db.Bucket(ctx, e.org, "b")
	if err != nil {
		t.Fatal(err)
	}
	big := manyEntries(40, 100) // about 4 KiB
	if _, err := e.db.PutObject(ctx, b, "old", &catalog.Manifest{Size: 1, Inline: []byte("x"), ETag: quotedMD5([]byte("x")), Meta: big}, catalog.Condition{}); err != nil {
		t.Fatal(err)
	}
	smaller := make(map[string]string)
	for k, v := range big {
		smaller[k] = v
	}
	delete(smaller, "k00")
	if _, err := e.l.SetMeta(ctx, e.org, "b", "old", smaller); err != nil {
		t.Errorf("shrinking an oversized object's metadata: %v", err)
	}
	smaller["new"] = strings.Repeat("v", 200)
	if _, err := e.l.SetMeta(ctx, e.org, "b", "old", smaller); !errors.Is(err, objects.ErrMetadataTooLarge) {
		t.Errorf("growing it: %v", err)
	}
	if got, err := e.get(t, "old", 0, -1); err != nil || string(got) != "x" {
		t.Errorf("reading it: %q, %v", got, err)
	}
}

// manyEntries is n entries "kNN" of size bytes each (name included).
func manyEntries(n, size int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		k := "k" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		m[k] = strings.Repeat("v", size-len(k))
	}
	return m
}

package sigv4

import (
	"net/url"
	"testing"
)

// FuzzCanonicalQuery checks the canonical query builder on arbitrary raw
// query strings: no panic; an error exactly when some pair does not
// decode; and the canonical form is a fixed point (canonicalizing it again
// changes nothing), which is what makes it independent of how the client
// happened to escape and order its parameters.
func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "acl", "uploadId=abc%2Bdef%2F%3D%3D&partNumber=7", "prefix=a+b%2Bc&list-type=2",
		"a=%zz", "%=x", "&&=&", "k=v&k=a&k=", "X-Amz-Signature=abc&X-Amz-Date=x", "a/b=1&a-b=2", "x=%C3%A9%20~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := canonicalQuery(raw, "")
		if err != nil {
			return
		}
		c2, err := canonicalQuery(c, "")
		if err != nil || c2 != c {
			t.Fatalf("canonical %q of %q canonicalizes to %q, %v", c, raw, c2, err)
		}
		// Leaving out the presign signature never leaves it in.
		if s, err := canonicalQuery(raw, QuerySignature); err == nil {
			q, _ := url.ParseQuery(s)
			if q.Has(QuerySignature) {
				t.Fatalf("%q kept %s", s, QuerySignature)
			}
		}
		// The path canonicalizer likewise.
		u := &url.URL{Path: raw}
		p, _ := canonicalURIs(u)
		if q, _ := canonicalURIs(&url.URL{Path: mustUnescape(t, p)}); q != p {
			t.Fatalf("canonical URI %q of %q re-canonicalizes to %q", p, raw, q)
		}
	})
}

func mustUnescape(t *testing.T, p string) string {
	s, err := url.PathUnescape(p)
	if err != nil {
		t.Fatalf("canonical URI %q does not unescape: %v", p, err)
	}
	return s
}

package s3gw

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
)

const testPublicDomain = "objects.example.test"

// anon sends an unsigned request to the stack with the given Host.
func (s *stack) anon(t *testing.T, method, host, path string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	if hdr == nil {
		hdr = map[string]string{}
	}
	hdr["Host"] = host
	return s.do(t, catalog.AccessKey{}, method, path, body, hdr)
}

// newOrg creates another org with a full-access key.
func (s *stack) newOrg(t *testing.T, name string) (catalog.Org, catalog.AccessKey) {
	t.Helper()
	ctx := context.Background()
	org, err := s.db.CreateOrg(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.db.CreateAccessKey(ctx, catalog.AccessKey{OrgID: org.ID})
	if err != nil {
		t.Fatal(err)
	}
	return org, k
}

func putString(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func TestPublicBuckets(t *testing.T) {
	st := newStackWith(t, func(c *Config) { c.PublicDomain = testPublicDomain })
	ctx := context.Background()
	c := st.client(st.key)
	mustBucket(t, c, "pub")
	mustBucket(t, c, "priv")
	putString(t, c, "pub", "dir/file.txt", "hello, world")
	putString(t, c, "priv", "dir/file.txt", "secret")
	if err := st.db.SetBucketPublic(ctx, st.org, "pub", true); err != nil {
		t.Fatal(err)
	}
	// Another org with a public bucket of the same name and other bytes.
	orgB, keyB := st.newOrg(t, "other")
	cb := st.client(keyB)
	mustBucket(t, cb, "pub")
	putString(t, cb, "pub", "dir/file.txt", "org B's file")
	if err := st.db.SetBucketPublic(ctx, orgB.ID, "pub", true); err != nil {
		t.Fatal(err)
	}

	host := st.org + "." + testPublicDomain
	hostB := orgB.ID + "." + testPublicDomain

	// Reads that work, with any port, case and a trailing dot in Host.
	for _, h := range []string{host, host + ":9000", strings.ToUpper(host), host + "."} {
		r := st.anon(t, "GET", h, "/pub/dir/file.txt", nil, nil)
		if b := readAll(t, r.Body); r.StatusCode != 200 || b != "hello, world" || r.Header.Get("ETag") == "" {
			t.Errorf("GET via %s: %d %q", h, r.StatusCode, b)
		}
	}
	r := st.anon(t, "GET", hostB, "/pub/dir/file.txt", nil, nil)
	if b := readAll(t, r.Body); r.StatusCode != 200 || b != "org B's file" {
		t.Errorf("GET on org B's host: %d %q", r.StatusCode, b)
	}
	r = st.anon(t, "HEAD", host, "/pub/dir/file.txt", nil, nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Length") != "12" || r.Header.Get("Content-Type") == "" {
		t.Errorf("HEAD: %d %v", r.StatusCode, r.Header)
	}
	r = st.anon(t, "GET", host, "/pub/dir/file.txt", nil, map[string]string{"Range": "bytes=7-11"})
	if b := readAll(t, r.Body); r.StatusCode != 206 || b != "world" || r.Header.Get("Content-Range") != "bytes 7-11/12" {
		t.Errorf("Range: %d %q %q", r.StatusCode, b, r.Header.Get("Content-Range"))
	}
	r = st.anon(t, "HEAD", host, "/pub/dir/file.txt", nil, map[string]string{"Range": "bytes=-5"})
	if r.StatusCode != 206 || r.Header.Get("Content-Length") != "5" {
		t.Errorf("HEAD Range: %d", r.StatusCode)
	}
	wantError(t, st.anon(t, "GET", host, "/pub/dir/file.txt", nil, map[string]string{"Range": "bytes=100-"}), 416, "InvalidRange")
	etag := r.Header.Get("ETag")
	if r := st.anon(t, "GET", host, "/pub/dir/file.txt", nil, map[string]string{"If-None-Match": etag}); r.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	wantError(t, st.anon(t, "GET", host, "/pub/dir/file.txt", nil, map[string]string{"If-Match": `"nope"`}), 412, "PreconditionFailed")
	if r := st.anon(t, "GET", host, "/pub/dir/file.txt?partNumber=1", nil, nil); r.StatusCode != 200 {
		t.Errorf("partNumber=1: %d", r.StatusCode)
	}
	// Credentials are ignored on the public host: a signed read is a public
	// read, and a signed write is refused like any other.
	signed := st.do(t, st.key, "GET", "/pub/dir/file.txt", nil, map[string]string{"Host": host})
	if b := readAll(t, signed.Body); signed.StatusCode != 200 || b != "hello, world" {
		t.Errorf("signed GET on the public host: %d %q", signed.StatusCode, b)
	}
	wantError(t, st.do(t, st.key, "PUT", "/pub/dir/file.txt", []byte("overwrite"), map[string]string{"Host": host}), 403, "AccessDenied")
	wantError(t, st.do(t, st.key, "GET", "/priv/dir/file.txt", nil, map[string]string{"Host": host}), 403, "AccessDenied")

	wantError(t, st.anon(t, "GET", host, "/pub/missing", nil, nil), 404, "NoSuchKey")
	wantError(t, st.anon(t, "GET", host, "/pub/dir/file.txt?response-content-type=text%2Fhtml", nil, nil), 400, "InvalidRequest")

	// Everything else is 403, the same for private and missing buckets.
	for _, tc := range []struct {
		method, host, path string
		body               []byte
	}{
		{"GET", host, "/priv/dir/file.txt", nil},
		{"HEAD", host, "/priv/dir/file.txt", nil},
		{"GET", host, "/priv/missing", nil},
		{"GET", host, "/nobucket/dir/file.txt", nil},
		{"GET", host, "/", nil},
		{"GET", host, "/pub", nil},
		{"GET", host, "/pub/", nil},
		{"GET", host, "/pub?list-type=2", nil},
		{"GET", host, "/pub/?uploads", nil},
		{"GET", host, "/pub/dir/file.txt?acl", nil},
		{"GET", host, "/pub/dir/file.txt?uploadId=0123456789abcdef0123456789abcdef", nil},
		{"GET", host, "/pub/dir/file.txt?tagging", nil},
		{"PUT", host, "/pub/dir/file.txt", []byte("overwrite")},
		{"PUT", host, "/pub/new", []byte("new")},
		{"PUT", host, "/pub/copy", nil},
		{"DELETE", host, "/pub/dir/file.txt", nil},
		{"POST", host, "/pub/dir/file.txt?uploads", nil},
		{"POST", host, "/pub?delete", []byte(`<Delete><Object><Key>dir/file.txt</Key></Object></Delete>`)},
		{"PUT", host, "/newbucket", nil},
		{"DELETE", host, "/pub", nil},
		{"OPTIONS", host, "/pub/dir/file.txt", nil},
		// An org id that does not exist.
		{"GET", "oaaaaaaaaaaaa." + testPublicDomain, "/pub/dir/file.txt", nil},
		// Org B's host does not serve org A's private bucket.
		{"GET", hostB, "/priv/dir/file.txt", nil},
	} {
		var hdr map[string]string
		if tc.path == "/pub/copy" {
			hdr = map[string]string{"x-amz-copy-source": "pub/dir/file.txt"}
		}
		r := st.anon(t, tc.method, tc.host, tc.path, tc.body, hdr)
		if tc.method == "HEAD" {
			if r.StatusCode != 403 {
				t.Errorf("HEAD %s: %d", tc.path, r.StatusCode)
			}
			continue
		}
		wantError(t, r, 403, "AccessDenied")
	}
	// Nothing was written or deleted.
	for org, want := range map[string]string{st.org: "hello, world", orgB.ID: "org B's file"} {
		b, err := st.db.Bucket(ctx, org, "pub")
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.db.Object(ctx, b.ID, "dir/file.txt")
		if err != nil || !bytes.Equal(m.Inline, []byte(want)) {
			t.Errorf("org %s pub/dir/file.txt: %+v, %v", org, m, err)
		}
		for _, k := range []string{"new", "copy"} {
			if _, err := st.db.Object(ctx, b.ID, k); err == nil {
				t.Errorf("org %s: %s was created", org, k)
			}
		}
	}
	if _, err := st.db.Bucket(ctx, st.org, "newbucket"); err == nil {
		t.Error("a bucket was created anonymously")
	}

	// Hosts of any other shape are the S3 API, which never serves
	// anonymous requests, public bucket or not.
	for _, h := range []string{strings.TrimPrefix(st.srv.URL, "http://"), testPublicDomain, "www." + testPublicDomain, "x." + host, "o1." + testPublicDomain} {
		wantError(t, st.anon(t, "GET", h, "/pub/dir/file.txt", nil, nil), 403, "AccessDenied")
	}

	// Making the bucket private takes effect on the next request.
	if err := st.db.SetBucketPublic(ctx, st.org, "pub", false); err != nil {
		t.Fatal(err)
	}
	wantError(t, st.anon(t, "GET", host, "/pub/dir/file.txt", nil, nil), 403, "AccessDenied")
	if r := st.anon(t, "HEAD", host, "/pub/dir/file.txt", nil, nil); r.StatusCode != 403 {
		t.Errorf("HEAD after SetBucketPublic(false): %d", r.StatusCode)
	}
	// Org B's bucket of the same name is unaffected.
	if r := st.anon(t, "GET", hostB, "/pub/dir/file.txt", nil, nil); r.StatusCode != 200 {
		t.Errorf("org B after org A's flip: %d", r.StatusCode)
	}

	// The access log names the public operations and the org.
	if logs := st.logs.String(); !strings.Contains(logs, "op=PublicGetObject") || !strings.Contains(logs, "op=PublicDenied") {
		t.Errorf("access log:\n%s", logs)
	}
}

// Without PublicDomain no host is public.
func TestPublicDomainOff(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	mustBucket(t, c, "pub")
	putString(t, c, "pub", "f", "x")
	if err := st.db.SetBucketPublic(context.Background(), st.org, "pub", true); err != nil {
		t.Fatal(err)
	}
	wantError(t, st.anon(t, "GET", st.org+"."+testPublicDomain, "/pub/f", nil, nil), 403, "AccessDenied")
	wantError(t, st.anon(t, "GET", strings.TrimPrefix(st.srv.URL, "http://"), "/pub/f", nil, nil), 403, "AccessDenied")
}

func TestPublicOrg(t *testing.T) {
	s := New(Config{PublicDomain: "Objects.Example.Test."}).(*server)
	for host, want := range map[string]string{
		"oabcdefgh2345.objects.example.test":      "oabcdefgh2345",
		"OABCDEFGH2345.objects.example.test:443":  "oabcdefgh2345",
		"oabcdefgh2345.objects.example.test.":     "oabcdefgh2345",
		"oabcdefgh2341.objects.example.test":      "", // '1' is not base32
		"oabcdefgh234.objects.example.test":       "",
		"xabcdefgh2345.objects.example.test":      "",
		"a.oabcdefgh2345.objects.example.test":    "",
		"objects.example.test":                    "",
		"oabcdefgh2345.other.example.test":        "",
		"oabcdefgh2345objects.example.test":       "",
		"oabcdefgh2345.objects.example.test.evil": "",
	} {
		got, ok := s.publicOrg(host)
		if got != want || ok != (want != "") {
			t.Errorf("publicOrg(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

// The public domain may equal the S3 endpoint's name: org hosts are public,
// "<bucket>.<domain>" is still refused as virtual-hosted style, and the
// domain itself is the S3 API.
func TestPublicDomainSameAsEndpoint(t *testing.T) {
	st := newStackWith(t, func(c *Config) { c.PublicDomain, c.Endpoint = testPublicDomain, testPublicDomain })
	c := st.client(st.key)
	mustBucket(t, c, "pub")
	putString(t, c, "pub", "f", "public bytes")
	if err := st.db.SetBucketPublic(context.Background(), st.org, "pub", true); err != nil {
		t.Fatal(err)
	}
	if r := st.anon(t, "GET", st.org+"."+testPublicDomain, "/pub/f", nil, nil); r.StatusCode != 200 || readAll(t, r.Body) != "public bytes" {
		t.Errorf("public GET: %d", r.StatusCode)
	}
	wantError(t, st.do(t, st.key, "GET", "/f", nil, map[string]string{"Host": "pub." + testPublicDomain}), 400, "InvalidRequest")
	if r := st.do(t, st.key, "GET", "/pub/f", nil, map[string]string{"Host": testPublicDomain}); r.StatusCode != 200 {
		t.Errorf("signed GET on the endpoint: %d", r.StatusCode)
	}
	wantError(t, st.anon(t, "GET", testPublicDomain, "/pub/f", nil, nil), 403, "AccessDenied")
}

package s3gw

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"excloud.dev/buckets/catalog"
)

// outcome is "status code" of a response, e.g. "404 NoSuchBucket" or
// "200 " for success, reading (and discarding) the body.
func outcome(t *testing.T, r *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	var e struct {
		Code string `xml:"Code"`
	}
	if r.StatusCode >= 300 {
		xml.Unmarshal(b, &e)
	}
	return fmt.Sprintf("%d %s", r.StatusCode, e.Code)
}

// rawOp is one signed request of an operation class.
type rawOp struct {
	name, method, path string
	body               []byte
	hdr                map[string]string
}

// createUpload starts an upload with k and uploads one small part, returning
// the upload id and the part's ETag.
func createUpload(t *testing.T, st *stack, k catalog.AccessKey, bucket, key string) (string, string) {
	t.Helper()
	r := st.do(t, k, "POST", "/"+bucket+"/"+key+"?uploads", nil, nil)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &init); err != nil || init.UploadID == "" {
		t.Fatalf("create upload %s/%s: %d %v", bucket, key, r.StatusCode, err)
	}
	r = st.do(t, k, "PUT", "/"+bucket+"/"+key+"?partNumber=1&uploadId="+init.UploadID, []byte("part one of "+key), nil)
	if r.StatusCode != 200 {
		t.Fatalf("upload part: %d", r.StatusCode)
	}
	return init.UploadID, r.Header.Get("ETag")
}

// orgState is everything an org has: bucket names, every object's ETag and
// size, and every upload in progress with its parts.
func orgState(t *testing.T, st *stack, org string) string {
	t.Helper()
	ctx := context.Background()
	bs, err := st.db.ListBuckets(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("bucket %s public=%v", b.Name, b.Public))
		res, err := st.db.List(ctx, b.ID, catalog.ListOptions{MaxKeys: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			out = append(out, fmt.Sprintf("  %s %s %d", o.Key, o.ETag, o.Size))
		}
		ups, _, err := st.db.ListUploads(ctx, b.ID, "", "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			parts, _, err := st.db.ListParts(ctx, b.ID, u.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				out = append(out, fmt.Sprintf("  upload %s %s part %d %s", u.Key, u.ID, p.Number, p.ETag))
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestOrgIsolation: two orgs each have a bucket "photos"; org B also has
// "bonly". Org A's key, through every operation class, never sees or
// touches org B's data, and org B's buckets answer exactly as buckets that
// do not exist.
func TestOrgIsolation(t *testing.T) {
	st := newStack(t)
	a := st.key
	orgB, b := st.newOrg(t, "org-b")
	ca, cb := st.client(a), st.client(b)
	mustBucket(t, ca, "photos")
	mustBucket(t, cb, "photos")
	mustBucket(t, cb, "bonly")
	putString(t, ca, "photos", "a-only.txt", "A's own")
	putString(t, ca, "photos", "shared.txt", "A's shared")
	putString(t, cb, "photos", "b-only.txt", "B's own")
	putString(t, cb, "photos", "shared.txt", "B's shared")
	putString(t, cb, "bonly", "b-only.txt", "B's other bucket")
	big := randBytes(51, 5*mib+1) // a chunked object, for part copies
	putString(t, cb, "bonly", "big", string(big))
	bUpload, bPart := createUpload(t, st, b, "photos", "b-upload")
	bUpload2, _ := createUpload(t, st, b, "bonly", "b-upload")
	aUpload, aPart := createUpload(t, st, a, "photos", "a-upload")
	before := orgState(t, st, orgB.ID)
	if !strings.Contains(before, "b-upload") || !strings.Contains(before, "bonly") {
		t.Fatalf("org B state:\n%s", before)
	}
	checkB := func(what string) {
		t.Helper()
		if after := orgState(t, st, orgB.ID); after != before {
			t.Errorf("%s changed org B:\nbefore:\n%s\nafter:\n%s", what, before, after)
		}
	}

	// Listings show only org A's data.
	body := readAll(t, st.do(t, a, "GET", "/", nil, nil).Body)
	if !strings.Contains(body, "<Name>photos</Name>") || strings.Contains(body, "bonly") || strings.Contains(body, orgB.ID) {
		t.Errorf("ListBuckets: %s", body)
	}
	for _, path := range []string{"/photos?list-type=2", "/photos", "/photos?list-type=2&prefix=b", "/photos?uploads", "/photos?uploads&prefix=b"} {
		body := readAll(t, st.do(t, a, "GET", path, nil, nil).Body)
		if strings.Contains(body, "b-only") || strings.Contains(body, "b-upload") || strings.Contains(body, bUpload) || strings.Contains(body, orgB.ID) {
			t.Errorf("GET %s shows org B's data: %s", path, body)
		}
	}
	if r := st.do(t, a, "GET", "/photos/shared.txt", nil, nil); readAll(t, r.Body) != "A's shared" {
		t.Error("GET photos/shared.txt is not org A's")
	}

	// Org B's keys in the same-named bucket do not exist for A; org B's
	// upload ids are unknown to A.
	for _, op := range []rawOp{
		{"get B's key", "GET", "/photos/b-only.txt", nil, nil},
		{"head B's key", "HEAD", "/photos/b-only.txt", nil, nil},
		{"copy B's key", "PUT", "/photos/stolen", nil, map[string]string{"x-amz-copy-source": "photos/b-only.txt"}},
		{"part copy of B's key", "PUT", "/photos/a-upload?partNumber=2&uploadId=" + aUpload, nil, map[string]string{"x-amz-copy-source": "photos/b-only.txt"}},
	} {
		if got := outcome(t, st.do(t, a, op.method, op.path, op.body, op.hdr)); got != "404 NoSuchKey" && got != "404 " {
			t.Errorf("%s: %s, want 404 NoSuchKey", op.name, got)
		}
	}
	for _, op := range []rawOp{
		{"part to B's upload", "PUT", "/photos/b-upload?partNumber=2&uploadId=" + bUpload, []byte("intruder"), nil},
		{"part copy to B's upload", "PUT", "/photos/b-upload?partNumber=2&uploadId=" + bUpload, nil, map[string]string{"x-amz-copy-source": "photos/a-only.txt"}},
		{"list B's parts", "GET", "/photos/b-upload?uploadId=" + bUpload, nil, nil},
		{"complete B's upload", "POST", "/photos/b-upload?uploadId=" + bUpload, completeXML(1, bPart), nil},
		{"abort B's upload", "DELETE", "/photos/b-upload?uploadId=" + bUpload, nil, nil},
	} {
		if got := outcome(t, st.do(t, a, op.method, op.path, op.body, op.hdr)); got != "404 NoSuchUpload" {
			t.Errorf("%s: %s, want 404 NoSuchUpload", op.name, got)
		}
	}
	checkB("reads and multipart on org A's photos")

	// Every operation class against B's other bucket answers exactly as
	// against a bucket that exists nowhere.
	ops := func(bucket, upload string) []rawOp {
		return []rawOp{
			{"HeadBucket", "HEAD", "/" + bucket, nil, nil},
			{"ListObjectsV2", "GET", "/" + bucket + "?list-type=2", nil, nil},
			{"ListObjects", "GET", "/" + bucket, nil, nil},
			{"GetBucketLocation", "GET", "/" + bucket + "?location", nil, nil},
			{"GetBucketAcl", "GET", "/" + bucket + "?acl", nil, nil},
			{"GetObject", "GET", "/" + bucket + "/b-only.txt", nil, nil},
			{"GetObject range", "GET", "/" + bucket + "/b-only.txt", nil, map[string]string{"Range": "bytes=0-1"}},
			{"HeadObject", "HEAD", "/" + bucket + "/b-only.txt", nil, nil},
			{"GetObjectAcl", "GET", "/" + bucket + "/b-only.txt?acl", nil, nil},
			{"PutObject", "PUT", "/" + bucket + "/b-only.txt", []byte("overwrite"), nil},
			{"PutObject new", "PUT", "/" + bucket + "/new", []byte("new"), nil},
			{"DeleteObject", "DELETE", "/" + bucket + "/b-only.txt", nil, nil},
			{"DeleteObjects", "POST", "/" + bucket + "?delete", []byte(`<Delete><Object><Key>b-only.txt</Key></Object></Delete>`), nil},
			{"DeleteBucket", "DELETE", "/" + bucket, nil, nil},
			{"CopyObject from", "PUT", "/photos/stolen", nil, map[string]string{"x-amz-copy-source": bucket + "/b-only.txt"}},
			{"CopyObject to", "PUT", "/" + bucket + "/planted", nil, map[string]string{"x-amz-copy-source": "photos/a-only.txt"}},
			{"CreateMultipartUpload", "POST", "/" + bucket + "/mp?uploads", nil, nil},
			{"UploadPart", "PUT", "/" + bucket + "/b-upload?partNumber=1&uploadId=" + upload, []byte("intruder"), nil},
			{"UploadPartCopy from", "PUT", "/photos/a-upload?partNumber=3&uploadId=" + aUpload, nil, map[string]string{"x-amz-copy-source": bucket + "/big", "x-amz-copy-source-range": "bytes=0-5242879"}},
			{"UploadPartCopy to", "PUT", "/" + bucket + "/b-upload?partNumber=2&uploadId=" + upload, nil, map[string]string{"x-amz-copy-source": "photos/a-only.txt"}},
			{"CompleteMultipartUpload", "POST", "/" + bucket + "/b-upload?uploadId=" + upload, completeXML(1, bPart), nil},
			{"AbortMultipartUpload", "DELETE", "/" + bucket + "/b-upload?uploadId=" + upload, nil, nil},
			{"ListMultipartUploads", "GET", "/" + bucket + "?uploads", nil, nil},
			{"ListParts", "GET", "/" + bucket + "/b-upload?uploadId=" + upload, nil, nil},
		}
	}
	other, nowhere := ops("bonly", bUpload2), ops("nowhere", bUpload2)
	for i := range other {
		got := outcome(t, st.do(t, a, other[i].method, other[i].path, other[i].body, other[i].hdr))
		want := outcome(t, st.do(t, a, nowhere[i].method, nowhere[i].path, nowhere[i].body, nowhere[i].hdr))
		if got != want {
			t.Errorf("%s on org B's bucket: %q; on a missing bucket: %q", other[i].name, got, want)
		}
		if !strings.HasPrefix(got, "404") {
			t.Errorf("%s on org B's bucket: %q, want 404", other[i].name, got)
		}
		checkB(other[i].name)
	}

	// Writes to org A's photos leave org B's photos alone.
	putString(t, ca, "photos", "shared.txt", "A's shared, rewritten")
	putString(t, ca, "photos", "b-only.txt", "A's own b-only")
	if r := st.do(t, a, "POST", "/photos?delete", []byte(`<Delete><Object><Key>b-only.txt</Key></Object><Object><Key>shared.txt</Key></Object></Delete>`), nil); r.StatusCode != 200 {
		t.Errorf("DeleteObjects: %d", r.StatusCode)
	}
	if r := st.do(t, a, "POST", "/photos/a-upload?uploadId="+aUpload, completeXML(1, aPart), nil); r.StatusCode != 200 {
		t.Errorf("complete A's upload: %d %s", r.StatusCode, readAll(t, r.Body))
	}
	if r := st.do(t, a, "DELETE", "/photos/a-only.txt", nil, nil); r.StatusCode != 204 {
		t.Errorf("delete: %d", r.StatusCode)
	}
	checkB("writes to org A's photos")
	// A may create its own "bonly": names are per org.
	mustBucket(t, ca, "bonly")
	putString(t, ca, "bonly", "b-only.txt", "A's bonly")
	checkB("org A creating its own bonly")
	if r := st.do(t, b, "GET", "/bonly/b-only.txt", nil, nil); readAll(t, r.Body) != "B's other bucket" {
		t.Error("org B's bonly/b-only.txt changed")
	}
	// And B never sees A either.
	if body := readAll(t, st.do(t, b, "GET", "/photos?list-type=2", nil, nil).Body); strings.Contains(body, "a-only") || strings.Contains(body, "a-upload") {
		t.Errorf("org B sees org A: %s", body)
	}
}

// TestKeyScopeOperations runs every operation class with a read-only key
// and with a key limited to bucket "alpha", and checks a deleted key.
func TestKeyScopeOperations(t *testing.T) {
	st := newStack(t)
	full := st.key
	c := st.client(full)
	for _, b := range []string{"alpha", "beta"} {
		mustBucket(t, c, b)
		putString(t, c, b, "obj", "content of "+b)
		putString(t, c, b, "victim", "to be deleted?")
	}
	putString(t, c, "beta", "big", string(randBytes(61, 5*mib+1)))
	alphaUp, alphaPart := createUpload(t, st, full, "alpha", "up")
	betaUp, betaPart := createUpload(t, st, full, "beta", "up")

	// ops lists one request per operation class against bucket; upload and
	// part name an upload in progress there, other is a second bucket.
	type op struct {
		rawOp
		write bool
	}
	ops := func(bucket, other, upload, part string) []op {
		return []op{
			{rawOp{"ListBuckets", "GET", "/", nil, nil}, false},
			{rawOp{"HeadBucket", "HEAD", "/" + bucket, nil, nil}, false},
			{rawOp{"GetBucketLocation", "GET", "/" + bucket + "?location", nil, nil}, false},
			{rawOp{"GetBucketAcl", "GET", "/" + bucket + "?acl", nil, nil}, false},
			{rawOp{"ListObjectsV2", "GET", "/" + bucket + "?list-type=2", nil, nil}, false},
			{rawOp{"ListObjects", "GET", "/" + bucket, nil, nil}, false},
			{rawOp{"GetObject", "GET", "/" + bucket + "/obj", nil, nil}, false},
			{rawOp{"HeadObject", "HEAD", "/" + bucket + "/obj", nil, nil}, false},
			{rawOp{"ListMultipartUploads", "GET", "/" + bucket + "?uploads", nil, nil}, false},
			{rawOp{"ListParts", "GET", "/" + bucket + "/up?uploadId=" + upload, nil, nil}, false},
			{rawOp{"GetObjectTagging", "GET", "/" + bucket + "/obj?tagging", nil, nil}, false},
			{rawOp{"PutObjectTagging", "PUT", "/" + bucket + "/obj?tagging", []byte(`<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`), nil}, true},
			{rawOp{"DeleteObjectTagging", "DELETE", "/" + bucket + "/obj?tagging", nil, nil}, true},
			{rawOp{"PutObject", "PUT", "/" + bucket + "/new", []byte("new"), nil}, true},
			{rawOp{"CopyObject within", "PUT", "/" + bucket + "/copy", nil, map[string]string{"x-amz-copy-source": bucket + "/obj"}}, true},
			{rawOp{"CopyObject from other", "PUT", "/" + bucket + "/copy2", nil, map[string]string{"x-amz-copy-source": other + "/obj"}}, true},
			{rawOp{"CopyObject to other", "PUT", "/" + other + "/copy3", nil, map[string]string{"x-amz-copy-source": bucket + "/obj"}}, true},
			{rawOp{"UploadPart", "PUT", "/" + bucket + "/up?partNumber=2&uploadId=" + upload, []byte("last part"), nil}, true},
			{rawOp{"UploadPartCopy from other", "PUT", "/" + bucket + "/up?partNumber=3&uploadId=" + upload, nil, map[string]string{"x-amz-copy-source": other + "/obj"}}, true},
			{rawOp{"CompleteMultipartUpload", "POST", "/" + bucket + "/up?uploadId=" + upload, completeXML(1, part), nil}, true},
			{rawOp{"CreateMultipartUpload", "POST", "/" + bucket + "/mp?uploads", nil, nil}, true},
			{rawOp{"DeleteObject", "DELETE", "/" + bucket + "/victim", nil, nil}, true},
			{rawOp{"DeleteObjects", "POST", "/" + bucket + "?delete", []byte(`<Delete><Object><Key>victim</Key></Object></Delete>`), nil}, true},
			{rawOp{"CreateBucket", "PUT", "/" + bucket + "-new", nil, nil}, true},
			{rawOp{"DeleteBucket", "DELETE", "/" + bucket, nil, nil}, true},
		}
	}
	state := func() string { return orgState(t, st, st.org) }

	t.Run("read-only", func(t *testing.T) {
		ro := st.newKey(t, catalog.AccessKey{ReadOnly: true})
		before := state()
		for _, o := range ops("alpha", "beta", alphaUp, alphaPart) {
			got := outcome(t, st.do(t, ro, o.method, o.path, o.body, o.hdr))
			switch {
			case o.write && got != "403 AccessDenied" && !(o.method == "HEAD" && got == "403 "):
				t.Errorf("%s: %s, want 403 AccessDenied", o.name, got)
			case !o.write && !strings.HasPrefix(got, "200"):
				t.Errorf("%s: %s, want 200", o.name, got)
			}
		}
		// AbortMultipartUpload is a write too.
		if got := outcome(t, st.do(t, ro, "DELETE", "/alpha/up?uploadId="+alphaUp, nil, nil)); got != "403 AccessDenied" {
			t.Errorf("AbortMultipartUpload: %s", got)
		}
		if after := state(); after != before {
			t.Errorf("a read-only key changed the org:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("bucket-scoped", func(t *testing.T) {
		scoped := st.newKey(t, catalog.AccessKey{Buckets: []string{"alpha"}})
		// Everything on beta is refused and changes nothing.
		before := state()
		for _, o := range ops("beta", "alpha", betaUp, betaPart) {
			if o.name == "ListBuckets" {
				continue
			}
			got := outcome(t, st.do(t, scoped, o.method, o.path, o.body, o.hdr))
			if got != "403 AccessDenied" && !(o.method == "HEAD" && got == "403 ") {
				t.Errorf("beta %s: %s, want 403 AccessDenied", o.name, got)
			}
		}
		if got := outcome(t, st.do(t, scoped, "DELETE", "/beta/up?uploadId="+betaUp, nil, nil)); got != "403 AccessDenied" {
			t.Errorf("beta AbortMultipartUpload: %s", got)
		}
		if after := state(); after != before {
			t.Errorf("a key scoped to alpha changed beta:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		// On alpha everything that stays inside alpha works; what reaches
		// beta (copies from or to it) is refused.
		body := readAll(t, st.do(t, scoped, "GET", "/", nil, nil).Body)
		if !strings.Contains(body, "<Name>alpha</Name>") || strings.Contains(body, "beta") {
			t.Errorf("ListBuckets: %s", body)
		}
		for _, o := range ops("alpha", "beta", alphaUp, alphaPart) {
			got := outcome(t, st.do(t, scoped, o.method, o.path, o.body, o.hdr))
			var want []string
			switch o.name {
			case "CopyObject from other", "CopyObject to other", "UploadPartCopy from other", "CreateBucket":
				want = []string{"403 AccessDenied"} // beta, or "alpha-new", is outside the scope
			case "DeleteBucket":
				want = []string{"409 BucketNotEmpty"}
			case "DeleteObject", "DeleteObjectTagging":
				want = []string{"204 "}
			default:
				want = []string{"200 "}
			}
			if !slices.Contains(want, got) {
				t.Errorf("alpha %s: %s, want %v", o.name, got, want)
			}
		}
		if r := st.do(t, scoped, "DELETE", "/alpha/mp?uploadId=0123456789abcdef0123456789abcdef", nil, nil); outcome(t, r) != "404 NoSuchUpload" {
			t.Error("alpha AbortMultipartUpload of an unknown upload")
		}
		if _, err := st.db.Object(context.Background(), bucketID(t, st, "beta"), "copy3"); err == nil {
			t.Error("a copy into beta happened")
		}
	})

	t.Run("deleted key", func(t *testing.T) {
		k := st.newKey(t, catalog.AccessKey{})
		if got := outcome(t, st.do(t, k, "GET", "/alpha/obj", nil, nil)); got != "200 " {
			t.Fatalf("before delete: %s", got)
		}
		if err := st.db.DeleteAccessKey(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
		for _, o := range []rawOp{
			{"GetObject", "GET", "/alpha/obj", nil, nil},
			{"ListBuckets", "GET", "/", nil, nil},
			{"PutObject", "PUT", "/alpha/obj", []byte("x"), nil},
			{"CreateMultipartUpload", "POST", "/alpha/x?uploads", nil, nil},
		} {
			if got := outcome(t, st.do(t, k, o.method, o.path, o.body, o.hdr)); got != "403 InvalidAccessKeyId" {
				t.Errorf("%s with a deleted key: %s", o.name, got)
			}
		}
	})
}

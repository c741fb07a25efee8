package s3gw

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/testutil"
	"excloud.dev/buckets/s3gw/checksum"
)

var apiCode = testutil.APICode

// TestSDKObjectLifecycle drives the gateway with aws-sdk-go-v2 through the
// foundation operations against a real object layer.
func TestSDKObjectLifecycle(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")}); apiCode(err) != "InvalidBucketName" {
		t.Errorf("invalid name: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("photos"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); apiCode(err) != "BucketAlreadyOwnedByYou" {
		t.Errorf("second create: %v", err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Error(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")}); err == nil {
		t.Error("HeadBucket of a missing bucket succeeded")
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
	if err != nil || loc.LocationConstraint != "auto" {
		t.Errorf("location %v, %v", loc, err)
	}

	data := bytes.Repeat([]byte("0123456789"), 3000) // several KiB: past the inline limit
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:       aws.String("photos"),
		Key:          aws.String("dir/a b+c.txt"),
		Body:         bytes.NewReader(data),
		ContentType:  aws.String("text/plain"),
		CacheControl: aws.String("max-age=60"),
		Metadata:     map[string]string{"color": "blue"},
		// Over plain HTTP the SDK sends a checksum only when asked.
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := fmt.Sprintf(`"%x"`, md5.Sum(data))
	if aws.ToString(put.ETag) != wantETag {
		t.Errorf("ETag %s, want %s", aws.ToString(put.ETag), wantETag)
	}

	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, data) || aws.ToString(get.ContentType) != "text/plain" || get.Metadata["color"] != "blue" ||
		aws.ToString(get.CacheControl) != "max-age=60" || aws.ToString(get.ETag) != wantETag {
		t.Errorf("GetObject: %d bytes, type %q, meta %v, cache %q", len(got), aws.ToString(get.ContentType), get.Metadata, aws.ToString(get.CacheControl))
	}

	for rng, want := range map[string][]byte{
		"bytes=0-0":           data[:1],
		"bytes=10-19":         data[10:20],
		"bytes=-5":            data[len(data)-5:],
		"bytes=29990-":        data[29990:],
		"bytes=29995-1000000": data[29995:],
	} {
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt"), Range: aws.String(rng)})
		if err != nil {
			t.Errorf("%s: %v", rng, err)
			continue
		}
		got, _ := io.ReadAll(get.Body)
		get.Body.Close()
		if !bytes.Equal(got, want) || get.ContentRange == nil {
			t.Errorf("%s: got %q (Content-Range %v)", rng, got, aws.ToString(get.ContentRange))
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt"), Range: aws.String("bytes=30000-")}); apiCode(err) != "InvalidRange" {
		t.Errorf("unsatisfiable range: %v", err)
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(data)) || head.Metadata["color"] != "blue" {
		t.Errorf("HeadObject %+v, %v", head, err)
	}
	// The declared checksum is verified, stored and returned on request.
	ck, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || ck.ChecksumCRC32C == nil {
		t.Errorf("checksum mode: %+v, %v", ck, err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")}); err == nil {
		t.Error("HeadObject of a missing key succeeded")
	}

	// Copy: onto itself needs REPLACE; elsewhere it is metadata only.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/a b+c.txt"), CopySource: aws.String("photos/dir/a%20b%2Bc.txt")}); apiCode(err) != "InvalidRequest" {
		t.Errorf("copy onto itself: %v", err)
	}
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt"), CopySource: aws.String("photos/dir/a%20b%2Bc.txt")})
	if err != nil || aws.ToString(cp.CopyObjectResult.ETag) != wantETag {
		t.Fatalf("copy: %+v, %v", cp, err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy2.txt"), CopySource: aws.String("photos/copy.txt"), CopySourceIfMatch: aws.String(`"nope"`)}); apiCode(err) != "PreconditionFailed" {
		t.Errorf("copy-source-if-match: %v", err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt"), CopySource: aws.String("photos/copy.txt"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"color": "red"}}); err != nil {
		t.Errorf("copy onto itself with REPLACE: %v", err)
	}
	if h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt")}); err != nil || h.Metadata["color"] != "red" {
		t.Errorf("after REPLACE: %v, %v", h, err)
	}

	for _, k := range []string{"dir/sub/x", "dir/sub/y", "top", "/leading", "a//b"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	// Page through with a delimiter, one entry per page.
	var keys, prefixes []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("dir/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		token = out.NextContinuationToken
	}
	if strings.Join(keys, ",") != "dir/a b+c.txt" || strings.Join(prefixes, ",") != "dir/sub/" {
		t.Errorf("list: keys %q prefixes %q", keys, prefixes)
	}
	all, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	if err != nil || aws.ToInt32(all.KeyCount) != 7 {
		t.Errorf("full listing: %v, %v", all, err)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("photos"), Marker: aws.String("dir/sub/y")})
	if err != nil || len(v1.Contents) != 1 || aws.ToString(v1.Contents[0].Key) != "top" {
		t.Errorf("V1 listing after marker: %+v, %v", v1, err)
	}

	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); apiCode(err) != "BucketNotEmpty" {
		t.Errorf("delete non-empty bucket: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("photos"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("dir/sub/x")}, {Key: aws.String("dir/sub/y")}, {Key: aws.String("never-existed")},
	}}})
	if err != nil || len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Errorf("DeleteObjects: %+v, %v", del, err)
	}
	for _, k := range []string{"dir/a b+c.txt", "copy.txt", "top", "/leading", "a//b", "never-existed"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String(k)}); err != nil {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Error(err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Errorf("ListBuckets after delete: %+v, %v", lb, err)
	}
}

// TestRawProtocol covers what SDKs hide: error bodies, unsigned requests,
// key encoding in paths, subresources, scope and presigning rules.
func TestRawProtocol(t *testing.T) {
	st := newStack(t)
	k := st.key
	if r := st.do(t, k, "PUT", "/raw", nil, nil); r.StatusCode != 200 {
		t.Fatalf("create bucket: %d %s", r.StatusCode, readAll(t, r.Body))
	}

	// Anonymous: AccessDenied, with the XML body and request id.
	wantError(t, st.do(t, catalog.AccessKey{}, "GET", "/raw/x", nil, nil), 403, "AccessDenied")
	// Unknown key.
	wantError(t, st.do(t, catalog.AccessKey{ID: "EXCNOSUCHKEY000000000", Secret: "x"}, "GET", "/", nil, nil), 403, "InvalidAccessKeyId")
	// Wrong secret.
	wantError(t, st.do(t, catalog.AccessKey{ID: k.ID, Secret: "wrong"}, "GET", "/", nil, nil), 403, "SignatureDoesNotMatch")

	// Keys with an encoded slash, a literal plus and a double slash are
	// stored as written.
	for path, key := range map[string]string{
		"/raw/a%2Fb": "a/b",
		"/raw/p+q":   "p+q",
		"/raw/x//y":  "x//y",
		"/raw/%20sp": " sp",
		"/raw//lead": "/lead",
	} {
		if r := st.do(t, k, "PUT", path, []byte(key), nil); r.StatusCode != 200 {
			t.Errorf("PUT %s: %d %s", path, r.StatusCode, readAll(t, r.Body))
			continue
		}
		m, err := st.db.Object(context.Background(), bucketID(t, st, "raw"), key)
		if err != nil || m.Size != int64(len(key)) {
			t.Errorf("PUT %s: stored under %q? %v", path, key, err)
		}
	}

	// Unsupported subresources are 501 naming the feature.
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/raw?lifecycle"}, {"GET", "/raw?policy"}, {"PUT", "/raw?acl"}, {"PUT", "/raw?tagging"},
	} {
		r := st.do(t, k, tc.method, tc.path, nil, nil)
		body := readAll(t, r.Body)
		if r.StatusCode != 501 || !strings.Contains(body, "NotImplemented") || !strings.Contains(body, "does not implement") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.StatusCode, body)
		}
	}
	if r := st.do(t, k, "GET", "/raw?acl", nil, nil); r.StatusCode != 200 || !strings.Contains(readAll(t, r.Body), "FULL_CONTROL") {
		t.Errorf("GetBucketAcl: %d", r.StatusCode)
	}
	wantError(t, st.do(t, k, "PATCH", "/raw/p+q", nil, nil), 405, "MethodNotAllowed")

	// Content-MD5.
	wantError(t, st.do(t, k, "PUT", "/raw/m", []byte("hello"), map[string]string{"Content-MD5": "not-base64!"}), 400, "InvalidDigest")
	other := md5.Sum([]byte("other"))
	wantError(t, st.do(t, k, "PUT", "/raw/m", []byte("hello"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(other[:])}), 400, "BadDigest")
	good := md5.Sum([]byte("hello"))
	if r := st.do(t, k, "PUT", "/raw/m", []byte("hello"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(good[:])}); r.StatusCode != 200 || r.Header.Get("x-amz-server-side-encryption") != "AES256" {
		t.Errorf("PUT with good MD5: %d", r.StatusCode)
	}
	wantError(t, st.do(t, k, "PUT", "/raw/m", []byte("x"), map[string]string{"x-amz-meta-big": strings.Repeat("v", 2100)}), 400, "MetadataTooLarge")
	wantError(t, st.do(t, k, "PUT", "/raw/"+strings.Repeat("k", 1025), []byte("x"), nil), 400, "KeyTooLongError")
	wantError(t, st.do(t, k, "PUT", "/raw/m", []byte("x"), map[string]string{"x-amz-server-side-encryption": "aws:kms"}), 501, "NotImplemented")
	wantError(t, st.do(t, k, "PUT", "/raw/m", []byte("x"), map[string]string{"If-None-Match": "*"}), 412, "PreconditionFailed")
	wantError(t, st.do(t, k, "PUT", "/raw/c", []byte("hello"), map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}), 400, "BadDigest")
	wantError(t, st.do(t, k, "PUT", "/raw/c", []byte("hello"), map[string]string{"x-amz-checksum-crc32": "%%%"}), 400, "InvalidRequest")
	wantError(t, st.do(t, k, "PUT", "/raw/c", nil, map[string]string{"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}), 400, "InvalidRequest")

	// Conditional GET, and HEAD errors without a body.
	r := st.do(t, k, "GET", "/raw/m", nil, map[string]string{"If-None-Match": `"` + fmt.Sprintf("%x", good) + `"`})
	if r.StatusCode != 304 || r.Header.Get("ETag") == "" {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	wantError(t, st.do(t, k, "GET", "/raw/m", nil, map[string]string{"If-Match": `"nope"`}), 412, "PreconditionFailed")
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	// A date in the future is invalid and ignored (RFC 9110 13.1.3), as S3 does.
	if r := st.do(t, k, "GET", "/raw/m", nil, map[string]string{"If-Modified-Since": future}); r.StatusCode != 200 {
		t.Errorf("If-Modified-Since: %d", r.StatusCode)
	}
	if r := st.do(t, k, "HEAD", "/raw/missing", nil, nil); r.StatusCode != 404 || readAll(t, r.Body) != "" {
		t.Errorf("HEAD missing: %d", r.StatusCode)
	}
	r = st.do(t, k, "GET", "/raw/m?response-content-type=text%2Fhtml&response-content-disposition=attachment", nil, nil)
	if r.Header.Get("Content-Type") != "text/html" || r.Header.Get("Content-Disposition") != "attachment" || readAll(t, r.Body) != "hello" {
		t.Errorf("response overrides: %v", r.Header)
	}
	r = st.do(t, k, "GET", "/raw/m", nil, map[string]string{"Range": "bytes=9-"})
	if r.StatusCode != 416 || r.Header.Get("Content-Range") != "bytes */5" {
		t.Errorf("416: %d %q", r.StatusCode, r.Header.Get("Content-Range"))
	}
	// Several ranges: ignored, whole object.
	if r := st.do(t, k, "GET", "/raw/m", nil, map[string]string{"Range": "bytes=0-0,2-3"}); r.StatusCode != 200 || readAll(t, r.Body) != "hello" {
		t.Errorf("multi-range: %d", r.StatusCode)
	}

	// ListObjectsV2 with encoding-type=url.
	body := readAll(t, st.do(t, k, "GET", "/raw?list-type=2&encoding-type=url&prefix=p", nil, nil).Body)
	if !strings.Contains(body, "<Key>p%2Bq</Key>") || !strings.Contains(body, "<EncodingType>url</EncodingType>") {
		t.Errorf("encoding-type=url: %s", body)
	}
	wantError(t, st.do(t, k, "GET", "/raw?list-type=2&continuation-token=%21%21%21", nil, nil), 400, "InvalidArgument")

	// DeleteObjects: malformed XML.
	wantError(t, st.do(t, k, "POST", "/raw?delete", []byte("<Delete><Object>"), nil), 400, "MalformedXML")
	delBody := []byte(`<Delete><Quiet>true</Quiet><Object><Key>m</Key></Object></Delete>`)
	wantError(t, st.do(t, k, "POST", "/raw?delete", delBody, map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}), 400, "BadDigest")
	r = st.do(t, k, "POST", "/raw?delete", delBody, map[string]string{"x-amz-checksum-crc32": checksum.Encode(checksum.Sum(checksum.CRC32, delBody))})
	if b := readAll(t, r.Body); r.StatusCode != 200 || strings.Contains(b, "<Deleted>") {
		t.Errorf("quiet delete: %d %s", r.StatusCode, b)
	}

	// Virtual-hosted style is refused.
	wantError(t, st.do(t, k, "GET", "/", nil, map[string]string{"Host": "raw.localhost"}), 400, "InvalidRequest")

	// The access log has one line per request and no secrets.
	logs := st.logs.String()
	if !strings.Contains(logs, "op=PutObject") || strings.Contains(logs, k.Secret) || strings.Contains(logs, "Signature=") {
		t.Errorf("access log:\n%s", logs)
	}
}

func bucketID(t *testing.T, st *stack, name string) uint64 {
	t.Helper()
	b, err := st.db.Bucket(context.Background(), st.org, name)
	if err != nil {
		t.Fatal(err)
	}
	return b.ID
}

func TestKeyScope(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	full := st.client(st.key)
	for _, b := range []string{"alpha", "beta"} {
		if _, err := full.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := full.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}

	ro := st.client(st.newKey(t, catalog.AccessKey{ReadOnly: true}))
	if _, err := ro.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k2"), Body: strings.NewReader("v")}); apiCode(err) != "AccessDenied" {
		t.Errorf("read-only put: %v", err)
	}
	if _, err := ro.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); apiCode(err) != "AccessDenied" {
		t.Errorf("read-only delete: %v", err)
	}
	if _, err := ro.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Errorf("read-only get: %v", err)
	}

	scoped := st.client(st.newKey(t, catalog.AccessKey{Buckets: []string{"alpha"}}))
	lb, err := scoped.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "alpha" {
		t.Errorf("scoped ListBuckets: %+v, %v", lb, err)
	}
	if _, err := scoped.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("beta")}); apiCode(err) != "AccessDenied" {
		t.Errorf("scoped list of other bucket: %v", err)
	}
	if _, err := scoped.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("beta"), Key: aws.String("k"), CopySource: aws.String("alpha/k")}); apiCode(err) != "AccessDenied" {
		t.Errorf("scoped copy into other bucket: %v", err)
	}

	// Presigned GET works.
	ps := s3.NewPresignClient(full)
	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp.Body); resp.StatusCode != 200 || b != "v" {
		t.Errorf("presigned GET: %d %q", resp.StatusCode, b)
	}
	resp.Body.Close()
	// An x-amz-* header the URL did not sign is refused.
	req0, _ := http.NewRequest("GET", get.URL, nil)
	req0.Header.Set("x-amz-checksum-mode", "ENABLED")
	resp, err = http.DefaultClient.Do(req0)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp.Body); resp.StatusCode != 403 || !strings.Contains(b, "<Code>AccessDenied</Code>") || !strings.Contains(b, "not signed") {
		t.Errorf("presigned GET with an unsigned x-amz header: %d %s", resp.StatusCode, b)
	}
	resp.Body.Close()
	// Presigned uploads work (presign_put_test.go); other writes do not.
	del, err := ps.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", del.URL, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(b, "Presigned URLs are supported for") {
		t.Errorf("presigned DELETE: %d %s", resp.StatusCode, b)
	}
}

// An upload refused before its body is read must not make the client send
// the body: with "Expect: 100-continue" the 403 comes instead of "100".
func TestExpectContinueRejectedWithoutBody(t *testing.T) {
	st := newStack(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /b/k HTTP/1.1\r\nHost: %s\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n", strings.TrimPrefix(st.srv.URL, "http://"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 {
		t.Errorf("status %d, want 403 before the body", resp.StatusCode)
	}
	if b, _ := io.ReadAll(resp.Body); !bytes.Contains(b, []byte("AccessDenied")) {
		t.Errorf("body %s", b)
	}
}

package s3gw

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/s3gw/checksum"
)

const mib = 1 << 20

// randBytes returns n reproducible pseudo-random bytes (incompressible,
// and different for each seed so parts never deduplicate by accident).
func randBytes(seed uint64, n int) []byte { return seeded.Bytes(seed, n) }

// multipartETag is the ETag S3 gives an object made of these parts.
func multipartETag(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		s := md5.Sum(p)
		all = append(all, s[:]...)
	}
	return fmt.Sprintf(`"%x-%d"`, md5.Sum(all), len(parts))
}

func mustBucket(t *testing.T, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

func getBytes(t *testing.T, c *s3.Client, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// uploadChecksumParts starts a multipart upload of bucket/key with checksum
// algorithm alg and type typ and uploads parts, each with its checksum. It
// returns the upload and its parts, checksums included, to complete it with.
func uploadChecksumParts(t *testing.T, c *s3.Client, bucket, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType, parts ...[]byte) (*s3.CreateMultipartUploadOutput, []types.CompletedPart) {
	t.Helper()
	ctx := context.Background()
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumAlgorithm: alg, ChecksumType: typ})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
			ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
			ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	}
	return cr, done
}

// completeXML builds a CompleteMultipartUpload body; etags are used as
// given (quoted or not).
func completeXML(parts ...any) []byte {
	var b strings.Builder
	b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for i := 0; i+1 < len(parts); i += 2 {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", parts[i], parts[i+1])
	}
	b.WriteString(`</CompleteMultipartUpload>`)
	return []byte(b.String())
}

// TestMultipartSDK walks one upload through every multipart operation with
// aws-sdk-go-v2, then checks the object and its parts.
func TestMultipartSDK(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "mpu")

	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String("mpu"),
		Key:               aws.String("big/obj"),
		ContentType:       aws.String("application/x-big"),
		Metadata:          map[string]string{"origin": "test"},
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(create.UploadId) == "" || create.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32c {
		t.Fatalf("create: %+v", create)
	}
	id := create.UploadId
	data := [][]byte{randBytes(1, 5*mib), randBytes(2, 5*mib+3), randBytes(3, 1234)}
	var done []types.CompletedPart
	var crcs [][]byte
	for i, p := range data {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		sum := md5.Sum(p)
		if aws.ToString(out.ETag) != fmt.Sprintf(`"%x"`, sum) {
			t.Errorf("part %d ETag %s", i+1, aws.ToString(out.ETag))
		}
		crc := checksum.Sum(checksum.CRC32C, p)
		if aws.ToString(out.ChecksumCRC32C) != checksum.Encode(crc) {
			t.Errorf("part %d checksum %q", i+1, aws.ToString(out.ChecksumCRC32C))
		}
		crcs = append(crcs, crc)
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}

	// Re-uploading a number replaces the part.
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id,
		PartNumber: aws.Int32(3), Body: bytes.NewReader([]byte("short-lived"))}); err != nil {
		t.Fatal(err)
	}
	out3, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id,
		PartNumber: aws.Int32(3), Body: bytes.NewReader(data[2]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil || aws.ToString(out3.ETag) != aws.ToString(done[2].ETag) {
		t.Fatalf("re-upload part 3: %v", err)
	}

	// ListParts, one per page.
	var seen []int32
	var marker *string
	for pages := 0; ; pages++ {
		lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id, MaxParts: aws.Int32(1), PartNumberMarker: marker})
		if err != nil {
			t.Fatal(err)
		}
		if lp.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32c || lp.ChecksumType != types.ChecksumTypeComposite {
			t.Errorf("ListParts reports algorithm %q type %q, want the upload's CRC32C COMPOSITE", lp.ChecksumAlgorithm, lp.ChecksumType)
		}
		for _, p := range lp.Parts {
			seen = append(seen, aws.ToInt32(p.PartNumber))
			if want := int64(len(data[aws.ToInt32(p.PartNumber)-1])); aws.ToInt64(p.Size) != want {
				t.Errorf("part %d size %d, want %d", aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), want)
			}
			if p.ChecksumCRC32C == nil {
				t.Errorf("part %d lists no checksum", aws.ToInt32(p.PartNumber))
			}
		}
		if !aws.ToBool(lp.IsTruncated) {
			break
		}
		if pages > 5 {
			t.Fatal("ListParts does not end")
		}
		marker = lp.NextPartNumberMarker
	}
	if fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("ListParts pages: %v", seen)
	}

	comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := multipartETag(data...)
	if aws.ToString(comp.ETag) != wantETag || aws.ToString(comp.Key) != "big/obj" || aws.ToString(comp.Bucket) != "mpu" ||
		!strings.HasSuffix(aws.ToString(comp.Location), "/mpu/big/obj") {
		t.Errorf("complete: ETag %s (want %s), %s %s %s", aws.ToString(comp.ETag), wantETag, aws.ToString(comp.Bucket), aws.ToString(comp.Key), aws.ToString(comp.Location))
	}
	composite, _ := checksum.Composite(checksum.CRC32C, crcs)
	if aws.ToString(comp.ChecksumCRC32C) != composite || comp.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("complete checksum %q %q, want %q COMPOSITE", aws.ToString(comp.ChecksumCRC32C), comp.ChecksumType, composite)
	}

	got, out := getBytes(t, c, "mpu", "big/obj")
	if !bytes.Equal(got, bytes.Join(data, nil)) || aws.ToString(out.ETag) != wantETag ||
		aws.ToString(out.ContentType) != "application/x-big" || out.Metadata["origin"] != "test" {
		t.Errorf("GET: %d bytes, ETag %s, type %s, meta %v", len(got), aws.ToString(out.ETag), aws.ToString(out.ContentType), out.Metadata)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32C) != composite || head.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("HEAD checksum: %v, %v", head, err)
	}
	// partNumber=N serves part N from the manifest's part list.
	for n := int32(1); n <= 3; n++ {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), PartNumber: aws.Int32(n)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(b, data[n-1]) || aws.ToInt32(out.PartsCount) != 3 {
			t.Errorf("GET partNumber=%d: %d bytes, parts count %d", n, len(b), aws.ToInt32(out.PartsCount))
		}
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), PartNumber: aws.Int32(n)})
		if err != nil || aws.ToInt64(h.ContentLength) != int64(len(data[n-1])) {
			t.Errorf("HEAD partNumber=%d: %v, %v", n, h, err)
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), PartNumber: aws.Int32(4)}); apiCode(err) != "InvalidPartNumber" {
		t.Errorf("GET partNumber=4: %v", err)
	}
	// The upload is gone once completed.
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj"), UploadId: id}); apiCode(err) != "NoSuchUpload" {
		t.Errorf("ListParts after complete: %v", err)
	}
}

// TestMultipartErrors is a table of raw requests, one per error code and
// operation.
func TestMultipartErrors(t *testing.T) {
	st := newStack(t)
	k := st.key
	if r := st.do(t, k, "PUT", "/mpe", nil, nil); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	create := func(key string) string {
		t.Helper()
		r := st.do(t, k, "POST", "/mpe/"+key+"?uploads", nil, nil)
		var res initiateMultipartUploadResult
		if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &res); err != nil || r.StatusCode != 200 || res.UploadID == "" || res.Key != key {
			t.Fatalf("create %s: %d %+v %v", key, r.StatusCode, res, err)
		}
		return res.UploadID
	}
	part := func(key, id string, n int, body []byte) string {
		t.Helper()
		r := st.do(t, k, "PUT", fmt.Sprintf("/mpe/%s?partNumber=%d&uploadId=%s", key, n, id), body, nil)
		if r.StatusCode != 200 {
			t.Fatalf("part %d: %d %s", n, r.StatusCode, readAll(t, r.Body))
		}
		return r.Header.Get("ETag")
	}
	small := []byte("small part")
	big := randBytes(7, 5*mib)

	id := create("k")
	e1 := part("k", id, 1, small)
	e2 := part("k", id, 2, small)
	idBig := create("big")
	eb1 := part("big", idBig, 1, big)
	eb2 := part("big", idBig, 2, small)
	eb3 := part("big", idBig, 3, big)
	ek3 := part("k", id, 3, []byte("only in upload k"))
	otherKey := create("other")

	bad := md5.Sum([]byte("other"))
	badMD5 := base64.StdEncoding.EncodeToString(bad[:])
	tests := []struct {
		name, method, path string
		body               []byte
		hdr                map[string]string
		status             int
		code               string
	}{
		{"create in missing bucket", "POST", "/nobucket/k?uploads", nil, nil, 404, "NoSuchBucket"},
		{"create with bad checksum algorithm", "POST", "/mpe/k?uploads", nil, map[string]string{"x-amz-checksum-algorithm": "MD4"}, 400, "InvalidRequest"},
		{"create CRC64NVME composite", "POST", "/mpe/k?uploads", nil, map[string]string{"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"}, 400, "InvalidRequest"},
		{"create SSE-C", "POST", "/mpe/k?uploads", nil, map[string]string{"x-amz-server-side-encryption-customer-algorithm": "AES256"}, 501, "NotImplemented"},
		{"create key too long", "POST", "/mpe/" + strings.Repeat("x", 1025) + "?uploads", nil, nil, 400, "KeyTooLongError"},
		{"part to unknown upload", "PUT", "/mpe/k?partNumber=1&uploadId=0123456789abcdef0123456789abcdef", small, nil, 404, "NoSuchUpload"},
		{"part to malformed upload id", "PUT", "/mpe/k?partNumber=1&uploadId=zzz", small, nil, 404, "NoSuchUpload"},
		{"part with empty upload id", "PUT", "/mpe/k?partNumber=1&uploadId=", small, nil, 404, "NoSuchUpload"},
		{"part to another key's upload", "PUT", "/mpe/k?partNumber=1&uploadId=" + otherKey, small, nil, 404, "NoSuchUpload"},
		{"part in missing bucket", "PUT", "/nobucket/k?partNumber=1&uploadId=" + id, small, nil, 404, "NoSuchBucket"},
		{"part number 0", "PUT", "/mpe/k?partNumber=0&uploadId=" + id, small, nil, 400, "InvalidArgument"},
		{"part number 10001", "PUT", "/mpe/k?partNumber=10001&uploadId=" + id, small, nil, 400, "InvalidArgument"},
		{"part number not a number", "PUT", "/mpe/k?partNumber=x&uploadId=" + id, small, nil, 400, "InvalidArgument"},
		{"part bad Content-MD5", "PUT", "/mpe/k?partNumber=3&uploadId=" + id, small, map[string]string{"Content-MD5": badMD5}, 400, "BadDigest"},
		{"part invalid Content-MD5", "PUT", "/mpe/k?partNumber=3&uploadId=" + id, small, map[string]string{"Content-MD5": "!!"}, 400, "InvalidDigest"},
		{"part bad checksum", "PUT", "/mpe/k?partNumber=3&uploadId=" + id, small, map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}, 400, "BadDigest"},
		{"part two checksums", "PUT", "/mpe/k?partNumber=3&uploadId=" + id, small, map[string]string{"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, 400, "InvalidRequest"},
		{"uploadId without partNumber", "PUT", "/mpe/k?uploadId=" + id, small, nil, 405, "MethodNotAllowed"},
		{"complete unknown upload", "POST", "/mpe/k?uploadId=0123456789abcdef0123456789abcdef", completeXML(1, e1), nil, 404, "NoSuchUpload"},
		{"complete empty body", "POST", "/mpe/k?uploadId=" + id, nil, nil, 400, "MalformedXML"},
		{"complete garbage", "POST", "/mpe/k?uploadId=" + id, []byte("<CompleteMultipartUpload><Part>"), nil, 400, "MalformedXML"},
		{"complete no parts", "POST", "/mpe/k?uploadId=" + id, completeXML(), nil, 400, "MalformedXML"},
		{"complete part number 0", "POST", "/mpe/k?uploadId=" + id, completeXML(0, e1), nil, 400, "InvalidArgument"},
		{"complete wrong etag", "POST", "/mpe/k?uploadId=" + id, completeXML(1, `"0123456789abcdef0123456789abcdef"`), nil, 400, "InvalidPart"},
		{"complete missing part", "POST", "/mpe/big?uploadId=" + idBig, completeXML(1, eb1, 5, eb2), nil, 400, "InvalidPart"},
		{"complete part of another upload", "POST", "/mpe/big?uploadId=" + idBig, completeXML(1, eb1, 2, ek3), nil, 400, "InvalidPart"},
		{"complete out of order", "POST", "/mpe/big?uploadId=" + idBig, completeXML(3, eb3, 1, eb1), nil, 400, "InvalidPartOrder"},
		{"complete duplicate part", "POST", "/mpe/big?uploadId=" + idBig, completeXML(1, eb1, 1, eb1), nil, 400, "InvalidPartOrder"},
		{"complete small first part", "POST", "/mpe/k?uploadId=" + id, completeXML(1, e1, 2, e2), nil, 400, "EntityTooSmall"},
		{"complete If-None-Match other than *", "POST", "/mpe/big?uploadId=" + idBig, completeXML(1, eb1, 2, eb2), map[string]string{"If-None-Match": `"abc"`}, 501, "NotImplemented"},
		{"complete If-Match absent key", "POST", "/mpe/big?uploadId=" + idBig, completeXML(1, eb1, 2, eb2), map[string]string{"If-Match": `"abc"`}, 412, "PreconditionFailed"},
		{"complete, an expected checksum for an upload without one is ignored", "POST", "/mpe/big?uploadId=" + idBig, []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + eb1 + `</ETag></Part><Part><PartNumber>2</PartNumber><ETag>` + eb2 + `</ETag></Part></CompleteMultipartUpload>`), map[string]string{"x-amz-checksum-crc32": "%%%"}, 200, ""},
		{"abort unknown upload", "DELETE", "/mpe/k?uploadId=0123456789abcdef0123456789abcdef", nil, nil, 404, "NoSuchUpload"},
		{"abort in missing bucket", "DELETE", "/nobucket/k?uploadId=" + id, nil, nil, 404, "NoSuchBucket"},
		{"list parts unknown upload", "GET", "/mpe/k?uploadId=0123456789abcdef0123456789abcdef", nil, nil, 404, "NoSuchUpload"},
		{"list parts bad max", "GET", "/mpe/k?uploadId=" + id + "&max-parts=-1", nil, nil, 400, "InvalidArgument"},
		{"list parts bad marker", "GET", "/mpe/k?uploadId=" + id + "&part-number-marker=x", nil, nil, 400, "InvalidArgument"},
		{"list uploads missing bucket", "GET", "/nobucket?uploads", nil, nil, 404, "NoSuchBucket"},
		{"list uploads bad max", "GET", "/mpe?uploads&max-uploads=x", nil, nil, 400, "InvalidArgument"},
		{"list uploads bad encoding", "GET", "/mpe?uploads&encoding-type=base64", nil, nil, 400, "InvalidArgument"},
	}
	for _, tt := range tests {
		r := st.do(t, k, tt.method, tt.path, tt.body, tt.hdr)
		if tt.status == 200 {
			// The completion above (a non-matching header ignored for an
			// upload without an algorithm) succeeds; checked below.
			if r.StatusCode != 200 {
				t.Errorf("%s: %d %s", tt.name, r.StatusCode, readAll(t, r.Body))
			}
			continue
		}
		t.Run(tt.name, func(t *testing.T) { wantError(t, r, tt.status, tt.code) })
	}
	// Unquoted ETags are accepted; the completed object has the S3 ETag.
	got, err := st.db.Object(context.Background(), bucketID(t, st, "mpe"), "big")
	if err != nil || got.ETag != multipartETag(big, small) || len(got.Parts) != 2 {
		t.Errorf("big: %+v, %v", got, err)
	}
	r := st.do(t, k, "POST", "/mpe/k?uploadId="+id, completeXML(1, strings.Trim(e1, `"`)), nil)
	var res completeMultipartUploadResult
	if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &res); err != nil || r.StatusCode != 200 || res.ETag != multipartETag(small) {
		t.Errorf("complete with an unquoted ETag: %d %+v %v", r.StatusCode, res, err)
	}

	// Abort, then everything about the upload is NoSuchUpload.
	if r := st.do(t, k, "DELETE", "/mpe/other?uploadId="+otherKey, nil, nil); r.StatusCode != 204 {
		t.Fatalf("abort: %d %s", r.StatusCode, readAll(t, r.Body))
	}
	wantError(t, st.do(t, k, "DELETE", "/mpe/other?uploadId="+otherKey, nil, nil), 404, "NoSuchUpload")
	wantError(t, st.do(t, k, "PUT", "/mpe/other?partNumber=1&uploadId="+otherKey, small, nil), 404, "NoSuchUpload")
	wantError(t, st.do(t, k, "GET", "/mpe/other?uploadId="+otherKey, nil, nil), 404, "NoSuchUpload")
	wantError(t, st.do(t, k, "POST", "/mpe/other?uploadId="+otherKey, completeXML(1, e1), nil), 404, "NoSuchUpload")

	// A body past the cap is MalformedXML without being parsed.
	huge := bytes.Repeat([]byte(" "), maxCompleteBody+1)
	id2 := create("k2")
	wantError(t, st.do(t, k, "POST", "/mpe/k2?uploadId="+id2, huge, nil), 400, "MalformedXML")

	// Nothing refused above left an object behind.
	for _, key := range []string{"other", "k2"} {
		if _, err := st.db.Object(context.Background(), bucketID(t, st, "mpe"), key); err == nil {
			t.Errorf("%s exists", key)
		}
	}
}

// TestMultipartChecksums covers the object checksum of each algorithm and
// type, the trailing (aws-chunked) form, and a wrong expected value.
func TestMultipartChecksums(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "cks")
	p1, p2 := randBytes(11, 5*mib), randBytes(12, 777)
	for _, tc := range []struct {
		alg types.ChecksumAlgorithm
		typ types.ChecksumType
	}{
		{types.ChecksumAlgorithmCrc32, ""},
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmCrc64nvme, ""},
		{types.ChecksumAlgorithmSha1, ""},
		{types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite},
	} {
		name := fmt.Sprintf("%s-%s", tc.alg, tc.typ)
		t.Run(name, func(t *testing.T) {
			key := "obj-" + name
			cr, parts := uploadChecksumParts(t, c, "cks", key, tc.alg, tc.typ, p1, p2)
			a, _ := checksum.Parse(string(tc.alg))
			var want string
			full := tc.typ == types.ChecksumTypeFullObject || a == checksum.CRC64NVME
			if full {
				want = checksum.Encode(checksum.Sum(a, append(append([]byte(nil), p1...), p2...)))
			} else {
				want, _ = checksum.Composite(a, [][]byte{checksum.Sum(a, p1), checksum.Sum(a, p2)})
			}
			comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cks"), Key: aws.String(key), UploadId: cr.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[checksum.Algorithm]*string{checksum.CRC32: comp.ChecksumCRC32, checksum.CRC32C: comp.ChecksumCRC32C,
				checksum.CRC64NVME: comp.ChecksumCRC64NVME, checksum.SHA1: comp.ChecksumSHA1, checksum.SHA256: comp.ChecksumSHA256}[a]
			if aws.ToString(got) != want {
				t.Errorf("checksum %q, want %q", aws.ToString(got), want)
			}
			wantType := map[bool]types.ChecksumType{true: types.ChecksumTypeFullObject, false: types.ChecksumTypeComposite}[full]
			if comp.ChecksumType != wantType {
				t.Errorf("type %q, want %q", comp.ChecksumType, wantType)
			}
			// With checksum mode the SDK validates a full-object value
			// against the body it reads.
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cks"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, out.Body); err != nil {
				t.Errorf("GET with checksum mode: %v", err)
			}
			if out.ChecksumType != wantType {
				t.Errorf("GET checksum type %q, want %q", out.ChecksumType, wantType)
			}
			out.Body.Close()
		})
	}

	// An expected object checksum that differs is BadDigest, and nothing
	// is committed.
	k := st.key
	r := st.do(t, k, "POST", "/cks/wrong?uploads", nil, map[string]string{"x-amz-checksum-algorithm": "CRC32"})
	var init initiateMultipartUploadResult
	xml.Unmarshal([]byte(readAll(t, r.Body)), &init)
	r = st.do(t, k, "PUT", "/cks/wrong?partNumber=1&uploadId="+init.UploadID, p2, map[string]string{"x-amz-checksum-crc32": checksum.Encode(checksum.Sum(checksum.CRC32, p2))})
	e := r.Header.Get("ETag")
	wantError(t, st.do(t, k, "POST", "/cks/wrong?uploadId="+init.UploadID, completeXML(1, e), map[string]string{"x-amz-checksum-crc32": "AAAAAA==-1"}), 400, "BadDigest")
	// A part checksum in the body that differs from the uploaded one is
	// InvalidPart.
	body := []byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + e + `</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`)
	wantError(t, st.do(t, k, "POST", "/cks/wrong?uploadId="+init.UploadID, body, nil), 400, "InvalidPart")
	if _, err := st.db.Object(ctx, bucketID(t, st, "cks"), "wrong"); err == nil {
		t.Error("a refused completion committed")
	}
	want, _ := checksum.Composite(checksum.CRC32, [][]byte{checksum.Sum(checksum.CRC32, p2)})
	r = st.do(t, k, "POST", "/cks/wrong?uploadId="+init.UploadID, completeXML(1, e), map[string]string{"x-amz-checksum-crc32": want})
	if b := readAll(t, r.Body); r.StatusCode != 200 || !strings.Contains(b, "<ChecksumCRC32>"+want+"</ChecksumCRC32>") || !strings.Contains(b, "<ChecksumType>COMPOSITE</ChecksumType>") {
		t.Errorf("complete with the right expectation: %d %s", r.StatusCode, b)
	}
}

// TestUploadPartCopy builds an object from ranges of others, metadata only.
func TestUploadPartCopy(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "src")
	mustBucket(t, c, "dst")
	big := randBytes(41, 11*mib)
	small := []byte("tail from an inline object")
	for key, b := range map[string][]byte{"big": big, "small": small} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("assembled")})
	if err != nil {
		t.Fatal(err)
	}
	copyPart := func(n int32, src, rng string) (*s3.UploadPartCopyOutput, error) {
		in := &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("assembled"), UploadId: cr.UploadId, PartNumber: aws.Int32(n), CopySource: aws.String(src)}
		if rng != "" {
			in.CopySourceRange = aws.String(rng)
		}
		return c.UploadPartCopy(ctx, in)
	}
	// Second half first, then the first half: parts are ordered by number,
	// not by arrival.
	const half = 5*mib + 100
	p2, err := copyPart(2, "src/big", fmt.Sprintf("bytes=%d-%d", half, len(big)-1))
	if err != nil {
		t.Fatal(err)
	}
	p1, err := copyPart(1, "/src/big", fmt.Sprintf("bytes=0-%d", half-1))
	if err != nil {
		t.Fatal(err)
	}
	p3, err := copyPart(3, "src/small", "")
	if err != nil {
		t.Fatal(err)
	}
	if p1.CopyPartResult == nil || aws.ToString(p1.CopyPartResult.ETag) == "" || p1.CopyPartResult.LastModified == nil {
		t.Fatalf("CopyPartResult: %+v", p1.CopyPartResult)
	}
	for _, tc := range []struct {
		src, rng, hdr, code string
	}{
		{"src/big", "bytes=0-", "", "InvalidArgument"},
		{"src/big", "bytes=-5", "", "InvalidArgument"},
		{"src/big", "bytes=5-4", "", "InvalidArgument"},
		{"src/big", "items=0-4", "", "InvalidArgument"},
		{"src/big", "bytes=0-1,3-4", "", "InvalidArgument"},
		{"src/big", fmt.Sprintf("bytes=0-%d", len(big)), "", "InvalidRange"},
		{"src/small", "bytes=100-200", "", "InvalidRange"},
		// Offsets near MaxInt64 once overflowed last-first+1 and the
		// object layer's off+length: a whole-object copy, or a panic.
		{"src/small", "bytes=0-9223372036854775807", "", "InvalidRange"},
		{"src/small", "bytes=5-9223372036854775807", "", "InvalidRange"},
		{"src/big", "bytes=9223372036854775807-9223372036854775807", "", "InvalidRange"},
		{"src/missing", "", "", "NoSuchKey"},
		{"nobucket/big", "", "", "NoSuchBucket"},
		{"src", "", "", "InvalidArgument"},
		{"src/big", "", "if-match", "PreconditionFailed"},
		{"src/big", "", "if-none-match", "PreconditionFailed"},
	} {
		in := &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("assembled"), UploadId: cr.UploadId, PartNumber: aws.Int32(9), CopySource: aws.String(tc.src)}
		if tc.rng != "" {
			in.CopySourceRange = aws.String(tc.rng)
		}
		switch tc.hdr {
		case "if-match":
			in.CopySourceIfMatch = aws.String(`"0123"`)
		case "if-none-match":
			in.CopySourceIfNoneMatch = aws.String(fmt.Sprintf(`"%x"`, md5.Sum(big)))
		}
		if _, err := c.UploadPartCopy(ctx, in); apiCode(err) != tc.code {
			t.Errorf("copy %s %s %s: %v, want %s", tc.src, tc.rng, tc.hdr, err, tc.code)
		}
	}
	// A passing precondition copies.
	if _, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("assembled"), UploadId: cr.UploadId,
		PartNumber: aws.Int32(9), CopySource: aws.String("src/small"), CopySourceIfMatch: aws.String(fmt.Sprintf(`"%x"`, md5.Sum(small)))}); err != nil {
		t.Errorf("copy with a matching if-match: %v", err)
	}
	if _, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("assembled"), UploadId: aws.String("0123456789abcdef0123456789abcdef"),
		PartNumber: aws.Int32(1), CopySource: aws.String("src/big")}); apiCode(err) != "NoSuchUpload" {
		t.Errorf("copy to an unknown upload: %v", err)
	}

	comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("assembled"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.CopyPartResult.ETag},
			{PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag},
			{PartNumber: aws.Int32(3), ETag: p3.CopyPartResult.ETag},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(comp.ETag), `-3"`) {
		t.Errorf("ETag %s", aws.ToString(comp.ETag))
	}
	got, _ := getBytes(t, c, "dst", "assembled")
	want := append(append([]byte(nil), big...), small...)
	if !bytes.Equal(got, want) {
		t.Errorf("assembled %d bytes, want %d", len(got), len(want))
	}
}

// TestListMultipartUploads pages through uploads with and without a
// delimiter, one entry per page, and checks URL encoding.
func TestListMultipartUploads(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "lus")
	var want []string // "key id" in listing order
	for _, key := range []string{"a/1", "a/2", "b", "b", "c d+e", "z/y/x"} {
		cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lus"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, key+" "+aws.ToString(cr.UploadId))
	}
	list := func(delim string, max int32) (entries []string) {
		t.Helper()
		in := &s3.ListMultipartUploadsInput{Bucket: aws.String("lus"), MaxUploads: aws.Int32(max)}
		if delim != "" {
			in.Delimiter = aws.String(delim)
		}
		for pages := 0; ; pages++ {
			out, err := c.ListMultipartUploads(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(out.Uploads) + len(out.CommonPrefixes); n > int(max) {
				t.Errorf("page of %d entries, max %d", n, max)
			}
			// Uploads and CommonPrefixes are two lists; merged, a page is
			// in key order.
			var page []string
			for _, u := range out.Uploads {
				page = append(page, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
			}
			for _, p := range out.CommonPrefixes {
				page = append(page, aws.ToString(p.Prefix))
			}
			slices.Sort(page)
			entries = append(entries, page...)
			if !aws.ToBool(out.IsTruncated) {
				return entries
			}
			if pages > 20 {
				t.Fatal("listing does not end")
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
	}
	for _, max := range []int32{1, 2, 1000} {
		if got := list("", max); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("max %d: got %q\nwant %q", max, got, want)
		}
		wantGrouped := []string{"a/", want[2], want[3], want[4], "z/"}
		if got := list("/", max); strings.Join(got, "|") != strings.Join(wantGrouped, "|") {
			t.Errorf("max %d, delimiter: got %q\nwant %q", max, got, wantGrouped)
		}
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lus"), Prefix: aws.String("a/")})
	if err != nil || len(out.Uploads) != 2 || aws.ToBool(out.IsTruncated) {
		t.Errorf("prefix a/: %+v, %v", out, err)
	}
	// The SDK decodes encoding-type=url itself; the raw body must be encoded.
	body := readAll(t, st.do(t, st.key, "GET", "/lus?uploads&encoding-type=url&prefix=c", nil, nil).Body)
	if !strings.Contains(body, "<Key>c%20d%2Be</Key>") || !strings.Contains(body, "<EncodingType>url</EncodingType>") {
		t.Errorf("encoding-type=url: %s", body)
	}
	// max-uploads=0: an empty, truncated page.
	body = readAll(t, st.do(t, st.key, "GET", "/lus?uploads&max-uploads=0", nil, nil).Body)
	if strings.Contains(body, "<Upload>") || !strings.Contains(body, "<IsTruncated>true</IsTruncated>") {
		t.Errorf("max-uploads=0: %s", body)
	}
	// max-uploads above 1000 is capped.
	body = readAll(t, st.do(t, st.key, "GET", "/lus?uploads&max-uploads=5000", nil, nil).Body)
	if !strings.Contains(body, "<MaxUploads>1000</MaxUploads>") {
		t.Errorf("max-uploads=5000: %s", body)
	}
}

// TestConditionalCreateRace sends two creates with If-None-Match: * for one
// key at once, as PutObject and as CompleteMultipartUpload: exactly one
// wins, the other gets 412.
func TestConditionalCreateRace(t *testing.T) {
	st := newStack(t)
	k := st.key
	if r := st.do(t, k, "PUT", "/race", nil, nil); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	race := func(t *testing.T, reqs [2]func() (*http.Response, error)) {
		t.Helper()
		var wg sync.WaitGroup
		var codes [2]int
		var errs [2]error
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-start
				resp, err := reqs[i]()
				if err != nil {
					errs[i] = err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				codes[i] = resp.StatusCode
				if resp.StatusCode == 412 && !bytes.Contains(body, []byte("<Code>PreconditionFailed</Code>")) {
					errs[i] = fmt.Errorf("412 body %s", body)
				}
			})
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
			t.Errorf("statuses %v, want one 200 and one 412", codes)
		}
	}
	ifNone := map[string]string{"If-None-Match": "*"}
	for i := range 5 {
		key := fmt.Sprintf("/race/put-%d", i)
		t.Run("PutObject", func(t *testing.T) {
			race(t, [2]func() (*http.Response, error){
				func() (*http.Response, error) { return st.send(k, "PUT", key, []byte("first"), ifNone) },
				func() (*http.Response, error) { return st.send(k, "PUT", key, []byte("second"), ifNone) },
			})
		})
	}
	for i := range 3 {
		key := fmt.Sprintf("/race/mp-%d", i)
		var ids, etags [2]string
		for j := range 2 {
			r := st.do(t, k, "POST", key+"?uploads", nil, nil)
			var init initiateMultipartUploadResult
			xml.Unmarshal([]byte(readAll(t, r.Body)), &init)
			ids[j] = init.UploadID
			r = st.do(t, k, "PUT", key+"?partNumber=1&uploadId="+ids[j], []byte(fmt.Sprintf("upload %d", j)), nil)
			etags[j] = r.Header.Get("ETag")
		}
		t.Run("CompleteMultipartUpload", func(t *testing.T) {
			race(t, [2]func() (*http.Response, error){
				func() (*http.Response, error) {
					return st.send(k, "POST", key+"?uploadId="+ids[0], completeXML(1, etags[0]), ifNone)
				},
				func() (*http.Response, error) {
					return st.send(k, "POST", key+"?uploadId="+ids[1], completeXML(1, etags[1]), ifNone)
				},
			})
		})
	}
	// If-Match replaces only the version it names.
	r := st.do(t, k, "PUT", "/race/put-0", []byte("v2"), map[string]string{"If-Match": `"0123"`})
	wantError(t, r, 412, "PreconditionFailed")
	m, _ := st.db.Object(context.Background(), bucketID(t, st, "race"), "put-0")
	if r := st.do(t, k, "PUT", "/race/put-0", []byte("v2"), map[string]string{"If-Match": m.ETag}); r.StatusCode != 200 {
		t.Errorf("If-Match with the current ETag: %d", r.StatusCode)
	}
}

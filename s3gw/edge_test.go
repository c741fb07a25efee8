package s3gw

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/catalog"
)

// sendChunked PUTs body with Transfer-Encoding: chunked and no
// Content-Length, signed by k, as streaming clients do.
func sendChunked(t *testing.T, st *stack, k catalog.AccessKey, path string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, st.srv.URL+path, io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("x-amz-content-sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, req, payload, "s3", "auto", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := st.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestEdgeCases: requests real clients send that sit at the edge of the
// protocol, each answered as S3 answers it.
func TestEdgeCases(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "edge")
	putString(t, c, "edge", "one", "single part")
	p1, p2 := randBytes(501, 5*mib), randBytes(502, 100)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("edge"), Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("edge"), Key: aws.String("multi"), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("edge"), Key: aws.String("multi"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("edge"), Key: aws.String("one")})
	if err != nil {
		t.Fatal(err)
	}
	presignedWith := func(name, value string) string {
		u, err := url.Parse(presigned.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	sig := presigned.URL[strings.LastIndex(presigned.URL, "X-Amz-Signature=")+len("X-Amz-Signature="):]
	flipped := sig[:len(sig)-1] + string("01"[(sig[len(sig)-1]-'0'+1)%2])
	future := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)

	for _, tc := range []struct {
		name   string
		method string
		path   string // or a whole URL for presigned requests
		hdr    map[string]string
		body   string
		status int
		code   string
		check  func(t *testing.T, resp *http.Response, body string)
	}{
		{name: "GET partNumber 2 of a single-part object", method: "GET", path: "/edge/one?partNumber=2", status: 400, code: "InvalidPartNumber"},
		{name: "HEAD partNumber 2 of a single-part object", method: "HEAD", path: "/edge/one?partNumber=2", status: 400},
		{name: "GET partNumber past the last part", method: "GET", path: "/edge/multi?partNumber=3", status: 400, code: "InvalidPartNumber"},
		{name: "HEAD partNumber past the last part", method: "HEAD", path: "/edge/multi?partNumber=3", status: 400},
		{name: "GET partNumber 1 of a single-part object", method: "GET", path: "/edge/one?partNumber=1", status: 200},
		{name: "empty continuation-token", method: "GET", path: "/edge?list-type=2&continuation-token=", status: 200,
			check: func(t *testing.T, _ *http.Response, body string) {
				if !strings.Contains(body, "<ContinuationToken></ContinuationToken>") || !strings.Contains(body, "<Key>multi</Key>") || !strings.Contains(body, "<Key>one</Key>") {
					t.Errorf("listing: %s", body)
				}
			}},
		{name: "empty Content-MD5", method: "PUT", path: "/edge/md5", hdr: map[string]string{"Content-MD5": ""}, body: "data", status: 400, code: "InvalidDigest"},
		{name: "Date and X-Amz-Date", method: "PUT", path: "/edge/dates", hdr: map[string]string{"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}, body: "dated", status: 200},
		{name: "presigned X-Amz-Expires over a week", method: "GET", path: presignedWith("X-Amz-Expires", "604801"), status: 403, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires huge", method: "GET", path: presignedWith("X-Amz-Expires", "99999999999999999999"), status: 403, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires zero", method: "GET", path: presignedWith("X-Amz-Expires", "0"), status: 403, code: "AccessDenied"},
		{name: "presigned X-Amz-Expires negative", method: "GET", path: presignedWith("X-Amz-Expires", "-7"), status: 403, code: "AccessDenied"},
		{name: "presigned malformed signature", method: "GET", path: presignedWith("X-Amz-Signature", "zz"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned altered signature", method: "GET", path: presignedWith("X-Amz-Signature", flipped), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned as made", method: "GET", path: presigned.URL, status: 200},
		{name: "copy-source-if-modified-since in the future", method: "PUT", path: "/edge/copied",
			hdr: map[string]string{"x-amz-copy-source": "edge/one", "x-amz-copy-source-if-modified-since": future}, status: 200},
		{name: "If-Modified-Since in the future", method: "GET", path: "/edge/one", hdr: map[string]string{"If-Modified-Since": future}, status: 200},
		{name: "bucket name with -.", method: "PUT", path: "/my-.bucket", status: 400, code: "InvalidBucketName"},
		{name: "bucket name with .-", method: "PUT", path: "/my.-bucket", status: 400, code: "InvalidBucketName"},
		{name: "Content-Encoding aws-chunked, gzip, br", method: "PUT", path: "/edge/enc", hdr: map[string]string{"Content-Encoding": "aws-chunked, gzip, br"}, body: "z", status: 200,
			check: func(t *testing.T, _ *http.Response, _ string) {
				if r := st.do(t, st.key, "HEAD", "/edge/enc", nil, nil); r.Header.Get("Content-Encoding") != "gzip, br" {
					t.Errorf("stored Content-Encoding %q", r.Header.Get("Content-Encoding"))
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if strings.HasPrefix(tc.path, "http") {
				req, err := http.NewRequest(tc.method, tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp, err = st.srv.Client().Do(req); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
			} else {
				resp = st.do(t, st.key, tc.method, tc.path, []byte(tc.body), tc.hdr)
			}
			if tc.status != 200 {
				wantError(t, resp, tc.status, tc.code)
				return
			}
			body := readAll(t, resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.check != nil {
				tc.check(t, resp, body)
			}
		})
	}
	// Refused requests stored nothing.
	for _, k := range []string{"md5"} {
		if _, err := st.db.Object(ctx, bucketID(t, st, "edge"), k); err == nil {
			t.Errorf("%s was stored", k)
		}
	}
}

// TestChunkedPutWithoutLength: a PutObject with Transfer-Encoding: chunked
// and no Content-Length is streamed and stored, small (inline) or large
// (several chunks).
func TestChunkedPutWithoutLength(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	mustBucket(t, c, "chunky")
	for _, size := range []int{0, 10, 12*mib + 3} {
		data := randBytes(uint64(600+size), size)
		key := fmt.Sprintf("/chunky/obj-%d", size)
		resp := sendChunked(t, st, st.key, key, data)
		body := readAll(t, resp.Body)
		sum := md5.Sum(data)
		if resp.StatusCode != 200 || resp.Header.Get("ETag") != fmt.Sprintf(`"%x"`, sum) {
			t.Fatalf("%d bytes: %d %s etag %s", size, resp.StatusCode, body, resp.Header.Get("ETag"))
		}
		got, _ := getBytes(t, c, "chunky", strings.TrimPrefix(key, "/chunky/"))
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d", size, len(got))
		}
	}
}

// TestCapReader: a body of unknown length is refused past the limit.
func TestCapReader(t *testing.T) {
	r := &capReader{r: bytes.NewReader(make([]byte, 11)), left: 10}
	if _, err := io.ReadAll(r); toS3Error(err).Code != ErrEntityTooLarge {
		t.Errorf("11 bytes through a 10-byte cap: %v", err)
	}
	r = &capReader{r: bytes.NewReader(make([]byte, 10)), left: 10}
	if b, err := io.ReadAll(r); err != nil || len(b) != 10 {
		t.Errorf("10 bytes through a 10-byte cap: %d, %v", len(b), err)
	}
}

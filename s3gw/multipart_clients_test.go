package s3gw

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"

	"excloud.dev/buckets/internal/testutil"
	"excloud.dev/buckets/s3gw/checksum"
)

// TestMultipartManager uploads through aws-sdk-go-v2's upload manager, with
// the default checksum settings and with checksums only when required.
func TestMultipartManager(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	st := newStack(t)
	ctx := context.Background()
	mustBucket(t, st.client(st.key), "mgr")
	data := randBytes(21, 17*mib+12345)
	for name, calc := range map[string]aws.RequestChecksumCalculation{
		"default":       aws.RequestChecksumCalculationWhenSupported,
		"when-required": aws.RequestChecksumCalculationWhenRequired,
	} {
		t.Run(name, func(t *testing.T) {
			c := testutil.S3(st.srv.URL, st.key.ID, st.key.Secret, testutil.NoRetries, func(o *s3.Options) {
				o.RequestChecksumCalculation = calc
			})
			up := manager.NewUploader(c, func(u *manager.Uploader) {
				u.PartSize = 5 * mib
				u.Concurrency = 2
				u.RequestChecksumCalculation = calc
			})
			// A reader that is not seekable makes the manager buffer parts
			// itself, as it does for streams.
			out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("mgr"), Key: aws.String(name), Body: iotest.HalfReader(bytes.NewReader(data))})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(aws.ToString(out.ETag), `-4"`) || out.UploadID == "" {
				t.Errorf("upload: ETag %s, upload id %q", aws.ToString(out.ETag), out.UploadID)
			}
			got, get := getBytes(t, c, "mgr", name)
			if !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, want %d", len(got), len(data))
			}
			if aws.ToString(get.ETag) != aws.ToString(out.ETag) {
				t.Errorf("GET ETag %s, upload ETag %s", aws.ToString(get.ETag), aws.ToString(out.ETag))
			}
		})
	}
}

// TestMinioMultipart uses minio-go's PutObject on a stream of unknown
// length, which takes its multipart path.
func TestMinioMultipart(t *testing.T) {
	st := newStack(t)
	mc := testutil.Minio(t, st.srv.URL, st.key.ID, st.key.Secret)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "mcmp", minio.MakeBucketOptions{Region: "auto"}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(31, 20*mib+999)
	info, err := mc.PutObject(ctx, "mcmp", "stream", iotest.HalfReader(bytes.NewReader(data)), -1, minio.PutObjectOptions{
		PartSize: 5 * mib, ContentType: "application/x-stream",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := multipartETag(data[:5*mib], data[5*mib:10*mib], data[10*mib:15*mib], data[15*mib:20*mib], data[20*mib:])
	if `"`+info.ETag+`"` != want {
		t.Errorf("ETag %s, want %s", info.ETag, want)
	}
	obj, err := mc.GetObject(ctx, "mcmp", "stream", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	stat, err := obj.Stat()
	if err != nil || `"`+stat.ETag+`"` != want || stat.ContentType != "application/x-stream" {
		t.Errorf("stat: %+v, %v", stat, err)
	}
	// minio-go's own listing of incomplete uploads sees none left.
	for u := range mc.ListIncompleteUploads(ctx, "mcmp", "", true) {
		t.Errorf("upload left: %+v", u)
	}
}

// sha256Hasher adapts crypto/sha256 to the hasher minio-go's signer wants.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestUploadPartPayloadForms uploads one part in each x-amz-content-sha256
// form (hex, UNSIGNED-PAYLOAD, signed aws-chunked, signed aws-chunked with
// a trailing checksum, unsigned aws-chunked with a trailing checksum), then
// completes the object: the framing never reaches the stored bytes, and a
// trailing checksum is verified, stored and returned.
func TestUploadPartPayloadForms(t *testing.T) {
	st := newStack(t)
	k := st.key
	if r := st.do(t, k, "PUT", "/forms", nil, nil); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	r := st.do(t, k, "POST", "/forms/obj?uploads", nil, map[string]string{"x-amz-checksum-algorithm": "CRC32C"})
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &init); err != nil {
		t.Fatal(err)
	}
	partURL := func(n int) string {
		return fmt.Sprintf("%s/forms/obj?partNumber=%d&uploadId=%s", st.srv.URL, n, init.UploadID)
	}
	crc32c := func(b []byte) http.Header {
		return http.Header{"X-Amz-Checksum-Crc32c": {checksum.Encode(checksum.Sum(checksum.CRC32C, b))}}
	}
	signAWS := func(req *http.Request, payload string) *http.Request {
		req.Header.Set("x-amz-content-sha256", payload)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, req, payload, "s3", "auto", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	forms := []struct {
		name     string
		trailing bool
		req      func(n int, data []byte, trailer http.Header) *http.Request
	}{
		{"hex", false, func(n int, data []byte, _ http.Header) *http.Request {
			req, _ := http.NewRequest("PUT", partURL(n), bytes.NewReader(data))
			sum := sha256.Sum256(data)
			req.Header.Set("x-amz-checksum-crc32c", crc32c(data).Get("X-Amz-Checksum-Crc32c"))
			return signAWS(req, hex.EncodeToString(sum[:]))
		}},
		{"unsigned", false, func(n int, data []byte, _ http.Header) *http.Request {
			req, _ := http.NewRequest("PUT", partURL(n), bytes.NewReader(data))
			req.Header.Set("x-amz-checksum-crc32c", crc32c(data).Get("X-Amz-Checksum-Crc32c"))
			return signAWS(req, "UNSIGNED-PAYLOAD")
		}},
		{"signed-chunked", false, func(n int, data []byte, _ http.Header) *http.Request {
			req, _ := http.NewRequest("PUT", partURL(n), bytes.NewReader(data))
			req.Header.Set("x-amz-checksum-crc32c", crc32c(data).Get("X-Amz-Checksum-Crc32c"))
			return signer.StreamingSignV4(req, k.ID, k.Secret, "", "auto", int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
		}},
		{"signed-chunked-trailer", true, func(n int, data []byte, trailer http.Header) *http.Request {
			req, _ := http.NewRequest("PUT", partURL(n), bytes.NewReader(data))
			req.Trailer = trailer
			return signer.StreamingSignV4(req, k.ID, k.Secret, "", "auto", int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
		}},
		{"unsigned-chunked-trailer", true, func(n int, data []byte, trailer http.Header) *http.Request {
			req, _ := http.NewRequest("PUT", partURL(n), bytes.NewReader(data))
			req.Header.Set("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			req.ContentLength = int64(len(data))
			return signer.SignV4Trailer(*req, k.ID, k.Secret, "", "auto", trailer)
		}},
	}
	send := func(req *http.Request) (int, string, http.Header) {
		resp, err := st.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	var all []byte
	var parts []any
	for i, f := range forms {
		n := i + 1
		data := randBytes(uint64(100+n), 5*mib+n)
		if f.trailing {
			// A wrong trailing value is BadDigest and records nothing.
			bad := http.Header{"X-Amz-Checksum-Crc32c": {"AAAAAA=="}}
			if code, body, _ := send(f.req(n, data, bad)); code != 400 || !strings.Contains(body, "BadDigest") {
				t.Errorf("%s with a wrong trailer: %d %s", f.name, code, body)
			}
		}
		code, body, h := send(f.req(n, data, crc32c(data)))
		if code != 200 {
			t.Fatalf("%s: %d %s", f.name, code, body)
		}
		if got, want := h.Get("x-amz-checksum-crc32c"), crc32c(data).Get("X-Amz-Checksum-Crc32c"); got != want {
			t.Errorf("%s: checksum header %q, want %q", f.name, got, want)
		}
		if want := fmt.Sprintf(`"%x"`, md5.Sum(data)); h.Get("ETag") != want {
			t.Errorf("%s: ETag %s, want %s", f.name, h.Get("ETag"), want)
		}
		all = append(all, data...)
		parts = append(parts, n, h.Get("ETag"))
	}
	r = st.do(t, k, "POST", "/forms/obj?uploadId="+init.UploadID, completeXML(parts...), nil)
	if b := readAll(t, r.Body); r.StatusCode != 200 || !strings.Contains(b, "-5</ChecksumCRC32C>") {
		t.Fatalf("complete: %d %s", r.StatusCode, b)
	}
	r = st.do(t, k, "GET", "/forms/obj", nil, nil)
	if got := readAll(t, r.Body); got != string(all) {
		t.Errorf("object is %d bytes, want %d", len(got), len(all))
	}
}

// failReader fails if anything reads it: the request must be refused from
// its headers alone.
type failReader struct{ read *atomic.Bool }

func (f failReader) Read(p []byte) (int, error) {
	f.read.Store(true)
	return 0, io.ErrUnexpectedEOF
}

// TestSizeLimits: a PutObject or UploadPart declaring more than 5 GiB is
// EntityTooLarge before its body is read (with Expect: 100-continue the
// client never sends it).
func TestSizeLimits(t *testing.T) {
	st := newStack(t)
	k := st.key
	if r := st.do(t, k, "PUT", "/limits", nil, nil); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	r := st.do(t, k, "POST", "/limits/big?uploads", nil, nil)
	var init initiateMultipartUploadResult
	if err := xml.Unmarshal([]byte(readAll(t, r.Body)), &init); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 30 * time.Second}}
	for _, path := range []string{"/limits/big", "/limits/big?partNumber=1&uploadId=" + init.UploadID} {
		var read atomic.Bool
		req, err := http.NewRequest("PUT", st.srv.URL+path, failReader{&read})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 5<<30 + 1
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, req, "UNSIGNED-PAYLOAD", "s3", "auto", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		wantError(t, resp, 400, "EntityTooLarge")
		if read.Load() {
			t.Errorf("%s: the body was read", path)
		}
	}
}

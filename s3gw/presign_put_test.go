package s3gw

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
)

// testClock is a settable clock for the gateway, so expiry is tested
// without waiting for it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClockedStack(t *testing.T) (*stack, *testClock) {
	clock := &testClock{t: time.Now()}
	st := newStackWith(t, func(c *Config) { c.Now = clock.Now })
	return st, clock
}

// rawDo sends req with the default client (no signing) and returns the
// status and body.
func rawDo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readAll(t, resp.Body)
}

func presignedPut(t *testing.T, url string, body []byte, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return rawDo(t, req)
}

func wantBody(t *testing.T, what string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || (code != "" && !strings.Contains(body, "<Code>"+code+"</Code>")) {
		t.Errorf("%s: %d %s, want %d %s", what, resp.StatusCode, body, status, code)
	}
}

func TestPresignedPutObject(t *testing.T) {
	st, clock := newClockedStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c)

	// The plain case: a browser PUTs the bytes with nothing but the URL.
	u, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("photos/a b.jpg")}, s3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("presigned "), 2000)
	resp, body := presignedPut(t, u.URL, data, map[string]string{"Content-Type": "image/jpeg"})
	wantBody(t, "presigned PUT", resp, body, 200, "")
	if want := fmt.Sprintf(`"%x"`, md5.Sum(data)); resp.Header.Get("ETag") != want {
		t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), want)
	}
	got, out := getBytes(t, c, "uploads", "photos/a b.jpg")
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "image/jpeg" {
		t.Errorf("stored %d bytes, type %q", len(got), aws.ToString(out.ContentType))
	}

	// A signature altered in one digit: SignatureDoesNotMatch, nothing stored.
	pu, _ := url.Parse(u.URL)
	q := pu.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	sig[0] = "01"[map[bool]int{true: 1}[sig[0] == '0']]
	q.Set("X-Amz-Signature", string(sig))
	pu.RawQuery = q.Encode()
	resp, body = presignedPut(t, pu.String(), []byte("evil"), nil)
	wantBody(t, "altered signature", resp, body, 403, "SignatureDoesNotMatch")
	// The URL names one key: the same signature for another key fails.
	other := strings.Replace(u.URL, "a%20b.jpg", "c.jpg", 1)
	resp, body = presignedPut(t, other, []byte("evil"), nil)
	wantBody(t, "other key", resp, body, 403, "SignatureDoesNotMatch")
	// An x-amz-* header the URL did not sign is refused, as for GET.
	resp, body = presignedPut(t, u.URL, []byte("evil"), map[string]string{"x-amz-meta-evil": "1"})
	wantBody(t, "unsigned x-amz-meta", resp, body, 403, "AccessDenied")

	// Past its expiry the URL is refused with AWS's words.
	clock.Advance(time.Hour + time.Minute)
	resp, body = presignedPut(t, u.URL, []byte("late"), nil)
	wantBody(t, "expired", resp, body, 403, "AccessDenied")
	if !strings.Contains(body, "Request has expired") {
		t.Errorf("expired: %s", body)
	}
	clock.Advance(-time.Hour - time.Minute) // back to now, for the SDK client's checks
	if got, _ := getBytes(t, c, "uploads", "photos/a b.jpg"); !bytes.Equal(got, data) {
		t.Errorf("refused uploads changed the object: %q", got)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("uploads"), Key: aws.String("c.jpg")}); apiCode(err) != "NotFound" {
		t.Errorf("c.jpg exists after a refused upload: %v", err)
	}
}

// Headers the presigner signed are bound: the uploader must send them with
// the same values, and they mean what they mean on a signed PutObject.
func TestPresignedPutBoundHeaders(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c)
	data := []byte("the exact bytes the app server expected")
	md := md5.Sum(data)
	md5b64 := base64.StdEncoding.EncodeToString(md[:])
	crc := crc32.ChecksumIEEE(data)
	crcb64 := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	u, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("uploads"), Key: aws.String("bound"),
		ContentType:   aws.String("text/plain"),
		ContentMD5:    aws.String(md5b64),
		ChecksumCRC32: aws.String(crcb64),
		Metadata:      map[string]string{"owner": "alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"content-type", "content-md5", "x-amz-checksum-crc32", "x-amz-meta-owner"} {
		if _, ok := u.SignedHeader[http.CanonicalHeaderKey(h)]; !ok {
			t.Fatalf("presigner did not sign %s: %v", h, u.SignedHeader)
		}
	}
	full := map[string]string{"Content-Type": "text/plain", "Content-MD5": md5b64, "x-amz-checksum-crc32": crcb64, "x-amz-meta-owner": "alice"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		what   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"other Content-Type", data, with("Content-Type", "text/html"), 403, "SignatureDoesNotMatch"},
		{"no Content-MD5", data, with("Content-MD5", ""), 403, "SignatureDoesNotMatch"},
		{"other checksum", data, with("x-amz-checksum-crc32", "AAAAAA=="), 403, "SignatureDoesNotMatch"},
		{"other metadata", data, with("x-amz-meta-owner", "mallory"), 403, "SignatureDoesNotMatch"},
		// Headers as signed but other bytes: the bound digests catch it.
		{"other body", []byte("the exact bytes the app server expectee"), full, 400, "BadDigest"},
	} {
		resp, body := presignedPut(t, u.URL, tc.body, tc.hdr)
		wantBody(t, tc.what, resp, body, tc.status, tc.code)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("uploads"), Key: aws.String("bound")}); apiCode(err) != "NotFound" {
		t.Fatalf("a refused upload stored the object: %v", err)
	}
	resp, body := presignedPut(t, u.URL, data, full)
	wantBody(t, "as signed", resp, body, 200, "")
	got, out := getBytes(t, c, "uploads", "bound")
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "text/plain" || out.Metadata["owner"] != "alice" {
		t.Errorf("stored %q, type %q, meta %v", got, aws.ToString(out.ContentType), out.Metadata)
	}
}

// A presigned upload is still the signing key's request: a read-only key or
// one scoped to other buckets cannot hand out upload URLs that work.
func TestPresignedPutKeyScope(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	for _, b := range []string{"alpha", "beta"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	ro := st.newKey(t, catalog.AccessKey{ReadOnly: true})
	scoped := st.newKey(t, catalog.AccessKey{Buckets: []string{"alpha"}})
	for _, tc := range []struct {
		what   string
		key    catalog.AccessKey
		bucket string
		status int
		msg    string
	}{
		{"read-only key", ro, "alpha", 403, "read-only"},
		{"scoped key, other bucket", scoped, "beta", 403, "not allowed"},
		{"scoped key, its bucket", scoped, "alpha", 200, ""},
	} {
		u, err := s3.NewPresignClient(st.client(tc.key)).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := presignedPut(t, u.URL, []byte("x"), nil)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s", tc.what, resp.StatusCode, body)
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("beta"), Key: aws.String("k")}); apiCode(err) != "NotFound" {
		t.Errorf("beta/k exists: %v", err)
	}
	// Presigned deletes stay refused whatever the key.
	u, err := s3.NewPresignClient(c).PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, u.URL, nil)
	resp, body := rawDo(t, req)
	wantBody(t, "presigned DELETE", resp, body, 403, "AccessDenied")
}

// A large file from a browser: the app creates the upload, presigns each
// part and the completion, and the client does the rest with plain HTTP.
func TestPresignedMultipartUpload(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("uploads"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c)
	parts := [][]byte{bytes.Repeat([]byte{'a'}, 5<<20), []byte("tail")}
	var etags []string
	for i, p := range parts {
		u, err := ps.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("uploads"), Key: aws.String("big"), UploadId: mu.UploadId, PartNumber: aws.Int32(int32(i + 1))})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := presignedPut(t, u.URL, p, nil)
		wantBody(t, fmt.Sprintf("part %d", i+1), resp, body, 200, "")
		etags = append(etags, resp.Header.Get("ETag"))
	}
	// The SDK has no presigner for CompleteMultipartUpload; its signer does.
	var cmu strings.Builder
	cmu.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&cmu, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	cmu.WriteString("</CompleteMultipartUpload>")
	req, _ := http.NewRequest(http.MethodPost, st.srv.URL+"/uploads/big?X-Amz-Expires=900&uploadId="+url.QueryEscape(aws.ToString(mu.UploadId)), nil)
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: st.key.ID, SecretAccessKey: st.key.Secret}, req, "UNSIGNED-PAYLOAD", "s3", "auto", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, signed, strings.NewReader(cmu.String()))
	resp, body := rawDo(t, req)
	wantBody(t, "complete", resp, body, 200, "")
	var res struct {
		ETag string `xml:"ETag"`
	}
	if err := xml.Unmarshal([]byte(body), &res); err != nil || !strings.HasSuffix(strings.Trim(res.ETag, `"`), "-2") {
		t.Errorf("complete answer %s (%v)", body, err)
	}
	got, _ := getBytes(t, c, "uploads", "big")
	if !bytes.Equal(got, append(append([]byte{}, parts[0]...), parts[1]...)) {
		t.Errorf("stored %d bytes", len(got))
	}
}

// curl -T is what a shell script or a CI job uses with a URL handed to it.
func TestPresignedPutCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (CI installs it: .ci/run)")
	}
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	u, err := s3.NewPresignClient(c).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("from-curl.bin")})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "f.bin")
	data := bytes.Repeat([]byte("curl upload\n"), 200000) // 2.4 MB: curl sends Expect: 100-continue
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(curl, "--silent", "--show-error", "--fail-with-body", "-T", file, u.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("curl -T: %v: %s", err, out)
	}
	if got, _ := getBytes(t, c, "uploads", "from-curl.bin"); !bytes.Equal(got, data) {
		t.Errorf("stored %d bytes, want %d", len(got), len(data))
	}
	// curl reports the refusal of a tampered URL.
	bad := strings.Replace(u.URL, "from-curl.bin", "other.bin", 1)
	out, err = exec.Command(curl, "--silent", "--show-error", "--fail-with-body", "-T", file, bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SignatureDoesNotMatch") {
		t.Errorf("curl -T to an altered URL: %v: %s", err, out)
	}
}

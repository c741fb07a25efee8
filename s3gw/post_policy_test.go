package s3gw

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/catalog"
)

// postUpload sends a browser-style form: the fields in name order, then
// the file part, streamed through a pipe as a browser streams a file.
func postUpload(t *testing.T, target string, fields map[string]string, filename string, file io.Reader) (*http.Response, string) {
	t.Helper()
	return postUploadFrom(t, "", target, fields, filename, file)
}

// postUploadFrom is postUpload from a page of origin (none when "").
func postUploadFrom(t *testing.T, origin, target string, fields map[string]string, filename string, file io.Reader) (*http.Response, string) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := mw.WriteField(k, fields[k]); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := io.Copy(fw, file); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequest(http.MethodPost, target, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	// Do not follow a success_action_redirect: the test checks it.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	pr.CloseWithError(io.ErrClosedPipe) // the server may answer before reading all
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readAll(t, resp.Body)
}

// signPolicy signs a policy document as an app server would, by hand.
func signPolicy(k catalog.AccessKey, at time.Time, policy map[string]any) map[string]string {
	date := at.UTC().Format("20060102")
	cred := k.ID + "/" + date + "/auto/s3/aws4_request"
	amzDate := at.UTC().Format("20060102T150405Z")
	conds := policy["conditions"].([]any)
	policy["conditions"] = append(conds,
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": amzDate})
	doc, _ := json.Marshal(policy)
	b64 := base64.StdEncoding.EncodeToString(doc)
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	sk := mac(mac(mac(mac([]byte("AWS4"+k.Secret), date), "auto"), "s3"), "aws4_request")
	return map[string]string{
		"policy": b64, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": cred, "x-amz-date": amzDate,
		"x-amz-signature": hex.EncodeToString(mac(sk, b64)),
	}
}

func TestPostPolicyUploadSDK(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("webapp")}); err != nil {
		t.Fatal(err)
	}
	// What an app server does: sign a form for uploads under one prefix,
	// images only, up to 1 MiB.
	post, err := s3.NewPresignClient(c).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("webapp"), Key: aws.String("uploads/${filename}")},
		func(o *s3.PresignPostOptions) {
			o.Conditions = []any{
				[]any{"starts-with", "$key", "uploads/"},
				[]any{"starts-with", "$Content-Type", "image/"},
				[]any{"content-length-range", 1, 1 << 20},
				map[string]string{"success_action_status": "201"},
				[]any{"starts-with", "$x-amz-meta-owner", ""},
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(post.URL, "/webapp") {
		t.Fatalf("POST URL %s", post.URL)
	}
	form := func(extra map[string]string) map[string]string {
		f := map[string]string{}
		for k, v := range post.Values {
			f[k] = v
		}
		f["Content-Type"] = "image/png"
		f["success_action_status"] = "201"
		f["x-amz-meta-owner"] = "alice"
		for k, v := range extra {
			if v == "" {
				delete(f, k)
			} else {
				f[k] = v
			}
		}
		return f
	}
	data := bytes.Repeat([]byte("png!"), 50000) // 200 kB
	resp, body := postUpload(t, post.URL, form(nil), `C:\Users\alice\cat.png`, bytes.NewReader(data))
	wantBody(t, "POST upload", resp, body, 201, "")
	var pr struct {
		Bucket, Key, ETag, Location string
	}
	if err := xml.Unmarshal([]byte(body), &pr); err != nil {
		t.Fatal(err)
	}
	wantETag := fmt.Sprintf(`"%x"`, md5.Sum(data))
	if pr.Bucket != "webapp" || pr.Key != "uploads/cat.png" || pr.ETag != wantETag || !strings.HasSuffix(pr.Location, "/webapp/uploads/cat.png") {
		t.Errorf("PostResponse %+v", pr)
	}
	got, out := getBytes(t, c, "webapp", "uploads/cat.png")
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "image/png" || out.Metadata["owner"] != "alice" {
		t.Errorf("stored %d bytes, type %q, meta %v", len(got), aws.ToString(out.ContentType), out.Metadata)
	}

	// Policy violations: 403 AccessDenied naming what failed; nothing stored.
	for _, tc := range []struct {
		what  string
		extra map[string]string
		msg   string
	}{
		{"key outside the prefix", map[string]string{"key": "other/x.png"}, "Invalid according to Policy: Policy Condition failed"},
		{"Content-Type", map[string]string{"Content-Type": "text/html"}, `Policy Condition failed: [&#34;starts-with&#34;,&#34;$Content-Type&#34;,&#34;image/&#34;]`},
		{"field the policy does not name", map[string]string{"x-amz-meta-evil": "1"}, "Invalid according to Policy: Extra input fields: x-amz-meta-evil"},
		{"other success_action_status", map[string]string{"success_action_status": "200"}, "Policy Condition failed"},
	} {
		resp, body := postUpload(t, post.URL, form(tc.extra), "evil.png", strings.NewReader("evil"))
		wantBody(t, tc.what, resp, body, 403, "AccessDenied")
		if !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %s", tc.what, body)
		}
	}
	// content-length-range: too large fails as it streams, empty fails too.
	resp, body = postUpload(t, post.URL, form(nil), "big.png", bytes.NewReader(make([]byte, 3<<20)))
	wantBody(t, "too large", resp, body, 400, "EntityTooLarge")
	resp, body = postUpload(t, post.URL, form(nil), "empty.png", strings.NewReader(""))
	wantBody(t, "too small", resp, body, 400, "EntityTooSmall")
	// A signature altered in one digit.
	sig := []byte(post.Values["X-Amz-Signature"])
	sig[0] = "01"[map[bool]int{true: 1}[sig[0] == '0']]
	resp, body = postUpload(t, post.URL, form(map[string]string{"X-Amz-Signature": string(sig)}), "x.png", strings.NewReader("x"))
	wantBody(t, "altered signature", resp, body, 403, "SignatureDoesNotMatch")
	// No signature at all: anonymous uploads are not allowed.
	resp, body = postUpload(t, post.URL, map[string]string{"key": "uploads/anon.png"}, "anon.png", strings.NewReader("x"))
	wantBody(t, "anonymous", resp, body, 403, "AccessDenied")

	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("webapp")})
	if err != nil || len(list.Contents) != 1 {
		t.Errorf("after refused uploads: %d objects, %v", len(list.Contents), err)
	}
}

// A policy signed by hand in the test, with the array forms of the
// conditions, expiry against the gateway's clock, the key's scope, and the
// default and redirect answers.
func TestPostPolicyUploadSigned(t *testing.T) {
	st, clock := newClockedStack(t)
	ctx := context.Background()
	c := st.client(st.key)
	for _, b := range []string{"webapp", "other"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	now := clock.Now()
	policy := func(k catalog.AccessKey, bucket string, extra ...any) map[string]string {
		conds := append([]any{
			map[string]string{"bucket": bucket},
			[]any{"eq", "$key", "docs/report.txt"},
			[]any{"content-length-range", 0, 100},
		}, extra...)
		return signPolicy(k, now, map[string]any{
			"expiration": now.Add(10 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z"),
			"conditions": conds,
		})
	}
	with := func(f map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			f[kv[i]] = kv[i+1]
		}
		return f
	}
	target := st.srv.URL + "/webapp"

	// Default answer: 204 with ETag and Location.
	resp, body := postUpload(t, target, with(policy(st.key, "webapp"), "key", "docs/report.txt"), "r.txt", strings.NewReader("quarterly"))
	wantBody(t, "POST upload", resp, body, 204, "")
	if resp.Header.Get("ETag") != fmt.Sprintf(`"%x"`, md5.Sum([]byte("quarterly"))) || !strings.HasSuffix(resp.Header.Get("Location"), "/webapp/docs/report.txt") {
		t.Errorf("204 answer headers %v", resp.Header)
	}
	if got, _ := getBytes(t, c, "webapp", "docs/report.txt"); string(got) != "quarterly" {
		t.Errorf("stored %q", got)
	}
	// success_action_redirect: 303 to it with bucket, key and etag.
	f := with(policy(st.key, "webapp", []any{"starts-with", "$success_action_redirect", "https://app.example.com/"}),
		"key", "docs/report.txt", "success_action_redirect", "https://app.example.com/done?x=1")
	resp, body = postUpload(t, target, f, "r.txt", strings.NewReader("v2"))
	wantBody(t, "redirect", resp, body, 303, "")
	if loc, err := url.Parse(resp.Header.Get("Location")); err != nil || loc.Host != "app.example.com" || loc.Query().Get("x") != "1" ||
		loc.Query().Get("bucket") != "webapp" || loc.Query().Get("key") != "docs/report.txt" || loc.Query().Get("etag") == "" {
		t.Errorf("redirect to %q", resp.Header.Get("Location"))
	}
	// The policy's bucket is checked against the path.
	resp, body = postUpload(t, st.srv.URL+"/other", with(policy(st.key, "webapp"), "key", "docs/report.txt"), "r.txt", strings.NewReader("x"))
	wantBody(t, "other bucket", resp, body, 403, "AccessDenied")
	// A read-only key, and a key scoped to another bucket, cannot upload.
	ro := st.newKey(t, catalog.AccessKey{ReadOnly: true})
	resp, body = postUpload(t, target, with(policy(ro, "webapp"), "key", "docs/report.txt"), "r.txt", strings.NewReader("x"))
	wantBody(t, "read-only key", resp, body, 403, "AccessDenied")
	scoped := st.newKey(t, catalog.AccessKey{Buckets: []string{"other"}})
	resp, body = postUpload(t, target, with(policy(scoped, "webapp"), "key", "docs/report.txt"), "r.txt", strings.NewReader("x"))
	wantBody(t, "scoped key", resp, body, 403, "AccessDenied")
	// Past its expiration the policy is refused.
	f = with(policy(st.key, "webapp"), "key", "docs/report.txt")
	clock.Advance(11 * time.Minute)
	resp, body = postUpload(t, target, f, "r.txt", strings.NewReader("late"))
	wantBody(t, "expired", resp, body, 403, "AccessDenied")
	if !strings.Contains(body, "Invalid according to Policy: Policy expired.") {
		t.Errorf("expired: %s", body)
	}
	clock.Advance(-11 * time.Minute)
	// From a page the bucket's CORS rules allow, the answer carries the
	// headers a browser needs to read it (a form POST is not preflighted).
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("webapp"), CORSConfiguration: &types.CORSConfiguration{
		CORSRules: []types.CORSRule{{AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"POST"}, ExposeHeaders: []string{"ETag", "Location"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, body = postUploadFrom(t, "https://app.example.com", target, with(policy(st.key, "webapp"), "key", "docs/report.txt"), "r.txt", strings.NewReader("v3"))
	wantBody(t, "POST from an allowed origin", resp, body, 204, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("Access-Control-Expose-Headers") != "ETag, Location" {
		t.Errorf("CORS POST: %v", resp.Header)
	}
	resp, body = postUploadFrom(t, "https://app.example.com", target, with(policy(st.key, "webapp"), "key", "docs/other.txt"), "r.txt", strings.NewReader("x"))
	wantBody(t, "refused POST from an allowed origin", resp, body, 403, "AccessDenied")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("CORS on a refused POST: %v", resp.Header)
	}
	// Not a form at all.
	resp = st.do(t, st.key, "POST", "/webapp", []byte("x"), map[string]string{"Content-Type": "text/plain"})
	wantError(t, resp, 412, "PreconditionFailed")
	if got, _ := getBytes(t, c, "webapp", "docs/report.txt"); string(got) != "v3" {
		t.Errorf("refused uploads changed the object: %q", got)
	}
}

package console_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/console"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
)

func q(s string) string { return url.QueryEscape(s) }

func (c *client) put(bucket, key, ctype string, data []byte) {
	c.e.t.Helper()
	c.want(200, "", "PUT", "/api/buckets/"+bucket+"/object?key="+q(key), data, "Content-Type", ctype)
}

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	b := c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "photos"})
	if b["name"] != "photos" || b["public"] != false {
		t.Fatalf("created: %v", b)
	}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"again", "POST", "/api/buckets", map[string]string{"name": "photos"}, 409, "BucketAlreadyOwnedByYou"},
		{"bad name", "POST", "/api/buckets", map[string]string{"name": "No_Such!"}, 400, "InvalidBucketName"},
		{"delete missing", "DELETE", "/api/buckets/nothere", nil, 404, "NoSuchBucket"},
		{"list missing", "GET", "/api/buckets/nothere/objects", nil, 404, "NoSuchBucket"},
		{"public without a domain", "PUT", "/api/buckets/photos/public", map[string]bool{"public": true}, 409, "NoPublicDomain"},
		{"public without a body", "PUT", "/api/buckets/photos/public", map[string]string{}, 400, "InvalidArgument"},
		{"unknown endpoint", "GET", "/api/frobnicate", nil, 404, "NotFound"},
	} {
		c.want(tc.status, tc.code, tc.method, tc.path, tc.body)
	}
	c.put("photos", "a.txt", "text/plain", []byte("hello"))
	c.put("photos", "dir/b.bin", "application/octet-stream", seeded.Bytes(1, 3000))
	list := c.want(200, "", "GET", "/api/buckets", nil)["buckets"].([]any)
	if len(list) != 1 {
		t.Fatalf("buckets: %v", list)
	}
	got := list[0].(map[string]any)
	if got["objects"] != 2.0 || got["bytes"] != 3005.0 || got["counted"] != true {
		t.Fatalf("bucket counts: %v", got)
	}
	res, b2 := c.do("DELETE", "/api/buckets/photos", nil)
	if res.StatusCode != 409 || errCode(b2) != "BucketNotEmpty" || !strings.Contains(string(b2), "still holds") {
		t.Fatalf("delete non-empty: %d %s", res.StatusCode, b2)
	}
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "empty"})
	if res, _ := c.do("DELETE", "/api/buckets/empty", nil); res.StatusCode != 204 {
		t.Fatalf("delete empty: %d", res.StatusCode)
	}
}

func TestListObjectsPages(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	for i := 0; i < 25; i++ {
		c.put("bkt", fmt.Sprintf("logs/%02d.txt", i), "text/plain", []byte("x"))
	}
	c.put("bkt", "top.txt", "text/plain", []byte("top"))
	root := c.want(200, "", "GET", "/api/buckets/bkt/objects?delimiter=/", nil)
	if fmt.Sprint(root["prefixes"]) != "[logs/]" || len(root["objects"].([]any)) != 1 || root["truncated"] != false {
		t.Fatalf("root: %v", root)
	}
	var keys []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p := c.want(200, "", "GET", "/api/buckets/bkt/objects?prefix=logs/&delimiter=/&max=10&after="+q(after), nil)
		for _, o := range p["objects"].([]any) {
			keys = append(keys, o.(map[string]any)["key"].(string))
		}
		if p["truncated"] != true {
			break
		}
		after = p["next"].(string)
	}
	if len(keys) != 25 || keys[0] != "logs/00.txt" || keys[24] != "logs/24.txt" {
		t.Fatalf("paged keys: %v", keys)
	}
	c.want(400, "InvalidArgument", "GET", "/api/buckets/bkt/objects?max=0", nil)
}

// An uploaded HTML or SVG file must never run script in the console's
// origin: downloads are octet-stream attachments, and only inert types
// are previewed, under a sandbox policy.
func TestNoActiveContent(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	html := []byte("<html><script>fetch('/api/keys')</script></html>")
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	png := append([]byte("\x89PNG\r\n\x1a\n"), seeded.Bytes(2, 100)...)
	c.put("bkt", "evil.html", "text/html", html)
	c.put("bkt", "evil.svg", "image/svg+xml", svg)
	c.put("bkt", "sneaky.txt", "text/html; charset=utf-8", html) // the type, not the name, decides
	c.put("bkt", "notes.txt", "text/plain", []byte("just text <b>not bold</b>"))
	c.put("bkt", "pic.png", "image/png", png)

	for _, k := range []string{"evil.html", "evil.svg", "sneaky.txt", "notes.txt", "pic.png"} {
		res, b := c.do("GET", "/api/buckets/bkt/download?key="+q(k), nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("download %s: %d %v", k, res.StatusCode, res.Header)
		}
		if len(b) == 0 {
			t.Errorf("download %s: empty", k)
		}
	}
	for _, k := range []string{"evil.html", "evil.svg", "sneaky.txt"} {
		res, b := c.do("GET", "/api/buckets/bkt/download?preview=1&key="+q(k), nil)
		if res.StatusCode != 415 || errCode(b) != "NoPreview" || bytes.Contains(b, []byte("<script")) {
			t.Errorf("preview %s: %d %s", k, res.StatusCode, b)
		}
	}
	for k, want := range map[string]string{"notes.txt": "text/plain; charset=utf-8", "pic.png": "image/png"} {
		res, _ := c.do("GET", "/api/buckets/bkt/download?preview=1&key="+q(k), nil)
		csp := res.Header.Get("Content-Security-Policy")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != want ||
			!strings.HasPrefix(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") ||
			strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("preview %s: %d %v", k, res.StatusCode, res.Header)
		}
	}
	meta := c.want(200, "", "GET", "/api/buckets/bkt/meta?key=notes.txt", nil)
	if meta["content_type"] != "text/plain" || meta["size"] != 25.0 {
		t.Fatalf("meta: %v", meta)
	}
	c.want(404, "NoSuchKey", "GET", "/api/buckets/bkt/meta?key=nothing", nil)
	c.want(400, "InvalidArgument", "GET", "/api/buckets/bkt/download", nil)
}

func TestMultipart(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	data := seeded.Bytes(3, 8<<20+12345)
	up := c.want(200, "", "POST", "/api/buckets/bkt/uploads", map[string]string{"key": "big.bin", "content_type": "application/x-big"})
	id := up["upload_id"].(string)
	base := "/api/buckets/bkt/uploads/" + id
	p1 := c.want(200, "", "PUT", base+"/1?key=big.bin", data[:8<<20])
	// The page reloads: it finds the upload and the parts the server has.
	ups := c.want(200, "", "GET", "/api/buckets/bkt/uploads?prefix=big", nil)["uploads"].([]any)
	if len(ups) != 1 || ups[0].(map[string]any)["upload_id"] != id {
		t.Fatalf("uploads: %v", ups)
	}
	parts := c.want(200, "", "GET", base+"?key=big.bin", nil)["parts"].([]any)
	if len(parts) != 1 || parts[0].(map[string]any)["size"] != float64(8<<20) || parts[0].(map[string]any)["etag"] != p1["etag"] {
		t.Fatalf("parts: %v", parts)
	}
	p2 := c.want(200, "", "PUT", base+"/2?key=big.bin", data[8<<20:])
	c.want(400, "InvalidPart", "POST", base+"/complete?key=big.bin", map[string]any{"parts": []map[string]any{
		{"number": 1, "etag": p1["etag"]}, {"number": 2, "etag": `"0000"`}}})
	done := c.want(200, "", "POST", base+"/complete?key=big.bin", map[string]any{"parts": []map[string]any{
		{"number": 1, "etag": p1["etag"]}, {"number": 2, "etag": p2["etag"]}}})
	if done["size"] != float64(len(data)) {
		t.Fatalf("complete: %v", done)
	}
	// The bytes, as an S3 client reads them.
	out, err := e.s3(rootAK, rootSK).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "application/x-big" {
		t.Fatalf("object over S3: %d bytes (want %d), type %q", len(got), len(data), aws.ToString(out.ContentType))
	}
	// Cancel: the upload is gone.
	up = c.want(200, "", "POST", "/api/buckets/bkt/uploads", map[string]string{"key": "cancelled"})
	base = "/api/buckets/bkt/uploads/" + up["upload_id"].(string)
	c.want(200, "", "PUT", base+"/1?key=cancelled", []byte("abc"))
	if res, b := c.do("DELETE", base+"?key=cancelled", nil); res.StatusCode != 204 {
		t.Fatalf("abort: %d %s", res.StatusCode, b)
	}
	c.want(404, "NoSuchUpload", "GET", base+"?key=cancelled", nil)
	// A part under 5 MiB that is not the last is refused at completion, as
	// over S3, and the upload stays for a retry.
	up = c.want(200, "", "POST", "/api/buckets/bkt/uploads", map[string]string{"key": "small"})
	base = "/api/buckets/bkt/uploads/" + up["upload_id"].(string)
	s1 := c.want(200, "", "PUT", base+"/1?key=small", []byte("tiny"))
	s2 := c.want(200, "", "PUT", base+"/2?key=small", []byte("end"))
	c.want(400, "EntityTooSmall", "POST", base+"/complete?key=small", map[string]any{"parts": []map[string]any{
		{"number": 1, "etag": s1["etag"]}, {"number": 2, "etag": s2["etag"]}}})
	c.want(200, "", "GET", base+"?key=small", nil)
	c.want(400, "InvalidArgument", "PUT", base+"/0?key=cancelled", []byte("x"))
}

func TestDeleteAndRename(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	for _, k := range []string{"a", "b", "dir/", "dir/x", "dir/sub/y", "dirx", "keep/z"} {
		c.put("bkt", k, "text/plain", []byte(k))
	}
	out := c.want(200, "", "POST", "/api/buckets/bkt/delete", map[string]any{"keys": []string{"a", "dir/", "missing"}})
	if fmt.Sprint(out["deleted"]) != "[a dir/ missing]" || out["objects"] != 4.0 || len(out["errors"].([]any)) != 0 {
		t.Fatalf("delete: %v", out)
	}
	keys := listAll(c, "bkt")
	if fmt.Sprint(keys) != "[b dirx keep/z]" {
		t.Fatalf("after delete: %v", keys)
	}
	c.want(200, "", "POST", "/api/buckets/bkt/rename", map[string]string{"from": "b", "to": "renamed/b"})
	c.want(200, "", "POST", "/api/buckets/bkt/rename", map[string]string{"from": "keep/", "to": "kept/"})
	c.want(400, "InvalidArgument", "POST", "/api/buckets/bkt/rename", map[string]string{"from": "kept/", "to": "file"})
	c.want(400, "InvalidArgument", "POST", "/api/buckets/bkt/rename", map[string]string{"from": "kept/", "to": "kept/in/"})
	c.want(404, "NoSuchKey", "POST", "/api/buckets/bkt/rename", map[string]string{"from": "nothing", "to": "x"})
	if keys := listAll(c, "bkt"); fmt.Sprint(keys) != "[dirx kept/z renamed/b]" {
		t.Fatalf("after rename: %v", keys)
	}
	res, body := c.do("GET", "/api/buckets/bkt/download?key=kept/z", nil)
	if res.StatusCode != 200 || string(body) != "keep/z" {
		t.Fatalf("renamed object: %d %q", res.StatusCode, body)
	}
	c.want(400, "InvalidArgument", "POST", "/api/buckets/bkt/delete", map[string]any{"keys": []string{}})
}

func listAll(c *client, bucket string) []string {
	c.e.t.Helper()
	var keys []string
	for _, o := range c.want(200, "", "GET", "/api/buckets/"+bucket+"/objects?max=1000", nil)["objects"].([]any) {
		keys = append(keys, o.(map[string]any)["key"].(string))
	}
	return keys
}

// A share link is a presigned S3 GET: a plain HTTP client fetches the
// object with it, and any change to it is refused.
func TestShareLink(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	data := seeded.Bytes(4, 70000)
	c.put("bkt", "docs/report 1.pdf", "application/pdf", data)
	out := c.want(200, "", "POST", "/api/buckets/bkt/share", map[string]any{"key": "docs/report 1.pdf", "expires": 3600})
	link := out["url"].(string)
	// The link is a bearer credential: its signature must not be logged.
	e.secrets = append(e.secrets, mustURL(link).Query().Get("X-Amz-Signature"))
	if !strings.HasPrefix(link, "http://"+e.d.Addr()+"/bkt/") || !strings.Contains(link, "X-Amz-Expires=3600") {
		t.Fatalf("link: %s", link)
	}
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("GET link: %d, %d bytes", res.StatusCode, len(got))
	}
	for name, tampered := range map[string]string{
		"other key":  strings.Replace(link, "report%201.pdf", "report%202.pdf", 1),
		"longer":     strings.Replace(link, "X-Amz-Expires=3600", "X-Amz-Expires=7200", 1),
		"signature":  link[:len(link)-1] + flip(link[len(link)-1]),
		"other user": strings.Replace(link, rootAK, "EXCNOSUCHKEY00000000", 1),
	} {
		res, err := http.Get(tampered)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("%s: %d, want 403", name, res.StatusCode)
		}
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"key": "docs/report 1.pdf", "expires": 0}, 400, "InvalidArgument"},
		{map[string]any{"key": "docs/report 1.pdf", "expires": 604801}, 400, "InvalidArgument"},
		{map[string]any{"key": "nothing", "expires": 60}, 404, "NoSuchKey"},
	} {
		c.want(tc.status, tc.code, "POST", "/api/buckets/bkt/share", tc.body)
	}
}

func flip(b byte) string {
	if b == '0' {
		return "1"
	}
	return "0"
}

// The server's own S3 client view: the same key works over S3.
var _ = testutil.APICode

func TestPublicBucket(t *testing.T) {
	e := newEnv(t, func(c *console.Config, _ *envFlags) {
		c.PublicURL = func(org string) string { return "http://" + org + ".objects.test:9000" }
	})
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "site"})
	b := c.want(200, "", "PUT", "/api/buckets/site/public", map[string]bool{"public": true})
	want := "http://" + e.orgID() + ".objects.test:9000/site/"
	if b["public"] != true || b["public_url"] != want {
		t.Fatalf("public: %v, want url %s", b, want)
	}
	bk, err := e.d.Layer().Bucket(context.Background(), e.orgID(), "site")
	if err != nil || !bk.Public {
		t.Fatalf("catalog: %+v %v", bk, err)
	}
	list := c.want(200, "", "GET", "/api/buckets", nil)["buckets"].([]any)
	if list[0].(map[string]any)["public_url"] != want {
		t.Fatalf("list: %v", list)
	}
	b = c.want(200, "", "PUT", "/api/buckets/site/public", map[string]bool{"public": false})
	if b["public"] != false || b["public_url"] != nil {
		t.Fatalf("private again: %v", b)
	}
	c.want(404, "NoSuchBucket", "PUT", "/api/buckets/nothere/public", map[string]bool{"public": true})
}

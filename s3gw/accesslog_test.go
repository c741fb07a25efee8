package s3gw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/logging"
	"excloud.dev/buckets/internal/testutil"
)

// logStack is a stack whose gateway logs through excd's JSON handler at
// level into log.
func logStack(t *testing.T, level slog.Level, trusted ...string) (*stack, *testutil.LogBuffer) {
	t.Helper()
	log := &testutil.LogBuffer{}
	st := newStackWith(t, func(c *Config) {
		c.Logger = slog.New(logging.NewJSONHandler(log, level))
		for _, p := range trusted {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	})
	return st, log
}

// records parses every line of log as one JSON object.
func records(t *testing.T, log *testutil.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// accessLine returns the access-log record of the request with id, failing
// unless there is exactly one. The gateway writes it once the response is
// complete, which the client may see first: it is waited for.
func accessLine(t *testing.T, log *testutil.LogBuffer, id string) map[string]any {
	t.Helper()
	if id == "" {
		t.Fatal("no request id in the response")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found []map[string]any
		for _, m := range records(t, log) {
			if m["msg"] == "s3 request" && m["request_id"] == id {
				found = append(found, m)
			}
		}
		switch {
		case len(found) == 1:
			return found[0]
		case len(found) > 1 || time.Now().After(deadline):
			t.Fatalf("%d access lines for request %s in:\n%s", len(found), id, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requestID is the x-amz-request-id of an SDK answer or error.
func requestID(t *testing.T, md middleware.Metadata, err error) string {
	t.Helper()
	if err != nil {
		var re interface{ ServiceRequestID() string }
		if errors.As(err, &re) {
			return re.ServiceRequestID()
		}
		t.Fatalf("no request id in %v", err)
	}
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}

// wantFields checks the record's attributes; numbers compare as JSON
// decodes them (float64).
func wantFields(t *testing.T, rec map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got, ok := rec[k]; !ok || got != v {
			t.Errorf("%s = %#v (present %v), want %#v; record %v", k, got, ok, v, rec)
		}
	}
}

func TestAccessLog(t *testing.T) {
	st, log := logStack(t, slog.LevelInfo)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	data := []byte("the access log names who did what")

	t.Run("success", func(t *testing.T) {
		put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String("dir/a b.txt"), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		rec := accessLine(t, log, requestID(t, put.ResultMetadata, nil))
		wantFields(t, rec, map[string]any{
			"level": "INFO", "remote_addr": "127.0.0.1", "access_key_id": st.key.ID, "org": st.org,
			"bucket": "logs", "key": "dir/a b.txt", "op": "PutObject", "method": "PUT",
			"status": 200.0, "code": "", "bytes_out": 0.0,
		})
		if in, _ := rec["bytes_in"].(float64); in < float64(len(data)) {
			t.Errorf("bytes_in %v, want at least the %d bytes of the object", rec["bytes_in"], len(data))
		}
		if ua, _ := rec["user_agent"].(string); !strings.Contains(ua, "aws-sdk-go-v2") {
			t.Errorf("user_agent %q", ua)
		}
		if _, ok := rec["forwarded_by"]; ok {
			t.Errorf("forwarded_by without a proxy: %v", rec)
		}
		// Seconds, not nanoseconds: any request of this test takes far less
		// than ten minutes, and far more than 600 ns.
		if d, ok := rec["duration"].(float64); !ok || d < 0 || d >= 600 {
			t.Errorf("duration %#v: want seconds", rec["duration"])
		}

		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("dir/a b.txt")})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, get.Body)
		get.Body.Close()
		rec = accessLine(t, log, requestID(t, get.ResultMetadata, nil))
		wantFields(t, rec, map[string]any{
			"op": "GetObject", "status": 200.0, "bytes_in": 0.0, "bytes_out": float64(len(data)), "key": "dir/a b.txt",
		})
	})

	t.Run("NoSuchKey", func(t *testing.T) {
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("logs"), Key: aws.String("missing")})
		if testutil.APICode(err) != "NoSuchKey" {
			t.Fatalf("got %v, want NoSuchKey", err)
		}
		rec := accessLine(t, log, requestID(t, middleware.Metadata{}, err))
		wantFields(t, rec, map[string]any{
			"access_key_id": st.key.ID, "org": st.org, "bucket": "logs", "key": "missing",
			"op": "GetObject", "status": 404.0, "code": "NoSuchKey",
		})
		if out, _ := rec["bytes_out"].(float64); out == 0 {
			t.Errorf("bytes_out 0: the error body was sent")
		}
	})

	t.Run("bad signature", func(t *testing.T) {
		wrong := st.key
		wrong.Secret = strings.Repeat("x", 40)
		_, err := st.client(wrong).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String("forged"), Body: bytes.NewReader(data)})
		if testutil.APICode(err) != "SignatureDoesNotMatch" {
			t.Fatalf("got %v, want SignatureDoesNotMatch", err)
		}
		rec := accessLine(t, log, requestID(t, middleware.Metadata{}, err))
		wantFields(t, rec, map[string]any{
			"access_key_id": st.key.ID, "org": "", "bucket": "logs", "key": "forged",
			"op": "PutObject", "status": 403.0, "code": "SignatureDoesNotMatch",
		})
		if _, err := st.client(st.key).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("logs"), Key: aws.String("forged")}); testutil.APICode(err) != "NotFound" {
			t.Errorf("the forged put stored something: %v", err)
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		_, err := st.client(catalog.AccessKey{ID: "EXCNOSUCHKEY00000001", Secret: "whatever-secret-1234"}).ListBuckets(ctx, &s3.ListBucketsInput{})
		if testutil.APICode(err) != "InvalidAccessKeyId" {
			t.Fatalf("got %v, want InvalidAccessKeyId", err)
		}
		wantFields(t, accessLine(t, log, requestID(t, middleware.Metadata{}, err)), map[string]any{
			"access_key_id": "EXCNOSUCHKEY00000001", "status": 403.0, "code": "InvalidAccessKeyId", "op": "ListBuckets",
		})
	})

	t.Run("X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		out, err := testutil.S3(st.srv.URL, st.key.ID, st.key.Secret, testutil.NoRetries, testutil.WithHeader("X-Forwarded-For", "203.0.113.7")).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("logs")})
		if err != nil {
			t.Fatal(err)
		}
		rec := accessLine(t, log, requestID(t, out.ResultMetadata, nil))
		wantFields(t, rec, map[string]any{"remote_addr": "127.0.0.1", "op": "HeadBucket"})
		if _, ok := rec["forwarded_by"]; ok || strings.Contains(log.String(), "203.0.113.7") {
			t.Errorf("spoofed X-Forwarded-For reached the log: %v", rec)
		}
	})

	if strings.Contains(log.String(), st.key.Secret) || strings.Contains(log.String(), "Signature=") {
		t.Errorf("the log holds a secret or signature:\n%s", log.String())
	}
}

// Behind a trusted proxy the client is the rightmost address in
// X-Forwarded-For that is not itself a trusted proxy; what the client
// wrote to the left of it is not believed.
func TestAccessLogTrustedProxy(t *testing.T) {
	st, log := logStack(t, slog.LevelInfo, "127.0.0.1/32", "10.0.0.0/8")
	ctx := context.Background()
	for _, tc := range []struct {
		xff, want string
	}{
		{"203.0.113.7", "203.0.113.7"},
		// The client sent "198.51.100.1" itself; the proxy appended the
		// address it saw.
		{"198.51.100.1, 203.0.113.7", "203.0.113.7"},
		// Two trusted proxies in a row.
		{"198.51.100.1, 203.0.113.7, 10.1.1.1", "203.0.113.7"},
		{"2001:db8::5", "2001:db8::5"},
		// Garbage from a trusted proxy: the nearest address known.
		{"not-an-ip, 10.1.1.1", "10.1.1.1"},
	} {
		out, err := testutil.S3(st.srv.URL, st.key.ID, st.key.Secret, testutil.NoRetries, testutil.WithHeader("X-Forwarded-For", tc.xff)).ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		wantFields(t, accessLine(t, log, requestID(t, out.ResultMetadata, nil)), map[string]any{
			"remote_addr": tc.want, "forwarded_by": "127.0.0.1", "op": "ListBuckets",
		})
	}
	// Without the header the peer itself is the client.
	out, err := st.client(st.key).ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	rec := accessLine(t, log, requestID(t, out.ResultMetadata, nil))
	if rec["remote_addr"] != "127.0.0.1" || rec["forwarded_by"] != nil {
		t.Errorf("no X-Forwarded-For: %v", rec)
	}
}

// At debug level an authentication or authorization failure says why, and
// which key; at info level the same failures write their access line and
// nothing else.
func TestAuthDecisionLog(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, level slog.Level) (*stack, *testutil.LogBuffer, []string) {
		st, log := logStack(t, level)
		c := st.client(st.key)
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
			t.Fatal(err)
		}
		var ids []string
		wrong := st.key
		wrong.Secret = strings.Repeat("y", 40)
		_, err := st.client(wrong).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		if testutil.APICode(err) != "SignatureDoesNotMatch" {
			t.Fatalf("got %v, want SignatureDoesNotMatch", err)
		}
		ids = append(ids, requestID(t, middleware.Metadata{}, err))
		ro := st.newKey(t, catalog.AccessKey{ReadOnly: true})
		_, err = st.client(ro).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x")})
		if testutil.APICode(err) != "AccessDenied" {
			t.Fatalf("got %v, want AccessDenied", err)
		}
		ids = append(ids, requestID(t, middleware.Metadata{}, err), ro.ID)
		return st, log, ids
	}

	t.Run("debug", func(t *testing.T) {
		st, log, ids := run(t, slog.LevelDebug)
		var denied []map[string]any
		accepted := false
		for _, m := range records(t, log) {
			switch m["msg"] {
			case "s3 auth denied":
				denied = append(denied, m)
			case "s3 auth accepted":
				if m["access_key_id"] == st.key.ID && m["org"] == st.org {
					accepted = true
				}
			}
		}
		if !accepted {
			t.Errorf("no auth accepted record for the bucket creation:\n%s", log.String())
		}
		if len(denied) != 2 {
			t.Fatalf("%d auth denied records, want 2:\n%s", len(denied), log.String())
		}
		wantFields(t, denied[0], map[string]any{
			"level": "DEBUG", "request_id": ids[0], "access_key_id": st.key.ID, "op": "ListObjectsV2", "code": "SignatureDoesNotMatch",
		})
		if r, _ := denied[0]["reason"].(string); !strings.Contains(r, "signature does not match") {
			t.Errorf("reason %q", r)
		}
		wantFields(t, denied[1], map[string]any{
			"request_id": ids[1], "access_key_id": ids[2], "op": "PutObject", "code": "AccessDenied",
		})
		if r, _ := denied[1]["reason"].(string); !strings.Contains(r, "read-only") {
			t.Errorf("reason %q", r)
		}
	})

	t.Run("info", func(t *testing.T) {
		_, log, ids := run(t, slog.LevelInfo)
		accessLine(t, log, ids[0])
		accessLine(t, log, ids[1])
		recs := records(t, log)
		// CreateBucket (its access line and "bucket created"), the forged
		// list, the read-only put: nothing else.
		if len(recs) != 4 {
			t.Errorf("%d records at info level, want 4:\n%s", len(recs), log.String())
		}
		for _, m := range recs {
			if m["msg"] != "s3 request" && m["msg"] != "bucket created" || m["reason"] != nil {
				t.Errorf("info level wrote more than the access line: %v", m)
			}
		}
	})
}

// A browser POST upload names its key in the form and its access key in
// the signed policy; the access line has both.
func TestAccessLogPostUpload(t *testing.T) {
	st, log := logStack(t, slog.LevelInfo)
	ctx := context.Background()
	c := st.client(st.key)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("webapp")}); err != nil {
		t.Fatal(err)
	}
	post, err := s3.NewPresignClient(c).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("webapp"), Key: aws.String("uploads/${filename}")})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a picture")
	resp, body := postUpload(t, post.URL, post.Values, "cat.png", bytes.NewReader(data))
	if resp.StatusCode != 204 {
		t.Fatalf("POST upload: %d %s", resp.StatusCode, body)
	}
	rec := accessLine(t, log, resp.Header.Get("x-amz-request-id"))
	wantFields(t, rec, map[string]any{
		"op": "PostObject", "access_key_id": st.key.ID, "org": st.org, "bucket": "webapp", "key": "uploads/cat.png", "status": 204.0, "code": "",
	})
	if in, _ := rec["bytes_in"].(float64); in < float64(len(data)) {
		t.Errorf("bytes_in %v", rec["bytes_in"])
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		peer         string
		xff          []string
		client, prox string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1", ""},
		{"192.0.2.1:5000", []string{"203.0.113.7"}, "192.0.2.1", ""}, // untrusted peer
		{"10.0.0.2:5000", nil, "10.0.0.2", ""},
		{"10.0.0.2:5000", []string{"203.0.113.7"}, "203.0.113.7", "10.0.0.2"},
		{"10.0.0.2:5000", []string{"1.1.1.1", "203.0.113.7, 10.0.0.9"}, "203.0.113.7", "10.0.0.2"}, // two headers
		{"10.0.0.2:5000", []string{"10.0.0.3, 10.0.0.9"}, "10.0.0.3", "10.0.0.2"},                  // all trusted: the leftmost
		{"10.0.0.2:5000", []string{"203.0.113.7:4711"}, "203.0.113.7", "10.0.0.2"},
		{"10.0.0.2:5000", []string{"[2001:db8::1]:4711"}, "2001:db8::1", "10.0.0.2"},
		{"[fd00::2]:5000", []string{"2001:db8::1"}, "2001:db8::1", "fd00::2"},
		{"[::ffff:10.0.0.2]:5000", []string{"203.0.113.7"}, "203.0.113.7", "10.0.0.2"}, // v4-mapped peer
		{"10.0.0.2:5000", []string{"garbage"}, "10.0.0.2", ""},
		{"10.0.0.2:5000", []string{""}, "10.0.0.2", ""},
		{"@", []string{"203.0.113.7"}, "@", ""}, // not an address (a unix socket)
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if c, p := clientAddr(r, trusted); c != tc.client || p != tc.prox {
			t.Errorf("peer %s, X-Forwarded-For %q: client %q proxy %q, want %q %q", tc.peer, tc.xff, c, p, tc.client, tc.prox)
		}
	}
}

func TestClaimedKeyID(t *testing.T) {
	for _, tc := range []struct{ authz, query, want string }{
		{"AWS4-HMAC-SHA256 Credential=EXCAAAAAAAAAAAAAAAAA/20260101/auto/s3/aws4_request, SignedHeaders=host, Signature=00", "", "EXCAAAAAAAAAAAAAAAAA"},
		{"AWS4-HMAC-SHA256 Credential=EXCBBBB,SignedHeaders=host", "", "EXCBBBB"},
		{"Bearer nothing", "", ""},
		{"", "X-Amz-Credential=EXCCCCCCCCCCCCCCCCCC%2F20260101%2Fauto%2Fs3%2Faws4_request", "EXCCCCCCCCCCCCCCCCCC"},
		{"AWS4-HMAC-SHA256 Credential=" + strings.Repeat("A", 500), "", strings.Repeat("A", maxLoggedClaim)},
		{"", "", ""},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://x/b?"+tc.query, nil)
		if tc.authz != "" {
			r.Header.Set("Authorization", tc.authz)
		}
		if got := claimedKeyID(r); got != tc.want {
			t.Errorf("Authorization %q, query %q: %q, want %q", tc.authz, tc.query, got, tc.want)
		}
	}
}

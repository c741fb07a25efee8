package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/testutil"
)

// excd as shipped: --trusted-proxies reaches the access log, and the JSON
// log writes the request's duration in seconds.
func TestAccessLogTrustedProxyFlag(t *testing.T) {
	n := listenNotify(t, true)
	env := append(baseEnv(t, n), "EXC_LOG_FORMAT=json") // the last value of a variable wins
	p := startExcd(t, env, nil, "--trusted-proxies", "127.0.0.1")
	addr := addrFrom(t, n.await(t, "READY=1"))
	ctx := context.Background()
	c := testutil.S3("http://"+addr, testAK, testSK, testutil.NoRetries, testutil.WithHeader("X-Forwarded-For", "198.51.100.1, 203.0.113.9"))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("proxied")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("proxied"), Key: aws.String("missing")})
	if testutil.APICode(err) != "NoSuchKey" {
		t.Fatalf("got %v, want NoSuchKey", err)
	}
	var re interface{ ServiceRequestID() string }
	if !errors.As(err, &re) || re.ServiceRequestID() == "" {
		t.Fatalf("no request id in %v", err)
	}
	id := re.ServiceRequestID()

	// The line is written once the response is complete; wait for it.
	var rec map[string]any
	for deadline := time.Now().Add(time.Minute); rec == nil; time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "s3 request" && m["request_id"] == id {
				rec = m
			}
		}
		if rec == nil && time.Now().After(deadline) {
			t.Fatalf("no access line for request %s", id)
		}
	}
	for k, want := range map[string]any{
		"remote_addr": "203.0.113.9", "forwarded_by": "127.0.0.1", "access_key_id": testAK,
		"bucket": "proxied", "key": "missing", "op": "GetObject", "status": 404.0, "code": "NoSuchKey",
	} {
		if rec[k] != want {
			t.Errorf("%s = %#v, want %#v; line %v", k, rec[k], want, rec)
		}
	}
	// Seconds: this request took far less than ten minutes, and far more
	// than 600 ns.
	if d, ok := rec["duration"].(float64); !ok || d < 0 || d >= 600 {
		t.Errorf("duration %#v: want seconds", rec["duration"])
	}
}

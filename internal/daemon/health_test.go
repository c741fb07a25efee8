package daemon_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/internal/excdtest"
)

// A real excd answers /healthz and /readyz on its S3 listener as on its
// metrics listener: without credentials, with a fixed word and no data,
// even when a bucket is named healthz.
func TestHealthOnS3Listener(t *testing.T) {
	p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Metrics: true})
	ctx := context.Background()
	c := p.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("healthz")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("healthz"), Key: aws.String("k"),
		Body: strings.NewReader("stored bytes")}); err != nil {
		t.Fatal(err)
	}
	probe := func(method, url string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, base := range []string{p.Endpoint, p.Metrics} {
		for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
			if code, body := probe("GET", base+path); code != http.StatusOK || body != want {
				t.Errorf("GET %s%s: %d %q", base, path, code, body)
			}
			if code, body := probe("HEAD", base+path); code != http.StatusOK || body != "" {
				t.Errorf("HEAD %s%s: %d %q", base, path, code, body)
			}
		}
	}
	// The bucket behind the name is still the S3 API's, and private.
	if code, body := probe("GET", p.Endpoint+"/healthz/k"); code != http.StatusForbidden || strings.Contains(body, "stored bytes") {
		t.Errorf("anonymous GET /healthz/k: %d %q", code, body)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("healthz"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "stored bytes" {
		t.Errorf("signed GET healthz/k: %q", b)
	}
}

package s3gw

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
)

// /healthz and /readyz answer unsigned probes on the S3 listener with a
// fixed word and no data, follow the daemon's readiness, and leave buckets
// named healthz and readyz fully usable by signed clients.
func TestHealthProbes(t *testing.T) {
	var notReady atomic.Pointer[error]
	st := newStackWith(t, func(c *Config) {
		c.PublicDomain = testPublicDomain
		c.Ready = func() error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		}
	})
	c := st.client(st.key)
	for _, b := range []string{"healthz", "readyz"} {
		mustBucket(t, c, b)
		putString(t, c, b, "secret.txt", "private bytes")
	}
	publicHost := st.org + "." + testPublicDomain
	if err := st.db.SetBucketPublic(context.Background(), st.org, "healthz", true); err != nil {
		t.Fatal(err)
	}

	probes := []struct {
		method, host, path string
		status             int
		body               string
	}{
		{"GET", "", "/healthz", 200, "ok\n"},
		{"GET", "", "/readyz", 200, "ready\n"},
		{"HEAD", "", "/healthz", 200, ""},
		{"HEAD", "", "/readyz", 200, ""},
		{"GET", "", "/healthz?probe=1", 200, "ok\n"},
		// On a public host "/healthz" names a bucket, which is never
		// listed there: the probe shadows nothing.
		{"GET", publicHost, "/healthz", 200, "ok\n"},
		{"GET", publicHost, "/readyz", 200, "ready\n"},
	}
	for _, p := range probes {
		hdr := map[string]string{}
		if p.host != "" {
			hdr["Host"] = p.host
		}
		r := st.do(t, catalog.AccessKey{}, p.method, p.path, nil, hdr)
		body := readAll(t, r.Body)
		if r.StatusCode != p.status || body != p.body || r.Header.Get("Cache-Control") != "no-store" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s %s (Host %q): %d %q %v", p.method, p.path, p.host, r.StatusCode, body, r.Header)
		}
		if r.Header.Get("x-amz-request-id") != "" {
			t.Errorf("%s %s: a probe is not an S3 request, yet has a request id", p.method, p.path)
		}
	}

	// Unsigned requests that are not probes still get the S3 API's answer.
	for _, p := range []struct{ method, path, code string }{
		{"GET", "/healthz/", "AccessDenied"},
		{"GET", "/healthz/secret.txt", "AccessDenied"},
		{"PUT", "/healthz", "AccessDenied"},
		{"DELETE", "/readyz", "AccessDenied"},
		{"GET", "/healthz?X-Amz-Credential=x", "AuthorizationQueryParametersError"},
	} {
		r := st.do(t, catalog.AccessKey{}, p.method, p.path, nil, nil)
		if body := readAll(t, r.Body); r.StatusCode/100 != 4 || !strings.Contains(body, "<Code>"+p.code+"</Code>") || strings.Contains(body, "private bytes") {
			t.Errorf("%s %s: %d %q", p.method, p.path, r.StatusCode, body)
		}
	}

	// Signed requests reach the buckets as before.
	ctx := context.Background()
	for _, b := range []string{"healthz", "readyz"} {
		if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Errorf("HeadBucket %s: %v", b, err)
		}
		l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b)})
		if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "secret.txt" {
			t.Errorf("ListObjectsV2 %s: %v %v", b, l, err)
		}
	}
	r := st.do(t, st.key, "GET", "/healthz", nil, nil)
	if body := readAll(t, r.Body); r.StatusCode != 200 || !strings.Contains(body, "<Key>secret.txt</Key>") {
		t.Errorf("signed GET /healthz is ListObjects: %d %q", r.StatusCode, body)
	}

	// Readiness follows Config.Ready; liveness does not.
	e := errors.New("stopping")
	notReady.Store(&e)
	r = st.do(t, catalog.AccessKey{}, "GET", "/readyz", nil, nil)
	if body := readAll(t, r.Body); r.StatusCode != http.StatusServiceUnavailable || body != "not ready: stopping\n" {
		t.Errorf("/readyz while not ready: %d %q", r.StatusCode, body)
	}
	r = st.do(t, catalog.AccessKey{}, "GET", "/healthz", nil, nil)
	if body := readAll(t, r.Body); r.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz while not ready: %d %q", r.StatusCode, body)
	}
}

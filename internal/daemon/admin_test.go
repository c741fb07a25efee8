package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/daemon"
)

// A key made over the admin socket works over S3 at once, its org sees only
// its own buckets, and once deleted it is refused on the very next request.
func TestAdminKeyLifecycle(t *testing.T) {
	dir := t.TempDir()
	d, err := daemon.Start(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.AdminSocket() != filepath.Join(dir, "admin.sock") {
		t.Fatalf("admin socket at %q", d.AdminSocket())
	}
	if fi, err := os.Stat(d.AdminSocket()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket mode: %v %v", fi.Mode(), err)
	}
	ctx := context.Background()
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	org, err := ac.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateBucket(ctx, org.ID, "photos"); err != nil {
		t.Fatal(err)
	}
	key, err := ac.CreateKey(ctx, org.ID, admin.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	c := s3.New(s3.Options{Region: "auto", BaseEndpoint: aws.String("http://" + d.Addr()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key.ID, key.Secret, "")})
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "photos" {
		t.Fatalf("new org's buckets: %v %v", lb, err)
	}
	st, err := ac.Status(ctx)
	if err != nil || st.UptimeSeconds < 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if err := ac.DeleteKey(ctx, org.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("deleted key: %v", err)
	}
}

// A bucket made public over the admin socket is readable without
// credentials on <org-id>.<public-domain>, and only while it is public.
func TestPublicBucketThroughDaemon(t *testing.T) {
	dir := t.TempDir()
	d, err := daemon.Start(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1,
		PublicDomain: "objects.example.test", RootAccessKey: testAK, RootSecretKey: testSK,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	orgs, err := ac.Orgs(ctx)
	if err != nil || len(orgs) != 1 {
		t.Fatalf("orgs: %v %v", orgs, err)
	}
	c := awsClient(d, testSK)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("site"), Key: aws.String("index.html"),
		Body: strings.NewReader("<h1>hi</h1>")}); err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", "http://"+d.Addr()+"/site/index.html", nil)
		req.Host = orgs[0].ID + ".objects.example.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != http.StatusForbidden {
		t.Fatalf("private bucket on the public host: %d", code)
	}
	if _, err := ac.SetBucketPublic(ctx, orgs[0].ID, "site", true); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK || body != "<h1>hi</h1>" {
		t.Fatalf("public bucket: %d %q", code, body)
	}
	if _, err := ac.SetBucketPublic(ctx, orgs[0].ID, "site", false); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(); code != http.StatusForbidden {
		t.Fatalf("bucket made private again: %d", code)
	}
}

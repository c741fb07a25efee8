package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

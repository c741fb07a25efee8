package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
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
	org, key, c := orgWithBucket(t, ctx, ac, d, "acme", "photos")
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "photos" {
		t.Fatalf("new org's buckets: %v %v", lb, err)
	}
	if err := ac.DeleteKey(ctx, org.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("deleted key: %v", err)
	}
}

// orgWithBucket makes org name holding bucket over the admin socket, and a
// key of the org with an S3 client signing with it.
func orgWithBucket(t *testing.T, ctx context.Context, ac *admin.Client, d *daemon.Daemon, name, bucket string) (admin.Org, admin.NewAccessKey, *s3.Client) {
	t.Helper()
	org, err := ac.CreateOrg(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateBucket(ctx, org.ID, bucket); err != nil {
		t.Fatal(err)
	}
	key, err := ac.CreateKey(ctx, org.ID, admin.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return org, key, testutil.S3("http://"+d.Addr(), key.ID, key.Secret)
}

// The status call reports the real daemon's figures: its version, an
// uptime no longer than it has run, the catalog's counts per org, and
// bytes after dedup equal to what the chunk files hold, which a second
// copy of the same bytes does not grow while the logical bytes double.
func TestAdminStatusFigures(t *testing.T) {
	dir := t.TempDir()
	began := time.Now()
	d, err := daemon.Start(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1,
		RootAccessKey: testAK, RootSecretKey: testSK, Version: "v9.8.7", Commit: "f00dcafe",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	org, _, c := orgWithBucket(t, ctx, ac, d, "acme", "photos")
	const size = 5 << 20 // two chunks: 4 MiB and 1 MiB
	data := seeded.Bytes(77, size)
	onDisk := func() (chunks int, bytes int64) {
		files, err := excdtest.ChunkFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			bytes += fi.Size()
		}
		return len(files), bytes
	}
	var afterOne int64
	for i, k := range []string{"a", "copy-of-a"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		st, err := ac.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		chunks, diskBytes := onDisk()
		if st.Version != "v9.8.7" || st.Commit != "f00dcafe" {
			t.Errorf("version %q commit %q", st.Version, st.Commit)
		}
		if up := time.Since(began).Seconds(); st.UptimeSeconds < 0 || float64(st.UptimeSeconds) > up+1 {
			t.Errorf("uptime %d s; the daemon has run %.1f s", st.UptimeSeconds, up)
		}
		if st.Chunks != 2 || chunks != 2 {
			t.Errorf("after %d puts of the same 5 MiB: %d chunks referenced, %d chunk files; want 2", i+1, st.Chunks, chunks)
		}
		if st.BytesAfterDedup != diskBytes || diskBytes < size {
			t.Errorf("after %d puts: bytes after dedup %d, chunk files hold %d (object %d)", i+1, st.BytesAfterDedup, diskBytes, size)
		}
		if i == 0 {
			afterOne = st.BytesAfterDedup
		} else if st.BytesAfterDedup != afterOne {
			t.Errorf("a second copy of the same bytes grew bytes after dedup from %d to %d", afterOne, st.BytesAfterDedup)
		}
		var acme *admin.OrgUsage
		for j := range st.Usage {
			if st.Usage[j].OrgID == org.ID {
				acme = &st.Usage[j]
			}
		}
		want := admin.OrgUsage{OrgID: org.ID, Name: "acme", Buckets: 1, Objects: int64(i + 1), BytesStored: int64(i+1) * size}
		if acme == nil || *acme != want {
			t.Errorf("after %d puts: acme's usage %+v, want %+v", i+1, acme, want)
		}
		// The root key's org and acme; the totals are the orgs' sums.
		if st.Orgs != 2 || st.Buckets != 1 || st.Objects != int64(i+1) || st.BytesStored != int64(i+1)*size || st.Uploads != 0 {
			t.Errorf("after %d puts: totals %+v", i+1, st)
		}
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

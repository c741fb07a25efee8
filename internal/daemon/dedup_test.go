package daemon_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/internal/metrics"
	"excloud.dev/buckets/internal/testutil"
)

// Dedup never crosses orgs: a file another org stores is written again in
// full (new chunk files, no dedup hit), so neither the upload's cost nor
// excd_chunk_dedup_hits_total tells a tenant what others store. Inside an
// org it still deduplicates.
func TestDedupStaysInsideAnOrg(t *testing.T) {
	m := metrics.New()
	m.StatsTTL = 0
	dir := t.TempDir()
	d := startWith(t, daemon.Config{DataDir: dir, MetricsListen: "127.0.0.1:0", Metrics: m})
	ctx := context.Background()
	ac := admin.Dial(d.AdminSocket())
	defer ac.Close()
	beta, err := ac.CreateOrg(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := ac.CreateKey(ctx, beta.ID, admin.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	alpha := plainClient(d)
	betaC := testutil.S3("http://"+d.Addr(), bk.ID, bk.Secret, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	data := randBytes(16<<20, 70) // 4 chunks
	put := func(c *s3.Client, bucket, key string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	hits := func() float64 { return scrape(t, d.MetricsAddr())["excd_chunk_dedup_hits_total"] }
	for c, b := range map[*s3.Client]string{alpha: "alpha-data", betaC: "beta-data"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	put(alpha, "alpha-data", "f")
	files, h := chunkNames(t, dir), hits()
	if len(files) != 4 {
		t.Fatalf("%d chunk files after the first 16 MiB upload, want 4", len(files))
	}
	step := func(what string, c *s3.Client, bucket, key string, newFiles int, newHits float64) {
		t.Helper()
		put(c, bucket, key)
		now, nh := chunkNames(t, dir), hits()
		if got := len(newNames(now, files)); got != newFiles || nh-h != newHits {
			t.Fatalf("%s: %d new chunk files and %v dedup hits, want %d and %v", what, got, nh-h, newFiles, newHits)
		}
		files, h = now, nh
	}
	step("the same 16 MiB uploaded by another org", betaC, "beta-data", "f", 4, 0)
	step("the same 16 MiB again in that org", betaC, "beta-data", "g", 0, 4)
	step("the same 16 MiB again in the first org", alpha, "alpha-data", "g", 0, 4)

	get := func(c *s3.Client, bucket, key string) {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s/%s: err %v equal %v", bucket, key, err, bytes.Equal(got, data))
		}
	}
	// Each org's copies are counted apart: deleting the first org's frees
	// its 4 chunks and leaves the other's readable.
	for _, k := range []string{"f", "g"} {
		get(alpha, "alpha-data", k)
		get(betaC, "beta-data", k)
		if _, err := alpha.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha-data"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := d.RunGC(ctx); err != nil || st.Deleted != 4 || len(chunkNames(t, dir)) != 4 {
		t.Fatalf("GC after the first org deleted its copies: %+v %v, %d files left", st, err, len(chunkNames(t, dir)))
	}
	get(betaC, "beta-data", "f")
	get(betaC, "beta-data", "g")
}

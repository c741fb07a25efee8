package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/internal/excdtest"
)

// spread runs put(i) for i in [0, n) on workers goroutines and fails b on
// the first error.
func spread(b *testing.B, workers, n int, put func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := put(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// fill puts n empty objects named k%08d into bucket with 32 clients.
func fill(b *testing.B, c *s3.Client, bucket string, n int) {
	b.Helper()
	spread(b, 32, n, func(i int) error {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String(fmt.Sprintf("k%08d", i)), Body: &sliceReader{}})
		return err
	})
}

// loadOffline adds n empty objects named k%08d to bucket straight through
// the catalog of the stopped daemon d, and starts it again: a million PUTs
// over S3 would take this machine five minutes, the catalog takes seconds,
// and the keys and manifests are the ones a PUT of an empty object writes.
func loadOffline(b *testing.B, d *daemon, dataDir, bucket string, n int) *daemon {
	b.Helper()
	if err := d.Stop(); err != nil {
		b.Fatal(err)
	}
	db := excdtest.OpenCatalog(b, dataDir, nil)
	ctx := catalog.WithoutSync(context.Background())
	key, err := db.AccessKey(ctx, excdtest.AccessKey)
	if err != nil {
		b.Fatal(err)
	}
	bk, err := db.Bucket(ctx, key.OrgID, bucket)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	// One writer per core.
	spread(b, 2, n, func(i int) error {
		m := &catalog.Manifest{ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, ModTime: now,
			Checksums: map[string]string{"CRC32": "AAAAAA=="}}
		_, err := db.PutObject(ctx, bk, fmt.Sprintf("k%08d", i), m, catalog.Condition{})
		return err
	})
	if err := db.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return startDaemon(b, dataDir)
}

// BenchmarkListObjects: a full ListObjectsV2 walk of a 1M-key bucket
// (keys/s), and one 1000-key page from its middle against the same page
// shape in a 1k-key bucket. The 1k-key bucket is filled over S3, the big
// one through the catalog (loadOffline).
func BenchmarkListObjects(b *testing.B) {
	// Under -short a 20k-key bucket stands in for the million.
	big, small := sized(1_000_000, 20_000), 1000
	dir := b.TempDir()
	d := startDaemon(b, dir)
	c := d.client()
	mustBucket(b, c, "big")
	mustBucket(b, c, "small")
	fill(b, c, "small", small)
	t0 := time.Now()
	d = loadOffline(b, d, dir, "big", big)
	b.Logf("loaded %d keys through the catalog in %v", big, time.Since(t0).Round(time.Millisecond))
	c = d.client()
	ctx := context.Background()
	page := func(bucket, after string) time.Duration {
		const rounds = 20
		t0 := time.Now()
		for range rounds {
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), StartAfter: aws.String(after)})
			if err != nil || len(out.Contents) != 1000 {
				b.Fatalf("page of %s: %d keys, %v", bucket, len(out.Contents), err)
			}
		}
		return time.Since(t0) / rounds
	}
	for b.Loop() {
		t0 := time.Now()
		n := 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("big")})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.Contents)
		}
		if n != big {
			b.Fatalf("listed %d keys", n)
		}
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "keys/s")
		// Alternate the two pages, so that a slow moment of the machine
		// does not land on one of them only.
		var mid, first time.Duration
		for range 3 {
			mid += page("big", fmt.Sprintf("k%08d", big/2))
			first += page("small", "")
		}
		b.ReportMetric(float64(mid.Microseconds())/3000, "mid-page-1M-ms")
		b.ReportMetric(float64(first.Microseconds())/3000, "page-1k-ms")
	}
}

// BenchmarkCompleteMultipart1GiB: the completion of a 1 GiB upload of
// 16 MiB parts (the upload itself is not timed).
func BenchmarkCompleteMultipart1GiB(b *testing.B) {
	// Under -short two parts of the smallest size (objectSize).
	part, nParts := int64(16<<20), int32(gib/(16<<20))
	if testing.Short() {
		part, nParts = 5<<20, 2
	}
	d := startDaemon(b, b.TempDir())
	c := d.client()
	mustBucket(b, c, "mpu")
	ctx := context.Background()
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		key := fmt.Sprintf("obj%d", i)
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(key)})
		if err != nil {
			b.Fatal(err)
		}
		var parts []types.CompletedPart
		for n := int32(1); n <= nParts; n++ {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String(key), UploadId: up.UploadId,
				PartNumber: aws.Int32(n), Body: newGen(int64(i*1000)+int64(n), part), ContentLength: aws.Int64(part)})
			if err != nil {
				b.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
		}
		t0 := time.Now()
		if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(key),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(i), "complete-ms")
}

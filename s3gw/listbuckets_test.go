package s3gw

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListBuckets pages with max-buckets and continuation-token and filters by
// prefix and region, as the current SDKs' paginator expects; without
// max-buckets it lists every bucket, as older clients expect.
func TestListBucketsPaging(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	names := []string{"alpha-1", "alpha-2", "alpha-3", "beta-1", "gamma-1"}
	for _, n := range names {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(all.Buckets) != len(names) || all.ContinuationToken != nil {
		t.Fatalf("ListBuckets: %+v, %v", all, err)
	}

	var got []string
	p := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{MaxBuckets: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name))
			if aws.ToString(b.BucketRegion) == "" {
				t.Errorf("bucket %s: no BucketRegion in a paged listing", aws.ToString(b.Name))
			}
		}
	}
	if pages != 3 || len(got) != len(names) {
		t.Fatalf("paged by 2: %d pages, %v", pages, got)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("paged listing order %v, want %v", got, names)
		}
	}

	pre, err := c.ListBuckets(ctx, &s3.ListBucketsInput{Prefix: aws.String("alpha-")})
	if err != nil || len(pre.Buckets) != 3 || aws.ToString(pre.Prefix) != "alpha-" {
		t.Fatalf("prefix alpha-: %+v, %v", pre, err)
	}
	other, err := c.ListBuckets(ctx, &s3.ListBucketsInput{BucketRegion: aws.String("mars-north-1")})
	if err != nil || len(other.Buckets) != 0 {
		t.Fatalf("another region: %+v, %v", other, err)
	}

	for _, bad := range []int32{0, 10001} {
		if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(bad)}); apiCode(err) != "InvalidArgument" {
			t.Errorf("max-buckets=%d: %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{ContinuationToken: aws.String("!!not base64!!")}); apiCode(err) != "InvalidArgument" {
		t.Errorf("bad continuation token: %v, want InvalidArgument", err)
	}
}

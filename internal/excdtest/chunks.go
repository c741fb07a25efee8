package excdtest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ChunkStore is an excd serving as the S3 object store another excd keeps
// its chunks in (--chunks s3://…): a real SigV4 S3 server, started as a
// child process like any other.
type ChunkStore struct {
	*Proc
	Bucket string
}

// StartChunkStore starts an excd on its own data directory and creates the
// bucket "chunks" on it.
func StartChunkStore(tb testing.TB) *ChunkStore {
	tb.Helper()
	p := Start(tb, Options{DataDir: tb.TempDir()})
	cs := &ChunkStore{Proc: p, Bucket: "chunks"}
	if _, err := p.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cs.Bucket)}); err != nil {
		tb.Fatal(err)
	}
	return cs
}

// URL is the --chunks URL of prefix in the bucket.
func (cs *ChunkStore) URL(prefix string) string { return "s3://" + cs.Bucket + "/" + prefix }

// Args are the flags that put a node's chunks under prefix.
func (cs *ChunkStore) Args(prefix string) []string {
	return []string{"--chunks", cs.URL(prefix), "--chunks-endpoint", cs.Endpoint, "--chunks-path-style"}
}

// Env carries the credentials, which have no flags.
func (cs *ChunkStore) Env() []string {
	return []string{"EXC_CHUNKS_ACCESS_KEY_ID=" + AccessKey, "EXC_CHUNKS_SECRET_ACCESS_KEY=" + SecretKey}
}

// Objects lists the keys and sizes under prefix in the bucket.
func (cs *ChunkStore) Objects(tb testing.TB, prefix string) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(cs.S3(), &s3.ListObjectsV2Input{Bucket: aws.String(cs.Bucket), Prefix: aws.String(strings.TrimSuffix(prefix, "/") + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out
}

// Restart stops the store and starts it again on the same data directory
// and address, so the nodes that use it find it again.
func (cs *ChunkStore) Restart(tb testing.TB) {
	tb.Helper()
	if !cs.Exited() {
		if err := cs.Stop(); err != nil {
			tb.Fatal(err)
		}
	}
	opts := cs.opts
	opts.Args = append(append([]string(nil), opts.Args...), "--listen", strings.TrimPrefix(cs.Endpoint, "http://"))
	cs.Proc = Start(tb, opts)
}

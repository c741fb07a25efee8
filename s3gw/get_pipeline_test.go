package s3gw

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/seeded"
)

// A large GET streams through the parallel read-ahead: byte-exact whole
// and ranged, and when a segment in the middle of the object is damaged
// the client gets a 200 whose body stops short (the SDK sees an unexpected
// EOF) after nothing but the object's own bytes, never bytes of the
// damaged segment or after it.
func TestLargeGetStopsAtDamage(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	const chunk = chunkstore.MaxChunkSize
	data := seeded.Bytes(41, 3*chunk+777)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("big"), Key: aws.String("k"),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
		t.Fatal(err)
	}
	get := func(rng string) ([]byte, error) {
		in := &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("k")}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	if got, err := get(""); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole object: %d bytes, %v", len(got), err)
	}
	if got, err := get("bytes=4194303-9000000"); err != nil || !bytes.Equal(got, data[4194303:9000001]) {
		t.Fatalf("range across chunks: %d bytes, %v", len(got), err)
	}

	// Damage segment 3 of the second chunk.
	m, err := st.db.Object(ctx, bucketID(t, st, "big"), "k")
	if err != nil {
		t.Fatal(err)
	}
	be, err := local.New(filepath.Join(st.dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	path := be.Path(m.Extents[1].Chunk.String())
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[chunkstore.HeaderSize+3*(chunkstore.SegmentSize+chunkstore.SegmentOverhead)+9] ^= 0x80
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := chunk + 3*chunkstore.SegmentSize
	got, err := get("")
	if err == nil {
		t.Fatalf("GET over a damaged segment read %d bytes without an error", len(got))
	}
	if len(got) > damaged || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("GET over a damaged segment: %d bytes (damage at %d), prefix correct: %v", len(got), damaged, bytes.Equal(got, data[:min(len(got), len(data))]))
	}
	if got, err := get("bytes=0-" + itoa(int64(damaged-1))); err != nil || !bytes.Equal(got, data[:damaged]) {
		t.Fatalf("range before the damage: %d bytes, %v", len(got), err)
	}
}

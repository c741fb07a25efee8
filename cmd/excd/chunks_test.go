package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/testutil"
)

var chunkKey = regexp.MustCompile(`^node/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$`)

// localChunkFiles counts chunk files under a data directory's chunks/.
func localChunkFiles(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(dataDir, "chunks"), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(path, "/tmp/") {
			n++
		}
		return nil
	})
	return n
}

// excd with --chunks on another excd keeps its chunk files there as
// objects, byte-for-byte the size of chunk files under the local fan-out,
// none in its data directory, and reads them back after a restart.
func TestChunksOnS3(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	dir := t.TempDir()
	opts := excdtest.Options{DataDir: dir, Args: cs.Args("node"), Env: cs.Env()}
	node := excdtest.Start(t, opts)
	ctx := context.Background()
	c := node.S3()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for i, n := range []int{200 << 10, 9 << 20} { // past objects.BodyMax: both in chunks
		p := make([]byte, n)
		rand.Read(p)
		key := fmt.Sprintf("obj%d", i)
		bodies[key] = p
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: bytes.NewReader(p)}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(c *s3.Client) {
		t.Helper()
		for key, p := range bodies {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("GET %s: %d bytes, %v; want %d bytes", key, len(got), err, len(p))
			}
		}
	}
	check(c)
	objs := cs.Objects(t, "node")
	if len(objs) < 3 {
		t.Fatalf("the backing bucket holds %d chunk objects, want at least 3: %v", len(objs), objs)
	}
	var plain int64
	for k, size := range objs {
		m := chunkKey.FindStringSubmatch(k)
		if m == nil || m[3][0:2] != m[1] || m[3][2:4] != m[2] {
			t.Errorf("object %q is not a chunk under the local fan-out", k)
		}
		// A chunk file's size is its plaintext's sealed size.
		for n := int64(0); n <= chunkstore.MaxChunkSize; n++ {
			if chunkstore.SealedSize(n) == size {
				plain += n
				break
			}
			if chunkstore.SealedSize(n) > size {
				t.Errorf("object %q of %d bytes is no chunk file's size", k, size)
				break
			}
		}
	}
	if want := int64(200<<10 + 9<<20); plain != want {
		t.Errorf("chunk objects hold %d plaintext bytes, want %d", plain, want)
	}
	if n := localChunkFiles(t, dir); n != 0 {
		t.Errorf("%d chunk files in the node's data directory", n)
	}
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	node = excdtest.Start(t, opts)
	check(node.S3())
}

// --print-config shows the chunk-store settings, never the secret.
func TestPrintConfigChunks(t *testing.T) {
	out, err := runExcd(t, []string{"EXC_CONFIG=/dev/null", "EXC_CHUNKS=s3://bkt/pre", "EXC_CHUNKS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"EXC_CHUNKS_SECRET_ACCESS_KEY=Sup3rSecretValue"}, "--print-config", "--chunks-endpoint", "https://s3.example.com", "--chunks-path-style")
	if err != nil {
		t.Fatal(err, string(out))
	}
	s := string(out)
	for _, want := range []string{`chunks = "s3://bkt/pre"`, `chunks_endpoint = "https://s3.example.com"`, `chunks_region = "us-east-1"`,
		`chunks_path_style = "true"`, `chunks_access_key_id = "AKIDEXAMPLE"`, `chunks_secret_access_key = "(set)"`} {
		if !strings.Contains(s, want) {
			t.Errorf("--print-config lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Sup3rSecretValue") {
		t.Errorf("--print-config shows the secret:\n%s", s)
	}
	// The secret has no flag.
	if out, err := runExcd(t, []string{"EXC_CONFIG=/dev/null"}, "--print-config", "--chunks-secret-access-key", "x"); err == nil {
		t.Errorf("a flag for the secret was accepted:\n%s", out)
	}
	for _, bad := range [][]string{{"--chunks", "http://x/y"}, {"--chunks", "s3://"}, {"--chunks-endpoint", "s3.example.com"}} {
		if out, err := runExcd(t, []string{"EXC_CONFIG=/dev/null"}, append([]string{"--print-config"}, bad...)...); err == nil {
			t.Errorf("%v accepted:\n%s", bad, out)
		}
	}
}

// A node whose chunk store is unreachable at start refuses to start, with
// the store's address in the message.
func TestChunkStoreUnreachableAtStart(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	args := cs.Args("node")
	if err := cs.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := excdtest.TryStart(t, excdtest.Options{DataDir: t.TempDir(), Args: args, Env: cs.Env()})
	if err == nil || !strings.Contains(err.Error(), "chunk store") {
		t.Fatalf("start with the chunk store down: %v", err)
	}
}

// The chunk store stops in the middle of a PUT load: PUTs are answered 200
// or 503 SlowDown, nothing else; a 503 PUT left no object behind; when the
// store returns, every 200 PUT reads back byte-exact without a restart of
// the node.
func TestChunkStoreOutage(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	node := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Args: cs.Args("node"), Env: cs.Env()})
	ctx := context.Background()
	c := node.S3(testutil.NoRetries)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("load")}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		key  string
		body []byte
		code string // "" for 200
		err  error
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		seq     int
	)
	okCount := func() (ok, slow int) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			switch r.code {
			case "":
				ok++
			case "SlowDown":
				slow++
			}
		}
		return
	}
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				seq++
				key := fmt.Sprintf("w%d/%d", w, seq)
				mu.Unlock()
				p := make([]byte, 200<<10)
				rand.Read(p)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("load"), Key: aws.String(key), Body: bytes.NewReader(p)})
				r := result{key: key, body: p, err: err}
				var ae smithy.APIError
				if errors.As(err, &ae) {
					r.code = ae.ErrorCode()
				} else if err != nil {
					r.code = "transport"
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("PUTs before the outage", func() bool { ok, _ := okCount(); return ok >= 8 })
	if err := cs.Stop(); err != nil {
		t.Fatal(err)
	}
	waitUntil("503 SlowDown during the outage", func() bool { _, slow := okCount(); return slow >= 4 })
	close(stop)
	wg.Wait()
	// A GET needs the chunks: 503 SlowDown too, not 404 or 500.
	mu.Lock()
	first := results[0]
	mu.Unlock()
	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("load"), Key: aws.String(first.key)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SlowDown" {
		t.Errorf("GET with the chunk store down: %v, want 503 SlowDown", err)
	}
	cs.Restart(t)
	nOK := 0
	for _, r := range results {
		switch r.code {
		case "":
			nOK++
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("load"), Key: aws.String(r.key)})
			if err != nil {
				t.Errorf("acknowledged %s: %v", r.key, err)
				continue
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, r.body) {
				t.Errorf("acknowledged %s reads back %d bytes, %v", r.key, len(got), err)
			}
		case "SlowDown":
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("load"), Key: aws.String(r.key)})
			if !errors.As(err, &ae) || ae.ErrorCode() != "NotFound" {
				t.Errorf("refused %s: HEAD %v, want 404", r.key, err)
			}
		default:
			t.Errorf("PUT %s: %s (%v), want 200 or 503 SlowDown", r.key, r.code, r.err)
		}
	}
	t.Logf("%d PUTs acknowledged, %d refused with SlowDown", nOK, len(results)-nOK)
}

// With --chunk-cache, an object read once is read again from the cache:
// it still reads back with the chunk store stopped, and the cache
// directory holds its chunk files.
func TestChunkCache(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	cacheDir := t.TempDir()
	args := append(cs.Args("node"), "--chunk-cache", cacheDir, "--chunk-cache-size", "64MiB")
	node := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Args: args, Env: cs.Env()})
	ctx := context.Background()
	c := node.S3(testutil.NoRetries)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 6<<20)
	rand.Read(p)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("hot"), Body: bytes.NewReader(p)}); err != nil {
		t.Fatal(err)
	}
	get := func() ([]byte, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("hot")})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	if got, err := get(); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("first GET: %d bytes, %v", len(got), err)
	}
	var cached int
	filepath.WalkDir(cacheDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && chunkKey.MatchString("node/"+strings.TrimPrefix(path, cacheDir+"/")) {
			cached++
		}
		return nil
	})
	if cached < 2 {
		t.Errorf("%d chunk files in the cache after a GET of a 2-chunk object", cached)
	}
	if err := cs.Stop(); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("GET from the cache with the chunk store down: %d bytes, %v", len(got), err)
	}
}

// Package multinodetest runs two excd processes on one PostgreSQL catalog
// (and one chunk directory, which part 1 of scale-out allows) and checks
// the guarantees docs/scale-out.md, "Consistency per operation", gives
// across nodes, through real S3 clients and a real FUSE mount.
package multinodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/internal/testutil"
)

func TestMain(m *testing.M) {
	os.Unsetenv("AWS_CA_BUNDLE")
	pgtest.Main(m)
}

type node struct {
	p   *excdtest.Proc
	s3  *s3.Client
	dir string
	mnt string // "" without a mount
}

// twoNodes starts node a, then node b on a's catalog database, a's chunk
// directory (a symlink) and a's master key (copied, as an operator gives
// every node the same). mountB mounts b's file system.
func twoNodes(t *testing.T, mountB bool) (a, b *node) {
	t.Helper()
	url := pgtest.DB(t)
	a = &node{dir: t.TempDir()}
	a.p = excdtest.Start(t, excdtest.Options{DataDir: a.dir, Catalog: url, Args: []string{"--public-domain", publicDomain}})
	b = &node{dir: t.TempDir()}
	key, err := os.ReadFile(filepath.Join(a.dir, chunkstore.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, chunkstore.MasterKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(a.dir, "chunks"), filepath.Join(b.dir, "chunks")); err != nil {
		t.Fatal(err)
	}
	opts := excdtest.Options{DataDir: b.dir, Catalog: url, Args: []string{"--public-domain", publicDomain}}
	if mountB {
		b.mnt = t.TempDir()
		opts.Mount = b.mnt
	}
	b.p = excdtest.Start(t, opts)
	for _, n := range []*node{a, b} {
		n.s3 = testutil.S3(n.p.Endpoint, excdtest.AccessKey, excdtest.SecretKey, testutil.NoRetries)
	}
	return a, b
}

var bg = context.Background()

// publicDomain serves public buckets at <org-id>.publicDomain.
const publicDomain = "pub.test"

func put(t testing.TB, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func get(c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func mkBucket(t testing.TB, c *s3.Client, name string) {
	t.Helper()
	if _, err := c.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func list(t testing.TB, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(100)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(bg)
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

// Every operation on one node is seen by the other's next request: buckets,
// PUT, overwrite, copy, DELETE, multipart, listing (also a listing walked
// page by page while the other node writes into it).
func TestReadAndListAfterWriteAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, false)
	mkBucket(t, a.s3, "bkt")
	if _, err := b.s3.HeadBucket(bg, &s3.HeadBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatalf("node b: bucket node a created: %v", err)
	}
	put(t, a.s3, "bkt", "k", "one")
	if v, err := get(b.s3, "bkt", "k"); err != nil || v != "one" {
		t.Fatalf("node b reads %q, %v after node a's PUT", v, err)
	}
	put(t, b.s3, "bkt", "k", "two")
	if v, err := get(a.s3, "bkt", "k"); err != nil || v != "two" {
		t.Fatalf("node a reads %q, %v after node b's overwrite", v, err)
	}
	if _, err := a.s3.CopyObject(bg, &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), CopySource: aws.String("bkt/k")}); err != nil {
		t.Fatal(err)
	}
	if v, err := get(b.s3, "bkt", "copy"); err != nil || v != "two" {
		t.Fatalf("node b reads the copy as %q, %v", v, err)
	}
	if _, err := b.s3.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(a.s3, "bkt", "k"); testutil.APICode(err) != "NoSuchKey" {
		t.Fatalf("node a after node b's DELETE: %v", err)
	}
	// Multipart: created on a, a part on b, completed on a.
	up, err := a.s3.CreateMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := b.s3.UploadPart(bg, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("multi")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.s3.CompleteMultipartUpload(bg, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if v, err := get(b.s3, "bkt", "mp"); err != nil || v != "multi" {
		t.Fatalf("node b reads the completed upload as %q, %v", v, err)
	}
	// Listing after write, and a walk with writes of the other node between
	// its pages (a page read ahead on one node would miss them).
	for i := range 250 {
		put(t, a.s3, "bkt", fmt.Sprintf("l/%04d", 2*i), "x")
	}
	if got := list(t, b.s3, "bkt", "l/"); len(got) != 250 {
		t.Fatalf("node b lists %d keys of the 250 node a wrote", len(got))
	}
	var walked []string
	var token *string
	for page := 0; ; page++ {
		out, err := b.s3.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String("l/"), MaxKeys: aws.Int32(100), ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			walked = append(walked, *o.Key)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		// A key after this page's end, written on the other node.
		put(t, a.s3, "bkt", fmt.Sprintf("l/%04d", 2*(100*(page+1))+1), "x")
		token = out.NextContinuationToken
	}
	for page := range 2 {
		want := fmt.Sprintf("l/%04d", 2*(100*(page+1))+1)
		if i := sort.SearchStrings(walked, want); i == len(walked) || walked[i] != want {
			t.Fatalf("node b's walk lacks %s, written on node a before the page was asked for", want)
		}
	}
	if _, err := a.s3.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}
	if got := list(t, b.s3, "bkt", "copy"); len(got) != 0 {
		t.Fatalf("node b lists %v after node a deleted it", got)
	}
}

// Two conditional creates (If-None-Match: *) of one key on two nodes at
// once: exactly one 200, the other 412 PreconditionFailed.
func TestConditionalCreatesAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, false)
	mkBucket(t, a.s3, "bkt")
	for round := range 20 {
		key := fmt.Sprint("c", round)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, n := range []*node{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = n.s3.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key),
					Body: strings.NewReader(fmt.Sprint("node", i)), IfNoneMatch: aws.String("*")})
			}()
		}
		wg.Wait()
		ok, failed := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case testutil.APICode(err) == "PreconditionFailed":
				failed++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || failed != 1 {
			t.Fatalf("round %d: %d succeeded, %d refused (%v), want one each", round, ok, failed, errs)
		}
		v, err := get(b.s3, "bkt", key)
		winner := 0
		if errs[0] != nil {
			winner = 1
		}
		if err != nil || v != fmt.Sprint("node", winner) {
			t.Fatalf("round %d: stored %q, %v; the winner was node %d", round, v, err, winner)
		}
	}
}

// DeleteBucket on node a while node b PUTs into the bucket: the PUT fails
// (NoSuchBucket) or the delete fails (BucketNotEmpty); never an object
// acknowledged into a bucket that is gone.
func TestDeleteBucketRacingPutAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, false)
	for round := range 15 {
		name := fmt.Sprint("race", round)
		mkBucket(t, a.s3, name)
		var putErr, delErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, putErr = b.s3.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("k"), Body: strings.NewReader("v")})
		}()
		go func() {
			defer wg.Done()
			_, delErr = a.s3.DeleteBucket(bg, &s3.DeleteBucketInput{Bucket: aws.String(name)})
		}()
		wg.Wait()
		switch {
		case putErr == nil && delErr == nil:
			t.Fatalf("round %d: both the PUT and the bucket's deletion succeeded", round)
		case putErr == nil:
			if testutil.APICode(delErr) != "BucketNotEmpty" {
				t.Fatalf("round %d: delete: %v", round, delErr)
			}
			if v, err := get(a.s3, name, "k"); err != nil || v != "v" {
				t.Fatalf("round %d: the acknowledged object reads %q, %v", round, v, err)
			}
		case delErr == nil:
			if testutil.APICode(putErr) != "NoSuchBucket" {
				t.Fatalf("round %d: put: %v", round, putErr)
			}
			if _, err := b.s3.HeadBucket(bg, &s3.HeadBucketInput{Bucket: aws.String(name)}); err == nil {
				t.Fatalf("round %d: the deleted bucket is still there", round)
			}
		default:
			t.Fatalf("round %d: both failed: put %v, delete %v", round, putErr, delErr)
		}
	}
}

// CompleteMultipartUpload on node a racing UploadPart on node b: the
// object is exactly the parts the completion named, and a part acknowledged
// after it is refused or unused, never half in.
func TestCompleteRacingUploadPartAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, false)
	mkBucket(t, a.s3, "bkt")
	for round := range 10 {
		key := fmt.Sprint("mp", round)
		up, err := a.s3.CreateMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		p1, err := a.s3.UploadPart(bg, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("first")})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var partErr, compErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, partErr = b.s3.UploadPart(bg, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(2), Body: strings.NewReader("second")})
		}()
		go func() {
			defer wg.Done()
			_, compErr = a.s3.CompleteMultipartUpload(bg, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: p1.ETag, PartNumber: aws.Int32(1)}}}})
		}()
		wg.Wait()
		if compErr != nil {
			t.Fatalf("round %d: complete: %v", round, compErr)
		}
		if partErr != nil && testutil.APICode(partErr) != "NoSuchUpload" {
			t.Fatalf("round %d: upload part: %v", round, partErr)
		}
		if v, err := get(b.s3, "bkt", key); err != nil || v != "first" {
			t.Fatalf("round %d: the completed object reads %q, %v", round, v, err)
		}
	}
}

// A rename of a directory through node b's mount (one RenamePrefix) racing
// PUTs under it through node a's S3: every acknowledged PUT is found, under
// the old name or the new one, never both, never lost.
func TestRenamePrefixRacingPutsAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, true)
	mkBucket(t, a.s3, "bkt")
	for i := range 20 {
		put(t, a.s3, "bkt", fmt.Sprintf("dir/old%02d", i), "x")
	}
	var wg sync.WaitGroup
	var acked []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 40 {
			k := fmt.Sprintf("dir/new%02d", i)
			if _, err := a.s3.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader("y")}); err == nil {
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
			}
		}
	}()
	var renameErr error
	waitFor(t, "the directory on node b's mount", func() bool {
		_, err := os.Stat(filepath.Join(b.mnt, "bkt", "dir"))
		return err == nil
	})
	renameErr = os.Rename(filepath.Join(b.mnt, "bkt", "dir"), filepath.Join(b.mnt, "bkt", "moved"))
	wg.Wait()
	if renameErr != nil {
		t.Fatalf("rename through node b's mount: %v", renameErr)
	}
	all := list(t, a.s3, "bkt", "")
	have := map[string]bool{}
	for _, k := range all {
		have[k] = true
	}
	for i := range 20 {
		k := fmt.Sprintf("old%02d", i)
		if !have["moved/"+k] || have["dir/"+k] {
			t.Fatalf("%s after the rename: moved %v, still under dir %v", k, have["moved/"+k], have["dir/"+k])
		}
	}
	for _, k := range acked {
		rest := strings.TrimPrefix(k, "dir/")
		if have[k] == have["moved/"+rest] {
			t.Fatalf("acknowledged %s: under dir %v, under moved %v (want exactly one)", k, have[k], have["moved/"+rest])
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after a minute", what)
		}
	}
}

// A PUT or DELETE through node a's S3 is seen through node b's FUSE mount,
// whose kernel caches the feed across nodes invalidates; the delay from the
// PUT's return to the mount's first read of the new bytes is measured over
// 200 writes. A file written through node b's mount is in node a's S3 when
// its close returns.
func TestMountSeesOtherNodesWrites(t *testing.T) {
	a, b := twoNodes(t, true)
	mkBucket(t, a.s3, "bkt")
	p := filepath.Join(b.mnt, "bkt", "k")
	put(t, a.s3, "bkt", "k", "v-init")
	waitFor(t, "node a's first write on node b's mount", func() bool {
		v, err := os.ReadFile(p)
		return err == nil && string(v) == "v-init"
	})
	const n = 200
	delays := make([]time.Duration, 0, n)
	for i := range n {
		// A new size each time: the kernel's cached attributes (kept a
		// second by default) would cut the read short without the
		// invalidation that node a's event brings to node b.
		want := fmt.Sprintf("v%03d", i) + strings.Repeat("x", i)
		put(t, a.s3, "bkt", "k", want)
		start := time.Now()
		waitFor(t, "node a's write on node b's mount", func() bool {
			v, err := os.ReadFile(p)
			return err == nil && string(v) == want
		})
		delays = append(delays, time.Since(start))
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	t.Logf("node a's S3 PUT seen through node b's mount: p50 %v, p99 %v, max %v over %d writes",
		delays[n/2], delays[n*99/100], delays[n-1], n)
	if _, err := a.s3.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node a's delete on node b's mount", func() bool {
		_, err := os.Stat(p)
		return errors.Is(err, os.ErrNotExist)
	})
	// The other way: a write through b's mount, visible to a's S3 at close.
	f, err := os.Create(filepath.Join(b.mnt, "bkt", "fromfs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("written on b")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if v, err := get(a.s3, "bkt", "fromfs"); err != nil || v != "written on b" {
		t.Fatalf("node a's S3 after the close on node b's mount: %q, %v", v, err)
	}
}

// SIGKILL of node a in the middle of writes through both nodes: node b
// keeps serving, and everything either node acknowledged is present.
func TestSigkillOfANodeMidWrites(t *testing.T) {
	a, b := twoNodes(t, false)
	mkBucket(t, a.s3, "bkt")
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w, n := range []*node{a, a, b, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d/%05d", w, i)
				body := strings.Repeat(k, 20+i%50)
				if _, err := n.s3.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader(body)}); err == nil {
					mu.Lock()
					acked[k] = body
					mu.Unlock()
				} else if n == b {
					t.Errorf("node b refused a write: %v", err)
					return
				}
			}
		}()
	}
	waitFor(t, "some writes on both nodes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 100
	})
	a.p.Kill()
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	waitFor(t, "node b's writes after the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > atKill+100
	})
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for k, body := range acked {
		v, err := get(b.s3, "bkt", k)
		if err != nil || v != body {
			t.Fatalf("acknowledged %s reads %d bytes, %v on node b", k, len(v), err)
		}
	}
	t.Logf("%d writes acknowledged (%d before the kill), all present on node b", len(acked), atKill)
	_ = bytes.MinRead
}

// Deleting an access key or an org, or making a bucket private, through
// node a takes effect on node b's very next request, though node b had
// just served the same key and bucket.
func TestRevocationAcrossNodesAtOnce(t *testing.T) {
	a, b := twoNodes(t, false)
	adm := a.p.AdminClient()
	defer adm.Close()
	org, err := adm.CreateOrg(bg, "other")
	if err != nil {
		t.Fatal(err)
	}
	k1, err := adm.CreateKey(bg, org.ID, admin.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := adm.CreateKey(bg, org.ID, admin.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	c1 := testutil.S3(b.p.Endpoint, k1.ID, k1.Secret, testutil.NoRetries)
	c2 := testutil.S3(b.p.Endpoint, k2.ID, k2.Secret, testutil.NoRetries)
	mkBucket(t, c1, "pubb")
	put(t, c1, "pubb", "obj", "public bytes")
	if _, err := adm.SetBucketPublic(bg, org.ID, "pubb", true); err != nil {
		t.Fatal(err)
	}
	anon := func() int {
		req, err := http.NewRequest(http.MethodGet, b.p.Endpoint+"/pubb/obj", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = org.ID + "." + publicDomain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 { // node b serves (and would cache) the key and the bucket
		if code := anon(); code != http.StatusOK {
			t.Fatalf("anonymous GET of the public object on node b: %d", code)
		}
		if _, err := get(c1, "pubb", "obj"); err != nil {
			t.Fatal(err)
		}
		if _, err := get(c2, "pubb", "obj"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.SetBucketPublic(bg, org.ID, "pubb", false); err != nil {
		t.Fatal(err)
	}
	if code := anon(); code != http.StatusForbidden {
		t.Fatalf("anonymous GET on node b right after node a made the bucket private: %d", code)
	}
	if err := adm.DeleteKey(bg, org.ID, k1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := get(c1, "pubb", "obj"); testutil.APICode(err) != "InvalidAccessKeyId" {
		t.Fatalf("node b with the key node a deleted: %v", err)
	}
	if _, err := c2.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String("pubb"), Key: aws.String("obj")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.DeleteBucket(bg, &s3.DeleteBucketInput{Bucket: aws.String("pubb")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ListBuckets(bg, &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
	if err := adm.DeleteOrg(bg, org.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ListBuckets(bg, &s3.ListBucketsInput{}); testutil.APICode(err) != "InvalidAccessKeyId" {
		t.Fatalf("node b with a key of the org node a deleted: %v", err)
	}
}

// Package gctorture runs garbage collection across nodes under load: two
// excd processes on one PostgreSQL catalog and one S3 chunk store (a third
// excd process serving S3), concurrent
// PUTs of overlapping content (dedup hits), copies, multipart uploads,
// deletes and writes through a FUSE mount, collections running all the
// time on both nodes with a short heartbeat and node timeout, and one node
// SIGKILLed and restarted several times. At the end every acknowledged
// object reads back byte-exact and, after a final collection, every chunk
// left is referenced (docs/design.md, "Garbage collection across nodes").
package gctorture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
	"excloud.dev/buckets/objects"
)

func TestMain(m *testing.M) {
	os.Unsetenv("AWS_CA_BUNDLE")
	pgtest.Main(m)
}

var bg = context.Background()

const bucket = "tort"

// fastFleet: heartbeats every 100 ms, a node dead after 1.5 s without one,
// and a collection waiting at most 1 s for the other node's scan.
var fastFleet = []string{"EXC_NODE_HEARTBEAT=100ms", "EXC_NODE_TTL=1500ms", "EXC_GC_ACK_WAIT=1s"}

// cluster is node a (killed and restarted) and node b (with the mount).
type cluster struct {
	t    *testing.T
	url  string
	cs   *excdtest.ChunkStore
	aDir string
	bDir string
	mnt  string

	mu  sync.Mutex
	a   *excdtest.Proc // nil while down
	aS3 *s3.Client
	b   *excdtest.Proc
	bS3 *s3.Client
}

// logTo, when EXC_TORTURE_LOG names a file, gets both daemons' logs.
func logTo() io.Writer {
	if p := os.Getenv("EXC_TORTURE_LOG"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			return f
		}
	}
	return nil
}

func (c *cluster) startA() {
	p := excdtest.Start(c.t, excdtest.Options{DataDir: c.aDir, Catalog: c.url, Env: c.env(), Args: c.args(), Stderr: logTo()})
	c.mu.Lock()
	c.a, c.aS3 = p, testutil.S3(p.Endpoint, excdtest.AccessKey, excdtest.SecretKey, testutil.NoRetries)
	c.mu.Unlock()
}

func (c *cluster) killA() {
	c.mu.Lock()
	p := c.a
	c.a, c.aS3 = nil, nil
	c.mu.Unlock()
	p.Kill()
}

// client returns node a's or b's S3 client; nil while a is down.
func (c *cluster) client(a bool) *s3.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a {
		return c.aS3
	}
	return c.bS3
}

func (c *cluster) proc(a bool) *excdtest.Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a {
		return c.a
	}
	return c.b
}

// args: chunks on the S3 store, no periodic collection (the test runs
// them), debug logs (for EXC_TORTURE_LOG).
func (c *cluster) args() []string {
	return append(c.cs.Args("torture"), "--gc-interval", "0", "--log-level", "debug")
}

func (c *cluster) env() []string { return append(c.cs.Env(), fastFleet...) }

func newCluster(t *testing.T) *cluster {
	c := &cluster{t: t, cs: excdtest.StartChunkStore(t), url: pgtest.DB(t), aDir: t.TempDir(), bDir: t.TempDir(), mnt: t.TempDir()}
	c.startA()
	key, err := os.ReadFile(filepath.Join(c.aDir, chunkstore.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.bDir, chunkstore.MasterKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	c.b = excdtest.Start(t, excdtest.Options{DataDir: c.bDir, Catalog: c.url, Mount: c.mnt, Env: c.env(), Args: c.args(), Stderr: logTo()})
	c.bS3 = testutil.S3(c.b.Endpoint, excdtest.AccessKey, excdtest.SecretKey, testutil.NoRetries)
	return c
}

// contents is the pool objects are made of: few enough that most writes
// find their chunks stored already (dedup hits), some of them chunks the
// collector is about to take. Every object is larger than objects.BodyMax:
// smaller ones live in the catalog and never reach the chunk store, so
// they would leave the collector nothing to do.
type contents struct {
	blobs [][]byte
	big   []byte // a multipart upload's first part (5 MiB)
}

func newContents() *contents {
	c := &contents{big: seeded.Bytes(99, 5<<20)}
	for i := range 8 {
		c.blobs = append(c.blobs, seeded.Bytes(uint64(i), objects.BodyMax+1+i*23<<10))
	}
	// Two objects of one chunk and a bit that share the first chunk.
	prefix := seeded.Bytes(50, 4<<20)
	for i := range 2 {
		c.blobs = append(c.blobs, append(bytes.Clone(prefix), seeded.Bytes(uint64(60+i), 10<<10)...))
	}
	return c
}

func isPool(c *contents, data []byte) bool {
	for _, b := range c.blobs {
		if len(b) > 0 && &b[0] == &data[0] {
			return true
		}
	}
	return false
}

func (c *contents) pick(r *rand.Rand) []byte {
	if r.IntN(8) == 0 {
		return c.blobs[8+r.IntN(2)]
	}
	return c.blobs[r.IntN(8)]
}

// ledger is what was acknowledged: key → SHA-256 of its content. maybe
// holds keys whose delete was not acknowledged: if there, they must still
// read back as they were.
type ledger struct {
	mu    sync.Mutex
	acked map[string][32]byte
	maybe map[string][32]byte
	keys  []string
	// seeds: the unique content of a key (see unique); deleted: seeds of
	// keys deleted lately, which PUTs write again, so that they find their
	// chunks condemned, doomed or gone.
	seeds   map[string]uint64
	deleted []uint64
}

func (l *ledger) add(key string, sum [32]byte) {
	l.mu.Lock()
	l.acked[key] = sum
	l.keys = append(l.keys, key)
	l.mu.Unlock()
}

func (l *ledger) addSeed(key string, seed uint64) {
	l.mu.Lock()
	l.seeds[key] = seed
	l.mu.Unlock()
}

// forgot records that key was deleted; its content may come back.
func (l *ledger) forgot(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.seeds[key]; ok {
		delete(l.seeds, key)
		l.deleted = append(l.deleted, s)
		if len(l.deleted) > 16 {
			l.deleted = l.deleted[1:]
		}
	}
}

func (l *ledger) recentlyDeleted(r *rand.Rand) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.deleted) == 0 {
		return 0, false
	}
	return l.deleted[r.IntN(len(l.deleted))], true
}

// unique is content nothing else has (until written again): its chunks
// become garbage when its key is deleted.
func unique(seed uint64) []byte {
	n := objects.BodyMax + 1 + int(seed%7)*9<<10
	if seed%23 == 0 {
		n = 4<<20 + 1000 // two chunks
	}
	return seeded.Bytes(seed, n)
}

// take removes and returns a random acknowledged key (for a delete).
func (l *ledger) take(r *rand.Rand) (string, [32]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range 8 {
		if len(l.keys) == 0 {
			return "", [32]byte{}, false
		}
		i := r.IntN(len(l.keys))
		k := l.keys[i]
		l.keys[i] = l.keys[len(l.keys)-1]
		l.keys = l.keys[:len(l.keys)-1]
		if sum, ok := l.acked[k]; ok {
			delete(l.acked, k)
			return k, sum, true
		}
	}
	return "", [32]byte{}, false
}

// peek returns a random acknowledged key (for a copy source).
func (l *ledger) peek(r *rand.Rand) (string, [32]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.keys) == 0 {
		return "", [32]byte{}, false
	}
	k := l.keys[r.IntN(len(l.keys))]
	sum, ok := l.acked[k]
	return k, sum, ok
}

type counts struct {
	puts, rewrites, copies, multiparts, deletes, fuseWrites, failed atomic.Int64
	gcRounds, gcDeleted, gcHeld, kills                              atomic.Int64
}

func TestTortureGCAcrossNodes(t *testing.T) {
	run, kills := 20*time.Second, int64(4)
	if testing.Short() {
		run, kills = 10*time.Second, 2
	}
	c := newCluster(t)
	if _, err := c.bS3.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	pool := newContents()
	led := &ledger{acked: map[string][32]byte{}, maybe: map[string][32]byte{}, seeds: map[string]uint64{}}
	var n counts
	var seq, gcErrs atomic.Int64
	stop := make(chan struct{})
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	worker := func(seed uint64, op func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				op(r)
			}
		}()
	}
	// PUTs on both nodes, from the pool.
	for i := range 4 {
		onA := i%2 == 0
		worker(uint64(i), func(r *rand.Rand) {
			cl := c.client(onA)
			if cl == nil {
				return
			}
			id := seq.Add(1)
			key := fmt.Sprintf("put-%d", id)
			var data []byte
			seed, again := uint64(1000+id), false
			switch k := r.IntN(10); {
			case k < 3:
				data = pool.pick(r)
			case k < 6:
				seed, again = led.recentlyDeleted(r)
				if !again {
					seed = uint64(1000 + id)
				}
				data = unique(seed)
			default:
				data = unique(seed)
			}
			_, err := cl.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
			if err != nil {
				n.failed.Add(1)
				return
			}
			n.puts.Add(1)
			if again {
				n.rewrites.Add(1)
			}
			led.add(key, sha256.Sum256(data))
			if data != nil && len(data) != 0 && !isPool(pool, data) {
				led.addSeed(key, seed)
			}
		})
	}
	// Copies of acknowledged objects (metadata only: the new manifest
	// references the source's chunks).
	worker(10, func(r *rand.Rand) {
		cl := c.client(r.IntN(2) == 0)
		src, sum, ok := led.peek(r)
		if cl == nil || !ok {
			return
		}
		key := fmt.Sprintf("copy-%d", seq.Add(1))
		_, err := cl.CopyObject(bg, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(bucket + "/" + src)})
		if err != nil {
			n.failed.Add(1)
			return
		}
		n.copies.Add(1)
		led.add(key, sum)
	})
	// Multipart uploads whose first part is always the same 5 MiB.
	worker(11, func(r *rand.Rand) {
		onA := r.IntN(2) == 0
		cl := c.client(onA)
		if cl == nil {
			return
		}
		key := fmt.Sprintf("mpu-%d", seq.Add(1))
		tail := pool.blobs[r.IntN(8)]
		if err := multipart(cl, key, pool.big, tail); err != nil {
			n.failed.Add(1)
			return
		}
		n.multiparts.Add(1)
		led.add(key, sha256.Sum256(append(bytes.Clone(pool.big), tail...)))
	})
	// Deletes, which leave the chunks the collector takes (or a later
	// write deduplicates against).
	worker(12, func(r *rand.Rand) {
		cl := c.client(r.IntN(2) == 0)
		if cl == nil {
			return
		}
		led.mu.Lock()
		few := len(led.keys) < 20
		led.mu.Unlock()
		if few {
			return
		}
		key, sum, ok := led.take(r)
		if !ok {
			return
		}
		if _, err := cl.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			led.mu.Lock()
			led.maybe[key] = sum
			led.mu.Unlock()
			n.failed.Add(1)
			return
		}
		n.deletes.Add(1)
		led.forgot(key)
	})
	// Files written through node b's mount.
	worker(13, func(r *rand.Rand) {
		data := pool.pick(r)
		key := fmt.Sprintf("fuse-%d", seq.Add(1))
		if err := os.WriteFile(filepath.Join(c.mnt, bucket, key), data, 0o644); err != nil {
			n.failed.Add(1)
			return
		}
		n.fuseWrites.Add(1)
		led.add(key, sha256.Sum256(data))
	})
	// Collections all the time, on both nodes (what `exc gc` asks for):
	// they take turns through the collector lease.
	for i, onA := range []bool{true, false} {
		worker(uint64(14+i), func(r *rand.Rand) {
			p := c.proc(onA)
			if p == nil {
				return
			}
			rep, err := p.AdminClient().GC(bg)
			switch {
			case err == nil:
				n.gcRounds.Add(1)
				n.gcDeleted.Add(int64(rep.Deleted))
			case strings.Contains(err.Error(), "holds the collector lease") && strings.Contains(err.Error(), admin.CodeGCElsewhere):
				n.gcHeld.Add(1)
			default:
				gcErrs.Add(1)
				if gcErrs.Load() <= 3 {
					t.Logf("gc on node a=%v: %v", onA, err)
				}
			}
		})
	}
	// Node a dies (SIGKILL) and comes back, again and again.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Until(deadline) > 2*time.Second {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Second):
			}
			c.killA()
			n.kills.Add(1)
			c.startA()
		}
	}()
	time.Sleep(time.Until(deadline)) // the load runs for a fixed time; nothing waits on it
	close(stop)
	wg.Wait()
	if c.proc(true) == nil {
		c.startA()
	}
	t.Logf("puts %d (%d of deleted content), copies %d, multipart %d, deletes %d, mount writes %d, failed (unacknowledged) %d; gc rounds %d deleting %d chunks, %d refused for the lease; node a killed %d times",
		n.puts.Load(), n.rewrites.Load(), n.copies.Load(), n.multiparts.Load(), n.deletes.Load(), n.fuseWrites.Load(), n.failed.Load(),
		n.gcRounds.Load(), n.gcDeleted.Load(), n.gcHeld.Load(), n.kills.Load())
	if n.kills.Load() < kills || n.gcRounds.Load() == 0 || n.rewrites.Load() == 0 || n.gcHeld.Load() == 0 || n.gcDeleted.Load() == 0 || n.puts.Load() == 0 || n.copies.Load() == 0 ||
		n.multiparts.Load() == 0 || n.deletes.Load() == 0 || n.fuseWrites.Load() == 0 {
		t.Fatal("the load did not exercise every operation (see the counts above)")
	}

	// Every acknowledged object reads back byte-exact, through both nodes.
	for key, sum := range led.acked {
		for _, onA := range []bool{true, false} {
			got, err := get(c.client(onA), key)
			if err != nil {
				t.Errorf("%s on node a=%v: %v", key, onA, err)
				continue
			}
			if sha256.Sum256(got) != sum {
				t.Errorf("%s on node a=%v: %d bytes, not what was acknowledged", key, onA, len(got))
			}
		}
	}
	for key, sum := range led.maybe {
		got, err := get(c.bS3, key)
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			continue
		}
		if err != nil || sha256.Sum256(got) != sum {
			t.Errorf("%s (delete not acknowledged): %v, %d bytes, equal %v", key, err, len(got), sha256.Sum256(got) == sum)
		}
	}

	// A final collection leaves only referenced chunks: collect until a
	// round frees nothing and the scrub finds every chunk referenced.
	var last string
	for i := 0; ; i++ {
		rep, err := c.b.AdminClient().GC(bg)
		if err == nil && rep.Deleted == 0 {
			sc, err := c.b.AdminClient().Scrub(bg)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Damaged {
				t.Fatalf("scrub after the torture: %+v", sc)
			}
			if sc.Chunks == sc.Referenced {
				if stored := len(c.cs.Objects(t, "torture")); stored != sc.Referenced {
					t.Fatalf("the object store holds %d chunk objects, %d referenced", stored, sc.Referenced)
				}
				t.Logf("after the final collection: %d chunks, all referenced", sc.Referenced)
				break
			}
			last = fmt.Sprintf("%d chunk files, %d referenced", sc.Chunks, sc.Referenced)
		} else {
			last = fmt.Sprintf("gc: %+v, %v", rep, err)
		}
		if i == 30 {
			t.Fatalf("collections do not converge on referenced chunks only: %s", last)
		}
	}
}

func get(cl *s3.Client, key string) ([]byte, error) {
	out, err := cl.GetObject(bg, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func multipart(cl *s3.Client, key string, parts ...[]byte) error {
	up, err := cl.CreateMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := cl.UploadPart(bg, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p)))})
		if err != nil {
			return err
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = cl.CompleteMultipartUpload(bg, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return err
}

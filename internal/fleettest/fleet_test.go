// Package fleettest runs a fleet the way docs/scale-out.md deploys one: a
// PostgreSQL catalog, an S3 object store for the chunks (a third excd
// process) and two excd nodes, each with a FUSE mount, sharing one master
// key, and checks that what one node writes the other serves, through S3
// and through the mounts, and that the maintenance commands work.
package fleettest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

var bg = context.Background()

// bound bounds every wait for the other node to see a change (its mount's
// caches expire): generous, the machine is shared; never a measure of
// speed.
const bound = 2 * time.Minute

type node struct {
	p   *excdtest.Proc
	s3  *s3.Client
	dir string
	mnt string
}

// fleet starts the object store, then node a, then node b with a's master
// key, all on one catalog database and one chunk prefix.
func fleet(t *testing.T) (cs *excdtest.ChunkStore, a, b *node) {
	t.Helper()
	cs = excdtest.StartChunkStore(t)
	url := pgtest.DB(t)
	start := func(n *node) {
		n.mnt = t.TempDir()
		n.p = excdtest.Start(t, excdtest.Options{DataDir: n.dir, Catalog: url, Mount: n.mnt,
			Args: cs.Args("fleet"), Env: cs.Env()})
		n.s3 = testutil.S3(n.p.Endpoint, excdtest.AccessKey, excdtest.SecretKey, testutil.NoRetries)
	}
	a = &node{dir: t.TempDir()}
	start(a)
	b = &node{dir: t.TempDir()}
	key, err := os.ReadFile(filepath.Join(a.dir, chunkstore.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, chunkstore.MasterKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	start(b)
	return cs, a, b
}

func random(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

func get(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GET %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	p, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GET %s/%s: %v", bucket, key, err)
	}
	return p
}

// eventually polls cond until it holds or bound passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v after %v", what, err, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exc runs the admin CLI against a node's admin socket.
func exc(t *testing.T, n *node, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(excdtest.Build(t, "exc"), append([]string{"--socket", n.p.Admin}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("exc %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestFleet(t *testing.T) {
	cs, a, b := fleet(t)
	if _, err := a.s3.CreateBucket(bg, &s3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}

	// Written through a's S3, read through b's mount.
	big := random(9 << 20)
	if _, err := a.s3.PutObject(bg, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("dir/big.bin"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's upload in b's mount", func() error {
		got, err := os.ReadFile(filepath.Join(b.mnt, "shared", "dir", "big.bin"))
		if err == nil && !bytes.Equal(got, big) {
			t.Fatalf("b's mount reads %d bytes that differ from a's upload", len(got))
		}
		return err
	})

	// Written through b's mount, read through a's S3.
	small := random(300 << 10)
	if err := os.WriteFile(filepath.Join(b.mnt, "shared", "dir", "from-b.bin"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(t, a.s3, "shared", "dir/from-b.bin"); !bytes.Equal(got, small) {
		t.Fatalf("a's S3 reads %d bytes that differ from b's mount write", len(got))
	}

	// Chunks are in the object store, none on either node's disk.
	objs := cs.Objects(t, "fleet")
	if len(objs) < 3 {
		t.Fatalf("the object store holds %d chunk objects: %v", len(objs), objs)
	}
	for _, n := range []*node{a, b} {
		filepath.WalkDir(filepath.Join(n.dir, "chunks"), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.Contains(path, "/tmp/") {
				t.Errorf("chunk file on a node's disk: %s", path)
			}
			return nil
		})
	}

	// A directory renamed in a's mount shows renamed in b's.
	if err := os.Rename(filepath.Join(a.mnt, "shared", "dir"), filepath.Join(a.mnt, "shared", "moved")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's rename in b's mount", func() error {
		got, err := os.ReadFile(filepath.Join(b.mnt, "shared", "moved", "from-b.bin"))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, small) {
			t.Fatal("renamed file reads other bytes in b's mount")
		}
		if _, err := os.Stat(filepath.Join(b.mnt, "shared", "dir", "from-b.bin")); err == nil {
			return errors.New("old name still there")
		}
		return nil
	})
	if got := get(t, b.s3, "shared", "moved/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("renamed object reads other bytes through b's S3")
	}

	// exc scrub on either node reads every chunk from the object store.
	for _, n := range []*node{a, b} {
		code, out := exc(t, n, "--json", "scrub")
		var r admin.ScrubReport
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil {
			t.Fatalf("exc --json scrub: %v\n%s", err, out)
		}
		if code != 0 || r.Damaged || r.Chunks < len(objs) {
			t.Errorf("exc scrub: exit %d, %d chunks read of %d stored, damaged %v\n%s", code, r.Chunks, len(objs), r.Damaged, out)
		}
	}

	// exc backup against a node streams the fleet's catalog from
	// PostgreSQL (restoring it is tested in cmd/excd and internal/daemon).
	bak := filepath.Join(t.TempDir(), "catalog.bak")
	code, out := exc(t, a, "backup", bak)
	if fi, err := os.Stat(bak); code != 0 || err != nil || fi.Size() == 0 {
		t.Errorf("exc backup against the fleet: exit %d, %v\n%s", code, err, out)
	}

	// exc gc with both nodes live (docs/design.md, "Garbage collection
	// across nodes"): the chunks of a deleted object leave the object store,
	// those of the surviving objects stay.
	if _, err := a.s3.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: aws.String("shared"), Key: aws.String("moved/big.bin")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "exc gc with both nodes live", func() error {
		code, out := exc(t, a, "--json", "gc")
		if code != 0 {
			return errors.New(out)
		}
		var r admin.GCReport
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&r); err != nil {
			t.Fatalf("exc --json gc: %v\n%s", err, out)
		}
		if r.Deleted == 0 {
			return errors.New("nothing deleted yet: " + out)
		}
		return nil
	})
	if left := cs.Objects(t, "fleet"); len(left) >= len(objs) {
		t.Errorf("after gc the object store holds %d chunk objects, %d before the delete", len(left), len(objs))
	}
	if got := get(t, a.s3, "shared", "moved/from-b.bin"); !bytes.Equal(got, small) {
		t.Fatal("the surviving object reads other bytes after gc")
	}
	code, out = exc(t, a, "scrub")
	if code != 0 {
		t.Errorf("exc scrub after gc: exit %d\n%s", code, out)
	}
}

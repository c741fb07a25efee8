package migrate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/chunkstore/migrate"
	s3chunks "excloud.dev/buckets/chunkstore/s3"
	"excloud.dev/buckets/internal/excdtest"
)

var ctx = context.Background()

type chunk struct {
	id chunkstore.ID
	p  []byte
}

// fill writes n chunks of various sizes through a real store on a local
// chunk directory.
func fill(t *testing.T, dir string, keys chunkstore.Keys, n int) []chunk {
	t.Helper()
	b, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	var out []chunk
	for i := range n {
		p := make([]byte, []int{0, 1, 5000, 70_000, 300_000}[i%5]+i)
		rand.Read(p)
		id := s.Sum("org", p)
		if err := s.Put(ctx, id, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, chunk{id, p})
	}
	return out
}

// readAll checks every chunk through a store on b.
func readAll(t *testing.T, b chunkstore.Backend, keys chunkstore.Keys, chunks []chunk) {
	t.Helper()
	s, err := chunkstore.New(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		r, err := s.Open(ctx, c.id, 0, -1)
		if err != nil {
			t.Fatalf("chunk %v: %v", c.id, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, c.p) {
			t.Fatalf("chunk %v: %d bytes, %v", c.id, len(got), err)
		}
	}
}

// cancelAfter cancels the run once n Puts have succeeded.
type cancelAfter struct {
	chunkstore.Backend
	mu     sync.Mutex
	n      int
	cancel func()
}

func (c *cancelAfter) Put(ctx context.Context, name string, r io.Reader) error {
	err := c.Backend.Put(ctx, name, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		if c.n--; c.n == 0 {
			c.cancel()
		}
	}
	return err
}

func testKeys(t *testing.T) chunkstore.Keys {
	var master [32]byte
	rand.Read(master[:])
	k, err := chunkstore.DeriveKeys(master[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMigrateRoundTrip: local → S3 (a real excd) → local: every chunk reads
// back through a store on each, the files come back byte-identical, a
// second run copies nothing, an interrupted run resumes, and a target
// holding other bytes under a name is reported.
func TestMigrateRoundTrip(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	keys := testKeys(t)
	srcDir := t.TempDir()
	chunks := fill(t, srcDir, keys, 25)
	src, _ := local.New(srcDir)
	s3b, err := s3chunks.New(ctx, s3chunks.Options{URL: cs.URL("m"), Endpoint: cs.Endpoint, PathStyle: true,
		AccessKeyID: excdtest.AccessKey, SecretAccessKey: excdtest.SecretKey})
	if err != nil {
		t.Fatal(err)
	}

	// An interrupted run: cancelled after the fifth copy.
	cctx, cancel := context.WithCancel(ctx)
	if _, err := migrate.Run(cctx, src, &cancelAfter{Backend: s3b, n: 5, cancel: cancel}, migrate.Options{Jobs: 2}); err == nil {
		t.Fatal("an interrupted run reported success")
	}
	cancel()
	before := len(cs.Objects(t, "m"))
	if before < 5 || before >= 25 {
		t.Fatalf("%d objects after the interrupted run", before)
	}

	rep, err := migrate.Run(ctx, src, s3b, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Chunks != 25 || rep.Copied+rep.Skipped != 25 || rep.Skipped < int64(before) || len(rep.Mismatch) != 0 {
		t.Fatalf("resumed run: %+v (%d objects there before)", rep, before)
	}
	readAll(t, s3b, keys, chunks)
	rep, err = migrate.Run(ctx, src, s3b, migrate.Options{})
	if err != nil || rep.Copied != 0 || rep.Skipped != 25 {
		t.Fatalf("second run: %+v, %v; want all skipped", rep, err)
	}

	// And back, to a new directory: byte-identical files.
	backDir := t.TempDir()
	back, _ := local.New(backDir)
	if rep, err := migrate.Run(ctx, s3b, back, migrate.Options{}); err != nil || rep.Copied != 25 {
		t.Fatalf("back: %+v, %v", rep, err)
	}
	for _, c := range chunks {
		a, err1 := os.ReadFile(src.Path(c.id.String()))
		b, err2 := os.ReadFile(back.Path(c.id.String()))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("chunk %v: not byte-identical after the round trip (%v, %v)", c.id, err1, err2)
		}
	}
	readAll(t, back, keys, chunks)

	// A target holding another sealing of a chunk (same size, other
	// bytes) is reported, not counted as present.
	name := chunks[3].id.String()
	raw, _ := os.ReadFile(back.Path(name))
	raw[10] ^= 1
	os.Remove(back.Path(name))
	if err := back.Put(ctx, name, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	rep, err = migrate.Run(ctx, s3b, back, migrate.Options{})
	if err != nil || len(rep.Mismatch) != 1 || rep.Mismatch[0] != name {
		t.Fatalf("damaged target: %+v, %v; want one mismatch", rep, err)
	}
}

// TestExcChunksMigrate runs the command as an operator would.
func TestExcChunksMigrate(t *testing.T) {
	cs := excdtest.StartChunkStore(t)
	keys := testKeys(t)
	srcDir := t.TempDir()
	chunks := fill(t, srcDir, keys, 7)
	cmd := exec.Command(excdtest.Build(t, "exc"), "chunks", "migrate", "--from", srcDir, "--to", cs.URL("cli"),
		"--endpoint", cs.Endpoint, "--path-style")
	cmd.Env = append(os.Environ(), cs.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied") {
		t.Fatalf("exc chunks migrate: %v\n%s", err, out)
	}
	if n := len(cs.Objects(t, "cli")); n != 7 {
		t.Fatalf("%d objects after the migration, want 7\n%s", n, out)
	}
	s3b, err := s3chunks.New(ctx, s3chunks.Options{URL: cs.URL("cli"), Endpoint: cs.Endpoint, PathStyle: true,
		AccessKeyID: excdtest.AccessKey, SecretAccessKey: excdtest.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, s3b, keys, chunks)
	// A source that does not exist is an error, not an empty migration.
	cmd = exec.Command(excdtest.Build(t, "exc"), "chunks", "migrate", "--from", filepath.Join(srcDir, "nope"), "--to", cs.URL("cli"),
		"--endpoint", cs.Endpoint, "--path-style")
	cmd.Env = append(os.Environ(), cs.Env()...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("missing source accepted:\n%s", out)
	}
}

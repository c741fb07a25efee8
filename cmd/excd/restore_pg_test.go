package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"excloud.dev/buckets/admin"
	"excloud.dev/buckets/internal/pgtest"
)

// backupTo runs exc backup (the admin client) against the node whose data
// directory is dir, into a file.
func backupTo(t *testing.T, dir string) string {
	t.Helper()
	ac := admin.Dial(filepath.Join(dir, "admin.sock"))
	defer ac.Close()
	path := filepath.Join(t.TempDir(), "catalog.bak")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ac.Backup(context.Background(), f); err != nil {
		t.Fatalf("exc backup: %v", err)
	}
	return path
}

func copyChunks(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(from, "chunks"), filepath.Join(to, "chunks")).CombinedOutput(); err != nil {
		t.Fatalf("copy chunks: %v %s", err, out)
	}
}

func readBack(t *testing.T, mc *minio.Client, bucket, key string, want []byte) {
	t.Helper()
	obj, err := mc.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GET %s/%s: %d bytes (want %d), %v", bucket, key, len(got), len(want), err)
	}
}

// A single host's catalog moves to PostgreSQL and back with exc backup and
// excd --restore: a Badger backup restores into an empty database, the
// node on it serves the objects and takes exc backup itself, and that
// backup restores into an empty data directory whose node serves them all.
// A restore into a database that holds a catalog is refused and changes
// nothing.
func TestRestoreAcrossEngines(t *testing.T) {
	ctx := context.Background()
	key := func(dir string) string { return filepath.Join(dir, "master.key") }

	// A single host on Badger.
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	src := strings.TrimPrefix(env[1], "EXC_DATA_DIR=")
	p := startExcd(t, env, nil)
	mc := minioClient(t, addrFrom(t, n.await(t, "READY=1")))
	if err := mc.MakeBucket(ctx, "mig", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	one := bytes.Repeat([]byte("single host "), 50000)
	if _, err := mc.PutObject(ctx, "mig", "one", bytes.NewReader(one), int64(len(one)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	fromBadger := backupTo(t, src)
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}

	// Into an empty PostgreSQL database.
	url := pgtest.Start(t).NewDB(t)
	pgDir := filepath.Join(t.TempDir(), "pgnode")
	copyChunks(t, src, pgDir)
	restore := func(dir, backup string, extra ...string) ([]byte, error) {
		return runExcd(t, append([]string{"EXC_LOG_FORMAT=text"}, extra...), "--data-dir", dir, "--master-key", key(src), "--restore", backup)
	}
	if out, err := restore(pgDir, fromBadger, "EXC_CATALOG="+url); err != nil {
		t.Fatalf("excd --restore into PostgreSQL: %v\n%s", err, out)
	}
	n2 := listenNotify(t, true)
	pgEnv := baseEnv(t, n2)
	pgEnv[1] = "EXC_DATA_DIR=" + pgDir
	pgEnv = append(pgEnv, "EXC_CATALOG="+url, "EXC_MASTER_KEY_FILE="+key(src))
	p2 := startExcd(t, pgEnv, nil)
	mc = minioClient(t, addrFrom(t, n2.await(t, "READY=1")))
	readBack(t, mc, "mig", "one", one)
	two := bytes.Repeat([]byte("fleet "), 70000)
	if _, err := mc.PutObject(ctx, "mig", "two", bytes.NewReader(two), int64(len(two)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	fromPG := backupTo(t, pgDir)
	p2.signal(t, syscall.SIGTERM)
	if err := p2.wait(t); err != nil {
		t.Fatal(err)
	}

	// The database now holds a catalog: refused, and it still serves both.
	if out, err := restore(pgDir, fromBadger, "EXC_CATALOG="+url); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("restore into a database holding a catalog: %v\n%s", err, out)
	}

	// Back to a single host: the PostgreSQL node's backup into an empty
	// data directory.
	back := filepath.Join(t.TempDir(), "back")
	if out, err := restore(back, fromPG); err != nil {
		t.Fatalf("excd --restore of a PostgreSQL backup into a data directory: %v\n%s", err, out)
	}
	copyChunks(t, pgDir, back)
	n3 := listenNotify(t, true)
	bEnv := baseEnv(t, n3)
	bEnv[1] = "EXC_DATA_DIR=" + back
	bEnv = append(bEnv, "EXC_MASTER_KEY_FILE="+key(src))
	p3 := startExcd(t, bEnv, nil)
	mc = minioClient(t, addrFrom(t, n3.await(t, "READY=1")))
	readBack(t, mc, "mig", "one", one)
	readBack(t, mc, "mig", "two", two)
	p3.signal(t, syscall.SIGTERM)
	if err := p3.wait(t); err != nil {
		t.Fatal(err)
	}

	// And the refused restore left the database's catalog as it was.
	n4 := listenNotify(t, true)
	pgEnv[0] = "NOTIFY_SOCKET=" + n4.name
	p4 := startExcd(t, pgEnv, nil)
	mc = minioClient(t, addrFrom(t, n4.await(t, "READY=1")))
	readBack(t, mc, "mig", "two", two)
	p4.signal(t, syscall.SIGTERM)
	if err := p4.wait(t); err != nil {
		t.Fatal(err)
	}
}

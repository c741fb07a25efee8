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
)

// exc backup (here: the admin client) and excd --restore, following the
// documented procedure: catalog backup first, then the chunks and the key.
func TestRestoreCommand(t *testing.T) {
	n := listenNotify(t, true)
	env := baseEnv(t, n)
	src := strings.TrimPrefix(env[1], "EXC_DATA_DIR=")
	p := startExcd(t, env, nil)
	addr := addrFrom(t, n.await(t, "READY=1"))
	mc := minioClient(t, addr)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "rst", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("restore me "), 100000)
	if _, err := mc.PutObject(ctx, "rst", "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	ac := admin.Dial(filepath.Join(src, "admin.sock"))
	defer ac.Close()
	backup := filepath.Join(t.TempDir(), "catalog.bak")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	out, err := runExcd(t, nil, "--data-dir", dst, "--master-key", filepath.Join(src, "master.key"), "--restore", backup)
	if err != nil {
		t.Fatalf("excd --restore: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(src, "chunks"), filepath.Join(dst, "chunks")).CombinedOutput(); err != nil {
		t.Fatalf("copy chunks: %v %s", err, out)
	}
	// A second restore onto the now non-empty catalog is refused.
	if out, err := runExcd(t, nil, "--data-dir", dst, "--master-key", filepath.Join(src, "master.key"), "--restore", backup); err == nil {
		t.Fatalf("restore over a catalog succeeded: %s", out)
	}

	n2 := listenNotify(t, true)
	env[0] = "NOTIFY_SOCKET=" + n2.name
	env[1] = "EXC_DATA_DIR=" + dst
	env = append(env, "EXC_MASTER_KEY_FILE="+filepath.Join(src, "master.key"))
	p2 := startExcd(t, env, nil)
	mc = minioClient(t, addrFrom(t, n2.await(t, "READY=1")))
	obj, err := mc.GetObject(ctx, "rst", "obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after restore: %d bytes, %v", len(got), err)
	}
	p2.signal(t, syscall.SIGTERM)
	if err := p2.wait(t); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	excd "excloud.dev/buckets/internal/daemon"
	"excloud.dev/buckets/objects"
)

// exc gc, scrub and backup against a real daemon: scrub exits 0 on a
// healthy store and 1 once a chunk file is damaged.
func TestOpsCommands(t *testing.T) {
	dir := t.TempDir()
	d, err := excd.Start(excd.Config{DataDir: dir, Listen: "127.0.0.1:0", GCInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	env := map[string]string{"EXC_SOCKET": d.AdminSocket()}
	ctx := context.Background()
	orgs, err := d.Catalog().ListOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	org := orgs[0].ID
	if _, err := d.Layer().CreateBucket(ctx, org, "ops"); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 200<<10) // past objects.BodyMax: it has a chunk file
	m, err := d.Layer().Put(ctx, org, "ops", "obj", bytes.NewReader(data), objects.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}

	if r := exc(t, env, "", "gc"); r.code != 0 || !strings.Contains(r.stdout, "chunks deleted") {
		t.Fatalf("gc: %+v", r)
	}
	if r := exc(t, env, "", "scrub"); r.code != 0 || !strings.Contains(r.stdout, "corrupt chunks") || !strings.Contains(r.stdout, "object bodies checked") {
		t.Fatalf("scrub of a healthy store: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "catalog.backup")
	if r := exc(t, env, "", "backup", file); r.code != 0 {
		t.Fatalf("backup: %+v", r)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if r := exc(t, env, "", "backup"); r.code != exitUsage {
		t.Fatalf("backup without FILE: %+v", r)
	}

	// Damage the object's chunk file.
	id := m.Extents[0].Chunk.String()
	p := filepath.Join(dir, "chunks", id[0:2], id[2:4], id)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 1
	os.WriteFile(p, b, 0o600)
	r := exc(t, env, "", "scrub")
	if r.code != 1 || !strings.Contains(r.stdout, "corrupt") || !strings.Contains(r.stdout, id) {
		t.Fatalf("scrub of a damaged store: %+v", r)
	}
	r = exc(t, env, "", "--json", "scrub")
	if r.code != 1 || !strings.Contains(r.stdout, `"damaged": true`) ||
		r.stderr != `{"error":{"code":"damaged","message":"scrub found damage","exit_code":1}}`+"\n" {
		t.Fatalf("scrub --json: %+v", r)
	}
}

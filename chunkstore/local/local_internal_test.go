package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

const name = "3fa4c0ffee00112233445566778899aabbccddeeff00112233445566778899aa"

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	b, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), name, bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "3f", "a4", name)
	if got, err := os.ReadFile(want); err != nil || string(got) != "x" {
		t.Fatalf("%s: %q, %v", want, got, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Fatalf("tmp holds %d files after Put", len(ents))
	}
}

func TestNewRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, tmpDir, "put-123")
	if err := os.WriteFile(left, []byte("half a chunk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temp file survived New: %v", err)
	}
}

// TestNoSpace checks that the copy into the temporary file keeps ENOSPC
// visible to errors.Is, so callers can map it (S3 InsufficientStorage, FUSE
// ENOSPC). /dev/full is a real device that fails every write with ENOSPC.
func TestNoSpace(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	err = copyCtx(context.Background(), f, bytes.NewReader(make([]byte, 1000)))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("copy to /dev/full: %v, want ENOSPC", err)
	}
}

func TestBadNames(t *testing.T) {
	b, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"", "abc", "../../etc/passwd", "ab/cd/ef", ".hidden", "tmp"} {
		if err := b.Put(context.Background(), n, bytes.NewReader(nil)); err == nil {
			t.Errorf("Put(%q) accepted", n)
		}
	}
}

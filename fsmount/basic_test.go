package fsmount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	p := filepath.Join(e.bdir, "hello.txt")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, []byte("hello")) {
		t.Fatalf("read %q %v", got, err)
	}
	if err := os.MkdirAll(filepath.Join(e.bdir, "x/y/z"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(e.bdir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("readdir %v %v", ents, err)
	}
}

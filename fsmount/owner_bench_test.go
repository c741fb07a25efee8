package fsmount

import (
	"syscall"
	"testing"

	"excloud.dev/buckets/catalog"
)

// Every lookup and getattr of an object written through a mount checks its
// seal: ls -l of a large directory does it per entry.
func BenchmarkAttrsSealed(b *testing.B) {
	f := newFsys(nil, "org123", Options{AttrKey: make([]byte, 32)})
	m := &catalog.Manifest{Meta: f.newMeta(syscall.S_IFREG, 0o644, nil)}
	b.ReportAllocs()
	for b.Loop() {
		f.attrsOf(m, syscall.S_IFREG)
	}
}

// BenchmarkAttrsPlain is the same for an object without attributes.
func BenchmarkAttrsPlain(b *testing.B) {
	f := newFsys(nil, "org123", Options{AttrKey: make([]byte, 32)})
	m := &catalog.Manifest{Meta: map[string]string{}}
	b.ReportAllocs()
	for b.Loop() {
		f.attrsOf(m, syscall.S_IFREG)
	}
}

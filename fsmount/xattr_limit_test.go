package fsmount_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"

	"excloud.dev/buckets/objects"
)

// TestXattrLimit checks that the mount's user.* xattrs meet the object
// layer's user-metadata limit, the one S3 clients meet as MetadataTooLarge:
// E2BIG for an attribute that alone is over it, ENOSPC when the others
// leave no room, nothing stored beyond it, and removal always possible.
// Before the limit, 40 setxattr calls of 60 KB each made a 2.4 MB HEAD.
func TestXattrLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.p("f")
	if err := os.WriteFile(p, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	huge := []byte(strings.Repeat("x", 60<<10))
	for i := range 40 {
		if err := unix.Setxattr(p, "user.h"+string(rune('a'+i%26))+string(rune('a'+i/26)), huge, 0); !errors.Is(err, syscall.E2BIG) {
			t.Fatalf("setxattr #%d of 60 KB: %v, want E2BIG", i, err)
		}
	}
	// One attribute that fills the limit exactly (name "one" plus value)
	// fits. A file made on the mount already carries its POSIX attributes
	// (mode, uid, gid, mtime) as user metadata: they count too.
	room := objects.MaxUserMeta - objects.UserMetaSize(e.head(t, "f").Meta)
	atLimit := []byte(strings.Repeat("v", room-len("one")))
	if err := unix.Setxattr(p, "user.one", atLimit, 0); err != nil {
		t.Fatalf("an attribute at the limit: %v", err)
	}
	// Any other attribute now finds no room.
	if err := unix.Setxattr(p, "user.two", []byte("v"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a second attribute past the limit: %v, want ENOSPC", err)
	}
	// What S3 sees is bounded, and what was accepted is intact.
	h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("f")})
	if err != nil {
		t.Fatal(err)
	}
	if size := objects.UserMetaSize(h.Metadata); size != objects.MaxUserMeta || h.Metadata["one"] != string(atLimit) {
		t.Fatalf("metadata over S3: %d bytes, %d entries", size, len(h.Metadata))
	}
	// Replacing the value with a shorter one and removing it both work,
	// and then there is room again.
	if err := unix.Setxattr(p, "user.one", []byte("short"), unix.XATTR_REPLACE); err != nil {
		t.Fatalf("shrinking an attribute: %v", err)
	}
	if err := unix.Removexattr(p, "user.one"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.two", []byte("v"), 0); err != nil {
		t.Fatalf("after removal: %v", err)
	}

	// A file open for writing keeps its metadata in the write session
	// until it commits; the limit applies there too, and the data commits.
	f, err := os.OpenFile(e.p("g"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("written while open"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(e.p("g"), "user.big", huge, 0); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("setxattr of 60 KB on an open file: %v, want E2BIG", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(e.p("g")); err != nil || string(got) != "written while open" {
		t.Fatalf("g after close: %q, %v", got, err)
	}

	// Metadata set over S3 counts against the same limit.
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("s"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"k": strings.Repeat("v", objects.MaxUserMeta-10)}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(e.p("s"), "user.more", []byte("0123456789"), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("setxattr beside 2 KiB set over S3: %v, want ENOSPC", err)
	}
}

// TestChmodAtMetadataLimit: a chmod that needs room for the mode, owner and
// seal keys on an object whose user metadata already fills the limit fails
// with ENOSPC, as setxattr does when there is no room, not EIO, and leaves
// the object as it was.
func TestChmodAtMetadataLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	full := strings.Repeat("v", objects.MaxUserMeta-len("full"))
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("f"),
		Body: strings.NewReader("content"), Metadata: map[string]string{"full": full}}); err != nil {
		t.Fatal(err)
	}
	before := e.head(t, "f")
	if err := os.Chmod(e.p("f"), 0o640); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("chmod with the metadata full: %v, want ENOSPC", err)
	}
	after := e.head(t, "f")
	if after.ETag != before.ETag || after.Meta["full"] != full || len(after.Meta) != len(before.Meta) {
		t.Fatalf("object changed by the refused chmod: %d metadata entries, etag %s (was %s)", len(after.Meta), after.ETag, before.ETag)
	}
	if got, err := os.ReadFile(e.p("f")); err != nil || string(got) != "content" {
		t.Fatalf("read after the refused chmod: %q, %v", got, err)
	}
}

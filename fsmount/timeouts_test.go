package fsmount_test

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/objects"
)

// TestLongTimeoutsStayCoherent: with the default timeouts (the kernel
// keeps entries and attributes for an hour), what S3 changes shows through
// the mount as soon as the S3 call returns, attributes of directories
// included: a new subdirectory counts in its parent's link count, and a
// directory whose marker S3 deletes is gone.
func TestLongTimeoutsStayCoherent(t *testing.T) {
	e := newEnv(t)
	nlink := func(p string) uint64 { t.Helper(); return uint64(lstat(t, p).Nlink) }
	if err := os.Mkdir(e.p("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.p("gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.s3Put(t, "d/f", []byte("one"))
	for range 2 { // fill the kernel's caches
		if n := nlink(e.p("d")); n != 2 {
			t.Fatalf("d: nlink %d", n)
		}
		if n := nlink(e.bdir); n != 4 {
			t.Fatalf("bucket: nlink %d", n)
		}
		if _, err := os.Stat(e.p("d/f")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(e.p("gone")); err != nil {
			t.Fatal(err)
		}
	}
	e.s3Put(t, "d/sub/x", []byte("x"))
	if n := nlink(e.p("d")); n != 3 {
		t.Errorf("d after an S3 put made d/sub: nlink %d, want 3", n)
	}
	e.s3Put(t, "top/x", []byte("x"))
	if n := nlink(e.bdir); n != 5 {
		t.Errorf("bucket after an S3 put made top/: nlink %d, want 5", n)
	}
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("d/sub/x")}); err != nil {
		t.Fatal(err)
	}
	if n := nlink(e.p("d")); n != 2 {
		t.Errorf("d after S3 deleted the last key of d/sub: nlink %d, want 2", n)
	}
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String("gone/")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.p("gone")); !os.IsNotExist(err) {
		t.Errorf("stat of a directory whose marker S3 deleted: %v, want ENOENT", err)
	}
	e.s3Put(t, "d/f", []byte("second version"))
	if fi, err := os.Stat(e.p("d/f")); err != nil || fi.Size() != int64(len("second version")) {
		t.Errorf("stat after an S3 overwrite: %v %v", fi, err)
	}
}

// racing commits an S3-side write of key right after the mount's own
// write of it, before the mount's operation returns: the feed reports both
// while the mount is changing the key.
type racing struct {
	fsmount.Objects
	once sync.Once
	key  string
	// put is set once the daemon is up, while the mount serves: atomic.
	put  atomic.Pointer[func()]
	done atomic.Bool
}

func (r *racing) Put(ctx context.Context, orgID, bucket, key string, body io.Reader, opts objects.PutOptions) (*catalog.Manifest, error) {
	m, err := r.Objects.Put(ctx, orgID, bucket, key, body, opts)
	if key == r.key {
		if put := r.put.Load(); put != nil {
			r.once.Do(func() { (*put)(); r.done.Store(true) })
		}
	}
	return m, err
}

// TestWriteRacingOwnChange: an S3 write of a key committed in the same
// instant as the mount's own write of it (here a symlink) reaches the
// kernel too, although the kernel keeps entries for an hour: the mount
// skips the events of its own changes, but not one more than it made.
func TestWriteRacingOwnChange(t *testing.T) {
	var r *racing
	e := newEnvWith(t, func(o fsmount.Objects) fsmount.Objects {
		r = &racing{Objects: o, key: "l"}
		return r
	})
	const later = "a regular file written over S3 during the symlink"
	put := func() {
		if _, err := e.d.Layer().Put(context.Background(), e.org, "b", "l", strings.NewReader(later), objects.PutOptions{Size: int64(len(later))}); err != nil {
			t.Error(err)
		}
	}
	r.put.Store(&put)
	if err := os.Symlink("target", e.p("l")); err != nil {
		t.Fatal(err)
	}
	if !r.done.Load() {
		t.Fatal("the symlink was not stored with Put")
	}
	// The invalidation follows the symlink's reply (the kernel holds the
	// directory while it waits for it).
	waitFor(t, "the S3 write through the mount", func() bool {
		fi, err := os.Lstat(e.p("l"))
		return err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(later))
	})
	if b, err := os.ReadFile(e.p("l")); err != nil || string(b) != later {
		t.Fatalf("read %q %v", b, err)
	}
}

// TestEmptiedAfterMarkerDeletedOverS3: a directory made by mkdir whose
// marker S3 deleted still holds a file; removing that file through the
// mount leaves the directory there, empty, as POSIX expects (the mount
// stores a marker again), and renaming the last file out does too.
func TestEmptiedAfterMarkerDeletedOverS3(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"d", "r"} {
		if err := os.Mkdir(e.p(d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.p(d+"/f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("b"), Key: aws.String(d + "/")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(e.p("d/f")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.p("r/f"), e.p("f")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"d", "r"} {
		if fi, err := os.Stat(e.p(d)); err != nil || !fi.IsDir() {
			t.Errorf("%s after its last file left: %v %v", d, fi, err)
		}
		if _, err := e.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String(d + "/")}); err != nil {
			t.Errorf("%s has no marker over S3: %v", d, err)
		}
	}
}

// racingList commits an S3-side write in a directory right after the
// mount read a listing page of it, before the mount keeps the page.
type racingList struct {
	fsmount.Objects
	once   sync.Once
	prefix string
	put    atomic.Pointer[func()] // as racing's
}

func (r *racingList) ListManifests(ctx context.Context, orgID, bucket string, opts catalog.ListOptions) (catalog.ListResult, map[string]*catalog.Manifest, error) {
	res, ms, err := r.Objects.ListManifests(ctx, orgID, bucket, opts)
	if put := r.put.Load(); put != nil && opts.Prefix == r.prefix {
		r.once.Do(*put)
	}
	return res, ms, err
}

// TestListingRacingS3Write: a listing page read just before an S3 write in
// the directory does not answer the lookups that follow it (ls -l), which
// the kernel would keep for an hour: they see the write.
func TestListingRacingS3Write(t *testing.T) {
	var r *racingList
	e := newEnvWith(t, func(o fsmount.Objects) fsmount.Objects {
		r = &racingList{Objects: o, prefix: "L/"}
		return r
	})
	e.s3Put(t, "L/f", []byte("x"))
	const later = "written over S3 while the mount listed L"
	put := func() {
		if _, err := e.d.Layer().Put(context.Background(), e.org, "b", "L/f", strings.NewReader(later), objects.PutOptions{Size: int64(len(later))}); err != nil {
			t.Error(err)
		}
	}
	r.put.Store(&put)
	ents, err := os.ReadDir(e.p("L"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("readdir: %v %v", ents, err)
	}
	if fi, err := os.Stat(e.p("L/f")); err != nil || fi.Size() != int64(len(later)) {
		t.Fatalf("stat after the listing: %v %v, want size %d", fi, err, len(later))
	}
}

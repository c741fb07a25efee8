package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/chunkstoretest"
	s3chunks "excloud.dev/buckets/chunkstore/s3"
	"excloud.dev/buckets/internal/excdtest"
)

// server is a real excd, the S3 store the backend talks to.
type server struct {
	proc   *excdtest.Proc
	bucket string
	n      atomic.Int64
}

func startServer(t *testing.T) *server {
	t.Helper()
	p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir()})
	s := &server{proc: p, bucket: "chunks"}
	if _, err := p.S3().CreateBucket(context.Background(), &s3api.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *server) options(prefix string) s3chunks.Options {
	return s3chunks.Options{
		URL:             "s3://" + s.bucket + "/" + prefix,
		Endpoint:        s.proc.Endpoint,
		PathStyle:       true,
		AccessKeyID:     excdtest.AccessKey,
		SecretAccessKey: excdtest.SecretKey,
	}
}

func newBackend(t *testing.T, o s3chunks.Options) *s3chunks.Backend {
	t.Helper()
	b, err := s3chunks.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackend(t *testing.T) {
	s := startServer(t)
	chunkstoretest.Run(t, func(t *testing.T) chunkstore.Backend {
		// A fresh prefix per subtest is an empty backend; the shared
		// bucket also shows that prefixes keep stores apart.
		return newBackend(t, s.options(fmt.Sprintf("store%d/sub", s.n.Add(1))))
	})
}

// TestStoreOnS3 runs the chunk store itself over the backend: its sealing
// reader is sent as a sized, rewindable body, and the objects are the
// bytes a chunk file holds, under the local backend's fan-out.
func TestStoreOnS3(t *testing.T) {
	s := startServer(t)
	b := newBackend(t, s.options("pre"))
	var master [32]byte
	rand.Read(master[:])
	keys, err := chunkstore.DeriveKeys(master[:])
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunkstore.New(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []int{0, 1, 65536, 65537, chunkstore.MaxChunkSize} {
		p := make([]byte, n)
		rand.Read(p)
		id := st.Sum("org", p)
		if err := st.Put(ctx, id, p); err != nil {
			t.Fatalf("Put %d bytes: %v", n, err)
		}
		r, err := st.Open(ctx, id, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("read back %d bytes: %d bytes, %v", n, len(got), err)
		}
		name := id.String()
		head, err := s.proc.S3().HeadObject(ctx, &s3api.HeadObjectInput{Bucket: aws.String(s.bucket),
			Key: aws.String("pre/" + name[0:2] + "/" + name[2:4] + "/" + name)})
		if err != nil {
			t.Fatalf("chunk object of %d bytes: %v", n, err)
		}
		if want := chunkstore.SealedSize(int64(n)); aws.ToInt64(head.ContentLength) != want {
			t.Fatalf("chunk object is %d bytes, want the chunk file's %d", aws.ToInt64(head.ContentLength), want)
		}
	}
}

// TestConditionalPut: a second Put of an existing name keeps the first
// object (If-None-Match: *), so a reader never sees a second sealing.
func TestConditionalPut(t *testing.T) {
	s := startServer(t)
	b := newBackend(t, s.options(""))
	ctx := context.Background()
	name := strings.Repeat("ab", 32)
	if err := b.Put(ctx, name, strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, name, strings.NewReader("second!")); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	r, err := b.Open(ctx, name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "first" {
		t.Fatalf("after a second Put the object holds %q, want the first content", got)
	}
}

func TestBadConfig(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	o := s.options("")
	o.URL = "s3://no-such-bucket"
	if _, err := s3chunks.New(ctx, o); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("missing bucket: %v", err)
	}
	o = s.options("")
	o.SecretAccessKey = "wrongsecret000000000000000000000000000000"
	if _, err := s3chunks.New(ctx, o); err == nil {
		t.Error("wrong secret accepted")
	}
	for _, u := range []string{"", "http://x/y", "s3://", "s3://b?x=1", "s3://u:p@b/x"} {
		o := s.options("")
		o.URL = u
		if _, err := s3chunks.New(ctx, o); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	// Credentials from a shared credentials file.
	f := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(f, []byte("[default]\naws_access_key_id = "+excdtest.AccessKey+"\naws_secret_access_key = "+excdtest.SecretKey+"\n"), 0o600)
	o = s.options("x")
	o.AccessKeyID, o.SecretAccessKey, o.CredentialsFile = "", "", f
	if _, err := s3chunks.New(ctx, o); err != nil {
		t.Errorf("credentials file: %v", err)
	}
}

// TestServerDown: a store that stops answering makes every method fail
// with an error, after bounded retries, not hang.
func TestServerDown(t *testing.T) {
	s := startServer(t)
	o := s.options("down")
	o.MaxAttempts = 3
	o.MaxBackoff = 50 * time.Millisecond
	b := newBackend(t, o)
	ctx := context.Background()
	name := strings.Repeat("cd", 32)
	if err := b.Put(ctx, name, strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	if err := s.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		other := strings.Repeat("ef", 32)
		if err := b.Put(ctx, other, strings.NewReader("data")); !errors.Is(err, chunkstore.ErrUnavailable) {
			t.Errorf("Put with the store down: %v, want chunkstore.ErrUnavailable", err)
		}
		if _, err := b.Open(ctx, name, 0, -1); !errors.Is(err, chunkstore.ErrUnavailable) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open with the store down: %v, want an error that is not fs.ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, name); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat with the store down: %v, want an error that is not fs.ErrNotExist", err)
		}
		if err := b.List(ctx, "", func(string, int64) error { return nil }); err == nil {
			t.Error("List succeeded with the store down")
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("backend calls hang with the store down")
	}
}

// TestCancelWhileStalled: a store that accepts the connection and never
// answers holds a call only until its context ends.
func TestCancelWhileStalled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall); ln.Close() })
	// HeadBucket succeeds, everything else stalls.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0 {
			return
		}
		conns.Add(1)
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := newBackend(t, s3chunks.Options{URL: "s3://b", Endpoint: "http://" + ln.Addr().String(), PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s"})
	name := strings.Repeat("12", 32)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := b.Open(ctx, name, 0, -1); errs <- err }()
	go func() { errs <- b.Put(ctx, name, strings.NewReader("x")) }()
	for conns.Load() < 2 {
		select {
		case err := <-errs:
			t.Fatalf("call returned before cancel: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: %v, want context.Canceled", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("call did not return after cancel")
		}
	}
}

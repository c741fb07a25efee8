package main

import (
	"bytes"
	"context"
	"io"
	"sync"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

// heldReader yields data in 64 KiB steps. Past 12 MiB, more than loopback
// socket buffers hold (autotuned to several MiB), so that the server is
// reading the body and not just the kernel, it closes started and yields
// nothing more until release is closed: the upload is in flight for
// exactly as long as the test says, whatever the machine's speed.
type heldReader struct {
	data             []byte
	off              int
	started, release chan struct{}
	once             sync.Once
}

func (r *heldReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if r.off >= 12<<20 {
		r.once.Do(func() { close(r.started) })
		<-r.release
	}
	n := copy(p[:min(len(p), 64<<10)], r.data[r.off:])
	r.off += n
	return n, nil
}

// SIGTERM during an upload: with time enough, the upload completes and is
// there after a restart; when the shutdown timeout or a second SIGTERM cuts
// it off, the client gets an error and after a restart the key does not
// exist. The held upload cannot finish before the daemon has exited in the
// cut-off cases, so a success there means the cut-off did not happen.
func TestGracefulShutdownWithUploadInFlight(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (16<<20)/16) // 16 MiB: four chunks
	for _, tc := range []struct {
		name    string
		timeout string
		// complete: the upload is released once excd is stopping and
		// must succeed; otherwise it is released only after excd exited.
		complete bool
		second   bool // send a second SIGTERM
	}{
		{"completes", "10m", true, false},
		{"cut off", "300ms", false, false},
		// 10 minutes: only the second signal can end it within exitBound.
		{"second SIGTERM forces", "10m", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := listenNotify(t, true)
			env := baseEnv(t, n)
			p := startExcd(t, env, nil, "--shutdown-timeout", tc.timeout)
			addr := addrFrom(t, n.await(t, "READY=1"))
			mc := minioClient(t, addr)
			ctx := context.Background()
			if err := mc.MakeBucket(ctx, "bkt", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			r := &heldReader{data: data, started: make(chan struct{}), release: make(chan struct{})}
			released := false
			release := func() {
				if !released {
					close(r.release)
					released = true
				}
			}
			defer release()
			upErr := make(chan error, 1)
			go func() {
				_, err := mc.PutObject(ctx, "bkt", "k", r, int64(len(data)), minio.PutObjectOptions{DisableMultipart: true})
				upErr <- err
			}()
			<-r.started
			p.signal(t, syscall.SIGTERM)
			// STOPPING=1 is sent once the first signal is taken; a second
			// one from then on lands in the channel that forces the stop.
			n.await(t, "STOPPING=1")
			if tc.second {
				p.signal(t, syscall.SIGTERM)
			}
			var exitErr error
			if tc.complete {
				release()
				if err := <-upErr; err != nil {
					t.Fatalf("upload in flight during a graceful stop failed: %v", err)
				}
				exitErr = p.wait(t)
			} else {
				exitErr = p.wait(t)
				release()
				if err := <-upErr; err == nil {
					t.Fatal("upload succeeded although the stop cut it off")
				}
			}
			if exitErr != nil {
				t.Fatalf("excd exit: %v", exitErr)
			}

			// Restart on the same data directory.
			n2 := listenNotify(t, true)
			env[0] = "NOTIFY_SOCKET=" + n2.name
			p2 := startExcd(t, env, nil)
			mc = minioClient(t, addrFrom(t, n2.await(t, "READY=1")))
			obj, err := mc.GetObject(ctx, "bkt", "k", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if tc.complete {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("after restart: %d bytes, err %v; want the whole upload", len(got), err)
				}
			} else if minio.ToErrorResponse(err).Code != "NoSuchKey" {
				t.Fatalf("after restart a cut-off upload is visible: %d bytes, err %v", len(got), err)
			}
			p2.signal(t, syscall.SIGTERM)
			if err := p2.wait(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

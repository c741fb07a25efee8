package fsmount_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/fsmount"
	"excloud.dev/buckets/internal/testutil"
	"excloud.dev/buckets/objects"
)

// gatedPuts holds the mount's Put of one key until released, so a FUSE
// operation can be kept inside the daemon while the kernel holds its
// directory lock.
type gatedPuts struct {
	fsmount.Objects
	key     string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedPuts) Put(ctx context.Context, org, bucket, key string, body io.Reader, opts objects.PutOptions) (*catalog.Manifest, error) {
	if key == g.key {
		close(g.entered)
		<-g.release
	}
	return g.Objects.Put(ctx, org, bucket, key, body, opts)
}

// TestInvalidationNoConvoy: while a FUSE operation holds a directory's lock
// in the kernel (here a mkdir whose marker put is held; under load, one
// waiting for its catalog commit behind the feed), every S3 write in that
// directory needs the same lock for its invalidation. The first delivery
// gives up after 200 ms; the writes after it must not each wait 200 ms
// more, which under 200 clients stalled all S3 writes for seconds (found by
// internal/loadtest). Each delivery that gives up logs so: exactly one may,
// whatever the machine's speed; a convoy logs one per write.
func TestInvalidationNoConvoy(t *testing.T) {
	gate := &gatedPuts{key: "held/", entered: make(chan struct{}), release: make(chan struct{})}
	var mountLog testutil.LogBuffer
	e := newEnvLogged(t, func(objs fsmount.Objects) fsmount.Objects { gate.Objects = objs; return gate },
		slog.New(slog.NewTextHandler(&mountLog, &slog.HandlerOptions{Level: slog.LevelWarn})))
	d, org, ctx := e.d, e.org, context.Background()
	bdir := e.bdir
	if _, err := os.ReadDir(bdir); err != nil {
		t.Fatal(err)
	}

	mkdirErr := make(chan error, 1)
	go func() { mkdirErr <- os.Mkdir(filepath.Join(bdir, "held"), 0o755) }()
	<-gate.entered
	defer func() {
		select {
		case <-gate.release:
		default:
			close(gate.release)
		}
	}()

	const writes = 10
	var wg sync.WaitGroup
	for i := range writes {
		wg.Go(func() {
			key := fmt.Sprintf("s%d/k", i)
			if _, err := d.Layer().Put(ctx, org, "b", key, bytes.NewReader([]byte(key)), objects.PutOptions{Size: int64(len(key))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Counted while the lock is still held: every delivery has been
	// made or queued by now.
	gaveUp := strings.Count(mountLog.String(), "kernel invalidation still pending")
	close(gate.release)
	if err := <-mkdirErr; err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	switch {
	case gaveUp > 1:
		t.Errorf("%d of %d S3 writes waited for the kernel in turn while a directory lock was held", gaveUp, writes)
	case gaveUp == 0:
		t.Errorf("no delivery waited for the held directory lock: the test did not build the situation it checks")
	}
	// The invalidations went on in the background: the mount sees them.
	for i := range writes {
		name := filepath.Join(bdir, fmt.Sprintf("s%d", i), "k")
		waitFor(t, name, func() bool { _, err := os.Stat(name); return err == nil })
	}
}

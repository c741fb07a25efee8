// Package fulldisk is a chunk backend that fails its writes with ENOSPC
// on demand, for tests of what a full disk does to the layers above. It is
// apart from internal/testutil because it imports chunkstore.
package fulldisk

import (
	"context"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"excloud.dev/buckets/chunkstore"
)

// Backend wraps a real backend; while Full is set, every Put fails with
// ENOSPC wrapped in an *os.PathError, as a local disk's write does.
type Backend struct {
	chunkstore.Backend
	Full atomic.Bool
}

func (b *Backend) Put(ctx context.Context, name string, r io.Reader) error {
	if b.Full.Load() {
		return &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	}
	return b.Backend.Put(ctx, name, r)
}

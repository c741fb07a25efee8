package fsmount

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"excloud.dev/buckets/catalog"
)

// The catalog's transient failures reach the user as an errno that says
// what to do: try again (EAGAIN) when the write lost to concurrent writers
// too often, EINTR only for a request really cancelled, and EIO for a
// database that cannot be reached (docs/scale-out.md).
func TestErrnoOfCatalogTrouble(t *testing.T) {
	wrap := func(e error) error { return fmt.Errorf("catalog: put object %q: %w", "k", e) }
	for _, tt := range []struct {
		err  error
		want syscall.Errno
	}{
		{wrap(fmt.Errorf("%w: still conflicting after 64 attempts", catalog.ErrBusy)), syscall.EAGAIN},
		{wrap(catalog.ErrPreconditionFailed), syscall.EAGAIN},
		{wrap(fmt.Errorf("storage: pgkv: get: %w", context.Canceled)), syscall.EINTR},
		{wrap(fmt.Errorf("%w: dial unix: no such file", catalog.ErrUnavailable)), syscall.EIO},
	} {
		if got := toErrno(tt.err); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.err, got, tt.want)
		}
	}
}

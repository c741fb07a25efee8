package kv_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"excloud.dev/buckets/catalog/kv"
)

// Unavailable tells a database out of reach from every other failure: what
// it says true of is answered 503 SlowDown, the rest keeps its own answer.
func TestUnavailable(t *testing.T) {
	// A real refused dial, as the driver reports it: a unix socket that
	// is not there (the server stopped and removed it).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, dialErr := pgx.Connect(ctx, "postgres:///x?host="+t.TempDir()+"&connect_timeout=5")
	if dialErr == nil {
		t.Fatal("connected to nothing")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial to a missing socket", fmt.Errorf("pgkv: connect: %w", dialErr), true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"marked", fmt.Errorf("x: %w", kv.ErrUnavailable), true},
		{"serialization failure", fmt.Errorf("%w: %w", kv.ErrConflict, &pgconn.PgError{Code: "40001"}), false},
		{"disk full", &pgconn.PgError{Code: "53100"}, false},
		{"enospc", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, false},
		{"not found", kv.ErrNotFound, false},
		{"closed", kv.ErrClosed, false},
		{"missing file", os.ErrNotExist, false},
		{"nil", nil, false},
	} {
		if got := kv.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s (%v): Unavailable = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if errors.Is(dialErr, kv.ErrUnavailable) {
		t.Log("the driver's error wraps ErrUnavailable itself")
	}
}

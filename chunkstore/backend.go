package chunkstore

import (
	"context"
	"errors"
	"io"
)

// ErrUnavailable marks a backend error that says the store cannot be
// reached for now (a remote store down, throttling, timeouts) rather than
// that a request was wrong: the S3 gateway answers 503 SlowDown, which
// clients retry with back-off. Nothing was stored by the failed call.
var ErrUnavailable = errors.New("chunk store unavailable")

// Backend is a place to keep chunk files: a local directory now, a remote
// object store later. Names are opaque to the backend (the store passes the
// chunk id in hex). Every implementation must pass chunkstoretest.Run.
//
// A missing name is reported as an error for which
// errors.Is(err, fs.ErrNotExist) holds, from every method that takes a name.
type Backend interface {
	// Put stores the bytes read from r under name. It is atomic and durable:
	// when Put returns nil the whole content is on stable storage under name;
	// when it returns an error (including ctx cancellation or a reader error)
	// nothing is visible under name. If name already exists, Put may keep the
	// existing content, since names are content addresses.
	Put(ctx context.Context, name string, r io.Reader) error

	// Open returns a reader for length bytes of name starting at off; a
	// length < 0 reads to the end. The caller closes it. Reading past the end
	// of the stored content yields io.ErrUnexpectedEOF or a short read, never
	// invented bytes.
	Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)

	// Stat returns the stored size of name.
	Stat(ctx context.Context, name string) (int64, error)

	// Delete removes name. Deleting a missing name returns an
	// fs.ErrNotExist error.
	Delete(ctx context.Context, name string) error

	// List calls fn for each stored name that starts with prefix, in no
	// particular order, until fn returns an error (which List returns).
	List(ctx context.Context, prefix string, fn func(name string, size int64) error) error
}

// Invalidator is implemented by a backend that serves reads from a copy
// (a local cache of a remote store): the store calls Invalidate when bytes
// of name failed authentication, and then reads name again.
type Invalidator interface {
	Invalidate(name string)
}

package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"excloud.dev/buckets/catalog/kv"
)

// lostCommits is the catalog's engine with every commit lost to a
// concurrent writer: the transaction runs, then ends as a conflict.
type lostCommits struct{ kv.Engine }

func (e lostCommits) Update(ctx context.Context, o kv.WriteOptions, fn func(kv.Txn) error) error {
	return e.Engine.Update(ctx, o, func(txn kv.Txn) error {
		if err := fn(txn); err != nil {
			return err
		}
		return fmt.Errorf("%w: lost to a concurrent writer (test)", kv.ErrConflict)
	})
}

// A write that keeps losing to concurrent writers gives up with ErrBusy
// (the mount's EAGAIN, S3's 503 SlowDown), not with an error nothing maps,
// which the mount answered EIO and S3 InternalError; and nothing of it is
// stored.
func TestConflictBudgetIsBusy(t *testing.T) {
	db, b := newTestBucket(t)
	real := db.eng
	db.eng = lostCommits{real}
	_, err := db.PutObject(ctx, b, "k", manifest("x", 1), Condition{})
	db.eng = real
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("PUT whose every commit conflicted: %v, want ErrBusy", err)
	}
	if _, err := db.Object(ctx, b.ID, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object after the PUT that gave up: %v, want ErrNotFound", err)
	}
	if n := refCount(t, db, 1); n != 0 {
		t.Fatalf("chunk referenced %d times after the PUT that gave up", n)
	}
	mustPut(t, db, b, "k", manifest("x", 1))
}

package catalog

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/pgtest"
)

// A request whose caller gave up is reported as cancelled, not as a
// storage failure. On PostgreSQL a cancelled context ends the statement
// in flight (Badger's reads never look at it): the FUSE mount answered
// such a lookup, cancelled by the kernel because the calling process got
// a signal, with EIO, its errno for a storage failure (docs/scale-out.md,
// "Under contention").
func TestCancelledIsNotAStorageFailure(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, b := pgNodesAt(t, url)
	org, err := a.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := a.CreateBucket(ctx, org.ID, "b")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("read", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := b.Bucket(cctx, org.ID, "b")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("lookup with a cancelled context: %v, want an error wrapping context.Canceled", err)
		}
	})

	t.Run("lock wait", func(t *testing.T) {
		// Node a holds the bucket's lock exclusively (as DeleteBucket
		// does); node b's PUT waits for it, and its caller gives up.
		held, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- a.eng.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
				if err := txn.Lock(bucketKey(org.ID, "b"), kv.Exclusive); err != nil {
					return err
				}
				// An engine may defer a lock to the transaction's next
				// read (kv.Txn, "Locks"): read, so it is held now.
				if _, err := txn.Get(bucketKey(org.ID, "b")); err != nil && !errors.Is(err, kv.ErrNotFound) {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		select {
		case <-held:
		case err := <-holder:
			t.Fatalf("holder: %v", err)
		}
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		put := make(chan error, 1)
		go func() {
			_, err := b.PutObject(pctx, bk, "k", manifest("x", 1), Condition{})
			put <- err
		}()
		waitAdvisoryWaiter(t, url)
		cancel()
		err := <-put
		close(release)
		if err := <-holder; err != nil {
			t.Fatalf("holder: %v", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("PUT cancelled while waiting for a lock: %v, want an error wrapping context.Canceled", err)
		}
		// Nothing of it took effect.
		if _, err := a.Object(ctx, bk.ID, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("object after the cancelled PUT: %v, want ErrNotFound", err)
		}
		// And the node goes on: the same PUT, not cancelled, commits.
		if _, err := b.PutObject(ctx, bk, "k", manifest("x", 1), Condition{}); err != nil {
			t.Fatalf("PUT after the cancelled one: %v", err)
		}
	})
}

// pgNodesAt is pgNodes on a database the caller already has.
func pgNodesAt(t *testing.T, url string) (a, b *DB) {
	t.Helper()
	a, b = openPGNode(t, url), openPGNode(t, url)
	return a, b
}

// waitAdvisoryWaiter polls the server until a session waits for an
// advisory lock.
func waitAdvisoryWaiter(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waited for an advisory lock within a minute")
		}
	}
}

func openPGNode(t *testing.T, url string) *DB {
	t.Helper()
	e, err := pgkv.Open(context.Background(), url, pgkv.Options{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := OpenEngine(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

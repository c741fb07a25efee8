package pgkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
	"excloud.dev/buckets/internal/pgtest"
)

// raw is a plain connection to the database, as its administrator has.
func raw(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func set(t *testing.T, e *Engine, key, value string) {
	t.Helper()
	if err := kvtest.Update(context.Background(), e, func(tx kv.Txn) error {
		return tx.Set([]byte(key), []byte(value))
	}); err != nil {
		t.Fatalf("set %q: %v", key, err)
	}
}

// lockNow takes a lock and holds it before going on: the engine takes a
// transaction's locks with its first read (or before its commit).
func lockNow(tx kv.Txn, key string, mode kv.LockMode) error {
	if err := tx.Lock([]byte(key), mode); err != nil {
		return err
	}
	if _, err := tx.Get([]byte(key)); err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return nil
}

func get(e *Engine, key string) (string, error) {
	var v []byte
	err := e.View(context.Background(), func(r kv.Reader) error {
		var err error
		v, err = r.Get([]byte(key))
		return err
	})
	return string(v), err
}

// The database's administrator sees keys (they must stay ordered) but no
// value; a value opens only with the engine's key and only in its own row.
func TestValuesSealed(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	e := open(t, url, Options{})
	const secret = "etag=0123456789abcdef size=4096 x-amz-meta-owner=alice"
	set(t, e, "b/bucket/photo.jpg", secret)
	set(t, e, "b/bucket/other.jpg", "other")

	admin := raw(t, url)
	rows, err := admin.Query(ctx, "SELECT k, v FROM exc_kv ORDER BY k")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(k))
		if bytes.Contains(v, []byte("etag")) || bytes.Contains(v, []byte("alice")) || bytes.Contains(v, []byte("other")) {
			t.Errorf("row %q holds its value in clear: %q", k, v)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if fmt.Sprint(keys) != "[b/bucket/other.jpg b/bucket/photo.jpg]" {
		t.Fatalf("keys in the table: %q", keys)
	}
	if v, err := get(e, "b/bucket/photo.jpg"); err != nil || v != secret {
		t.Fatalf("read back: %q, %v", v, err)
	}

	// Another master key: refused, never garbage.
	other := open(t, url, Options{Key: bytes.Repeat([]byte{8}, 32)})
	if v, err := get(other, "b/bucket/photo.jpg"); !errors.Is(err, errUnseal) {
		t.Errorf("read with another key: %q, %v; want errUnseal", v, err)
	}
	// A value moved to another row by someone with access to the table.
	if _, err := admin.Exec(ctx, "UPDATE exc_kv SET v = (SELECT v FROM exc_kv WHERE k = $1) WHERE k = $2",
		[]byte("b/bucket/photo.jpg"), []byte("b/bucket/other.jpg")); err != nil {
		t.Fatal(err)
	}
	if v, err := get(e, "b/bucket/other.jpg"); !errors.Is(err, errUnseal) {
		t.Errorf("a value moved to another row opened: %q, %v", v, err)
	}
	if _, err := Open(ctx, url, Options{Key: []byte("short")}); err == nil {
		t.Error("a 5-byte key accepted")
	}
}

// Two engines on one database, as two excd nodes: each sees the other's
// commits at once, their writes of one key conflict, and their locks
// exclude each other.
func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, b := open(t, url, Options{}), open(t, url, Options{})

	set(t, a, "k", "from a")
	if v, err := get(b, "k"); err != nil || v != "from a" {
		t.Fatalf("b reads %q, %v after a's commit", v, err)
	}

	err := a.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		set(t, b, "k", "from b")
		return tx.Set([]byte("k"), []byte("a again"))
	})
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("a's write over b's concurrent commit: %v, want ErrConflict", err)
	}
	if v, _ := get(a, "k"); v != "from b" {
		t.Fatalf("k = %q, want b's", v)
	}

	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- a.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := lockNow(tx, "bucket", kv.Exclusive); err != nil {
				return err
			}
			close(inside)
			<-release
			return tx.Set([]byte("bucket"), []byte("deleted"))
		})
	}()
	<-inside
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = b.Update(short, kv.WriteOptions{}, func(tx kv.Txn) error { return tx.Lock([]byte("bucket"), kv.Shared) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b's shared lock while a holds it exclusive: %v, want to wait until its ctx is done", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	var seen string
	bounded, cancel2 := context.WithTimeout(ctx, time.Minute) // a lock never released fails here, not by hanging
	defer cancel2()
	if err := b.Update(bounded, kv.WriteOptions{}, func(tx kv.Txn) error {
		if err := tx.Lock([]byte("bucket"), kv.Shared); err != nil {
			return err
		}
		v, err := tx.Get([]byte("bucket"))
		seen = string(v)
		return err
	}); err != nil || seen != "deleted" {
		t.Fatalf("b after a released its lock: %q, %v", seen, err)
	}
	// No advisory lock outlives its transaction, even the one whose wait
	// was given up.
	if n := advisoryLocks(t, raw(t, url)); n != 0 {
		t.Fatalf("%d advisory locks held with no transaction running", n)
	}
}

func advisoryLocks(t *testing.T, c *pgx.Conn) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Deleting a key that is not there is a write too: it conflicts with a
// concurrent write of that key (a plain DELETE of a missing row would lock
// nothing and let both commit).
func TestDeleteOfMissingKeyConflicts(t *testing.T) {
	ctx := context.Background()
	e := open(t, pgtest.DB(t), Options{})
	for _, other := range []string{"set", "delete"} {
		t.Run("concurrent "+other, func(t *testing.T) {
			key := []byte("absent-" + other)
			err := e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
				if _, err := tx.Get([]byte("anything")); !errors.Is(err, kv.ErrNotFound) {
					return err
				}
				if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
					if other == "set" {
						return tx.Set(key, []byte("v"))
					}
					return tx.Delete(key)
				}); err != nil {
					t.Fatal(err)
				}
				return tx.Delete(key)
			})
			if !errors.Is(err, kv.ErrConflict) {
				t.Fatalf("a delete of a missing key over a concurrent %s of it: %v, want ErrConflict", other, err)
			}
		})
	}
}

// A transaction whose connection dies (its node killed, a network cut)
// holds nothing: its locks go with its session, and the engine's next
// transactions get a sound connection.
func TestSessionLossReleasesLocks(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, b := open(t, url, Options{MaxConns: 1}), open(t, url, Options{})
	admin := raw(t, url)

	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- a.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := lockNow(tx, "L", kv.Exclusive); err != nil {
				return err
			}
			if err := tx.Set([]byte("half"), []byte("written")); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	var pid int
	if err := admin.QueryRow(ctx, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1, 60000)", pid); err != nil {
		t.Fatal(err)
	}
	err := b.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
		if err := tx.Lock([]byte("L"), kv.Exclusive); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("half")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("the killed transaction's write: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("b after a's session died: %v", err)
	}
	close(release)
	if err := <-held; err == nil {
		t.Fatal("a's transaction committed on a terminated session")
	}
	// a's only connection was the dead one: it must not be pooled.
	set(t, a, "after", "ok")
	if v, err := get(b, "after"); err != nil || v != "ok" {
		t.Fatalf("a after losing its session: %q, %v", v, err)
	}
}

// Tombstones are stepped over by iterators (and counted against their
// step limit) and pruned once old.
func TestTombstones(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	e := open(t, url, Options{PruneAfter: time.Nanosecond, PruneEvery: -1})
	if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
		for i := range 10 {
			if err := tx.Set(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
		for i := range 8 {
			if err := tx.Delete(fmt.Appendf(nil, "k%d", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scan := func(limit int) ([]string, error) {
		var keys []string
		err := e.View(ctx, func(r kv.Reader) error {
			it := r.Iterate(kv.IterOptions{StepLimit: limit})
			for it.Seek(nil); it.Valid(); it.Next() {
				keys = append(keys, string(it.Key()))
			}
			return it.Close()
		})
		return keys, err
	}
	if keys, err := scan(0); err != nil || fmt.Sprint(keys) != "[k8 k9]" {
		t.Fatalf("scan over tombstones: %q, %v", keys, err)
	}
	if keys, err := scan(5); !errors.Is(err, kv.ErrStepLimit) || len(keys) != 0 {
		t.Fatalf("step limit 5 over 8 tombstones: %q, %v; want ErrStepLimit", keys, err)
	}
	n, err := e.Prune(ctx)
	if err != nil || n != 8 {
		t.Fatalf("prune: %d, %v; want 8 tombstones removed", n, err)
	}
	var rows int
	if err := raw(t, url).QueryRow(ctx, "SELECT count(*) FROM exc_kv").Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("rows after prune: %d, %v", rows, err)
	}
	if keys, err := scan(5); err != nil || fmt.Sprint(keys) != "[k8 k9]" {
		t.Fatalf("scan after prune: %q, %v", keys, err)
	}
}

// Nodes starting at once on an empty database all find the table made.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.DB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := Open(context.Background(), url, Options{Key: testKey})
			if err == nil {
				e.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A transaction and another session locking two keys in opposite orders:
// PostgreSQL finds the deadlock and ends one, which the caller sees as a
// conflict to retry; the other goes on. The engine sends a transaction's
// locks together (with its first read), so the other side is a session of
// the test's, which takes its second lock once the transaction waits.
func TestDeadlockIsConflict(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	e := open(t, url, Options{})
	other, admin := raw(t, url), raw(t, url)
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID([]byte("y"))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := tx.Lock([]byte("x"), kv.Exclusive); err != nil {
				return err
			}
			if err := tx.Lock([]byte("y"), kv.Exclusive); err != nil {
				return err
			}
			if _, err := tx.Get([]byte("x")); err != nil && !errors.Is(err, kv.ErrNotFound) {
				return err
			}
			return tx.Set([]byte("x"), []byte("done"))
		})
	}()
	// The transaction holds x and waits for y.
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the transaction never waited for its second lock")
		}
		time.Sleep(10 * time.Millisecond) // polling the server's lock table
	}
	_, otherErr := other.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID([]byte("x")))
	// Whichever side ended, the session's locks go (a failed statement
	// keeps what the session held), so the transaction can finish.
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if errors.Is(err, kv.ErrConflict) == (otherErr != nil) {
		t.Fatalf("deadlocked pair: transaction %v, other session %v; want exactly one ended", err, otherErr)
	}
	if err != nil && !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("the transaction: %v, want ErrConflict or success", err)
	}
}

// A write whose conflict surfaces only at the commit fails the commit,
// and nothing of the transaction stays.
func TestHeldBackWriteConflictsAtCommit(t *testing.T) {
	ctx := context.Background()
	e := open(t, pgtest.DB(t), Options{})
	set(t, e, "k", "0")
	err := e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		set(t, e, "k", "other")
		if err := tx.Set([]byte("side"), []byte("effect")); err != nil {
			return err
		}
		return tx.Set([]byte("k"), []byte("mine"))
	})
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Update whose write conflicts: %v, want ErrConflict", err)
	}
	if _, err := get(e, "side"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("side effect of the rolled-back transaction: %v", err)
	}
	if v, err := get(e, "k"); err != nil || string(v) != "other" {
		t.Fatalf("k after the conflict: %q %v, want the other writer's", v, err)
	}
}

// A caller that drops a failed write's error and returns nil must not be
// told its transaction committed: PostgreSQL rolled it back. The writes
// are held back until the next read or the commit, so the conflict fails
// the read after the write, or the commit.
func TestSwallowedConflictIsNotACommit(t *testing.T) {
	ctx := context.Background()
	e := open(t, pgtest.DB(t), Options{})
	set(t, e, "k", "0")
	var getErr error
	err := e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		set(t, e, "k", "other")
		tx.Set([]byte("k"), []byte("mine"))
		_, getErr = tx.Get([]byte("k"))          // sends the Set: it conflicts
		tx.Set([]byte("side"), []byte("effect")) // the transaction is aborted
		return nil
	})
	if !errors.Is(getErr, kv.ErrConflict) {
		t.Fatalf("the read after the conflicting Set: %v, want ErrConflict", getErr)
	}
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("Update after a swallowed conflict: %v, want ErrConflict", err)
	}
	if _, err := get(e, "side"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("side effect of the rolled-back transaction: %v", err)
	}
}

// An exclusive lock wait given up mid-wait (its ctx times out while a
// shared holder stays) leaves no waiter queued in the server: a later
// shared lock is granted beside the holder at once. PostgreSQL queues a
// shared request behind a waiting exclusive one, so a waiter abandoned by
// closing its connection (without cancelling its query) would block every
// shared locker until the holder ended.
func TestAbandonedLockWaitLeavesNoWaiter(t *testing.T) {
	ctx := context.Background()
	e := open(t, pgtest.DB(t), Options{})
	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := lockNow(tx, "L", kv.Shared); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	defer func() {
		close(release)
		if err := <-held; err != nil {
			t.Error(err)
		}
	}()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := e.Update(short, kv.WriteOptions{}, func(tx kv.Txn) error { return tx.Lock([]byte("L"), kv.Exclusive) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exclusive lock beside a shared holder: %v, want the wait to end with its ctx", err)
	}
	bounded, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	if err := e.Update(bounded, kv.WriteOptions{}, func(tx kv.Txn) error { return tx.Lock([]byte("L"), kv.Shared) }); err != nil {
		t.Fatalf("shared lock after an exclusive waiter gave up: %v", err)
	}
}

// A page of a short prefix reads the prefix's rows and no more: both of
// its bounds are index conditions in the plan PostgreSQL keeps for the
// prepared statement (a generic plan, as after a few executions).
func TestScanBoundsInIndex(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	e := open(t, url, Options{})
	if err := kvtest.Update(ctx, e, func(tx kv.Txn) error {
		for _, k := range []string{"a/1", "a/2", "a/3"} {
			if err := tx.Set([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		for i := range 3000 {
			if err := tx.Set(fmt.Appendf(nil, "b/%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c := raw(t, url)
	for _, stmt := range []string{
		"ANALYZE exc_kv",
		"SET plan_cache_mode = force_generic_plan",
		"PREPARE page(bytea, bytea, int) AS " + e.q.scan,
	} {
		if _, err := c.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	rows, err := c.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE page('\\x612f', '\\x6130', 16)",
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "Index Cond: ((k >= $1) AND (k < $2))") || strings.Contains(text, "Rows Removed") {
		t.Fatalf("a prefix page's plan reads past the prefix:\n%s", text)
	}
}

// The locks travel with the first read: a lock that is not granted fails
// that read, and the transaction never commits, even when fn drops the
// error (the server ran the read without the lock).
func TestFailedLockFailsReadAndCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	e := open(t, url, Options{})
	admin := raw(t, url)
	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := lockNow(tx, "L", kv.Exclusive); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var getErr error
	ran := make(chan error, 1)
	go func() {
		ran <- e.Update(wctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := tx.Lock([]byte("L"), kv.Shared); err != nil {
				return err
			}
			_, getErr = tx.Get([]byte("k"))
			tx.Set([]byte("k"), []byte("written without the lock"))
			return nil
		})
	}()
	// Give up the wait once the server has it queued.
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never waited for its lock")
		}
		time.Sleep(10 * time.Millisecond) // polling the server's lock table
	}
	cancel()
	err := <-ran
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(getErr, context.Canceled) {
		t.Fatalf("read after a lock given up: %v, want context.Canceled", getErr)
	}
	if err == nil {
		t.Fatal("a transaction whose lock was not granted committed")
	}
	if _, err := get(e, "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("its write: %v, want nothing", err)
	}
}

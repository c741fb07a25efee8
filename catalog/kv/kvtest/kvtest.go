// Package kvtest is the conformance suite of the kv contract: every engine
// runs it (badgerkv in its own tests; other engines against a real server).
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// NewEngine returns an open, empty engine for one subtest. It registers its
// own cleanup, which must tolerate an engine the test already closed. Some
// tests run a transaction inside another's fn on one goroutine, and up to a
// dozen at once: an engine with a connection pool needs a few connections.
type NewEngine func(t *testing.T) kv.Engine

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, newEngine NewEngine) {
	tests := []struct {
		name string
		fn   func(*testing.T, kv.Engine)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"BytewiseOrder", testBytewiseOrder},
		{"PrefixAndSeek", testPrefixAndSeek},
		{"KeysOnlyAndPrefetch", testKeysOnly},
		{"OwnWritesVisible", testOwnWrites},
		{"UncommittedInvisible", testUncommittedInvisible},
		{"SnapshotStable", testSnapshotStable},
		{"WriteWriteConflict", testWriteWriteConflict},
		{"InsertInsertConflict", testInsertInsertConflict},
		{"ConflictLeavesNothing", testConflictLeavesNothing},
		{"FnErrorDiscards", testFnErrorDiscards},
		{"ConcurrentCounter", testConcurrentCounter},
		{"LockOrder", testLockOrder},
		{"LockDoesNotCreate", testLockDoesNotCreate},
		{"SharedLocksCompatible", testSharedCompatible},
		{"ExclusiveSeesSharedWrites", testExclusiveSeesShared},
		{"SharedSeesExclusiveWrites", testSharedSeesExclusive},
		{"ExclusiveLocksSerialize", testExclusiveSerialize},
		{"ParentChildRace", testParentChildRace},
		{"LockWaitCancelled", testLockWaitCancelled},
		{"StepLimit", testStepLimit},
		{"NoSyncAndSync", testNoSync},
		{"ReadKeys", testReadKeys},
		{"ReadKeysOneSnapshot", testReadKeysSnapshot},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newEngine(t)) })
	}
}

// bound is how long a test waits for something that must happen; only a
// hang or a lost wake-up reaches it.
const bound = 60 * time.Second

// Update runs fn in a read-write transaction, retrying while it conflicts,
// as the catalog does.
func Update(ctx context.Context, e kv.Engine, fn func(kv.Txn) error) error {
	for attempt := 0; ; attempt++ {
		err := e.Update(ctx, kv.WriteOptions{}, fn)
		if err == nil || !errors.Is(err, kv.ErrConflict) || attempt == 1000 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond)))):
		}
	}
}

func mustSet(t *testing.T, e kv.Engine, kvs ...string) {
	t.Helper()
	err := Update(context.Background(), e, func(tx kv.Txn) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if err := tx.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("set %d keys: %v", len(kvs)/2, err)
	}
}

func get(t *testing.T, e kv.Engine, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := e.View(context.Background(), func(r kv.Reader) error {
		var err error
		v, err = r.Get([]byte(key))
		return err
	})
	if errors.Is(err, kv.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v), true
}

// keys lists the keys (and values) an iterator with o visits from seek.
func scan(t *testing.T, r kv.Reader, o kv.IterOptions, seek string) []string {
	t.Helper()
	it := r.Iterate(o)
	defer it.Close()
	var out []string
	for it.Seek([]byte(seek)); it.Valid(); it.Next() {
		s := string(it.Key())
		if !o.KeysOnly {
			v, err := it.Value()
			if err != nil {
				t.Fatalf("value of %q: %v", s, err)
			}
			s += "=" + string(v)
		}
		out = append(out, s)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate %q from %q: %v", o.Prefix, seek, err)
	}
	return out
}

func scanView(t *testing.T, e kv.Engine, o kv.IterOptions, seek string) []string {
	t.Helper()
	var out []string
	if err := e.View(context.Background(), func(r kv.Reader) error {
		out = scan(t, r, o, seek)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testGetSetDelete(t *testing.T, e kv.Engine) {
	if _, ok := get(t, e, "a"); ok {
		t.Fatal("a present in an empty engine")
	}
	var notFound error
	e.View(context.Background(), func(r kv.Reader) error {
		_, notFound = r.Get([]byte("a"))
		return nil
	})
	if !errors.Is(notFound, kv.ErrNotFound) {
		t.Fatalf("get of a missing key: %v, want ErrNotFound", notFound)
	}
	mustSet(t, e, "a", "1", "empty", "")
	if v, ok := get(t, e, "a"); !ok || v != "1" {
		t.Fatalf("a = %q %v", v, ok)
	}
	if v, ok := get(t, e, "empty"); !ok || v != "" {
		t.Fatalf("a key with an empty value: %q present=%v, want present", v, ok)
	}
	// Get returns the caller's copy.
	e.View(context.Background(), func(r kv.Reader) error {
		v, _ := r.Get([]byte("a"))
		if len(v) > 0 {
			v[0] = 'X'
		}
		return nil
	})
	if v, _ := get(t, e, "a"); v != "1" {
		t.Fatalf("modifying a Get result changed the stored value: %q", v)
	}
	mustSet(t, e, "a", "2")
	if v, _ := get(t, e, "a"); v != "2" {
		t.Fatalf("overwritten a = %q", v)
	}
	if err := Update(context.Background(), e, func(tx kv.Txn) error {
		if err := tx.Delete([]byte("a")); err != nil {
			return err
		}
		return tx.Delete([]byte("never-there"))
	}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := get(t, e, "a"); ok {
		t.Fatal("a present after delete")
	}
}

func testBytewiseOrder(t *testing.T, e kv.Engine) {
	keys := []string{"\x00", "\x00\x00", "\x00\x01", "\x01", "a", "a\x00", "a\xff", "ab", "b", "\x7f", "\x80", "\xfe\xff", "\xff", "\xff\x00", "\xff\xff\xff"}
	shuffled := slices.Clone(keys)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var kvs []string
	for _, k := range shuffled {
		kvs = append(kvs, k, "v"+k)
	}
	mustSet(t, e, kvs...)
	slices.SortFunc(keys, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	var want []string
	for _, k := range keys {
		want = append(want, k+"=v"+k)
	}
	if got := scanView(t, e, kv.IterOptions{}, "\x00"); !slices.Equal(got, want) {
		t.Fatalf("full scan:\n got %q\nwant %q", got, want)
	}
	if got := scanView(t, e, kv.IterOptions{}, "a\x00"); !slices.Equal(got, want[5:]) {
		t.Fatalf("scan from a\\x00:\n got %q\nwant %q", got, want[5:])
	}
}

func testPrefixAndSeek(t *testing.T, e kv.Engine) {
	mustSet(t, e, "p", "0", "p/a", "1", "p/b", "2", "p/b/c", "3", "p/c", "4", "p0", "5", "o", "6", "q", "7")
	p := kv.IterOptions{Prefix: []byte("p/")}
	cases := []struct {
		seek string
		want []string
	}{
		{"", []string{"p/a=1", "p/b=2", "p/b/c=3", "p/c=4"}}, // before the prefix: its first key
		{"p/", []string{"p/a=1", "p/b=2", "p/b/c=3", "p/c=4"}},
		{"p/b", []string{"p/b=2", "p/b/c=3", "p/c=4"}}, // an existing key: itself
		{"p/b\x00", []string{"p/b/c=3", "p/c=4"}},      // just after it
		{"p/bz", []string{"p/c=4"}},
		{"p/d", nil}, // past the prefix's keys
		{"z", nil},
	}
	for _, c := range cases {
		if got := scanView(t, e, p, c.seek); !slices.Equal(got, c.want) {
			t.Errorf("prefix p/ seek %q:\n got %q\nwant %q", c.seek, got, c.want)
		}
	}
	// Seek again on one iterator, backwards too.
	e.View(context.Background(), func(r kv.Reader) error {
		it := r.Iterate(p)
		defer it.Close()
		if it.Valid() {
			t.Error("iterator valid before its first Seek")
		}
		for _, s := range []string{"p/c", "p/a", "p/b/c"} {
			it.Seek([]byte(s))
			if !it.Valid() || string(it.Key()) != s {
				t.Errorf("seek %q: valid=%v", s, it.Valid())
			}
		}
		it.Seek([]byte("p/z"))
		if it.Valid() {
			t.Errorf("seek past the prefix: on %q", it.Key())
		}
		return nil
	})
	// An empty prefix's iteration and an 0xff-ending prefix.
	mustSet(t, e, "\xff\xff", "x", "\xff\xff\x00", "y", "\xff\xfe", "z")
	if got := scanView(t, e, kv.IterOptions{Prefix: []byte("\xff\xff")}, ""); !slices.Equal(got, []string{"\xff\xff=x", "\xff\xff\x00=y"}) {
		t.Errorf("prefix ff ff: %q", got)
	}
}

func testKeysOnly(t *testing.T, e kv.Engine) {
	var kvs, want []string
	for i := range 300 {
		k := fmt.Sprintf("k%04d", i)
		kvs = append(kvs, k, string(bytes.Repeat([]byte{byte(i)}, i%64*3)))
		want = append(want, k)
	}
	mustSet(t, e, kvs...)
	if got := scanView(t, e, kv.IterOptions{Prefix: []byte("k"), KeysOnly: true, Prefetch: 7}, ""); !slices.Equal(got, want) {
		t.Fatalf("keys only: %d keys, want %d", len(got), len(want))
	}
	e.View(context.Background(), func(r kv.Reader) error {
		it := r.Iterate(kv.IterOptions{Prefix: []byte("k"), Prefetch: 1000})
		defer it.Close()
		i := 0
		for it.Seek(nil); it.Valid(); it.Next() {
			v, err := it.Value()
			if err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, i%64*3)) {
				t.Fatalf("value %d: %d bytes, %v", i, len(v), err)
			}
			i++
		}
		if i != 300 {
			t.Fatalf("%d values", i)
		}
		return nil
	})
}

func testOwnWrites(t *testing.T, e kv.Engine) {
	mustSet(t, e, "a", "1", "b", "2", "c", "3")
	err := Update(context.Background(), e, func(tx kv.Txn) error {
		if err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		if err := tx.Set([]byte("d"), []byte("4")); err != nil {
			return err
		}
		if err := tx.Set([]byte("a"), []byte("9")); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("b")); !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("own delete: get b: %v", err)
		}
		if v, err := tx.Get([]byte("d")); err != nil || string(v) != "4" {
			return fmt.Errorf("own insert: get d: %q %v", v, err)
		}
		if got, want := scan(t, tx, kv.IterOptions{}, ""), []string{"a=9", "c=3", "d=4"}; !slices.Equal(got, want) {
			return fmt.Errorf("own writes in a scan: %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := scanView(t, e, kv.IterOptions{}, ""), []string{"a=9", "c=3", "d=4"}; !slices.Equal(got, want) {
		t.Fatalf("after commit: %q, want %q", got, want)
	}
}

// inTxn runs fn in an Update on its own goroutine, stopping inside it until
// release is closed; it returns a channel with Update's result.
func inTxn(e kv.Engine, fn func(kv.Txn) error, inside chan<- struct{}, release <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := fn(tx); err != nil {
				return err
			}
			if inside != nil {
				inside <- struct{}{}
			}
			<-release
			return nil
		})
	}()
	return done
}

// lockNow takes a lock and holds it before going on. An engine may take a
// transaction's locks only with its next read or its commit (PostgreSQL
// sends them in the round trip of the first read): a test that must hold
// one at a given point reads once after it.
func lockNow(tx kv.Txn, key string, mode kv.LockMode) error {
	if err := tx.Lock([]byte(key), mode); err != nil {
		return err
	}
	if _, err := tx.Get([]byte(key)); err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	return nil
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(bound):
		t.Fatalf("%s: nothing after %v", what, bound)
		panic("unreachable")
	}
}

func testUncommittedInvisible(t *testing.T, e kv.Engine) {
	inside, release := make(chan struct{}), make(chan struct{})
	done := inTxn(e, func(tx kv.Txn) error { return tx.Set([]byte("x"), []byte("1")) }, inside, release)
	wait(t, inside, "writer inside its transaction")
	if _, ok := get(t, e, "x"); ok {
		t.Error("an uncommitted write is visible to another transaction")
	}
	if got := scanView(t, e, kv.IterOptions{}, ""); len(got) != 0 {
		t.Errorf("an uncommitted write is visible to a scan: %q", got)
	}
	close(release)
	if err := wait(t, done, "writer's commit"); err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, e, "x"); !ok || v != "1" {
		t.Fatalf("committed write not visible: %q %v", v, ok)
	}
}

func testSnapshotStable(t *testing.T, e kv.Engine) {
	mustSet(t, e, "a", "1")
	err := e.View(context.Background(), func(r kv.Reader) error {
		if v, err := r.Get([]byte("a")); err != nil || string(v) != "1" {
			return fmt.Errorf("first read: %q %v", v, err)
		}
		mustSet(t, e, "a", "2", "b", "2")
		if v, err := r.Get([]byte("a")); err != nil || string(v) != "1" {
			return fmt.Errorf("a read after another transaction committed: %q %v, want the snapshot's 1", v, err)
		}
		if got := scan(t, r, kv.IterOptions{}, ""); !slices.Equal(got, []string{"a=1"}) {
			return fmt.Errorf("a scan after another transaction committed: %q, want the snapshot", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// conflictPair runs a transaction that reads, then lets a second one commit
// a write of key, then writes key itself: it must fail with ErrConflict.
func conflictPair(t *testing.T, e kv.Engine, key string) {
	t.Helper()
	var first error
	calls := 0
	err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
		calls++
		if _, err := tx.Get([]byte(key)); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		if _, err := tx.Get([]byte("unrelated")); err != nil && !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		first = Update(context.Background(), e, func(tx kv.Txn) error { return tx.Set([]byte(key), []byte("other")) })
		return tx.Set([]byte(key), []byte("mine"))
	})
	if first != nil {
		t.Fatalf("the other writer: %v", first)
	}
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("two concurrent writers of %q both committed (err %v, fn ran %d times)", key, err, calls)
	}
	if v, _ := get(t, e, key); v != "other" {
		t.Fatalf("%s = %q after the conflict, want the winner's value", key, v)
	}
}

func testWriteWriteConflict(t *testing.T, e kv.Engine) {
	mustSet(t, e, "k", "0")
	conflictPair(t, e, "k")
	t.Run("delete", func(t *testing.T) {
		mustSet(t, e, "d", "0")
		var first error
		err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
			if _, err := tx.Get([]byte("d")); err != nil {
				return err
			}
			first = Update(context.Background(), e, func(tx kv.Txn) error { return tx.Set([]byte("d"), []byte("1")) })
			return tx.Delete([]byte("d"))
		})
		if first != nil {
			t.Fatal(first)
		}
		if !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("a delete racing a committed update committed too: %v", err)
		}
	})
}

func testInsertInsertConflict(t *testing.T, e kv.Engine) { conflictPair(t, e, "new") }

func testConflictLeavesNothing(t *testing.T, e kv.Engine) {
	mustSet(t, e, "k", "0")
	err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		if err := tx.Set([]byte("side"), []byte("effect")); err != nil {
			return err
		}
		mustSet(t, e, "k", "1")
		return tx.Set([]byte("k"), []byte("2"))
	})
	if !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("want ErrConflict, got %v", err)
	}
	if _, ok := get(t, e, "side"); ok {
		t.Fatal("a write of a conflicting transaction took effect")
	}
}

func testFnErrorDiscards(t *testing.T, e kv.Engine) {
	boom := errors.New("boom")
	err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
		if err := tx.Set([]byte("x"), []byte("1")); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("fn's error came back as %v, want it unchanged", err)
	}
	if _, ok := get(t, e, "x"); ok {
		t.Fatal("a write of a failed transaction took effect")
	}
	if err := e.View(context.Background(), func(kv.Reader) error { return boom }); err != boom {
		t.Fatalf("View: fn's error came back as %v", err)
	}
}

// Read-modify-write of one counter by many goroutines, retrying conflicts:
// no increment may be lost.
func testConcurrentCounter(t *testing.T, e kv.Engine) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := Update(context.Background(), e, func(tx kv.Txn) error {
					v, err := tx.Get([]byte("n"))
					if err != nil && !errors.Is(err, kv.ErrNotFound) {
						return err
					}
					n := 0
					fmt.Sscan(string(v), &n)
					return tx.Set([]byte("n"), []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := get(t, e, "n"); v != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d: increments lost", v, workers*each)
	}
}

func testLockOrder(t *testing.T, e kv.Engine) {
	for _, first := range []string{"get", "iterate", "set", "delete"} {
		err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
			switch first {
			case "get":
				tx.Get([]byte("a"))
			case "iterate":
				it := tx.Iterate(kv.IterOptions{})
				it.Seek(nil)
				it.Close()
			case "set":
				tx.Set([]byte("a"), nil)
			case "delete":
				tx.Delete([]byte("a"))
			}
			return tx.Lock([]byte("L"), kv.Shared)
		})
		if !errors.Is(err, kv.ErrLockOrder) {
			t.Errorf("Lock after %s: %v, want ErrLockOrder", first, err)
		}
	}
	// Several locks first are fine.
	err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
		if err := tx.Lock([]byte("L1"), kv.Shared); err != nil {
			return err
		}
		if err := tx.Lock([]byte("L2"), kv.Exclusive); err != nil {
			return err
		}
		return tx.Set([]byte("a"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testLockDoesNotCreate(t *testing.T, e kv.Engine) {
	err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error {
		if err := tx.Lock([]byte("ghost"), kv.Exclusive); err != nil {
			return err
		}
		_, err := tx.Get([]byte("ghost"))
		if !errors.Is(err, kv.ErrNotFound) {
			return fmt.Errorf("locked key read as present: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, e, "ghost"); ok {
		t.Fatal("Lock created its key")
	}
	if got := scanView(t, e, kv.IterOptions{}, ""); len(got) != 0 {
		t.Fatalf("Lock left keys: %q", got)
	}
}

func testSharedCompatible(t *testing.T, e kv.Engine) {
	inside, release := make(chan struct{}), make(chan struct{})
	done := inTxn(e, func(tx kv.Txn) error {
		if err := lockNow(tx, "L", kv.Shared); err != nil {
			return err
		}
		return tx.Set([]byte("a"), []byte("1"))
	}, inside, release)
	wait(t, inside, "first shared holder")
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	// The first holder is still inside: a second shared lock must be
	// granted now, not after it ends.
	err := Update(ctx, e, func(tx kv.Txn) error {
		if err := lockNow(tx, "L", kv.Shared); err != nil {
			return err
		}
		return tx.Set([]byte("b"), []byte("1"))
	})
	if err != nil {
		t.Fatalf("second shared lock while the first is held: %v", err)
	}
	close(release)
	if err := wait(t, done, "first holder"); err != nil {
		t.Fatal(err)
	}
}

// The write skew that snapshot isolation alone lets through: a writer of a
// child (shared lock on the parent) and the deleter of the parent that first
// checks it has no children (exclusive lock). The deleter must see the child.
func testExclusiveSeesShared(t *testing.T, e kv.Engine) {
	mustSet(t, e, "parent", "p")
	inside, release := make(chan struct{}), make(chan struct{})
	child := inTxn(e, func(tx kv.Txn) error {
		if err := tx.Lock([]byte("parent"), kv.Shared); err != nil {
			return err
		}
		if _, err := tx.Get([]byte("parent")); err != nil {
			return err
		}
		return tx.Set([]byte("parent/child"), []byte("c"))
	}, inside, release)
	wait(t, inside, "child writer holding its shared lock")

	var granted atomic.Bool
	type result struct {
		err   error
		empty bool
	}
	deleter := make(chan result, 1)
	go func() {
		var empty bool
		err := Update(context.Background(), e, func(tx kv.Txn) error {
			if err := lockNow(tx, "parent", kv.Exclusive); err != nil {
				return err
			}
			granted.Store(true)
			it := tx.Iterate(kv.IterOptions{Prefix: []byte("parent/"), KeysOnly: true})
			it.Seek([]byte("parent/"))
			empty = !it.Valid()
			if err := it.Close(); err != nil {
				return err
			}
			if !empty {
				return nil
			}
			return tx.Delete([]byte("parent"))
		})
		deleter <- result{err, empty}
	}()
	if granted.Load() {
		t.Error("exclusive lock granted while a shared one is held")
	}
	close(release)
	if err := wait(t, child, "child writer"); err != nil {
		t.Fatalf("child writer: %v", err)
	}
	r := wait(t, deleter, "deleter")
	if r.err != nil {
		t.Fatalf("deleter: %v", r.err)
	}
	if r.empty {
		t.Fatal("the exclusive locker did not see the child committed by the shared holder before it: parent deleted with a child in it")
	}
	if _, ok := get(t, e, "parent"); !ok {
		t.Fatal("parent deleted")
	}
}

// The other order: the deleter holds the lock and deletes; a child writer
// waiting on the shared lock then finds the parent gone.
func testSharedSeesExclusive(t *testing.T, e kv.Engine) {
	mustSet(t, e, "parent", "p")
	inside, release := make(chan struct{}), make(chan struct{})
	deleter := inTxn(e, func(tx kv.Txn) error {
		if err := lockNow(tx, "parent", kv.Exclusive); err != nil {
			return err
		}
		return tx.Delete([]byte("parent"))
	}, inside, release)
	wait(t, inside, "deleter holding its exclusive lock")
	type result struct {
		err   error
		found bool
	}
	child := make(chan result, 1)
	go func() {
		var found bool
		err := Update(context.Background(), e, func(tx kv.Txn) error {
			if err := tx.Lock([]byte("parent"), kv.Shared); err != nil {
				return err
			}
			_, err := tx.Get([]byte("parent"))
			if errors.Is(err, kv.ErrNotFound) {
				found = false
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			return tx.Set([]byte("parent/child"), []byte("c"))
		})
		child <- result{err, found}
	}()
	close(release)
	if err := wait(t, deleter, "deleter"); err != nil {
		t.Fatal(err)
	}
	r := wait(t, child, "child writer")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.found {
		t.Fatal("the shared locker read the parent its exclusive holder deleted before: child written into a deleted parent")
	}
}

// The same write skew as a race, many times over, with no ordering imposed:
// a parent deleted while a child is written into it never ends with the
// parent gone and the child present.
func testParentChildRace(t *testing.T, e kv.Engine) {
	const rounds = 200
	ctx := context.Background()
	for r := range rounds {
		parent := []byte(fmt.Sprintf("r%03d", r))
		child := append(slices.Clone(parent), "/child"...)
		mustSet(t, e, string(parent), "p")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[0] = Update(ctx, e, func(tx kv.Txn) error {
				if err := tx.Lock(parent, kv.Shared); err != nil {
					return err
				}
				if _, err := tx.Get(parent); errors.Is(err, kv.ErrNotFound) {
					return nil
				} else if err != nil {
					return err
				}
				runtime.Gosched()
				return tx.Set(child, []byte("c"))
			})
		}()
		go func() {
			defer wg.Done()
			errs[1] = Update(ctx, e, func(tx kv.Txn) error {
				if err := tx.Lock(parent, kv.Exclusive); err != nil {
					return err
				}
				it := tx.Iterate(kv.IterOptions{Prefix: append(slices.Clone(parent), '/'), KeysOnly: true})
				it.Seek(nil)
				empty := !it.Valid()
				if err := it.Close(); err != nil {
					return err
				}
				runtime.Gosched()
				if !empty {
					return nil
				}
				return tx.Delete(parent)
			})
		}()
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		_, hasParent := get(t, e, string(parent))
		_, hasChild := get(t, e, string(child))
		if !hasParent && hasChild {
			t.Fatalf("round %d: parent deleted with a child written into it", r)
		}
	}
}

// A lock wait ends with the context, and the waiter that gave up leaves
// nothing behind: a shared lock is still granted beside the holder.
func testLockWaitCancelled(t *testing.T, e kv.Engine) {
	inside, release := make(chan struct{}), make(chan struct{})
	done := inTxn(e, func(tx kv.Txn) error { return lockNow(tx, "L", kv.Shared) }, inside, release)
	wait(t, inside, "shared holder")
	defer func() {
		close(release)
		if err := wait(t, done, "shared holder"); err != nil {
			t.Error(err)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	waited := make(chan error, 1)
	go func() {
		waited <- e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := lockNow(tx, "L", kv.Exclusive); err != nil {
				return err
			}
			return errors.New("exclusive lock granted beside a shared holder")
		})
	}()
	if err := wait(t, waited, "cancelled exclusive locker"); !errors.Is(err, context.Canceled) {
		t.Fatalf("exclusive lock wait with a cancelled context: %v, want context.Canceled", err)
	}

	bounded, cancel2 := context.WithTimeout(context.Background(), bound)
	defer cancel2()
	err := e.Update(bounded, kv.WriteOptions{}, func(tx kv.Txn) error { return tx.Lock([]byte("L"), kv.Shared) })
	if err != nil {
		t.Fatalf("shared lock after an exclusive waiter gave up: %v", err)
	}
}

// Exclusive holders of one key run one after the other, each seeing the
// previous one's writes, without a write-write conflict needed: a counter
// kept under the lock loses nothing even if it is stored under many keys.
func testExclusiveSerialize(t *testing.T, e kv.Engine) {
	const workers, each = 6, 10
	var wg sync.WaitGroup
	var inside atomic.Int32
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := Update(context.Background(), e, func(tx kv.Txn) error {
					if err := lockNow(tx, "L", kv.Exclusive); err != nil {
						return err
					}
					if n := inside.Add(1); n != 1 {
						inside.Add(-1)
						return fmt.Errorf("%d holders of an exclusive lock at once", n)
					}
					defer inside.Add(-1)
					// Count the entries under c/ and add one under a new key:
					// only the lock orders these, no key is written twice.
					it := tx.Iterate(kv.IterOptions{Prefix: []byte("c/"), KeysOnly: true})
					n := 0
					for it.Seek([]byte("c/")); it.Valid(); it.Next() {
						n++
					}
					if err := it.Close(); err != nil {
						return err
					}
					return tx.Set([]byte(fmt.Sprintf("c/%d/%d", w, i)), []byte(fmt.Sprint(n)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each entry records how many preceded it: serial execution gives
	// every number from 0 to workers*each-1 exactly once.
	got := scanView(t, e, kv.IterOptions{Prefix: []byte("c/")}, "")
	seen := map[string]bool{}
	for _, s := range got {
		v := s[bytes.IndexByte([]byte(s), '=')+1:]
		if seen[v] {
			t.Fatalf("two exclusive holders saw %s entries before them: not serialized", v)
		}
		seen[v] = true
	}
	if len(got) != workers*each {
		t.Fatalf("%d entries, want %d", len(got), workers*each)
	}
}

func testStepLimit(t *testing.T, e kv.Engine) {
	var kvs []string
	for i := range 10 {
		kvs = append(kvs, fmt.Sprintf("s%d", i), "v")
	}
	mustSet(t, e, kvs...)
	e.View(context.Background(), func(r kv.Reader) error {
		for _, limit := range []int{10, 11, 100} {
			it := r.Iterate(kv.IterOptions{Prefix: []byte("s"), StepLimit: limit})
			n := 0
			for it.Seek([]byte("s")); it.Valid(); it.Next() {
				n++
			}
			if err := it.Close(); err != nil || n != 10 {
				t.Errorf("step limit %d over 10 keys: %d keys, %v", limit, n, err)
			}
		}
		it := r.Iterate(kv.IterOptions{Prefix: []byte("s"), StepLimit: 4})
		n := 0
		for it.Seek([]byte("s")); it.Valid(); it.Next() {
			n++
		}
		if err := it.Close(); !errors.Is(err, kv.ErrStepLimit) || n > 4 {
			t.Errorf("step limit 4 over 10 keys: %d keys, %v; want at most 4 and ErrStepLimit", n, err)
		}
		return nil
	})
}

func testNoSync(t *testing.T, e kv.Engine) {
	err := e.Update(context.Background(), kv.WriteOptions{NoSync: true, Frees: true}, func(tx kv.Txn) error {
		return tx.Set([]byte("n"), []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := get(t, e, "n"); !ok || v != "1" {
		t.Fatalf("a NoSync commit is not visible at once: %q %v", v, ok)
	}
	if err := e.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func testClosed(t *testing.T, e kv.Engine) {
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Update(context.Background(), kv.WriteOptions{}, func(tx kv.Txn) error { return tx.Set([]byte("a"), nil) }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("update after close: %v, want ErrClosed", err)
	}
	if err := e.View(context.Background(), func(kv.Reader) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("view after close: %v, want ErrClosed", err)
	}
	if err := e.ReadKeys(context.Background(), [][]byte{[]byte("a")}, func(int, []byte) {}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("read keys after close: %v, want ErrClosed", err)
	}
}

// readKeys returns what ReadKeys gives for keys, as "index=value".
func readKeys(t *testing.T, e kv.Engine, keys ...string) []string {
	t.Helper()
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	var out []string
	err := e.ReadKeys(context.Background(), bs, func(i int, v []byte) {
		if v == nil {
			t.Errorf("key %q: nil value, want a present (possibly empty) one", keys[i])
		}
		out = append(out, fmt.Sprintf("%d=%s", i, v))
	})
	if err != nil {
		t.Fatalf("read keys %q: %v", keys, err)
	}
	return out
}

func testReadKeys(t *testing.T, e kv.Engine) {
	if got := readKeys(t, e); len(got) != 0 {
		t.Errorf("no keys: %q", got)
	}
	mustSet(t, e, "a", "1", "b", "", "c", "3", "d", "4")
	if err := Update(context.Background(), e, func(tx kv.Txn) error { return tx.Delete([]byte("c")) }); err != nil {
		t.Fatal(err)
	}
	// Present, missing, empty, deleted, repeated: in the order asked.
	got := readKeys(t, e, "a", "missing", "b", "c", "a", "d")
	if want := []string{"0=1", "2=", "4=1", "5=4"}; !slices.Equal(got, want) {
		t.Errorf("read keys: %q, want %q", got, want)
	}
	if got := readKeys(t, e, "d"); !slices.Equal(got, []string{"0=4"}) {
		t.Errorf("one key: %q", got)
	}
	if got := readKeys(t, e, "c"); len(got) != 0 {
		t.Errorf("a deleted key alone: %q, want nothing", got)
	}
	// Values are the caller's to keep.
	var kept []byte
	if err := e.ReadKeys(context.Background(), [][]byte{[]byte("a")}, func(_ int, v []byte) { kept = v }); err != nil {
		t.Fatal(err)
	}
	mustSet(t, e, "a", "9")
	readKeys(t, e, "a", "d")
	if string(kept) != "1" {
		t.Errorf("a value kept from ReadKeys changed to %q", kept)
	}
}

// testReadKeysSnapshot: a writer commits x and y together, always equal;
// ReadKeys of both must never see one without the other.
func testReadKeysSnapshot(t *testing.T, e kv.Engine) {
	mustSet(t, e, "x", "0", "y", "0")
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= 200; i++ {
			v := []byte(fmt.Sprint(i))
			if err := Update(ctx, e, func(tx kv.Txn) error {
				if err := tx.Set([]byte("x"), v); err != nil {
					return err
				}
				return tx.Set([]byte("y"), v)
			}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	keys := [][]byte{[]byte("y"), []byte("x")}
	for reads := 0; ; reads++ {
		var got [2]string
		if err := e.ReadKeys(ctx, keys, func(i int, v []byte) { got[i] = string(v) }); err != nil {
			t.Fatal(err)
		}
		if got[0] != got[1] || got[0] == "" {
			t.Fatalf("read %d: y=%q x=%q, want one snapshot's pair", reads, got[0], got[1])
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

package pgkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/badgerkv"
	"excloud.dev/buckets/internal/pgtest"
)

func openBadger(t *testing.T) *badgerkv.Engine {
	t.Helper()
	e, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir(), EncryptionKey: bytes.Repeat([]byte{9}, 32), MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// fill writes n keys (some values larger than a backup frame's share) and
// deletes every tenth, so the stream must leave deleted keys out.
func fill(t *testing.T, e kv.Engine, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	ctx := context.Background()
	for lo := 0; lo < n; lo += 500 {
		err := e.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
			for i := lo; i < min(lo+500, n); i++ {
				k := []byte(fmt.Sprintf("key/%06d", i))
				v := bytes.Repeat([]byte{byte(i)}, 1+i%300)
				if i%97 == 0 {
					v = bytes.Repeat([]byte{byte(i)}, 200_000)
				}
				if i%10 == 3 {
					if err := txn.Set(k, v); err != nil {
						return err
					}
					if err := txn.Delete(k); err != nil {
						return err
					}
					continue
				}
				if err := txn.Set(k, v); err != nil {
					return err
				}
				want[string(k)] = v
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func contents(t *testing.T, e kv.Engine) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	err := e.View(context.Background(), func(r kv.Reader) error {
		it := r.Iterate(kv.IterOptions{})
		for it.Seek(nil); it.Valid(); it.Next() {
			v, err := it.Value()
			if err != nil {
				return err
			}
			got[string(it.Key())] = bytes.Clone(v)
		}
		return it.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func same(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("%s: key %q: %d bytes, want %d", what, k, len(got[k]), len(v))
		}
	}
}

// A PostgreSQL backup is Badger's stream: it loads into a Badger engine,
// and a Badger backup loads into an empty PostgreSQL table; a second load
// into the now non-empty table is refused and changes nothing.
func TestBackupLoadAcrossEngines(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	pg := open(t, srv.NewDB(t), Options{PruneEvery: -1})
	want := fill(t, pg, 2500) // more than two cursor pages

	var stream bytes.Buffer
	if err := pg.Backup(ctx, &stream); err != nil {
		t.Fatal(err)
	}
	bg := openBadger(t)
	if err := bg.Load(ctx, bytes.NewReader(stream.Bytes())); err != nil {
		t.Fatalf("Badger load of a PostgreSQL backup: %v", err)
	}
	same(t, "Badger from PostgreSQL", contents(t, bg), want)

	// Badger's own stream (versions, deletion markers) into PostgreSQL.
	bg2 := openBadger(t)
	want2 := fill(t, bg2, 1200)
	if err := bg2.Update(ctx, kv.WriteOptions{}, func(txn kv.Txn) error {
		want2["key/000001"] = []byte("rewritten")
		return txn.Set([]byte("key/000001"), []byte("rewritten"))
	}); err != nil {
		t.Fatal(err)
	}
	var bstream bytes.Buffer
	if err := bg2.Backup(ctx, &bstream); err != nil {
		t.Fatal(err)
	}
	pg2 := open(t, srv.NewDB(t), Options{PruneEvery: -1})
	if err := pg2.Load(ctx, bytes.NewReader(bstream.Bytes())); err != nil {
		t.Fatalf("PostgreSQL load of a Badger backup: %v", err)
	}
	same(t, "PostgreSQL from Badger", contents(t, pg2), want2)

	// Non-empty: refused, nothing changed.
	err := pg2.Load(ctx, bytes.NewReader(stream.Bytes()))
	if !errors.Is(err, kv.ErrNotEmpty) {
		t.Fatalf("load into a non-empty table: %v; want ErrNotEmpty", err)
	}
	same(t, "PostgreSQL after a refused load", contents(t, pg2), want2)
}

// A stream cut short, or bytes that are no stream, fail the load and leave
// the table empty (one transaction): a later load of the whole stream works.
func TestLoadTruncatedStream(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	src := open(t, srv.NewDB(t), Options{PruneEvery: -1})
	want := fill(t, src, 1500)
	var stream bytes.Buffer
	if err := src.Backup(ctx, &stream); err != nil {
		t.Fatal(err)
	}
	dst := open(t, srv.NewDB(t), Options{PruneEvery: -1})
	for _, bad := range [][]byte{
		stream.Bytes()[:stream.Len()-100],
		stream.Bytes()[:5],
		append([]byte{1, 2, 3, 4, 5, 6, 7, 8}, stream.Bytes()[8:]...),
	} {
		err := dst.Load(ctx, bytes.NewReader(bad))
		if err == nil {
			t.Fatalf("load of a %d-byte broken stream succeeded", len(bad))
		}
		t.Logf("broken stream: %v", err)
		if got := contents(t, dst); len(got) != 0 {
			t.Fatalf("a failed load left %d keys", len(got))
		}
	}
	if err := dst.Load(ctx, bytes.NewReader(stream.Bytes())); err != nil {
		t.Fatal(err)
	}
	same(t, "after failed loads", contents(t, dst), want)
}

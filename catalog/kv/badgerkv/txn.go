package badgerkv

import (
	"bytes"
	"context"
	"io"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"excloud.dev/buckets/catalog/kv"
)

// txn is a kv.Txn over one Badger transaction, created at the first read or
// write, after the locks.
type txn struct {
	e      *Engine
	ctx    context.Context
	update bool
	bt     *badger.Txn
	locks  []held
	iters  []*iterator
}

type held struct {
	key  string
	mode kv.LockMode
}

func (t *txn) begin(update bool) { t.bt = t.e.bdb.NewTransaction(update) }

func (t *txn) ensure() {
	if t.bt == nil {
		t.begin(t.update)
	}
}

// end discards the Badger transaction (a no-op after a commit) and releases
// the locks, last, so a waiter's snapshot includes this commit.
func (t *txn) end() {
	t.closeIterators()
	if t.bt != nil {
		t.bt.Discard()
	}
	for i := len(t.locks) - 1; i >= 0; i-- {
		t.e.locks.release(t.locks[i].key, t.locks[i].mode)
	}
	t.locks = nil
}

// closeIterators closes what the caller left open: Badger panics on
// committing or discarding a transaction with an open iterator.
func (t *txn) closeIterators() {
	for _, it := range slices.Clone(t.iters) {
		it.Close()
	}
}

func (t *txn) Lock(key []byte, mode kv.LockMode) error {
	if t.bt != nil {
		return kv.ErrLockOrder
	}
	if mode != kv.Shared && mode != kv.Exclusive {
		panic("badgerkv: invalid lock mode")
	}
	k := string(key)
	if err := t.e.locks.acquire(t.ctx, k, mode); err != nil {
		return err
	}
	t.locks = append(t.locks, held{k, mode})
	return nil
}

func (t *txn) Get(key []byte) ([]byte, error) {
	t.ensure()
	item, err := t.bt.Get(key)
	if err != nil {
		return nil, mapErr(err)
	}
	v, err := item.ValueCopy(nil)
	return v, mapErr(err)
}

func (t *txn) Set(key, value []byte) error {
	t.ensure()
	return mapErr(t.bt.Set(key, value))
}

func (t *txn) Delete(key []byte) error {
	t.ensure()
	return mapErr(t.bt.Delete(key))
}

func (t *txn) Iterate(o kv.IterOptions) kv.Iterator {
	t.ensure()
	bo := badger.IteratorOptions{
		Prefix:      o.Prefix,
		AllVersions: o.StepLimit > 0,
	}
	// Badger prefetches each value in a goroutine of its own. Up to a few
	// hundred that pays for values in the value log; a listing page's hint
	// (catalog.List asks for 1001 entries) would start a thousand goroutines
	// per page for manifests that sit next to their keys (valueThreshold),
	// where the listing read them in turn before it gave the hint.
	if o.Prefetch > 0 && o.Prefetch <= maxPrefetchValues && !o.KeysOnly {
		bo.PrefetchValues, bo.PrefetchSize = true, o.Prefetch
	}
	it := &iterator{t: t, it: t.bt.NewIterator(bo), prefix: o.Prefix, limit: o.StepLimit}
	t.iters = append(t.iters, it)
	return it
}

// maxPrefetchValues is the largest Prefetch hint turned into Badger's value
// prefetching.
const maxPrefetchValues = 256

// iterator is a kv.Iterator over a Badger iterator. With a step limit it
// reads every version Badger keeps (AllVersions) and skips old versions
// and deletions itself, counting them.
type iterator struct {
	t      *txn
	it     *badger.Iterator
	prefix []byte
	limit  int
	steps  int
	prev   []byte // with a limit: the last key stepped over
	err    error
	buf    []byte
	closed bool
	sought bool
}

func (i *iterator) Seek(key []byte) {
	if i.err != nil {
		return
	}
	i.sought = true
	if bytes.Compare(key, i.prefix) < 0 {
		key = i.prefix
	}
	i.it.Seek(key)
	i.prev = i.prev[:0]
	i.settle()
}

func (i *iterator) Next() {
	if !i.Valid() {
		return
	}
	i.it.Next()
	i.settle()
}

// settle, with a step limit, moves to the newest live version of the next
// key, counting every entry it looks at.
func (i *iterator) settle() {
	if i.limit <= 0 {
		return
	}
	for i.it.ValidForPrefix(i.prefix) {
		if i.steps == i.limit {
			i.err = kv.ErrStepLimit
			return
		}
		i.steps++
		item := i.it.Item()
		key := item.Key()
		if bytes.Equal(key, i.prev) {
			i.it.Next() // an older version of a key already seen
			continue
		}
		i.prev = append(i.prev[:0], key...)
		if item.IsDeletedOrExpired() {
			i.it.Next()
			continue
		}
		return
	}
}

func (i *iterator) Valid() bool {
	return i.sought && i.err == nil && !i.closed && i.it.ValidForPrefix(i.prefix)
}

func (i *iterator) Key() []byte { return i.it.Item().Key() }

func (i *iterator) Value() ([]byte, error) {
	v, err := i.it.Item().ValueCopy(i.buf[:0])
	if err != nil {
		return nil, mapErr(err)
	}
	i.buf = v
	return v, nil
}

func (i *iterator) Err() error { return i.err }

func (i *iterator) Close() error {
	if !i.closed {
		i.closed = true
		i.it.Close()
		if n := slices.Index(i.t.iters, i); n >= 0 {
			i.t.iters = slices.Delete(i.t.iters, n, n+1)
		}
	}
	return i.err
}

// Backup implements kv.Dumper: Badger's backup stream of the latest
// versions, read from one snapshot, in the clear (Badger decrypts as it
// reads). Badger's Backup takes no context; cancelling ctx makes the next
// write to w fail, which stops the stream.
func (e *Engine) Backup(ctx context.Context, w io.Writer) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	if _, err := e.bdb.Backup(ctxWriter{ctx, w}, 0); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return mapErr(err)
	}
	return nil
}

// maxPendingWrites bounds how many key batches Badger's loader keeps in
// flight during Load.
const maxPendingWrites = 256

// Load implements kv.Dumper: it writes every key of a Backup stream.
func (e *Engine) Load(ctx context.Context, r io.Reader) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	return mapErr(e.bdb.Load(ctxReader{ctx, r}, maxPendingWrites))
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

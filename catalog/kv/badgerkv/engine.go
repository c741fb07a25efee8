// Package badgerkv is the embedded kv engine: one Badger directory, owned by
// one process, with Badger's encryption at rest. It stores the catalog's keys
// and values exactly as given (docs/format.md, "Catalog"), so a directory
// written before the engine seam existed opens unchanged.
//
// Badger gives serializable snapshot isolation on the keys a transaction
// reads, more than the kv contract asks. Locks (kv.Txn.Lock) live in an
// in-process lock table: Badger allows one process per directory, so the
// process is the whole world of its lockers. Locks are granted before the
// Badger transaction is created, so its snapshot includes every commit of
// an earlier holder.
package badgerkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/internal/fsutil"
)

// ErrEncryptionKey: the directory was created with another encryption key.
var ErrEncryptionKey = errors.New("badgerkv: encryption key does not match the one the directory was created with")

// Options configures Open.
type Options struct {
	// Dir is the Badger directory; created if missing. One process at a
	// time: Badger locks it.
	Dir string
	// EncryptionKey is the 32-byte key for Badger's encryption at rest
	// (AES-256 of its data keys). Required.
	EncryptionKey []byte
	// SyncWrites makes every commit durable (fsync) before Update returns,
	// except those made with kv.WriteOptions.NoSync; concurrent commits
	// share one fsync (sync.go).
	SyncWrites bool
	// Logger receives Badger's warnings and errors; nil means slog.Default().
	// Badger's info and debug chatter is dropped.
	Logger *slog.Logger
	// MinFree is the space, in bytes, kept free on the filesystem holding
	// Dir: an Update is refused, with an error wrapping syscall.ENOSPC,
	// while less is available; one with WriteOptions.Frees only below
	// MinFree/2, so an operator can still free space. Badger writes its
	// log and tables through mmap'd files that it sizes with truncate, not
	// fallocate: on a full filesystem a write to such a page kills the
	// process with SIGBUS instead of returning ENOSPC, so the engine must
	// never be the writer that fills the disk. 0 disables the check.
	MinFree int64
	// MemTableSize, when set, shrinks Badger's memtable, caches and value
	// log file (32 MiB, 32 MiB, 1 GiB otherwise): tests open many engines
	// at once and scan their files.
	MemTableSize int64
	// ValueLogGCInterval is how often the engine collects its value log
	// (vloggc.go); 0 means DefaultValueLogGCInterval, below 0 never.
	ValueLogGCInterval time.Duration
}

// valueThreshold: values smaller than this stay in the LSM tree, larger ones
// go to Badger's value log. 16 KiB keeps every manifest with inline data
// (the object layer inlines objects up to 8 KiB, plus at most a few KiB of
// metadata) and every manifest of up to about 350 extents (a file of 1 GiB
// and more) next to its key, so a listing reads size and ETag without a
// value-log lookup, while object bodies (the catalog's values of objects
// up to 128 KiB: catalog/body.go) above it go to the value log: the LSM
// tree's compactions, which rewrite what the tables hold again and again,
// never copy them, and the value log's own collection (vloggc.go) frees
// them once deleted.
const valueThreshold = 16 << 10

// Engine is an open Badger directory; it implements kv.Engine and
// kv.Dumper.
type Engine struct {
	bdb        *badger.DB
	dir        string
	minFree    int64
	syncWrites bool
	sync       *syncer
	locks      lockTable
	closed     atomic.Bool
	log        *slog.Logger

	gcStop, gcDone chan struct{} // the value-log collector (vloggc.go)
	heldMu         sync.Mutex
	held           []heldGC
	// beforeRewrite and afterRewrite, set by tests, run around a
	// value-log rewrite, before its sync.
	beforeRewrite func()
	afterRewrite  func(error)
}

var (
	_ kv.Engine = (*Engine)(nil)
	_ kv.Dumper = (*Engine)(nil)
)

// Open opens (creating if needed) the Badger directory opts.Dir.
func Open(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, errors.New("badgerkv: open: no directory given")
	}
	if len(opts.EncryptionKey) != 32 {
		return nil, fmt.Errorf("badgerkv: open %s: encryption key is %d bytes, want 32", opts.Dir, len(opts.EncryptionKey))
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithEncryptionKey(opts.EncryptionKey).
		// Badger requires an index cache with encryption: decrypted table
		// indexes live there instead of being decrypted on every access.
		WithIndexCacheSize(32 << 20).
		// Badger's defaults (5 memtables of 64 MiB, a 256 MiB block cache)
		// suit a database server that owns the machine; the catalog shares
		// it with uploads and the page cache, and its values are small.
		WithMemTableSize(32 << 20).
		WithNumMemtables(3).
		WithBlockCacheSize(32 << 20).
		// Durability is the engine's group commit (sync.go), not
		// Badger's per-transaction fsync.
		WithSyncWrites(false).
		WithValueThreshold(valueThreshold).
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithMetricsEnabled(false)
	if opts.MemTableSize > 0 {
		bo = bo.WithMemTableSize(opts.MemTableSize).WithValueLogFileSize(16 << 20).
			WithBlockCacheSize(8 << 20).WithIndexCacheSize(8 << 20)
	}
	if err := removeEmptyLogs(opts.Dir, logger); err != nil {
		return nil, err
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
			return nil, ErrEncryptionKey
		}
		return nil, mapErr(err)
	}
	e := &Engine{bdb: bdb, dir: opts.Dir, minFree: opts.MinFree, syncWrites: opts.SyncWrites, log: logger,
		gcStop: make(chan struct{}), gcDone: make(chan struct{})}
	e.sync = newSyncer(opts.Dir, func() error { return mapErr(bdb.Sync()) })
	gcEvery := opts.ValueLogGCInterval
	if gcEvery == 0 {
		gcEvery = DefaultValueLogGCInterval
	}
	if gcEvery > 0 {
		go e.valueLogGCLoop(gcEvery)
	} else {
		close(e.gcDone)
	}
	return e, nil
}

// DB returns the Badger database, for tests that reach under the contract.
func (e *Engine) DB() *badger.DB { return e.bdb }

// Close closes Badger. The caller has ended its transactions.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return kv.ErrClosed
	}
	close(e.gcStop)
	<-e.gcDone
	e.sync.close()
	return mapErr(e.bdb.Close())
}

// View implements kv.Engine.
func (e *Engine) View(ctx context.Context, fn func(kv.Reader) error) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	t := &txn{e: e, ctx: ctx}
	defer t.end()
	t.begin(false)
	return fn(t)
}

// ReadKeys implements kv.Engine: a View of Gets (Badger reads memory; one
// step or several cost the same).
func (e *Engine) ReadKeys(ctx context.Context, keys [][]byte, fn func(i int, value []byte)) error {
	return e.View(ctx, func(r kv.Reader) error {
		for i, k := range keys {
			v, err := r.Get(k)
			if errors.Is(err, kv.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if v == nil {
				v = []byte{} // present, though empty
			}
			fn(i, v)
		}
		return nil
	})
}

// Update implements kv.Engine: locks, then one Badger transaction, then
// (with SyncWrites and without NoSync) the group commit's fsync.
func (e *Engine) Update(ctx context.Context, o kv.WriteOptions, fn func(kv.Txn) error) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	need := e.minFree
	if o.Frees {
		need /= 2
	}
	if err := e.checkSpace(need); err != nil {
		return err
	}
	t := &txn{e: e, ctx: ctx, update: true}
	if err := e.commit(t, fn); err != nil {
		return err
	}
	if e.syncWrites && !o.NoSync {
		return e.sync.wait()
	}
	e.sync.committed()
	return nil
}

// commit runs fn in t and commits it; t's locks are released once the
// commit is visible, before any fsync wait.
func (e *Engine) commit(t *txn, fn func(kv.Txn) error) error {
	defer t.end()
	if err := fn(t); err != nil {
		return err
	}
	if t.bt == nil {
		return nil // locks only: nothing to commit
	}
	t.closeIterators()
	return mapErr(t.bt.Commit())
}

// Sync implements kv.Engine.
func (e *Engine) Sync(ctx context.Context) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	// Not cut short by ctx: it is one fsync, and the caller would not
	// know which of its commits were durable.
	return e.sync.wait()
}

// checkSpace fails with an error wrapping syscall.ENOSPC while fewer than
// need bytes are available. One statfs per transaction: cheap next to the
// fsync of the commit it guards.
func (e *Engine) checkSpace(need int64) error {
	if need <= 0 {
		return nil
	}
	avail, err := fsutil.Available(e.dir)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", e.dir, err)
	}
	if avail < need {
		return fmt.Errorf("%d bytes free under %s, below the %d kept in reserve: %w", avail, e.dir, need, syscall.ENOSPC)
	}
	return nil
}

// mapped is a Badger error that also matches a kv sentinel; its text is
// Badger's.
type mapped struct{ sentinel, err error }

func (m *mapped) Error() string   { return m.err.Error() }
func (m *mapped) Unwrap() []error { return []error{m.sentinel, m.err} }

// mapErr makes Badger's errors match the kv sentinels, keeping their text
// and any errno under them.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return &mapped{kv.ErrNotFound, err}
	case errors.Is(err, badger.ErrConflict):
		return &mapped{kv.ErrConflict, err}
	case errors.Is(err, badger.ErrTxnTooBig):
		return &mapped{kv.ErrTooBig, err}
	case errors.Is(err, badger.ErrDBClosed), errors.Is(err, badger.ErrBlockedWrites):
		return &mapped{kv.ErrClosed, err}
	}
	return err
}

// badgerLogger routes Badger's log to slog: errors and warnings only.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

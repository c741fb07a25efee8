package catalog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"excloud.dev/buckets/internal/fsutil"
)

// Options configures Open.
type Options struct {
	// Dir is the Badger directory; created if missing. One process at a
	// time: Badger locks it.
	Dir string
	// EncryptionKey is the 32-byte key for Badger's encryption at rest
	// (AES-256 of its data keys). Required.
	EncryptionKey []byte
	// SyncWrites makes every commit durable (fsync) before it returns,
	// except those made with a WithoutSync context; concurrent commits share
	// one fsync (sync.go). The daemon sets it. Tests may leave it off.
	SyncWrites bool
	// Logger receives Badger's warnings and errors; nil means slog.Default().
	// Badger's info and debug chatter is dropped.
	Logger *slog.Logger
	// MinFree is the space, in bytes, kept free on the filesystem holding
	// Dir: a write transaction is refused, with an error wrapping
	// syscall.ENOSPC, while less is available; a deletion only below
	// MinFree/2, so an operator can still free space. Badger writes its
	// log and tables through mmap'd files that it sizes with truncate, not
	// fallocate: on a full filesystem a write to such a page kills the
	// process with SIGBUS instead of returning ENOSPC, so the catalog must
	// never be the writer that fills the disk. 0 disables the check.
	MinFree int64

	// memTableSize, when set, shrinks Badger's memtable, caches and value
	// log file (64 MiB, 256 MiB, 1 GiB by default): tests open many
	// catalogs at once and scan their files.
	memTableSize int64
}

// valueThreshold: values smaller than this stay in the LSM tree, larger ones
// go to Badger's value log. 64 KiB keeps every manifest with inline data
// (the object layer inlines objects up to 8 KiB) and every manifest of up to
// about 1000 extents next to its key, so a listing reads size and ETag
// without a value-log lookup, while rare huge manifests do not bloat the
// tables that listings scan.
const valueThreshold = 64 << 10

// DB is an open catalog. Its methods are safe for concurrent use.
type DB struct {
	bdb     *badger.DB
	log     *slog.Logger
	dir     string
	minFree int64

	// closeMu guards closed; ops register in inflight so Close waits for
	// them instead of pulling Badger from under a transaction.
	closeMu  sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	// keyLocks serialize writers of one object key across transaction,
	// commit and feed publish, so a key's events go out in commit order;
	// writers of different keys take different stripes (mostly) and commit
	// concurrently, sharing fsyncs (sync.go).
	keyLocks [256]sync.Mutex
	keySeed  maphash.Seed

	// bucketLocks: object and upload writers hold a bucket's stripe shared,
	// DeleteBucket holds it exclusively. Badger detects conflicts on keys
	// read, not on ranges, so without this a put could commit an object
	// into a bucket whose (empty-looking) deletion commits concurrently.
	bucketLocks [64]sync.RWMutex
	// uploadLocks: PutPart holds an upload's stripe shared, Complete and
	// Abort exclusively, so no part can slip in after they have read the
	// upload's parts (same range-conflict reason).
	uploadLocks [64]sync.RWMutex
	// orgMu: CreateBucket and CreateAccessKey hold it shared, DeleteOrg
	// exclusively (same reason, one level up; these are rare admin ops).
	orgMu sync.RWMutex

	feed feed

	buckets    recordCache[bucketRef, Bucket]
	accessKeys recordCache[string, AccessKey] // by id

	// commits counts transactions begun and ended; ahead holds listing
	// pages read ahead, valid only while no transaction began since they
	// were started (list_ahead.go).
	commits commitCount
	ahead   listAhead

	// sync is the group commit; syncCommits makes update wait for it.
	sync        *syncer
	syncCommits bool
}

// Open opens (creating if needed) the catalog in opts.Dir. A new catalog gets
// the current format version key; an existing one must carry exactly
// FormatVersion, or Open fails with an error wrapping ErrFormat. A key that
// does not match the one the catalog was created with fails with
// ErrEncryptionKey.
func Open(opts Options) (*DB, error) {
	if opts.Dir == "" {
		return nil, errors.New("catalog: open: no directory given")
	}
	if len(opts.EncryptionKey) != 32 {
		return nil, fmt.Errorf("catalog: open %s: encryption key is %d bytes, want 32", opts.Dir, len(opts.EncryptionKey))
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
		// Durability is the catalog's group commit (sync.go), not
		// Badger's per-transaction fsync.
		WithSyncWrites(false).
		WithValueThreshold(valueThreshold).
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithMetricsEnabled(false)
	if opts.memTableSize > 0 {
		bo = bo.WithMemTableSize(opts.memTableSize).WithValueLogFileSize(16 << 20).
			WithBlockCacheSize(8 << 20).WithIndexCacheSize(8 << 20)
	}
	if err := removeEmptyLogs(opts.Dir, logger); err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, err)
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
			return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, ErrEncryptionKey)
		}
		return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, storageErr(err))
	}
	db := &DB{bdb: bdb, log: logger, dir: opts.Dir, minFree: opts.MinFree, keySeed: maphash.MakeSeed(), syncCommits: opts.SyncWrites}
	db.sync = newSyncer(opts.Dir, bdb.Sync)
	if err := db.checkFormat(); err != nil {
		db.sync.close()
		bdb.Close()
		return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, err)
	}
	return db, nil
}

// checkFormat writes the format version key into an empty database and
// checks it in an existing one. Only the first writes, and needs space: an
// existing catalog opens on a full disk, so its objects can still be read,
// and opening it commits nothing.
func (db *DB) checkFormat() error {
	found := false
	if err := db.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return storageErr(err)
		}
		found = true
		v, err := item.ValueCopy(nil)
		if err != nil {
			return storageErr(err)
		}
		return checkVersion(v)
	}); err != nil || found {
		return err
	}
	return db.updateNeed(context.Background(), db.minFree/2, func(txn *badger.Txn) error {
		item, err := txn.Get(keyFormat)
		if err == nil {
			// Written since the view (Badger locks the directory against
			// other openers, so this is only defence).
			v, err := item.ValueCopy(nil)
			if err != nil {
				return storageErr(err)
			}
			return checkVersion(v)
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return storageErr(err)
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		it.Rewind()
		empty := !it.Valid()
		it.Close()
		if !empty {
			return fmt.Errorf("%w: data without a format version key", ErrFormat)
		}
		return set(txn, keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	})
}

// checkVersion checks the value of the format version key.
func checkVersion(v []byte) error {
	if len(v) != 4 {
		return fmt.Errorf("%w: format version key of %d bytes", ErrFormat, len(v))
	}
	if got := binary.BigEndian.Uint32(v); got != FormatVersion {
		return fmt.Errorf("%w: catalog has format version %d, this build reads only version %d", ErrFormat, got, FormatVersion)
	}
	return nil
}

// Close waits for operations in progress, then closes Badger. Later calls
// return ErrClosed.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return fmt.Errorf("catalog: close: %w", ErrClosed)
	}
	db.closed = true
	db.closeMu.Unlock()
	db.inflight.Wait()
	db.sync.close()
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("catalog: close: %w", storageErr(err))
	}
	return nil
}

// enter registers an operation; every exported method calls it first and
// defers leave. The read lock is held only for the check, so a feed
// subscriber that reads the catalog during Close gets ErrClosed instead of a
// deadlock.
func (db *DB) enter() error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	db.inflight.Add(1)
	return nil
}

func (db *DB) leave() { db.inflight.Done() }

// maxAttempts bounds retries of a conflicting transaction. Conflicts come from
// writers of other keys sharing a chunk's reference count (writers of one key
// are serialized by keyLocks), so a few retries always suffice in practice.
const maxAttempts = 64

// update runs fn in a read-write transaction and commits it, retrying from
// scratch when Badger reports a conflict; fn must therefore be idempotent
// (compute everything from what it reads in txn). ctx is checked before each
// attempt: Badger's transactions take no context. fn's own errors are
// returned as they are: fn converts any Badger error it meets with
// storageErr (the helpers below do). It is refused while less than MinFree
// is available (see Options.MinFree).
func (db *DB) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	return db.updateNeed(ctx, db.minFree, fn)
}

// updateFreeing is update for transactions that delete: they may use the
// lower half of the reserve, so a full store can still be emptied.
func (db *DB) updateFreeing(ctx context.Context, fn func(txn *badger.Txn) error) error {
	return db.updateNeed(ctx, db.minFree/2, fn)
}

// updateNeed is update refused while less than need bytes are available.
func (db *DB) updateNeed(ctx context.Context, need int64, fn func(txn *badger.Txn) error) error {
	if err := db.checkSpace(need); err != nil {
		return err
	}
	// Every write to Badger goes through here: the listing pages read ahead
	// rely on seeing each one counted before it can become visible.
	db.commits.begun.Add(1)
	defer db.commits.ended.Add(1)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var fnErr error
		err := db.bdb.Update(func(txn *badger.Txn) error {
			fnErr = fn(txn)
			return fnErr
		})
		if fnErr != nil {
			return fnErr
		}
		if err == nil {
			if db.syncCommits && wantsSync(ctx) {
				return db.sync.wait()
			}
			db.sync.committed()
			return nil
		}
		if !errors.Is(err, badger.ErrConflict) {
			return storageErr(err)
		}
		if attempt+1 == maxAttempts {
			return fmt.Errorf("transaction still conflicting after %d attempts", maxAttempts)
		}
		// Back off a little, randomized, so two writers of one hot chunk
		// do not retry in lockstep.
		d := time.Duration(rand.Int64N(int64(50*time.Microsecond) << min(attempt, 8)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// checkSpace fails with an error wrapping syscall.ENOSPC while fewer than
// need bytes are available to the catalog. One statfs per transaction:
// cheap next to the fsync of the commit it guards.
func (db *DB) checkSpace(need int64) error {
	if need <= 0 {
		return nil
	}
	avail, err := fsutil.Available(db.dir)
	if err != nil {
		return fmt.Errorf("catalog: free space of %s: %w", db.dir, err)
	}
	if avail < need {
		return fmt.Errorf("catalog: %d bytes free under %s, below the %d kept in reserve: %w", avail, db.dir, need, syscall.ENOSPC)
	}
	return nil
}

// view runs fn in a read-only transaction; as with update, fn's errors pass
// through unchanged.
func (db *DB) view(fn func(txn *badger.Txn) error) error {
	var fnErr error
	err := db.bdb.View(func(txn *badger.Txn) error {
		fnErr = fn(txn)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return storageErr(err)
}

// storageErr keeps Badger's types out of the API: a Badger error becomes a
// plain error carrying its text, keeping only an underlying errno (ENOSPC,
// EIO, ...) for callers that map those. Only Badger's errors go through it.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, badger.ErrDBClosed) || errors.Is(err, badger.ErrBlockedWrites) {
		return ErrClosed
	}
	msg := "storage: " + err.Error()
	if errors.Is(err, badger.ErrTxnTooBig) {
		msg = "storage: operation too large for one transaction"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &storageError{msg: msg, errno: errno}
	}
	return &storageError{msg: msg}
}

type storageError struct {
	msg   string
	errno syscall.Errno
}

func (e *storageError) Error() string { return e.msg }

func (e *storageError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// getValue returns a copy of key's value, or ErrKeyNotFound's stand-in
// errMissing so callers map it to their own sentinel.
func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errMissing
	}
	if err != nil {
		return nil, storageErr(err)
	}
	v, err := item.ValueCopy(nil)
	return v, storageErr(err)
}

// errMissing is the package-internal "no such key"; every exported method
// turns it into its own sentinel before returning.
var errMissing = errors.New("catalog: internal: key missing")

// exists reports whether key is present, registering the read for conflict
// detection.
func exists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, storageErr(err)
}

func set(txn *badger.Txn, key, value []byte) error { return storageErr(txn.Set(key, value)) }

func del(txn *badger.Txn, key []byte) error { return storageErr(txn.Delete(key)) }

// hasPrefix reports whether any key starts with p: one seek, independent of
// how many keys there are.
func hasPrefix(txn *badger.Txn, p []byte) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	it.Seek(p)
	return it.ValidForPrefix(p)
}

func (db *DB) keyLock(bucketID uint64, key string) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(db.keySeed)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], bucketID)
	h.Write(b[:])
	h.WriteString(key)
	return &db.keyLocks[h.Sum64()%uint64(len(db.keyLocks))]
}

func (db *DB) bucketLock(bucketID uint64) *sync.RWMutex {
	return &db.bucketLocks[bucketID%uint64(len(db.bucketLocks))]
}

func (db *DB) uploadLock(uploadID string) *sync.RWMutex {
	return &db.uploadLocks[maphash.String(db.keySeed, uploadID)%uint64(len(db.uploadLocks))]
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

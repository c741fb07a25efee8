package catalog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/badgerkv"
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
	// one fsync (kv/badgerkv/sync.go). The daemon sets it. Tests may leave
	// it off.
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

// DB is an open catalog. Its methods are safe for concurrent use.
type DB struct {
	eng kv.Engine
	log *slog.Logger

	// closeMu guards closed; ops register in inflight so Close waits for
	// them instead of pulling the engine from under a transaction.
	closeMu  sync.RWMutex
	closed   bool
	closing  bool // Close has begun: the node record is being removed
	inflight sync.WaitGroup

	// keyLocks serialize writers of one object key across transaction,
	// commit and feed publish, so a key's events go out in commit order;
	// writers of different keys take different stripes (mostly) and commit
	// concurrently, sharing fsyncs. They order this process's feed only:
	// consistency between writers is the engine's (kv.Txn.Lock).
	keyLocks [256]sync.Mutex
	keySeed  maphash.Seed

	// bucketLocks order the feed around RenamePrefix: it holds its
	// bucket's stripe exclusively across commit and the publishing of its
	// events, writers that publish object events hold it shared, so no
	// event of a moved key interleaves with the rename's. Which writes may
	// commit together is decided by engine locks on the bucket record, not
	// by these.
	bucketLocks [64]sync.RWMutex

	feed feed

	buckets    recordCache[bucketRef, Bucket]
	bucketIDs  bucketIDMemo                   // for checkBucket
	accessKeys recordCache[string, AccessKey] // by id
	hints      readHints                      // for Preread (preread.go)

	// commits counts transactions begun and ended; ahead holds listing
	// pages read ahead, valid only while no transaction began since they
	// were started (list_ahead.go).
	commits commitCount
	ahead   listAhead

	// nodes is the change feed across the nodes sharing the engine, nil
	// on an engine this process owns (feed_nodes.go). With it, the record
	// caches and the listing read-ahead are off: another node's commit
	// would not reach them before this node's next request does.
	nodes *nodeFeed
	reg   *nodeReg // this node's record on a shared engine (nodes.go)
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
	eng, err := badgerkv.Open(badgerkv.Options{
		Dir:           opts.Dir,
		EncryptionKey: opts.EncryptionKey,
		SyncWrites:    opts.SyncWrites,
		Logger:        logger,
		MinFree:       opts.MinFree,
		MemTableSize:  opts.memTableSize,
	})
	if err != nil {
		if errors.Is(err, badgerkv.ErrEncryptionKey) {
			return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, ErrEncryptionKey)
		}
		return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, storageErr(err))
	}
	db, err := OpenEngine(eng, logger)
	if err != nil {
		return nil, fmt.Errorf("catalog: open %s: %w", opts.Dir, err)
	}
	return db, nil
}

// OpenEngine opens the catalog on an open engine, checking its format
// version (or writing it, if the engine holds no key yet) as Open does; it
// closes eng when that fails, and Close closes it. Whether a commit waits
// for durability is the engine's setting: the catalog asks for it on every
// commit not made WithoutSync. A nil logger means slog.Default().
func OpenEngine(eng kv.Engine, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	db := &DB{eng: eng, log: logger, keySeed: maphash.MakeSeed()}
	if err := db.checkFormat(); err != nil {
		eng.Close()
		return nil, err
	}
	if n, ok := eng.(kv.Notifier); ok {
		if err := db.startNodeFeed(n); err != nil {
			eng.Close()
			return nil, err
		}
		db.buckets.off, db.accessKeys.off = true, true
		if err := db.register(); err != nil {
			db.nodes.cancel()
			eng.Close()
			return nil, err
		}
	}
	return db, nil
}

// checkFormat writes the format version key into an empty database and
// checks it in an existing one. Only the first writes, and needs space: an
// existing catalog opens on a full disk, so its objects can still be read,
// and opening it commits nothing.
func (db *DB) checkFormat() error {
	ctx := context.Background()
	found, old := false, false
	if err := db.view(ctx, func(txn kv.Reader) error {
		v, err := getValue(txn, keyFormat)
		if errors.Is(err, errMissing) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		old = isV1(v)
		return checkVersion(v)
	}); err != nil {
		return err
	}
	if old {
		return db.upgradeFormat(ctx)
	}
	if found {
		return nil
	}
	return db.updateFreeing(ctx, func(txn kv.Txn) error {
		// The format key is the catalog's root record: two processes
		// initialising one shared engine at once write it once.
		if err := lock(txn, kv.Exclusive, keyFormat); err != nil {
			return err
		}
		v, err := getValue(txn, keyFormat)
		if err == nil {
			// Written since the view, by another opener of a shared
			// engine (Badger locks its directory against other openers).
			return checkVersion(v)
		}
		if !errors.Is(err, errMissing) {
			return err
		}
		it := txn.Iterate(kv.IterOptions{KeysOnly: true})
		it.Seek(nil)
		empty := !it.Valid()
		if err := it.Close(); err != nil {
			return storageErr(err)
		}
		if !empty {
			return fmt.Errorf("%w: data without a format version key", ErrFormat)
		}
		return set(txn, keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	})
}

// checkVersion checks the value of the format version key: the current
// version or version 1.
func checkVersion(v []byte) error {
	if len(v) != 4 {
		return fmt.Errorf("%w: format version key of %d bytes", ErrFormat, len(v))
	}
	if got := binary.BigEndian.Uint32(v); got != FormatVersion && got != formatV1 {
		return fmt.Errorf("%w: catalog has format version %d, this build reads only version %d (and version %d, which it upgrades)", ErrFormat, got, FormatVersion, formatV1)
	}
	return nil
}

func isV1(v []byte) bool { return len(v) == 4 && binary.BigEndian.Uint32(v) == formatV1 }

// upgradeFormat marks a version 1 catalog version 2: nothing else changes
// (version 1 values are version 2 values). A catalog that cannot take the
// write (a full disk) still opens, and is marked at its next open; until
// then a build that knows only version 1 would open it and refuse only the
// manifests that have a body, as corrupt.
func (db *DB) upgradeFormat(ctx context.Context) error {
	err := db.updateFreeing(ctx, func(txn kv.Txn) error {
		if err := lock(txn, kv.Exclusive, keyFormat); err != nil {
			return err
		}
		v, err := getValue(txn, keyFormat)
		if err != nil {
			return err
		}
		if !isV1(v) {
			return checkVersion(v) // upgraded meanwhile by another node
		}
		return set(txn, keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion))
	})
	if err != nil && errors.Is(err, ErrFormat) {
		return err
	}
	if err != nil {
		db.log.Warn("catalog: could not mark the catalog format version 2; will retry at the next open", "err", err)
	}
	return nil
}

// Close waits for operations in progress, then closes the engine. Later
// calls return ErrClosed.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed || db.closing {
		db.closeMu.Unlock()
		return fmt.Errorf("catalog: close: %w", ErrClosed)
	}
	db.closing = true
	db.closeMu.Unlock()
	// The node's record goes while the catalog can still write it.
	db.unregister()
	db.closeMu.Lock()
	db.closed = true
	db.closeMu.Unlock()
	db.inflight.Wait()
	if db.nodes != nil {
		db.nodes.cancel()
	}
	if err := db.eng.Close(); err != nil {
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
// scratch when the engine reports a conflict (kv.ErrConflict); fn must
// therefore be idempotent (compute everything from what it reads in txn)
// and take its locks (lock) before anything else. ctx is checked before
// each attempt. fn's own errors are returned as they are: fn converts any
// engine error it meets with storageErr (the helpers below do). It is
// refused while the engine's storage runs short (Options.MinFree).
func (db *DB) update(ctx context.Context, fn func(txn kv.Txn) error) error {
	return db.updateOpts(ctx, false, fn)
}

// updateFreeing is update for transactions that delete: they may use the
// lower half of the reserve, so a full store can still be emptied.
func (db *DB) updateFreeing(ctx context.Context, fn func(txn kv.Txn) error) error {
	return db.updateOpts(ctx, true, fn)
}

func (db *DB) updateOpts(ctx context.Context, frees bool, fn func(txn kv.Txn) error) error {
	// Every write goes through here: the listing pages read ahead rely on
	// seeing each one counted before it can become visible.
	db.commits.begun.Add(1)
	defer db.commits.ended.Add(1)
	db.prereadDrop(ctx) // the request's later reads must see this write
	o := kv.WriteOptions{NoSync: !wantsSync(ctx), Frees: frees}
	touch := touchOf(ctx) // follow-ups folded into this write (touch.go)
	defer touch.release()
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var fnErr error
		var evs []Event
		var tok uint64
		var echo <-chan struct{}
		err := db.eng.Update(ctx, o, func(txn kv.Txn) error {
			nt := &noteTxn{Txn: txn, fence: db.fenceFrom(ctx)}
			touch.beginAttempt()
			if fnErr = fn(nt); fnErr != nil {
				return fnErr
			}
			if fnErr = db.applyTouch(touch, nt); fnErr != nil {
				return fnErr
			}
			evs = nt.notes
			if db.nodes == nil || len(evs) == 0 {
				return nil
			}
			// The events go with the commit (feed_nodes.go).
			t, err := db.nodes.send(txn, evs)
			if err != nil {
				return err
			}
			tok, echo = t, db.nodes.expect(t)
			return nil
		})
		if err == nil {
			if echo != nil {
				db.awaitEcho(echo, tok)
			} else if db.nodes == nil {
				for _, ev := range evs {
					db.publish(ev)
				}
			}
			touch.committed()
			return nil
		}
		if echo != nil {
			db.nodes.forget(tok)
		}
		if !errors.Is(err, kv.ErrConflict) {
			if fnErr != nil {
				return fnErr
			}
			if errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("catalog: %w", err)
			}
			return storageErr(err)
		}
		if attempt+1 == maxAttempts {
			return fmt.Errorf("%w: still conflicting after %d attempts: %v", ErrBusy, maxAttempts, err)
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

// view runs fn in a read-only transaction; as with update, fn's errors pass
// through unchanged.
func (db *DB) view(ctx context.Context, fn func(txn kv.Reader) error) error {
	var fnErr error
	err := db.eng.View(ctx, func(txn kv.Reader) error {
		fnErr = fn(txn)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return storageErr(err)
}

// lock takes the engine locks of a transaction, which must come before its
// first read or write (kv.Txn.Lock); keys are the records the decision
// depends on, parent before child.
func lock(txn kv.Txn, mode kv.LockMode, keys ...[]byte) error {
	for _, k := range keys {
		if err := txn.Lock(k, mode); err != nil {
			return storageErr(err)
		}
	}
	return nil
}

// storageErr keeps the engine's errors out of the API: an engine error
// becomes a plain error carrying its text, keeping only an underlying errno
// (ENOSPC, EIO, ...) for callers that map those. A conflict passes through
// as it is, for update's retry loop. An engine that gave up because the
// caller's context ended (PostgreSQL's does, mid-statement or waiting for
// a lock) keeps context.Canceled or DeadlineExceeded in the chain: the
// caller stopped waiting, the storage did not fail, and the mount must not
// answer EIO (nor S3 InternalError) for it. Only the engine's errors go
// through it.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, kv.ErrConflict) {
		return err
	}
	if errors.Is(err, kv.ErrClosed) {
		return ErrClosed
	}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			return &storageError{msg: "storage: " + err.Error(), cause: c}
		}
	}
	if kv.Unavailable(err) {
		// Not the transport's errno: a unix socket that is gone must not
		// read as ENOENT of the file being accessed.
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	msg := "storage: " + err.Error()
	if errors.Is(err, kv.ErrTooBig) {
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
	cause error // context.Canceled or DeadlineExceeded, else nil
}

func (e *storageError) Error() string { return e.msg }

func (e *storageError) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// getValue returns a copy of key's value, or errMissing so callers map it
// to their own sentinel.
func getValue(txn kv.Reader, key []byte) ([]byte, error) {
	v, err := txn.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, errMissing
	}
	if err != nil {
		return nil, storageErr(err)
	}
	return v, nil
}

// errMissing is the package-internal "no such key"; every exported method
// turns it into its own sentinel before returning.
var errMissing = errors.New("catalog: internal: key missing")

// exists reports whether key is present.
func exists(txn kv.Reader, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	return err == nil, storageErr(err)
}

func set(txn kv.Txn, key, value []byte) error { return storageErr(txn.Set(key, value)) }

func del(txn kv.Txn, key []byte) error { return storageErr(txn.Delete(key)) }

// hasPrefix reports whether any key starts with p: one seek, independent of
// how many keys there are.
func hasPrefix(txn kv.Reader, p []byte) (bool, error) {
	it := txn.Iterate(kv.IterOptions{Prefix: p, KeysOnly: true})
	it.Seek(p)
	found := it.Valid()
	return found, storageErr(it.Close())
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

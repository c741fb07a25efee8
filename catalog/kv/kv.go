// Package kv is the contract between the catalog's semantics and the engine
// that stores them: a small ordered, transactional key-value store. The
// catalog (orgs, keys, buckets, manifests, uploads, reference counts,
// renames) is written once over it; engines (kv/badgerkv, the embedded
// default; a PostgreSQL engine; later perhaps TiKV) implement it and hold no
// catalog semantics.
//
// # What every engine must give
//
// Keys and values are arbitrary byte strings; keys are non-empty. Keys are
// ordered bytewise (bytes.Compare), and iteration visits them in that order,
// forwards only: nothing in the catalog lists backwards, so reverse
// iteration is not part of the contract.
//
// Transactions have at least snapshot isolation:
//   - every read of a transaction sees one consistent snapshot of committed
//     data, plus the transaction's own writes (a Get or an iterator after a
//     Set or Delete in the same transaction sees it);
//   - no other transaction sees any of its writes before it commits, and
//     after the commit every transaction that begins sees all of them;
//   - write-write conflicts are detected on every key, including keys that
//     did not exist when either transaction began: of two concurrent
//     transactions that write (Set or Delete) the same key, at most one
//     commits; the other fails with an error wrapping ErrConflict, from a
//     write or from Update, and none of its writes take effect.
//
// An engine may give more (Badger also aborts a transaction whose reads
// were overwritten, serializable snapshot isolation); the catalog must not
// rely on it. In particular snapshot isolation does not detect that a range
// one transaction scanned gained a key another transaction inserted (write
// skew): every decision the catalog takes on the absence of keys, or on a
// record another transaction may change without writing the keys this one
// writes, is made under a Lock.
//
// # Locks
//
// Txn.Lock takes a lock on a key name (the key need not exist; locking
// neither reads nor creates it) in Shared or Exclusive mode, held until the
// transaction ends (commits, fails or is discarded). Shared locks on one key
// are compatible with each other; an Exclusive lock is compatible with
// nothing. The guarantee: transactions that take conflicting locks on one
// key are serialized with respect to each other. One of them commits (or
// ends) before the other's lock is granted, and the later one's reads see
// every write of the earlier. Across processes too, when the engine is
// shared by several.
//
// To make that possible under snapshot isolation, a transaction takes its
// locks first: Lock must precede every Get, Iterate, Set and Delete of the
// transaction (an engine returns ErrLockOrder otherwise). The engine may
// thus take its snapshot after the locks are held (PostgreSQL: session-level
// advisory locks taken before BEGIN; TiKV: pessimistic locks, then reads at
// their for_update_ts; Badger: an in-process lock table, then the
// transaction). Lock may block while a conflicting lock is held, until ctx
// (of Update) is done; it may instead fail with ErrConflict (a lock wait
// timeout or a detected deadlock), which the caller retries like any
// conflict. An engine may also queue the locks and take them with the
// transaction's first read, or before its commit if it reads nothing
// (PostgreSQL sends them in the round trip of that read): what the
// transaction reads and writes is still done under them, and a lock that
// fails then fails that read or Update. So nothing but the engine's own
// operations may count on a lock being held as Lock returns. Callers take the locks of one transaction in a fixed order
// (parent record before child: org, bucket, upload, object key) so no two
// transactions wait on each other.
//
// # Retries
//
// Update runs fn once. When the transaction conflicts (a write, a Lock or
// the commit fails with an error wrapping ErrConflict) nothing of it took
// effect and Update returns that error; the caller retries from the start
// (fn must compute everything from what it reads). Engines do not retry on
// their own, so the catalog keeps one retry loop with one back-off policy
// for all engines. Errors returned by fn pass through Update unchanged, and
// the transaction is then discarded.
//
// # Durability
//
// An Update that returns nil is durable, unless it was made with
// WriteOptions.NoSync: then it is visible and ordered at once, and durable
// at the next Sync (or after a short, engine-defined delay). Engines batch
// the syncs of concurrent commits (group commit) as they can.
package kv

import (
	"context"
	"errors"
	"io"
)

// Sentinel errors. Engines wrap them (errors.Is), never return their own
// types for these conditions.
var (
	// ErrNotFound: Get of a key that does not exist (in the transaction's
	// view).
	ErrNotFound = errors.New("kv: key not found")
	// ErrConflict: the transaction lost a conflict with another one
	// (write-write, a lock wait given up, a deadlock, a serialization
	// failure). Nothing of it took effect; run it again.
	ErrConflict = errors.New("kv: transaction conflict")
	// ErrTooBig: the transaction grew past what the engine can commit at
	// once (Badger bounds a transaction's size). Returned by Set or Delete;
	// the transaction cannot commit and is not worth retrying as it is.
	ErrTooBig = errors.New("kv: transaction too big")
	// ErrClosed: the engine is closed, or is closing.
	ErrClosed = errors.New("kv: engine closed")
	// ErrLockOrder: Lock called after the transaction read or wrote. A
	// programming error, not retried.
	ErrLockOrder = errors.New("kv: lock after the transaction's first read or write")
	// ErrStepLimit: an iterator with IterOptions.StepLimit gave up.
	ErrStepLimit = errors.New("kv: iterator step limit reached")
	// ErrNotEmpty: Dumper.Load into a store that already holds keys. A
	// load never merges into or overwrites data.
	ErrNotEmpty = errors.New("kv: the store is not empty")
)

// Engine is an open store.
type Engine interface {
	// View runs fn in a read-only transaction. fn's error is returned
	// unchanged.
	View(ctx context.Context, fn func(Reader) error) error
	// ReadKeys reads keys from one snapshot, as a View of Gets would, and
	// calls fn, in the order of keys, with the index and a copy of the
	// value of each key that exists (never nil, even when empty); absent
	// keys are skipped. It is the
	// cheap way to read a few records whose keys are known: a networked
	// engine answers it in one round trip (PostgreSQL: one statement, its
	// own snapshot, no BEGIN or ROLLBACK), where a View costs one more.
	ReadKeys(ctx context.Context, keys [][]byte, fn func(i int, value []byte)) error
	// Update runs fn in a read-write transaction and commits it, once (see
	// the package comment on retries and durability).
	Update(ctx context.Context, o WriteOptions, fn func(Txn) error) error
	// Sync makes every commit that returned before it durable, including
	// those made with NoSync.
	Sync(ctx context.Context) error
	// Close waits for nothing: the caller ends its transactions first.
	// Later calls of any method fail with ErrClosed.
	Close() error
}

// WriteOptions qualify one Update.
type WriteOptions struct {
	// NoSync: Update may return before the commit is durable (a file
	// system's semantics: durable at the next Sync). Still atomic and
	// ordered: a later Sync covers it.
	NoSync bool
	// Frees: the transaction mostly deletes. An engine that refuses writes
	// while its storage runs short (Badger keeps a reserve of free disk)
	// lets these use part of the reserve, so a full store can be emptied.
	Frees bool
}

// Reader is a transaction's read side.
type Reader interface {
	// Get returns a copy of key's value (the caller may keep and modify
	// it), or an error wrapping ErrNotFound. A value may be empty
	// (non-nil or nil); it is still present.
	Get(key []byte) ([]byte, error)
	// Iterate returns an iterator over the keys selected by o, unpositioned
	// until its first Seek. The caller closes it before the transaction
	// ends; a transaction may have several open.
	Iterate(o IterOptions) Iterator
}

// Txn is a read-write transaction. Not safe for concurrent use.
type Txn interface {
	Reader
	// Lock takes a lock on key (see the package comment): before any read
	// or write of the transaction, held until it ends.
	Lock(key []byte, mode LockMode) error
	// Set writes key's value. The engine keeps its own copy of neither
	// slice: they must not be modified until the transaction ends. An
	// error wrapping ErrTooBig means the transaction cannot grow further.
	Set(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
}

// LockMode is Shared or Exclusive.
type LockMode uint8

const (
	// Shared locks a key against Exclusive lockers only: many writers of
	// a bucket's objects hold its record Shared at once.
	Shared LockMode = iota + 1
	// Exclusive locks a key against every other locker: the deletion of a
	// bucket holds its record Exclusive, so it waits for writers in flight
	// and then sees what they wrote.
	Exclusive
)

func (m LockMode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	}
	return "invalid"
}

// IterOptions select the keys an iterator visits.
type IterOptions struct {
	// Prefix: only keys that start with it (nil: every key).
	Prefix []byte
	// KeysOnly: Value will not be called, so the engine need not fetch
	// values (Badger leaves large values in its value log; PostgreSQL
	// selects the key column alone).
	KeysOnly bool
	// Prefetch is a hint of how many entries the caller expects to read
	// (0: a few). Engines that fetch in batches size them by it.
	Prefetch int
	// StepLimit > 0 bounds the work of the iterator: after StepLimit
	// entries it stops, Valid turns false and Err returns ErrStepLimit, if
	// more remained. Entries the engine must step over without returning
	// them count too (Badger: deleted keys and old versions not yet
	// compacted away, which an rm -r leaves by the thousand), so a caller
	// bounds what a scan costs, not only what it sees. Each Seek and Next
	// is at least one step.
	StepLimit int
}

// Iterator walks keys in bytewise order. Not safe for concurrent use.
type Iterator interface {
	// Seek moves to the first selected key ≥ key.
	Seek(key []byte)
	// Valid reports whether the iterator is on a key: false past the last
	// selected key, before the first Seek, and after an error.
	Valid() bool
	// Next moves to the following key. Only when Valid.
	Next()
	// Key returns the current key, valid until the next Seek, Next or
	// Close; copy it to keep it.
	Key() []byte
	// Value returns the current value, valid until the next Seek, Next or
	// Close; copy it to keep it.
	Value() ([]byte, error)
	// Err returns the error that made Valid false, if any.
	Err() error
	// Close releases the iterator; it returns Err.
	Close() error
}

// Dumper is an optional engine capability: a full logical backup of every
// key and value, read from one snapshot while writers continue, and its
// inverse into an empty store. Every engine writes one format, Badger's
// backup stream (values in the clear), so a backup taken on one engine
// loads into another.
type Dumper interface {
	Backup(ctx context.Context, w io.Writer) error
	Load(ctx context.Context, r io.Reader) error
}

// Notifier is an optional capability of an engine that several processes
// share: a change feed across them. A transaction attaches a payload
// (Notify); when, and only if, it commits, the payload is delivered to the
// Listen subscribers of every engine on the store, this one's included,
// after the commit and in commit order (a payload of a transaction that
// committed before another's is delivered before it, on every engine).
// An engine that one process owns (Badger) does not implement it: that
// process's own feed is the whole feed.
type Notifier interface {
	// Notify attaches payload (at most MaxNotifyPayload bytes) to txn, a
	// transaction of this engine's Update. Like Lock it may be called at
	// any point of the transaction after its locks.
	Notify(txn Txn, payload []byte) error
	// Listen registers fn and returns once it is registered with the
	// store: every transaction that commits after Listen returns reaches
	// fn. fn is called from one goroutine, never concurrently, in commit
	// order; it must be quick (deliveries wait for it). cancel stops
	// deliveries; an fn running when cancel returns finishes.
	Listen(ctx context.Context, fn func(Notification)) (cancel func(), err error)
}

// MaxNotifyPayload bounds a Notify payload (PostgreSQL's NOTIFY takes
// 8000 bytes of text; a payload is sent as base64).
const MaxNotifyPayload = 5900

// Notification is one delivery of a Notifier.
type Notification struct {
	Payload []byte
	// Resync: payloads may have been missed (the engine lost its
	// connection to the store and regained it). Whatever a subscriber
	// derived from earlier payloads (caches, a kernel's cached entries)
	// must be dropped. Payload is nil.
	Resync bool
}

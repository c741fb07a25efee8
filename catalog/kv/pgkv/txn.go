package pgkv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"excloud.dev/buckets/catalog/kv"
)

// txn is one transaction on one pooled connection. Its BEGIN is sent with
// its first read, after its locks (see the package comment), in the same
// round trip as that statement (a pipelined batch). Its writes (Set,
// Delete, Notify) are held back and sent in the round trip of its next
// read, before it (the read sees them), or of its COMMIT: a write costs no
// round trip of its own. A write that fails (a conflict) then fails that
// read or the commit, and the transaction with it, as the contract allows.
type txn struct {
	ctx      context.Context
	e        *Engine
	conn     *pgxpool.Conn
	inTx     bool  // BEGIN sent: ROLLBACK or COMMIT due
	failed   error // the first statement that failed: the server aborted the transaction
	readOnly bool
	noSync   bool
	locked   bool      // holds session-level advisory locks
	locks    []lockReq // taken with the first read, or before COMMIT
	writes   []stmt
	dirty    bool // the connection's state is unknown: close, don't pool
	done     bool
}

var _ kv.Txn = (*txn)(nil)

func (t *txn) acquire() error {
	c, err := t.e.pool.Acquire(t.ctx)
	if err != nil {
		if t.e.closed.Load() {
			return kv.ErrClosed
		}
		return fmt.Errorf("pgkv: connect: %w", err)
	}
	t.conn = c
	return nil
}

var errEnded = errors.New("pgkv: transaction already ended")

// stmt is a statement held back until the transaction's next round trip.
type stmt struct {
	op   string // for errors
	sql  string
	args []any
}

// beginStmts open the transaction: REPEATABLE READ is PostgreSQL's
// snapshot isolation, its snapshot taken at the first statement after.
func (t *txn) beginStmts() []string {
	switch {
	case t.readOnly:
		return []string{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}
	case t.noSync:
		return []string{"BEGIN ISOLATION LEVEL REPEATABLE READ", "SET LOCAL synchronous_commit = off"}
	}
	return []string{"BEGIN ISOLATION LEVEL REPEATABLE READ"}
}

// rowSource is what a read gives its caller: pgx.Rows, or the rows of the
// round trip that took the locks (rawRows).
type rowSource interface {
	Next() bool
	Scan(dest ...any) error
	Close()
	Err() error
}

// query runs one statement of the transaction, preceded in the same round
// trip by its locks and BEGIN when it is the first and by the writes held
// back. The caller reads rows, closes them, then calls done. A held-back
// write that fails is returned as err, wrapped as op's failure by the
// caller; the server has then aborted the transaction.
func (t *txn) query(sql string, args ...any) (rows rowSource, done func() error, err error) {
	if t.done {
		return nil, nil, errEnded
	}
	if t.dirty {
		return nil, nil, t.failedErr()
	}
	if len(t.locks) > 0 {
		rows, err := t.openLocked(sql, args)
		return rows, func() error { return nil }, err
	}
	if t.inTx && len(t.writes) == 0 {
		rows, err := t.conn.Query(t.ctx, sql, args...)
		return rows, func() error { return nil }, err
	}
	var b pgx.Batch
	var begin []string
	if !t.inTx {
		begin = t.beginStmts()
	}
	for _, s := range begin {
		b.Queue(s)
	}
	writes := t.writes
	t.writes = nil
	for _, w := range writes {
		b.Queue(w.sql, w.args...)
	}
	b.Queue(sql, args...)
	br := t.conn.SendBatch(t.ctx, &b)
	t.inTx = true
	for range begin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			t.dirty = true
			return nil, nil, err
		}
	}
	for _, w := range writes {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, nil, fmt.Errorf("%s: %w", w.op, err)
		}
	}
	rows, err = br.Query()
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	return rows, br.Close, nil
}

// write holds a write back until the next round trip (see txn).
func (t *txn) write(op, sql string, args ...any) error {
	if t.done {
		return errEnded
	}
	if t.failed != nil {
		// The server has aborted the transaction: say so now, as a write
		// sent at once would have.
		return t.wrap(op, t.failed)
	}
	t.writes = append(t.writes, stmt{op: op, sql: sql, args: args})
	return nil
}

// fail records a failed statement (the server has aborted the transaction)
// and maps its error onto the contract's.
func (t *txn) fail(op string, err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return t.wrap(op, err)
}

// lockID is the advisory lock key of a kv key.
func lockID(key []byte) int64 {
	h := sha256.Sum256(key)
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// Lock queues the lock: it is taken in the round trip of the
// transaction's first read (locks.go), or, if there is none, before its
// COMMIT. A lock that fails fails that read or the commit.
func (t *txn) Lock(key []byte, mode kv.LockMode) error {
	if t.inTx || len(t.writes) > 0 {
		return kv.ErrLockOrder
	}
	if t.done {
		return errEnded
	}
	if mode != kv.Shared && mode != kv.Exclusive {
		return fmt.Errorf("pgkv: lock mode %d", mode)
	}
	t.locks = append(t.locks, lockReq{id: lockID(key), mode: mode, key: key})
	return nil
}

func (t *txn) Get(key []byte) ([]byte, error) {
	rows, done, err := t.query(t.e.q.get, key)
	if err != nil {
		return nil, t.fail(fmt.Sprintf("get %q", key), err)
	}
	var sealed []byte
	found := rows.Next()
	if found {
		err = rows.Scan(&sealed)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if derr := done(); err == nil {
		err = derr
	}
	if err != nil {
		return nil, t.fail(fmt.Sprintf("get %q", key), err)
	}
	if !found {
		return nil, fmt.Errorf("pgkv: get %q: %w", key, kv.ErrNotFound)
	}
	return t.e.seal.open(key, sealed)
}

func (t *txn) Set(key, value []byte) error {
	if len(key) == 0 {
		return errors.New("pgkv: set: empty key")
	}
	if t.readOnly {
		return errors.New("pgkv: set in a read-only transaction")
	}
	sealed, err := t.e.seal.seal(key, value)
	if err != nil {
		return err
	}
	return t.write(fmt.Sprintf("set %q", key), t.e.q.set, key, sealed)
}

func (t *txn) Delete(key []byte) error {
	if len(key) == 0 {
		return errors.New("pgkv: delete: empty key")
	}
	if t.readOnly {
		return errors.New("pgkv: delete in a read-only transaction")
	}
	return t.write(fmt.Sprintf("delete %q", key), t.e.q.del, key)
}

func (t *txn) Iterate(o kv.IterOptions) kv.Iterator {
	return newIter(t, o)
}

// commit ends the transaction; end releases the connection.
func (t *txn) commit() error {
	if t.done {
		return errEnded
	}
	if t.dirty {
		// A lock or the BEGIN failed: the transaction must not commit,
		// whatever fn made of the error.
		return t.failedErr()
	}
	if len(t.locks) > 0 {
		// Nothing was read: the locks go on their own, then the writes.
		if err := t.takeLocks(); err != nil {
			return err
		}
	}
	if !t.inTx && len(t.writes) == 0 {
		return nil // nothing read or written: nothing to commit
	}
	// One round trip: BEGIN if nothing was read, the writes held back,
	// COMMIT, and the release of the locks, after the COMMIT: a server
	// skips the rest of a pipeline after an error, so they are never
	// released before the commit is done.
	var b pgx.Batch
	var begin []string
	if !t.inTx {
		begin = t.beginStmts()
	}
	for _, s := range begin {
		b.Queue(s)
	}
	writes := t.writes
	t.writes = nil
	for _, w := range writes {
		b.Queue(w.sql, w.args...)
	}
	b.Queue("COMMIT")
	if t.locked {
		b.Queue("SELECT pg_advisory_unlock_all()")
	}
	br := t.conn.SendBatch(t.ctx, &b)
	t.inTx = true
	for range begin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			t.dirty = true
			return t.wrap("begin", err)
		}
	}
	for _, w := range writes {
		if _, err := br.Exec(); err != nil {
			// The server skips the COMMIT; end rolls back.
			br.Close()
			return t.fail(w.op, err)
		}
	}
	tag, err := br.Exec()
	if err == nil {
		t.inTx = false
		if t.locked {
			_, uerr := br.Exec()
			if cerr := br.Close(); uerr == nil && cerr == nil {
				t.locked = false
			} else {
				t.dirty = true // end closes the session, which drops them
			}
		} else if cerr := br.Close(); cerr != nil {
			t.dirty = true
		}
	} else {
		br.Close()
	}
	if err != nil {
		t.dirty = true
		return t.wrap("commit", err)
	}
	t.inTx = false
	if tag.String() == "ROLLBACK" {
		// A statement had failed (fn went on regardless): the server
		// rolled back instead.
		return t.wrap("commit after a failed statement", t.failed)
	}
	return nil
}

// end rolls back what is not committed, releases the locks and gives the
// connection back, or closes it when its state is not known to be clean.
func (t *txn) end() {
	if t.conn == nil || t.done {
		return
	}
	t.done = true
	// Cleanup must run even when the caller's ctx is done.
	ctx := context.WithoutCancel(t.ctx)
	switch {
	case t.dirty:
	case t.inTx && t.locked:
		// One round trip; the locks are released only once the
		// transaction is over (the server skips the rest after an error).
		var b pgx.Batch
		b.Queue("ROLLBACK")
		b.Queue("SELECT pg_advisory_unlock_all()")
		if err := t.conn.SendBatch(ctx, &b).Close(); err != nil {
			t.dirty = true
		}
	case t.inTx:
		if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
			t.dirty = true
		}
	case t.locked:
		if _, err := t.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
			t.dirty = true
		}
	}
	if t.dirty {
		t.conn.Conn().Close(ctx) // the server ends the session and its locks
	}
	t.conn.Release()
}

// wrap maps a PostgreSQL error onto the contract's errors.
func (t *txn) wrap(op string, err error) error {
	if cerr := t.ctx.Err(); cerr != nil {
		return fmt.Errorf("pgkv: %s: %w", op, cerr)
	}
	return fmt.Errorf("pgkv: %s: %w", op, mapErr(err))
}

// conflictCodes are the SQLSTATEs of a lost conflict: nothing of the
// transaction took effect and running it again may succeed.
var conflictCodes = map[string]bool{
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"55P03": true, // lock_not_available (lock_timeout)
}

// mapErr wraps kv.ErrConflict around a lost conflict, keeping the
// server's message.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && conflictCodes[pe.Code] {
		return fmt.Errorf("%w: %w", kv.ErrConflict, err)
	}
	return err
}

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
// its first read or write, after its locks (see the package comment).
type txn struct {
	ctx      context.Context
	e        *Engine
	conn     *pgxpool.Conn
	tx       pgx.Tx // nil until the first read or write
	readOnly bool
	noSync   bool
	locked   bool // holds session-level advisory locks
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

// begin starts the transaction proper, at its first read or write.
func (t *txn) begin() error {
	if t.done {
		return errors.New("pgkv: transaction already ended")
	}
	if t.tx != nil {
		return nil
	}
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead}
	if t.readOnly {
		opts.AccessMode = pgx.ReadOnly
	} else if t.noSync {
		opts.BeginQuery = "BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL synchronous_commit = off"
	}
	tx, err := t.conn.BeginTx(t.ctx, opts)
	if err != nil {
		t.dirty = true
		return t.fail("begin", err)
	}
	t.tx = tx
	return nil
}

// lockID is the advisory lock key of a kv key.
func lockID(key []byte) int64 {
	h := sha256.Sum256(key)
	return int64(binary.BigEndian.Uint64(h[:8]))
}

func (t *txn) Lock(key []byte, mode kv.LockMode) error {
	if t.tx != nil {
		return kv.ErrLockOrder
	}
	if t.done {
		return errors.New("pgkv: transaction already ended")
	}
	var q string
	switch mode {
	case kv.Shared:
		q = "SELECT pg_advisory_lock_shared($1)"
	case kv.Exclusive:
		q = "SELECT pg_advisory_lock($1)"
	default:
		return fmt.Errorf("pgkv: lock mode %d", mode)
	}
	// Set before the call: a lock granted as the call failed (ctx done as
	// the reply came) must still be released.
	t.locked = true
	if _, err := t.conn.Exec(t.ctx, q, lockID(key)); err != nil {
		t.dirty = true
		return t.fail(fmt.Sprintf("lock %q %s", key, mode), err)
	}
	return nil
}

func (t *txn) Get(key []byte) ([]byte, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	var sealed []byte
	err := t.tx.QueryRow(t.ctx, t.e.q.get, key).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgkv: get %q: %w", key, kv.ErrNotFound)
	}
	if err != nil {
		return nil, t.fail(fmt.Sprintf("get %q", key), err)
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
	if err := t.begin(); err != nil {
		return err
	}
	sealed, err := t.e.seal.seal(key, value)
	if err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, t.e.q.set, key, sealed); err != nil {
		return t.fail(fmt.Sprintf("set %q", key), err)
	}
	return nil
}

func (t *txn) Delete(key []byte) error {
	if len(key) == 0 {
		return errors.New("pgkv: delete: empty key")
	}
	if t.readOnly {
		return errors.New("pgkv: delete in a read-only transaction")
	}
	if err := t.begin(); err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, t.e.q.del, key); err != nil {
		return t.fail(fmt.Sprintf("delete %q", key), err)
	}
	return nil
}

func (t *txn) Iterate(o kv.IterOptions) kv.Iterator {
	return newIter(t, o)
}

// commit ends the transaction; end releases the connection.
func (t *txn) commit() error {
	if t.tx == nil {
		return nil // nothing read or written: nothing to commit
	}
	err := t.tx.Commit(t.ctx)
	t.tx = nil
	if err != nil {
		t.dirty = true
		return t.fail("commit", err)
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
	if t.tx != nil {
		if err := t.tx.Rollback(ctx); err != nil {
			t.dirty = true
		}
	}
	if t.locked && !t.dirty {
		if _, err := t.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
			t.dirty = true
		}
	}
	if t.dirty {
		t.conn.Conn().Close(ctx) // the server ends the session and its locks
	}
	t.conn.Release()
}

// fail maps a PostgreSQL error onto the contract's errors.
func (t *txn) fail(op string, err error) error {
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

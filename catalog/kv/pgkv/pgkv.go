// Package pgkv is the catalog's PostgreSQL engine: the kv contract
// (catalog/kv) over one table in a database that several excd nodes share.
//
// The table (docs/format.md, "PostgreSQL catalog"):
//
//	k    bytea PRIMARY KEY  -- the key, in clear: bytea orders bytewise
//	v    bytea              -- the value sealed (seal.go); NULL: a tombstone
//	gone timestamptz        -- when the tombstone was written
//
// How the contract maps onto PostgreSQL:
//   - Transactions are REPEATABLE READ, PostgreSQL's snapshot isolation:
//     one snapshot per transaction, taken at its first statement; a write
//     to a row that a concurrent transaction wrote and committed fails with
//     a serialization failure (SQLSTATE 40001), and a deadlock (40P01) or
//     a lock timeout (55P03) ends one side: all map to kv.ErrConflict.
//   - Set and Delete are both an upsert of the key's row (Delete writes a
//     tombstone), so two writers of one key always meet on a row, even a
//     key absent when both began: a DELETE of a missing row would lock
//     nothing and let both commit. Reads skip tombstones; a background
//     prune removes those older than Options.PruneAfter, long after every
//     transaction that could have raced them has ended.
//   - Lock is a session-level advisory lock on a 64-bit hash of the key
//     (pg_advisory_lock / pg_advisory_lock_shared), taken before BEGIN on
//     the transaction's connection, so the snapshot is taken after the
//     locks are held; it is released after COMMIT or ROLLBACK. The locks
//     are queued and sent in the round trip of the first read, with BEGIN
//     (locks.go); writes are held back until the next read or the COMMIT
//     (txn.go): a PutObject is a round trip for its locks, BEGIN and first
//     read, one per further read, and one for its writes and COMMIT. Two keys
//     whose hashes collide merely serialize each other. A connection whose
//     locks could not be released for sure is closed, never pooled: the
//     server drops a closed session's locks.
//   - Iterators read in pages (key >= start AND key < end ORDER BY key
//     LIMIT n), each page from the transaction's snapshot.
//   - WriteOptions.NoSync is synchronous_commit off for that transaction;
//     Sync commits a transaction with synchronous_commit on, whose WAL
//     flush covers every earlier commit.
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"excloud.dev/buckets/catalog/kv"
)

// Options configure an engine.
type Options struct {
	// Key seals the values (32 bytes; the catalog key derived from the
	// master key). Every node sharing the database must be given the same.
	Key []byte
	// Table names the table (default "exc_kv"), created when missing.
	Table string
	// MaxConns bounds the engine's connections (0: pool_max_conns from
	// the URL, else DefaultMaxConns). Each running transaction holds one.
	MaxConns int32
	// PruneAfter is how old a tombstone must be before it is removed
	// (default one hour). A transaction running longer than this that
	// writes a key deleted meanwhile by another could miss that conflict.
	PruneAfter time.Duration
	// PruneEvery is how often tombstones are pruned (default a minute;
	// negative: never, for tests that prune by hand).
	PruneEvery time.Duration
	// Logger receives the prune's failures (default slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxConns is the pool's size when neither Options.MaxConns nor
// the URL's pool_max_conns gives one. pgxpool's own default, max(4,
// NumCPU), queued 32 S3 clients' transactions behind 4 connections on a
// 2-core machine, each held for a few round trips and its commit's WAL
// flush: 32 connections doubled the 4 KiB PUT rate, 16 did as well as 32
// (docs/benchmarks.md, "Catalog engines"), and 16 leave room for six nodes
// in PostgreSQL's default max_connections (100).
const DefaultMaxConns = 16

// Engine is an open PostgreSQL engine.
type Engine struct {
	pool   *pgxpool.Pool
	seal   *sealer
	q      queries
	opts   Options
	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

var _ kv.Engine = (*Engine)(nil)

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database at url (any libpq URL or key=value
// string) and creates the table if it is missing.
func Open(ctx context.Context, url string, o Options) (*Engine, error) {
	if o.Table == "" {
		o.Table = "exc_kv"
	}
	if !tableName.MatchString(o.Table) {
		return nil, fmt.Errorf("pgkv: table name %q: want lower-case letters, digits and _", o.Table)
	}
	if o.PruneAfter == 0 {
		o.PruneAfter = time.Hour
	}
	if o.PruneEvery == 0 {
		o.PruneEvery = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s, err := newSealer(o.Key)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgkv: catalog URL: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	} else if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgkv: connect: %w", err)
	}
	e := &Engine{pool: pool, seal: s, q: newQueries(o.Table), opts: o, stop: make(chan struct{})}
	if err := e.createTable(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if o.PruneEvery > 0 {
		e.wg.Add(1)
		go e.pruneLoop()
	}
	return e, nil
}

// schemaLock serializes table creation among nodes starting at once
// (CREATE TABLE IF NOT EXISTS is not safe against itself). It is in the
// two-int4 advisory key space, which never overlaps the int8 one that
// Lock uses.
const schemaLockClass, schemaLockID = 0x65786300, 1 // "exc\0"

func (e *Engine) createTable(ctx context.Context) error {
	err := pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(schemaLockClass), int32(schemaLockID)); err != nil {
			return err
		}
		for _, stmt := range e.q.create {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgkv: create table %s: %w", e.opts.Table, err)
	}
	return nil
}

// queries are the engine's statements for its table.
type queries struct {
	create               []string
	get, set, del, prune string
	getKV, getMany       string // ReadKeys: one key; several
	scan, scanKeys       string // from a key to an upper bound
	scanAll, scanKeysAll string // from a key on
}

func newQueries(t string) queries {
	id := pgx.Identifier{t}.Sanitize()
	gone := pgx.Identifier{t + "_gone"}.Sanitize()
	return queries{
		create: []string{
			"CREATE TABLE IF NOT EXISTS " + id + " (k bytea PRIMARY KEY, v bytea, gone timestamptz)",
			// Sealed values do not compress: spare the server trying.
			"ALTER TABLE " + id + " ALTER COLUMN v SET STORAGE EXTERNAL",
			"CREATE INDEX IF NOT EXISTS " + gone + " ON " + id + " (gone) WHERE v IS NULL",
		},
		get:     "SELECT v FROM " + id + " WHERE k = $1 AND v IS NOT NULL",
		getKV:   "SELECT k, v FROM " + id + " WHERE k = $1 AND v IS NOT NULL",
		getMany: "SELECT k, v FROM " + id + " WHERE k = ANY($1) AND v IS NOT NULL",
		set: "INSERT INTO " + id + " (k, v, gone) VALUES ($1, $2, NULL) " +
			"ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, gone = NULL",
		del: "INSERT INTO " + id + " (k, v, gone) VALUES ($1, NULL, now()) " +
			"ON CONFLICT (k) DO UPDATE SET v = NULL, gone = now()",
		// Tombstones are fetched too (as a NULL value), so an iterator
		// counts the steps it takes over them (kv.IterOptions.StepLimit).
		// Both bounds are index conditions: an upper bound written as a
		// filter (say "$2 IS NULL OR k < $2") would let a short prefix's
		// last page scan the index to its end.
		scan:        "SELECT k, v FROM " + id + " WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
		scanKeys:    "SELECT k, v IS NULL FROM " + id + " WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
		scanAll:     "SELECT k, v FROM " + id + " WHERE k >= $1 ORDER BY k LIMIT $2",
		scanKeysAll: "SELECT k, v IS NULL FROM " + id + " WHERE k >= $1 ORDER BY k LIMIT $2",
		prune:       "DELETE FROM " + id + " WHERE v IS NULL AND gone < now() - $1::interval",
	}
}

// View runs fn in a read-only REPEATABLE READ transaction.
func (e *Engine) View(ctx context.Context, fn func(kv.Reader) error) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	t := &txn{ctx: ctx, e: e, readOnly: true}
	defer t.end()
	if err := t.acquire(); err != nil {
		return err
	}
	return fn(t)
}

// ReadKeys reads keys in one statement outside any transaction block: a
// statement is its own snapshot in PostgreSQL, so this is a View of Gets
// in one round trip instead of BEGIN with the first read, one per further
// read, and ROLLBACK.
func (e *Engine) ReadKeys(ctx context.Context, keys [][]byte, fn func(i int, value []byte)) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		if len(k) == 0 {
			return errors.New("pgkv: read keys: empty key")
		}
	}
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		if e.closed.Load() {
			return kv.ErrClosed
		}
		return fmt.Errorf("pgkv: connect: %w", err)
	}
	defer c.Release()
	var rows pgx.Rows
	if len(keys) == 1 {
		rows, err = c.Query(ctx, e.q.getKV, keys[0])
	} else {
		rows, err = c.Query(ctx, e.q.getMany, keys)
	}
	found := make(map[string][]byte, len(keys))
	if err == nil {
		for rows.Next() {
			var k, v []byte
			if err = rows.Scan(&k, &v); err != nil {
				break
			}
			found[string(k)] = v
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("pgkv: read keys: %w", cerr)
		}
		return fmt.Errorf("pgkv: read keys: %w", mapErr(err))
	}
	for i, k := range keys {
		sealed, ok := found[string(k)]
		if !ok {
			continue
		}
		v, err := e.seal.open(k, sealed)
		if err != nil {
			return err
		}
		fn(i, v)
	}
	return nil
}

// Update runs fn in a read-write transaction and commits it.
func (e *Engine) Update(ctx context.Context, o kv.WriteOptions, fn func(kv.Txn) error) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	t := &txn{ctx: ctx, e: e, noSync: o.NoSync}
	defer t.end()
	if err := t.acquire(); err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	return t.commit()
}

// Sync makes every earlier commit durable: a transaction that takes an id
// commits with synchronous_commit on, and its WAL flush covers all WAL
// written before it.
func (e *Engine) Sync(ctx context.Context) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	err := pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_current_xact_id()")
		return err
	})
	if err != nil {
		return fmt.Errorf("pgkv: sync: %w", mapErr(err))
	}
	return nil
}

// Close stops the prune and closes every connection.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	close(e.stop)
	e.wg.Wait()
	e.pool.Close()
	return nil
}

// Prune removes the tombstones older than PruneAfter and returns how many.
func (e *Engine) Prune(ctx context.Context) (int64, error) {
	if e.closed.Load() {
		return 0, kv.ErrClosed
	}
	tag, err := e.pool.Exec(ctx, e.q.prune, e.opts.PruneAfter)
	if err != nil {
		return 0, fmt.Errorf("pgkv: prune tombstones: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (e *Engine) pruneLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(e.opts.PruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.PruneEvery)
		if _, err := e.Prune(ctx); err != nil && !errors.Is(err, kv.ErrClosed) {
			e.opts.Logger.Warn("pgkv: prune tombstones", "err", err)
		}
		cancel()
	}
}

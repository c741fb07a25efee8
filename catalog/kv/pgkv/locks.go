package pgkv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"excloud.dev/buckets/catalog/kv"
)

// A transaction's locks travel in the round trip of its first read. They
// are session-level advisory locks taken before BEGIN, so that the
// snapshot, taken by the first statement after BEGIN, is taken once they
// are held (see the package comment). In one pipeline that needs a Sync
// between them: statements before a Sync run in an implicit transaction
// of their own, and a BEGIN after a statement in the same implicit
// transaction would take over its snapshot (and refuse the isolation
// level). So the round trip is: the locks, Sync, BEGIN, the writes held
// back, the read, Sync. pgx's batches send one Sync at the end; this is
// pgconn's pipeline, with statements prepared once per connection, the
// parameters encoded here (binary bytea and int8, text) and the rows
// returned in binary.
//
// The server runs the second part even when a lock fails (a Sync ends the
// error's effect): the transaction then read without its lock, so it is
// marked dirty, never commits, and its connection is closed.

type lockReq struct {
	id   int64
	mode kv.LockMode
	key  []byte
}

func (l lockReq) sql() string {
	if l.mode == kv.Exclusive {
		return "SELECT pg_advisory_lock($1)"
	}
	return "SELECT pg_advisory_lock_shared($1)"
}

func (l lockReq) op() string { return fmt.Sprintf("lock %q %s", l.key, l.mode) }

// takeLocks takes the queued locks now, in one round trip (a transaction
// that commits without reading).
func (t *txn) takeLocks() error {
	locks := t.locks
	t.locks = nil
	// Set before the call: a lock granted as the call failed (ctx done as
	// the reply came) must still be released.
	t.locked = true
	for _, l := range locks {
		if _, err := t.conn.Exec(t.ctx, l.sql(), l.id); err != nil {
			t.dirty = true
			return t.fail(l.op(), err)
		}
	}
	return nil
}

// failedErr is the error of a transaction that must not go on.
func (t *txn) failedErr() error {
	if t.failed != nil {
		return t.wrap("transaction failed earlier", t.failed)
	}
	return errors.New("pgkv: transaction failed earlier")
}

// openLocked runs the transaction's first read with its locks, BEGIN and
// the writes held back, in one round trip.
func (t *txn) openLocked(sql string, args []any) (rowSource, error) {
	locks, writes := t.locks, t.writes
	t.locks, t.writes = nil, nil
	// The statements are prepared once per connection (a round trip the
	// first time only), so the server does not parse and plan them on
	// every transaction.
	type sent struct {
		sd   *pgconn.StatementDescription
		args []any
	}
	prep := func(sql string, args []any) (sent, error) {
		sd, err := t.conn.Conn().Prepare(t.ctx, "pgkv "+sql, sql)
		return sent{sd, args}, err
	}
	var lockStmts, rest []sent
	for _, l := range locks {
		s, err := prep(l.sql(), []any{l.id})
		if err != nil {
			t.dirty = true
			return nil, err
		}
		lockStmts = append(lockStmts, s)
	}
	for _, w := range writes {
		s, err := prep(w.sql, w.args)
		if err != nil {
			t.dirty = true
			return nil, err
		}
		rest = append(rest, s)
	}
	s, err := prep(sql, args)
	if err != nil {
		t.dirty = true
		return nil, err
	}
	rest = append(rest, s)

	t.locked, t.inTx = true, true
	p := t.conn.Conn().PgConn().StartPipeline(t.ctx)
	send := func(s sent) {
		v, f := encodeArgs(s.args)
		p.SendQueryStatement(s.sd, v, f, []int16{1})
	}
	for _, s := range lockStmts {
		send(s)
	}
	p.SendPipelineSync()
	begin := t.beginStmts()
	for _, s := range begin {
		p.SendQueryParams(s, nil, nil, nil, nil)
	}
	for _, s := range rest {
		send(s)
	}
	p.SendPipelineSync()
	if err := p.Flush(); err != nil {
		t.dirty = true
		p.Close()
		return nil, err
	}

	// The locks' part.
	var lockErr error
	for _, l := range locks {
		if _, err := resultRows(p); err != nil {
			lockErr = fmt.Errorf("%s: %w", l.op(), err)
			break
		}
	}
	if err := pipelineSync(p); err != nil {
		t.dirty = true
		p.Close()
		return nil, firstErr(lockErr, err)
	}

	// BEGIN, the writes, the read.
	var stmtErr error
	var rows [][][]byte
	for range begin {
		if _, err := resultRows(p); err != nil {
			stmtErr = err
			t.dirty = true
			break
		}
	}
	if stmtErr == nil {
		for _, w := range writes {
			if _, err := resultRows(p); err != nil {
				stmtErr = fmt.Errorf("%s: %w", w.op, err)
				break
			}
		}
	}
	if stmtErr == nil {
		rows, stmtErr = resultRows(p)
	}
	if err := pipelineSync(p); err != nil {
		t.dirty = true
		stmtErr = firstErr(stmtErr, err)
	}
	if err := p.Close(); err != nil {
		t.dirty = true
		stmtErr = firstErr(stmtErr, err)
	}
	if lockErr != nil {
		// Read without its lock: never to commit (commit refuses a dirty
		// transaction) and the session closed, which drops what it holds.
		t.dirty = true
		return nil, lockErr
	}
	if stmtErr != nil {
		return nil, stmtErr
	}
	return &rawRows{rows: rows}, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// resultRows reads the next statement's result: its rows, values copied.
func resultRows(p *pgconn.Pipeline) ([][][]byte, error) {
	r, err := p.GetResults()
	if err != nil {
		return nil, err
	}
	rr, ok := r.(*pgconn.ResultReader)
	if !ok {
		return nil, fmt.Errorf("pgkv: pipeline: %T where a statement's result was due", r)
	}
	var rows [][][]byte
	for rr.NextRow() {
		vals := rr.Values()
		row := make([][]byte, len(vals))
		for i, v := range vals {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		rows = append(rows, row)
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	return rows, nil
}

// pipelineSync reads the end of a part of the pipeline (statements after
// a failed one are skipped: pgconn goes on to the Sync).
func pipelineSync(p *pgconn.Pipeline) error {
	r, err := p.GetResults()
	if err != nil {
		return err
	}
	if _, ok := r.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("pgkv: pipeline: %T where a Sync was due", r)
	}
	return nil
}

// encodeArgs encodes the engine's statement arguments for the parameter
// types the server gives its statements: []byte as binary bytea (nil is
// NULL), int and int64 as binary int8 (lock ids, LIMIT), string as text.
func encodeArgs(args []any) (vals [][]byte, formats []int16) {
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			vals, formats = append(vals, v), append(formats, 1)
		case int64:
			vals, formats = append(vals, binary.BigEndian.AppendUint64(nil, uint64(v))), append(formats, 1)
		case int:
			vals, formats = append(vals, binary.BigEndian.AppendUint64(nil, uint64(v))), append(formats, 1)
		case string:
			vals, formats = append(vals, []byte(v)), append(formats, 0)
		default:
			panic(fmt.Sprintf("pgkv: statement argument of type %T", a))
		}
	}
	return vals, formats
}

// rawRows are rows read in binary: bytea as it is (NULL: nil), bool as
// one byte.
type rawRows struct {
	rows [][][]byte
	i    int
}

func (r *rawRows) Next() bool {
	r.i++
	return r.i <= len(r.rows)
}

func (r *rawRows) Scan(dest ...any) error {
	row := r.rows[r.i-1]
	if len(dest) != len(row) {
		return fmt.Errorf("pgkv: scan of %d columns into %d", len(row), len(dest))
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *[]byte:
			*d = row[i]
		case *bool:
			if len(row[i]) != 1 {
				return fmt.Errorf("pgkv: a bool of %d bytes", len(row[i]))
			}
			*d = row[i][0] != 0
		default:
			return fmt.Errorf("pgkv: scan into %T", d)
		}
	}
	return nil
}

func (r *rawRows) Close()     {}
func (r *rawRows) Err() error { return nil }

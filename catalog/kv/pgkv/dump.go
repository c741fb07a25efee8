package pgkv

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"excloud.dev/buckets/catalog/kv"
)

var _ kv.Dumper = (*Engine)(nil)

// The backup stream is Badger's (badger.DB.Backup, which the Badger engine
// writes): frames of a little-endian uint64 length and a pb.KVList
// protobuf, each KV a key, its value in the clear, a version and a meta
// byte. A backup of either engine thus loads into the other: a single
// host's catalog moves to PostgreSQL and back with exc backup and
// excd --restore.
//
// Rows carry no versions, so every KV of a PostgreSQL backup gets
// dumpVersion: above any version a freshly created Badger catalog has
// written (its format key, version 1), so the stream's copy of the format
// key supersedes the one the restoring open wrote, as in a Badger backup.
const dumpVersion = 1 << 20

const (
	// dumpPage is how many rows one FETCH of the backup cursor reads.
	dumpPage = 1000
	// dumpFrame bounds a frame's values; Badger's loader reads a frame
	// whole.
	dumpFrame = 4 << 20
	// maxFrame refuses a frame length no backup writes (Badger's own
	// frames are at most its stream's batch, ~100 MiB): a corrupt length
	// must not become a huge allocation.
	maxFrame = 1 << 30
	// Badger's meta bits (badger/value.go): a deletion marker; a value
	// past its ExpiresAt is gone too.
	bitDelete = 1 << 0
)

// Backup implements kv.Dumper: every live row from one snapshot (a
// REPEATABLE READ READ ONLY transaction), read through a cursor a page at
// a time, its value opened, written as Badger's backup stream. Writers
// are not blocked.
func (e *Engine) Backup(ctx context.Context, w io.Writer) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("pgkv: backup: %w", mapErr(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	id := pgx.Identifier{e.opts.Table}.Sanitize()
	if _, err := tx.Exec(ctx, "DECLARE exc_backup NO SCROLL CURSOR FOR SELECT k, v FROM "+id+" WHERE v IS NOT NULL ORDER BY k"); err != nil {
		return fmt.Errorf("pgkv: backup: %w", mapErr(err))
	}
	list := &pb.KVList{}
	size := 0
	flush := func() error {
		if len(list.Kv) == 0 {
			return nil
		}
		if err := writeFrame(w, list); err != nil {
			return err
		}
		list.Kv, size = list.Kv[:0], 0
		return nil
	}
	for {
		rows, err := tx.Query(ctx, "FETCH FORWARD "+fmt.Sprint(dumpPage)+" FROM exc_backup")
		if err != nil {
			return fmt.Errorf("pgkv: backup: %w", mapErr(err))
		}
		n := 0
		for rows.Next() {
			n++
			var k, sealed []byte
			if err := rows.Scan(&k, &sealed); err != nil {
				rows.Close()
				return fmt.Errorf("pgkv: backup: %w", err)
			}
			v, err := e.seal.open(k, sealed)
			if err != nil {
				rows.Close()
				return fmt.Errorf("pgkv: backup: %w", err)
			}
			list.Kv = append(list.Kv, &pb.KV{Key: k, Value: v, UserMeta: []byte{0}, Meta: []byte{0}, Version: dumpVersion})
			if size += len(k) + len(v); size >= dumpFrame {
				if err := flush(); err != nil {
					rows.Close()
					return fmt.Errorf("pgkv: backup: %w", err)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("pgkv: backup: %w", mapErr(err))
		}
		if n < dumpPage {
			break
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("pgkv: backup: %w", err)
	}
	return nil
}

// writeFrame writes one frame as badger.Stream.Backup does.
func writeFrame(w io.Writer, list *pb.KVList) error {
	b, err := proto.Marshal(list)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Load implements kv.Dumper into an empty table only (kv.ErrNotEmpty
// otherwise), in one transaction: a stream that ends early or does not
// parse fails the load and leaves the table as it was, empty. The table is
// locked against writers (EXCLUSIVE: readers go on) for the whole load, so
// no node can start on a half-loaded catalog or write into it meanwhile.
//
// A Badger stream may hold several versions of a key, deletion markers and
// no order across keys (Badger's stream reads key ranges in parallel), so
// the entries go through a temporary table first (COPY, streamed, values
// sealed as they pass) and each key's newest version is then kept, unless
// it is a deletion. Nothing of the stream is held in memory beyond one
// frame.
func (e *Engine) Load(ctx context.Context, r io.Reader) error {
	if e.closed.Load() {
		return kv.ErrClosed
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	id := pgx.Identifier{e.opts.Table}.Sanitize()
	if _, err := tx.Exec(ctx, "LOCK TABLE "+id+" IN EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	var live bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+id+" WHERE v IS NOT NULL)").Scan(&live); err != nil {
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	if live {
		return fmt.Errorf("pgkv: load into table %s: %w", e.opts.Table, kv.ErrNotEmpty)
	}
	// Tombstones of an emptied catalog would only collide with the load.
	stmts := []string{
		"DELETE FROM " + id,
		"CREATE TEMP TABLE exc_load (k bytea NOT NULL, ver bigint NOT NULL, v bytea) ON COMMIT DROP",
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgkv: load: %w", mapErr(err))
		}
	}
	src := &loadSource{e: e, r: bufio.NewReaderSize(r, 64<<10), now: uint64(time.Now().Unix())}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"exc_load"}, []string{"k", "ver", "v"}, src); err != nil {
		if src.err != nil {
			return fmt.Errorf("pgkv: load: %w", src.err)
		}
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+id+" (k, v, gone) SELECT k, v, NULL FROM "+
		"(SELECT DISTINCT ON (k) k, v FROM exc_load ORDER BY k, ver DESC) newest WHERE v IS NOT NULL"); err != nil {
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgkv: load: %w", mapErr(err))
	}
	return nil
}

// loadSource feeds COPY from a backup stream: one row per KV, the value
// sealed, NULL for a deletion marker or an expired entry.
type loadSource struct {
	e    *Engine
	r    *bufio.Reader
	now  uint64
	buf  []byte
	list pb.KVList
	i    int
	row  []any
	err  error
}

// errStream is a stream that does not parse. The reader's own error is
// formatted, not wrapped: an io.ErrUnexpectedEOF would read as the
// database being unavailable (kv.Unavailable), not the file being short.
var errStream = errors.New("not a catalog backup stream, or a truncated one")

func (s *loadSource) Next() bool {
	for s.i >= len(s.list.Kv) {
		var n [8]byte
		if _, err := io.ReadFull(s.r, n[:]); err != nil {
			if err != io.EOF {
				s.err = fmt.Errorf("%w: frame length: %v", errStream, err)
			}
			return false
		}
		sz := binary.LittleEndian.Uint64(n[:])
		if sz > maxFrame {
			s.err = fmt.Errorf("%w: a frame of %d bytes", errStream, sz)
			return false
		}
		if uint64(cap(s.buf)) < sz {
			s.buf = make([]byte, sz)
		}
		if _, err := io.ReadFull(s.r, s.buf[:sz]); err != nil {
			s.err = fmt.Errorf("%w: frame of %d bytes: %v", errStream, sz, err)
			return false
		}
		s.list.Reset()
		if err := proto.Unmarshal(s.buf[:sz], &s.list); err != nil {
			s.err = fmt.Errorf("%w: %v", errStream, err)
			return false
		}
		s.i = 0
	}
	kvp := s.list.Kv[s.i]
	s.i++
	if len(kvp.Key) == 0 {
		s.err = fmt.Errorf("%w: an empty key", errStream)
		return false
	}
	var v []byte
	gone := len(kvp.Meta) > 0 && kvp.Meta[0]&bitDelete != 0 || kvp.ExpiresAt != 0 && kvp.ExpiresAt <= s.now
	if !gone {
		sealed, err := s.e.seal.seal(kvp.Key, kvp.Value)
		if err != nil {
			s.err = err
			return false
		}
		v = sealed
	}
	s.row = []any{kvp.Key, int64(kvp.Version), v}
	return true
}

func (s *loadSource) Values() ([]any, error) { return s.row, nil }

func (s *loadSource) Err() error { return s.err }

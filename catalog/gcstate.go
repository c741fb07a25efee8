package catalog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/chunkstore"
)

// Garbage collection across nodes: docs/design.md, "Garbage collection
// across nodes", has the argument; this file keeps its records.
//
// A chunk's reference key ('r' || id) holds either its count (8 bytes) or,
// while the collector works on an unreferenced chunk, a mark (17 bytes):
//
//	state 1 ('C' condemned, 'D' doomed, 'G' gone) | u64be(stamp) | i64be(unix ns)
//
// Every commit that changes a count writes that key, so the collector's
// transitions and the writers' commits conflict write-write on it and are
// serialized by every engine without locks. The mark is mirrored under
// prefixMeta "gc/mark/" || id, so that the nodes can read all marks
// without walking every count. The stamp is the GC round counter
// (prefixMeta "gc/round") when the mark was written; the collector bumps
// the counter after each batch of marks, so a node whose scan read counter
// c has seen every mark stamped below c.

// Mark states.
const (
	// MarkCondemned: unreferenced when the collector looked. A commit that
	// references the chunk clears it; so does a node that pins the chunk.
	MarkCondemned byte = 'C'
	// MarkDoomed: being deleted from the chunk store. No commit may
	// reference it (ErrChunkGone).
	MarkDoomed byte = 'D'
	// MarkGone: deleted. Kept until every node has seen it, then pruned.
	MarkGone byte = 'G'
)

// GCMark is one chunk's mark.
type GCMark struct {
	Chunk chunkstore.ID
	State byte
	Stamp uint64
	Time  time.Time
}

var (
	// ErrChunkGone: a commit referenced a chunk the collector is deleting or
	// has deleted since the writer found it. Nothing was committed; the
	// client retries (the chunk is then written again). It wraps
	// ErrUnavailable, so the S3 gateway answers 503 SlowDown.
	ErrChunkGone = fmt.Errorf("%w: a chunk this write shares was collected meanwhile", ErrUnavailable)
	// ErrFenced: this node's registration expired and was reaped (its
	// heartbeats stopped for longer than the node timeout), so the writes
	// it began before may hold chunks the collector has since deleted, and
	// may not commit.
	ErrFenced = fmt.Errorf("%w: this node's registration expired while the write was in progress", ErrUnavailable)
	// ErrGCLeaseHeld: another node holds the collector's lease.
	ErrGCLeaseHeld = errors.New("another node is collecting garbage")
)

var (
	keyGCRound      = append([]byte{prefixMeta}, "gc/round"...)
	keyGCLeader     = append([]byte{prefixMeta}, "gc/leader"...)
	keyGCMarkPrefix = append([]byte{prefixMeta}, "gc/mark/"...)
)

func gcMarkKey(id chunkstore.ID) []byte {
	return append(bytes.Clone(keyGCMarkPrefix), id[:]...)
}

const markLen = 1 + 8 + 8

func encodeMark(m GCMark) []byte {
	v := make([]byte, 0, markLen)
	v = append(v, m.State)
	v = binary.BigEndian.AppendUint64(v, m.Stamp)
	return binary.BigEndian.AppendUint64(v, uint64(m.Time.UnixNano()))
}

// decodeRef reads a reference key's value: a count, or a mark (count 0).
func decodeRef(id chunkstore.ID, v []byte) (int64, *GCMark, error) {
	if len(v) != markLen {
		n, err := decodeCount(v)
		return n, nil, err
	}
	switch v[0] {
	case MarkCondemned, MarkDoomed, MarkGone:
	default:
		return 0, nil, fmt.Errorf("%w: chunk mark state %q", errCorrupt, v[0])
	}
	return 0, &GCMark{
		Chunk: id,
		State: v[0],
		Stamp: binary.BigEndian.Uint64(v[1:9]),
		Time:  time.Unix(0, int64(binary.BigEndian.Uint64(v[9:17]))),
	}, nil
}

// refMark returns the mark in id's reference key, nil if the key holds a
// count or is absent.
func refMark(txn kv.Reader, id chunkstore.ID) (*GCMark, error) {
	v, err := getValue(txn, refKey(id))
	if err == errMissing {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_, m, err := decodeRef(id, v)
	return m, err
}

func setMark(txn kv.Txn, m GCMark) error {
	v := encodeMark(m)
	if err := set(txn, refKey(m.Chunk), v); err != nil {
		return err
	}
	return set(txn, gcMarkKey(m.Chunk), v)
}

func delMark(txn kv.Txn, id chunkstore.ID) error {
	if err := del(txn, refKey(id)); err != nil {
		return err
	}
	return del(txn, gcMarkKey(id))
}

// sameMark: the reference key still holds exactly m.
func sameMark(txn kv.Reader, m GCMark) (bool, error) {
	cur, err := refMark(txn, m.Chunk)
	if err != nil || cur == nil {
		return false, err
	}
	return cur.State == m.State && cur.Stamp == m.Stamp && cur.Time.Equal(m.Time), nil
}

func getU64(txn kv.Reader, key []byte) (uint64, error) {
	v, err := getValue(txn, key)
	if err == errMissing {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %q of %d bytes", errCorrupt, key[1:], len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Fleet reports whether the catalog's engine is shared by several
// processes (then collection uses the marks; otherwise it needs none).
func (db *DB) Fleet() bool { return db.reg != nil }

// GCScanner is what a node does with the marks its heartbeat reads: it
// returns the condemned marks of chunks it uses (pins), which the catalog
// then clears, and remembers the doomed and gone ones (writes holding them
// must not commit). It runs before the node acknowledges the marks' round.
type GCScanner func(ctx context.Context, marks []GCMark) (clear []GCMark, err error)

// SetGCScanner installs the node's scanner (the object layer's pins).
func (db *DB) SetGCScanner(s GCScanner) {
	if db.reg != nil {
		db.reg.scanner.Store(&s)
	}
}

// readMarks returns the round counter and every mark, in one snapshot.
func readMarks(txn kv.Reader) (uint64, []GCMark, error) {
	round, err := getU64(txn, keyGCRound)
	if err != nil {
		return 0, nil, err
	}
	var marks []GCMark
	it := txn.Iterate(kv.IterOptions{Prefix: keyGCMarkPrefix, Prefetch: 256})
	defer it.Close()
	for it.Seek(keyGCMarkPrefix); it.Valid(); it.Next() {
		k := it.Key()
		var id chunkstore.ID
		if len(k) != len(keyGCMarkPrefix)+len(id) {
			return 0, nil, fmt.Errorf("%w: gc mark key of %d bytes", errCorrupt, len(k))
		}
		copy(id[:], k[len(keyGCMarkPrefix):])
		v, err := it.Value()
		if err != nil {
			return 0, nil, storageErr(err)
		}
		_, m, err := decodeRef(id, v)
		if err != nil {
			return 0, nil, err
		}
		if m == nil {
			return 0, nil, fmt.Errorf("%w: gc mark of chunk %s holds a count", errCorrupt, id)
		}
		marks = append(marks, *m)
	}
	return round, marks, storageErr(it.Err())
}

// scan reads the marks, lets the scanner clear those of chunks this node
// uses, and returns the round the node may acknowledge (unchanged on
// failure).
func (db *DB) scan(ctx context.Context, r *nodeReg) (uint64, error) {
	var round uint64
	var marks []GCMark
	err := db.view(ctx, func(txn kv.Reader) error {
		var err error
		round, marks, err = readMarks(txn)
		return err
	})
	if err != nil {
		return 0, err
	}
	if s := r.scanner.Load(); s != nil {
		clear, err := (*s)(ctx, marks)
		if err != nil {
			return 0, err
		}
		if err := db.clearMarks(ctx, clear); err != nil {
			return 0, err
		}
	}
	return round, nil
}

// clearMarks turns condemned marks back into "unreferenced" (no key),
// each only if unchanged: one the collector doomed meanwhile stays, and
// the scanner learns it at its next scan.
func (db *DB) clearMarks(ctx context.Context, marks []GCMark) error {
	for len(marks) > 0 {
		batch := marks[:min(len(marks), 256)]
		marks = marks[len(batch):]
		err := db.update(ctx, func(txn kv.Txn) error {
			for _, m := range batch {
				ok, err := sameMark(txn, m)
				if err != nil {
					return err
				}
				if ok && m.State == MarkCondemned {
					if err := delMark(txn, m.Chunk); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("catalog: clear gc marks: %w", err)
		}
	}
	return nil
}

// GCScan runs this node's scan and acknowledges it now (as a heartbeat
// does), so a collection on this node need not wait for its own
// heartbeat.
func (db *DB) GCScan(ctx context.Context) error {
	if db.reg == nil {
		return nil
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	return db.beat(ctx, db.reg)
}

// GCLease is the collector's hold on the leader lease, for one collection.
type GCLease struct {
	db *DB
	mu sync.Mutex // value: the collection's transactions and Keep
	// value is the leader record as this collection last wrote it; its
	// first 24 bytes (node and epoch) identify the holder.
	value []byte
}

func (l *GCLease) holder() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value[:24]
}

// leaderValue: node id (16 hex) | epoch (8) | expiry (8) | hostname.
func (db *DB) leaderValue(expiry time.Time) []byte {
	r := db.reg
	v := append([]byte(nil), r.id...)
	v = binary.BigEndian.AppendUint64(v, r.epoch.Load())
	v = binary.BigEndian.AppendUint64(v, uint64(expiry.UnixNano()))
	return append(v, hostname()...)
}

// LeaseHolder describes a GC lease held by another node.
type LeaseHolder struct {
	Node, Host string
	Until      time.Time
}

func decodeLeader(v []byte) (LeaseHolder, bool) {
	if len(v) < 32 {
		return LeaseHolder{}, false
	}
	return LeaseHolder{Node: string(v[:16]), Until: time.Unix(0, int64(binary.BigEndian.Uint64(v[24:32]))), Host: string(v[32:])}, true
}

// GCBegin takes (or renews) the collector's lease for this node, reaps the
// records of nodes whose heartbeat expired (their writes are fenced from
// then on), and bumps the round counter. Another live holder: an error
// wrapping ErrGCLeaseHeld naming it. On an engine one process owns there
// is nothing to lease: (nil, nil).
func (db *DB) GCBegin(ctx context.Context) (*GCLease, error) {
	if db.reg == nil {
		return nil, nil
	}
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	var l *GCLease
	var reaped []string
	err := db.update(ctx, func(txn kv.Txn) error {
		reaped = reaped[:0]
		if err := db.checkOwnRecord(txn); err != nil {
			return err
		}
		now := time.Now()
		v, err := getValue(txn, keyGCLeader)
		switch {
		case err == errMissing:
		case err != nil:
			return err
		default:
			h, ok := decodeLeader(v)
			if ok && h.Node != db.reg.id && h.Until.After(now) {
				return fmt.Errorf("%w: node %s (%s) holds the collector lease until %s; it runs the collection, or the lease expires",
					ErrGCLeaseHeld, h.Node, h.Host, h.Until.UTC().Format(time.RFC3339))
			}
		}
		lv := db.leaderValue(now.Add(nodeTTL))
		if err := set(txn, keyGCLeader, lv); err != nil {
			return err
		}
		l = &GCLease{db: db, value: lv}
		if reaped, err = db.reap(txn, now); err != nil {
			return err
		}
		return bumpRound(txn)
	})
	if errors.Is(err, ErrGCLeaseHeld) {
		return nil, err // says all an operator needs
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: gc begin: %w", err)
	}
	for _, id := range reaped {
		db.log.Warn("catalog: node heartbeat expired; its registration is released and its writes in flight may not commit", "node", id)
	}
	return l, nil
}

// reap deletes the records of other nodes whose heartbeat expired: from
// then on, the writes they began may not commit (checkFence), so their
// acknowledgements are no longer needed.
func (db *DB) reap(txn kv.Txn, now time.Time) ([]string, error) {
	nodes, err := readNodes(txn)
	if err != nil {
		return nil, err
	}
	var reaped []string
	for _, n := range nodes {
		if n.id != db.reg.id && !n.expiry.After(now) {
			if err := del(txn, nodeKey(n.id)); err != nil {
				return nil, err
			}
			reaped = append(reaped, n.id)
		}
	}
	return reaped, nil
}

func bumpRound(txn kv.Txn) error {
	r, err := getU64(txn, keyGCRound)
	if err != nil {
		return err
	}
	return set(txn, keyGCRound, binary.BigEndian.AppendUint64(nil, r+1))
}

// hold checks, inside txn, that the lease is still this collection's and
// rewrites it (renewed): a node taking the lease over writes the same key,
// so of the two transactions only one commits.
func (l *GCLease) hold(txn kv.Txn) error {
	v, err := getValue(txn, keyGCLeader)
	if err == errMissing || (err == nil && !bytes.Equal(v[:min(len(v), 24)], l.holder())) {
		return fmt.Errorf("%w: the collector lease passed to another node", ErrGCLeaseHeld)
	}
	if err != nil {
		return err
	}
	if h, _ := decodeLeader(v); !h.Until.After(time.Now()) {
		return fmt.Errorf("%w: this node's collector lease expired", ErrGCLeaseHeld)
	}
	nv := l.db.leaderValue(time.Now().Add(nodeTTL))
	l.mu.Lock()
	l.value = nv
	l.mu.Unlock()
	return set(txn, keyGCLeader, nv)
}

// Keep renews the lease every third of its term until the returned func is
// called, so a long collection (a large store to list) keeps it; each of
// the collection's transactions checks it still holds it.
func (l *GCLease) Keep(ctx context.Context) (stop func()) {
	if l == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(nodeTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := l.db.update(ctx, func(txn kv.Txn) error { return l.hold(txn) })
			if err != nil && ctx.Err() == nil {
				l.db.log.Warn("catalog: gc lease not renewed", "err", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Release gives the lease up, so `exc gc` on any node can run next.
func (l *GCLease) Release(ctx context.Context) {
	if l == nil {
		return
	}
	err := l.db.update(ctx, func(txn kv.Txn) error {
		v, err := getValue(txn, keyGCLeader)
		if err == errMissing {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Equal(v[:min(len(v), 24)], l.holder()) {
			return del(txn, keyGCLeader)
		}
		return nil
	})
	if err != nil {
		l.db.log.Warn("catalog: gc lease not released; it expires by itself", "err", err, "after", nodeTTL)
	}
}

// batches runs fn over items in transactions of up to 256, each holding
// the lease; after runs once a batch's transaction committed (fn may run
// more than once per batch: on conflict the transaction starts again).
func batches[T any](ctx context.Context, l *GCLease, items []T, fn func(txn kv.Txn, round uint64, batch []T) error, after func()) error {
	for len(items) > 0 {
		b := items[:min(len(items), 256)]
		items = items[len(b):]
		err := l.db.update(ctx, func(txn kv.Txn) error {
			if err := l.hold(txn); err != nil {
				return err
			}
			round, err := getU64(txn, keyGCRound)
			if err != nil {
				return err
			}
			return fn(txn, round, b)
		})
		if err != nil {
			return err
		}
		after()
	}
	return nil
}

// Condemn marks each chunk that is still unreferenced (no reference key)
// condemned, then bumps the round, and returns how many it marked.
func (l *GCLease) Condemn(ctx context.Context, ids []chunkstore.ID) (int, error) {
	var n, bn int
	err := batches(ctx, l, ids, func(txn kv.Txn, round uint64, b []chunkstore.ID) error {
		bn = 0
		now := time.Now()
		for _, id := range b {
			ok, err := exists(txn, refKey(id))
			if err != nil {
				return err
			}
			if !ok {
				if err := setMark(txn, GCMark{Chunk: id, State: MarkCondemned, Stamp: round, Time: now}); err != nil {
					return err
				}
				bn++
			}
		}
		return nil
	}, func() { n += bn })
	if err == nil {
		err = l.Bump(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("catalog: gc condemn: %w", err)
	}
	return n, nil
}

// Bump advances the round counter: every mark written so far is stamped
// below the new value, so a node that acknowledges it has seen them.
func (l *GCLease) Bump(ctx context.Context) error {
	return l.db.update(ctx, func(txn kv.Txn) error {
		if err := l.hold(txn); err != nil {
			return err
		}
		return bumpRound(txn)
	})
}

// Marks returns every mark, and the lowest round acknowledged by the
// registered nodes (a node whose record is there but expired counts until
// GCBegin reaps it).
func (db *DB) GCMarks(ctx context.Context) (marks []GCMark, minAck uint64, err error) {
	err = db.view(ctx, func(txn kv.Reader) error {
		var err error
		if _, marks, err = readMarks(txn); err != nil {
			return err
		}
		minAck, err = minAcked(txn)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("catalog: gc marks: %w", err)
	}
	return marks, minAck, nil
}

func minAcked(txn kv.Reader) (uint64, error) {
	nodes, err := readNodes(txn)
	if err != nil {
		return 0, err
	}
	var m uint64
	for i, n := range nodes {
		if i == 0 || n.ack < m {
			m = n.ack
		}
	}
	return m, nil
}

// Doom turns condemned marks that every registered node has seen (stamp
// below every acknowledged round) and that are at least grace old into
// doomed ones, each only if unchanged, and returns those it doomed: the
// caller may now delete them from the chunk store, then calls Gone.
func (l *GCLease) Doom(ctx context.Context, marks []GCMark, grace time.Duration) ([]GCMark, error) {
	var doomed, bd []GCMark
	err := batches(ctx, l, marks, func(txn kv.Txn, round uint64, b []GCMark) error {
		bd = bd[:0]
		if _, err := l.db.reap(txn, time.Now()); err != nil {
			return err
		}
		ack, err := minAcked(txn)
		if err != nil {
			return err
		}
		now := time.Now()
		for _, m := range b {
			if m.State != MarkCondemned || m.Stamp >= ack || now.Sub(m.Time) < grace {
				continue
			}
			ok, err := sameMark(txn, m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			d := GCMark{Chunk: m.Chunk, State: MarkDoomed, Stamp: round, Time: now}
			if err := setMark(txn, d); err != nil {
				return err
			}
			bd = append(bd, d)
		}
		return nil
	}, func() { doomed = append(doomed, bd...) })
	if err == nil && len(doomed) > 0 {
		err = l.Bump(ctx)
	}
	if err != nil {
		return doomed, fmt.Errorf("catalog: gc doom: %w", err)
	}
	return doomed, nil
}

// Gone records that doomed chunks were deleted from the chunk store.
func (l *GCLease) Gone(ctx context.Context, marks []GCMark) error {
	err := batches(ctx, l, marks, func(txn kv.Txn, _ uint64, b []GCMark) error {
		for _, m := range b {
			cur, err := refMark(txn, m.Chunk)
			if err != nil {
				return err
			}
			if cur == nil || cur.State != MarkDoomed {
				continue
			}
			g := *cur
			g.State = MarkGone
			if err := setMark(txn, g); err != nil {
				return err
			}
		}
		return nil
	}, func() {})
	if err != nil {
		return fmt.Errorf("catalog: gc gone: %w", err)
	}
	return nil
}

// Prune deletes gone marks that every registered node has seen, and
// returns how many.
func (l *GCLease) Prune(ctx context.Context, marks []GCMark) (int, error) {
	var n, bn int
	err := batches(ctx, l, marks, func(txn kv.Txn, _ uint64, b []GCMark) error {
		bn = 0
		if _, err := l.db.reap(txn, time.Now()); err != nil {
			return err
		}
		ack, err := minAcked(txn)
		if err != nil {
			return err
		}
		for _, m := range b {
			if m.State != MarkGone || m.Stamp >= ack {
				continue
			}
			ok, err := sameMark(txn, m)
			if err != nil {
				return err
			}
			if ok {
				if err := delMark(txn, m.Chunk); err != nil {
					return err
				}
				bn++
			}
		}
		return nil
	}, func() { n += bn })
	if err != nil {
		return 0, fmt.Errorf("catalog: gc prune: %w", err)
	}
	return n, nil
}

// AwaitAcks waits until every live node (unexpired record) has
// acknowledged round target or later, for at most bound; it reports
// whether they did. Expired nodes are not waited for: the collector reaps
// them instead.
func (db *DB) AwaitAcks(ctx context.Context, target uint64, bound time.Duration) (bool, error) {
	deadline := time.Now().Add(bound)
	for {
		behind := 0
		err := db.view(ctx, func(txn kv.Reader) error {
			nodes, err := readNodes(txn)
			now := time.Now()
			for _, n := range nodes {
				if n.ack < target && n.expiry.After(now) {
					behind++
				}
			}
			return err
		})
		if err != nil {
			return false, err
		}
		if behind == 0 {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(nodeHeartbeat / 10):
		}
	}
}

// GCRound returns the round counter.
func (db *DB) GCRound(ctx context.Context) (uint64, error) {
	var r uint64
	err := db.view(ctx, func(txn kv.Reader) error {
		var err error
		r, err = getU64(txn, keyGCRound)
		return err
	})
	return r, err
}

// fenceKey carries a write's fencing token (the node epoch when it began).
type fenceKey struct{}

// WithFence returns ctx carrying this node's current epoch: commits made
// with it fail with ErrFenced if the node's registration was reaped (and
// renewed under a new epoch) since. Writers call it when they begin, before
// they look for or store any chunk.
func (db *DB) WithFence(ctx context.Context) context.Context {
	if db.reg == nil {
		return ctx
	}
	return context.WithValue(ctx, fenceKey{}, db.reg.epoch.Load())
}

// WithFenceOf returns ctx carrying the fencing token of from (which
// WithFence made), if any: a write session that spans requests keeps the
// token it began with.
func WithFenceOf(ctx, from context.Context) context.Context {
	if e, ok := from.Value(fenceKey{}).(uint64); ok {
		return context.WithValue(ctx, fenceKey{}, e)
	}
	return ctx
}

func (db *DB) fenceFrom(ctx context.Context) uint64 {
	if db.reg == nil {
		return 0
	}
	if e, ok := ctx.Value(fenceKey{}).(uint64); ok {
		return e
	}
	return db.reg.epoch.Load()
}

// checkFence: inside a commit that adds the first reference to a chunk,
// this node's record must still be there under the write's epoch. The
// collector reaps records only after they expired, and prunes gone marks
// only once every remaining record has seen them; a commit that passes
// this check either sees the mark (and fails) or conflicts with the prune
// that deletes it (write-write on the reference key).
func (db *DB) checkFence(txn kv.Reader, epoch uint64) error {
	if db.reg == nil {
		return nil
	}
	n, err := readNode(txn, db.reg.id)
	if err != nil {
		return err
	}
	if n == nil || n.epoch != epoch {
		return ErrFenced
	}
	return nil
}

func (db *DB) checkOwnRecord(txn kv.Reader) error {
	return db.checkFence(txn, db.reg.epoch.Load())
}

package catalog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// The change feed across nodes. On an engine that several processes share
// (one that implements kv.Notifier), a mutation's events travel inside its
// transaction: they are encoded into notification payloads attached to the
// transaction before it commits, and every node's catalog, this one's
// included, delivers them to its subscribers as its engine hands them over,
// which is after the commit and in commit order across all nodes. The
// mutating method returns once its own events have come back and been
// delivered here, so "delivered before the method returns" holds as with
// one process, and a node's local stripe locks (held across commit and
// delivery) only hold back this node's next writer of a key until the
// previous commit's events are out: an order the commit order already
// implies, never one that contradicts it.
//
// On an engine that one process owns (Badger) the events are delivered
// locally after the commit, under the same stripe locks, as before.
//
// When the engine reports that notifications may have been lost (its
// listening connection was cut and restored), subscribers get an event of
// kind Resync: drop everything derived from earlier events.

// noteTxn is the transaction a mutation's fn gets: the engine's, plus the
// events the mutation will publish if it commits.
type noteTxn struct {
	kv.Txn
	notes []Event
	fence uint64 // the write's fencing token (gcstate.go)
}

// note records ev to be published when the transaction commits. fn calls it
// on its way to success; the events of an attempt that fails or conflicts
// are dropped with it.
func note(txn kv.Txn, evs ...Event) {
	if nt, ok := txn.(*noteTxn); ok {
		nt.notes = append(nt.notes, evs...)
		return
	}
	panic("catalog: note outside a catalog update")
}

// feedWire is the payload layout: a header, then events.
//
//	version 1 | flags 1 (1: the transaction's last payload) | origin 8 | token 8
//	then per event: kind 1 | bucket id uvarint | org, bucket, key: uvarint length + bytes
const feedWireVersion = 1

const flagLast = 1

type nodeFeed struct {
	n      kv.Notifier
	origin uint64
	tokens atomic.Uint64
	cancel func()

	mu      sync.Mutex
	waiters map[uint64]chan struct{}
}

// wireHeader is the size of a payload's header.
const wireHeader = 1 + 1 + 8 + 8

// startNodeFeed begins listening, before the catalog serves anything, so
// no commit made after OpenEngine returns is missed.
func (db *DB) startNodeFeed(n kv.Notifier) error {
	var o [8]byte
	if _, err := rand.Read(o[:]); err != nil {
		return err
	}
	nf := &nodeFeed{n: n, origin: binary.BigEndian.Uint64(o[:]), waiters: make(map[uint64]chan struct{})}
	// Bounded: a database that does not answer must not hang the start.
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	cancel, err := n.Listen(ctx, db.received)
	if err != nil {
		return fmt.Errorf("catalog: change feed: %w", storageErr(err))
	}
	nf.cancel = cancel
	db.nodes = nf
	return nil
}

// send attaches evs to txn as payloads and returns the token whose
// delivery means all of them were delivered.
func (nf *nodeFeed) send(txn kv.Txn, evs []Event) (uint64, error) {
	tok := nf.tokens.Add(1)
	var p []byte
	flush := func(last bool) error {
		if last {
			p[1] |= flagLast
		}
		err := nf.n.Notify(txn, p)
		p = nil
		return err
	}
	for i, ev := range evs {
		e := encodeWireEvent(ev)
		if wireHeader+len(e) > kv.MaxNotifyPayload {
			// A key too long for a payload (S3's keys are at most 1024
			// bytes; the mount's paths may be longer): tell the other
			// nodes to drop everything rather than miss it.
			e = encodeWireEvent(Event{Kind: Resync})
		}
		if p != nil && len(p)+len(e) > kv.MaxNotifyPayload {
			if err := flush(false); err != nil {
				return 0, err
			}
		}
		if p == nil {
			p = make([]byte, wireHeader, 512)
			p[0] = feedWireVersion
			binary.BigEndian.PutUint64(p[2:], nf.origin)
			binary.BigEndian.PutUint64(p[10:], tok)
		}
		p = append(p, e...)
		if i == len(evs)-1 {
			if err := flush(true); err != nil {
				return 0, err
			}
		}
	}
	return tok, nil
}

func encodeWireEvent(ev Event) []byte {
	b := make([]byte, 0, 16+len(ev.OrgID)+len(ev.Bucket)+len(ev.Key))
	b = append(b, byte(ev.Kind))
	b = binary.AppendUvarint(b, ev.BucketID)
	for _, s := range []string{ev.OrgID, ev.Bucket, ev.Key} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errWire = errors.New("catalog: change feed payload malformed")

func decodeWire(p []byte) (origin, tok uint64, last bool, evs []Event, err error) {
	if len(p) < wireHeader || p[0] != feedWireVersion {
		return 0, 0, false, nil, errWire
	}
	last = p[1]&flagLast != 0
	origin = binary.BigEndian.Uint64(p[2:])
	tok = binary.BigEndian.Uint64(p[10:])
	r := p[wireHeader:]
	for len(r) > 0 {
		var ev Event
		ev.Kind = EventKind(r[0])
		r = r[1:]
		id, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, 0, false, nil, errWire
		}
		ev.BucketID, r = id, r[n:]
		var ss [3]string
		for i := range ss {
			l, n := binary.Uvarint(r)
			if n <= 0 || uint64(len(r)-n) < l {
				return 0, 0, false, nil, errWire
			}
			ss[i], r = string(r[n:n+int(l)]), r[n+int(l):]
		}
		ev.OrgID, ev.Bucket, ev.Key = ss[0], ss[1], ss[2]
		evs = append(evs, ev)
	}
	return origin, tok, last, evs, nil
}

// received is the engine's Listen subscriber: one goroutine, commit order.
func (db *DB) received(n kv.Notification) {
	nf := db.nodes
	if n.Resync {
		db.publish(Event{Kind: Resync})
		// Every waiting writer's events are covered by the resync.
		nf.mu.Lock()
		for tok, ch := range nf.waiters {
			close(ch)
			delete(nf.waiters, tok)
		}
		nf.mu.Unlock()
		return
	}
	origin, tok, last, evs, err := decodeWire(n.Payload)
	if err != nil {
		db.log.Warn("catalog: change feed: a payload this build cannot read; resyncing subscribers", "err", err)
		db.publish(Event{Kind: Resync})
		return
	}
	for _, ev := range evs {
		db.publish(ev)
	}
	if origin != nf.origin || !last {
		return
	}
	nf.mu.Lock()
	ch := nf.waiters[tok]
	delete(nf.waiters, tok)
	nf.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// expect registers the wait for tok before its transaction commits, so the
// delivery cannot come before the waiter.
func (nf *nodeFeed) expect(tok uint64) <-chan struct{} {
	ch := make(chan struct{})
	nf.mu.Lock()
	nf.waiters[tok] = ch
	nf.mu.Unlock()
	return ch
}

func (nf *nodeFeed) forget(tok uint64) {
	nf.mu.Lock()
	delete(nf.waiters, tok)
	nf.mu.Unlock()
}

// echoWait bounds how long a committed mutation waits for its own events to
// come back through the engine: they are normally back in a round trip,
// and a listening connection that is down delivers a Resync when it is
// back (which releases every waiter). The bound keeps a writer from
// hanging on a feed that is gone for longer; its change is committed
// either way.
const echoWait = 30 * time.Second

func (db *DB) awaitEcho(ch <-chan struct{}, tok uint64) {
	t := time.NewTimer(echoWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		db.nodes.forget(tok)
		db.log.Warn("catalog: change feed: a commit's own events did not come back; other nodes may see the change late", "waited", echoWait)
	}
}

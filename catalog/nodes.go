package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// Node registration. Every node on a shared engine keeps a record of its
// own, refreshed every nodeHeartbeat and expiring nodeTTL after its last
// refresh. A node that stops cleanly deletes its record; one that dies
// leaves it to expire, and the garbage collector then deletes ("reaps") it.
// Expiry is read against the reader's clock: the nodes' clocks must agree
// to well within nodeTTL (NTP) for a live node not to be reaped; a node
// reaped by mistake loses availability (its writes in flight fail with
// ErrFenced), never data (docs/design.md, "Garbage collection across
// nodes").
//
// Each heartbeat first scans the collector's marks (gcstate.go) and then
// writes, with the new expiry, the round it acknowledges and its epoch, a
// random fencing token chosen when the node registers (again if it finds
// its record reaped).
//
// Key: prefixMeta || "node/" || id (16 hex) →
//
//	i64be(expiry, unix ns) | 0xff 'g' | u64be(acked round) | u64be(epoch) | hostname
//
// A record without the 0xff 'g' tag (an older node) counts as having
// acknowledged nothing, which holds collection back until it is reaped.
// On an engine that one process owns there is one node, this one, and
// nothing is written.

var (
	nodeHeartbeat = envDuration("EXC_NODE_HEARTBEAT", 3*time.Second)
	nodeTTL       = envDuration("EXC_NODE_TTL", 15*time.Second)
)

// SetNodeTiming sets the heartbeat interval and the node timeout of
// catalogs opened from now on. For tests (as are EXC_NODE_HEARTBEAT and
// EXC_NODE_TTL): production keeps the defaults. Not safe while catalogs
// are open.
func SetNodeTiming(heartbeat, ttl time.Duration) { nodeHeartbeat, nodeTTL = heartbeat, ttl }

// NodeTiming returns the heartbeat interval and the node timeout.
func NodeTiming() (heartbeat, ttl time.Duration) { return nodeHeartbeat, nodeTTL }

// envDuration reads a hidden, test-only setting (the fleet torture tests
// shorten the heartbeat and the timeout; production keeps the defaults).
func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return def
}

var keyNodePrefix = append([]byte{prefixMeta}, "node/"...)

func nodeKey(id string) []byte { return append(bytes.Clone(keyNodePrefix), id...) }

type nodeReg struct {
	id      string
	key     []byte
	epoch   atomic.Uint64
	scanner atomic.Pointer[GCScanner]
	beatMu  sync.Mutex // one heartbeat (scan and write) at a time
	stop    chan struct{}
	done    chan struct{}
}

type nodeRec struct {
	id     string
	expiry time.Time
	ack    uint64
	epoch  uint64
	host   string
}

func decodeNode(id string, v []byte) (nodeRec, error) {
	if len(v) < 8 {
		return nodeRec{}, fmt.Errorf("%w: node record of %d bytes", errCorrupt, len(v))
	}
	n := nodeRec{id: id, expiry: time.Unix(0, int64(binary.BigEndian.Uint64(v)))}
	if len(v) >= 8+2+16 && v[8] == 0xff && v[9] == 'g' {
		n.ack = binary.BigEndian.Uint64(v[10:18])
		n.epoch = binary.BigEndian.Uint64(v[18:26])
		n.host = string(v[26:])
	} else {
		n.host = string(v[8:])
	}
	return n, nil
}

func encodeNode(expiry time.Time, ack, epoch uint64) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(expiry.UnixNano()))
	v = append(v, 0xff, 'g')
	v = binary.BigEndian.AppendUint64(v, ack)
	v = binary.BigEndian.AppendUint64(v, epoch)
	return append(v, hostname()...)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func readNode(txn kv.Reader, id string) (*nodeRec, error) {
	v, err := getValue(txn, nodeKey(id))
	if err == errMissing {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := decodeNode(id, v)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

func readNodes(txn kv.Reader) ([]nodeRec, error) {
	var out []nodeRec
	it := txn.Iterate(kv.IterOptions{Prefix: keyNodePrefix})
	defer it.Close()
	for it.Seek(keyNodePrefix); it.Valid(); it.Next() {
		id := string(it.Key()[len(keyNodePrefix):])
		v, err := it.Value()
		if err != nil {
			return nil, storageErr(err)
		}
		n, err := decodeNode(id, v)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, storageErr(it.Err())
}

func newEpoch() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]) | 1, nil // never 0
}

// register writes this node's record and starts its heartbeat.
func (db *DB) register() error {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	r := &nodeReg{
		id:   hex.EncodeToString(id[:]),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	r.key = nodeKey(r.id)
	e, err := newEpoch()
	if err != nil {
		return err
	}
	r.epoch.Store(e)
	if err := db.beat(context.Background(), r); err != nil {
		return fmt.Errorf("catalog: register node: %w", err)
	}
	db.reg = r
	go func() {
		defer close(r.done)
		t := time.NewTicker(nodeHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), nodeTTL)
			if err := db.beat(ctx, r); err != nil && !errors.Is(err, ErrClosed) {
				db.log.Warn("catalog: node heartbeat failed", "err", err)
			}
			cancel()
		}
	}()
	return nil
}

// beat scans the collector's marks and then writes the record with a new
// expiry and the round the scan read (the previous one if the scan
// failed). A record that is gone was reaped: the node registers again
// under a new epoch, which fences every write begun before.
func (db *DB) beat(ctx context.Context, r *nodeReg) error {
	r.beatMu.Lock()
	defer r.beatMu.Unlock()
	// The scan waits for this node's lookups in flight; bound it well
	// within the timeout, so that a slow one delays the acknowledgement,
	// never the heartbeat (which would get the node reaped).
	sctx, cancel := context.WithTimeout(ctx, nodeTTL/3)
	round, scanErr := db.scan(sctx, r)
	cancel()
	var renewed bool
	err := db.update(ctx, func(txn kv.Txn) error {
		renewed = false
		cur, err := readNode(txn, r.id)
		if err != nil {
			return err
		}
		epoch := r.epoch.Load()
		ack := round
		if cur != nil && scanErr != nil {
			ack = cur.ack
		}
		if cur == nil && db.reg != nil {
			// Reaped. The scan just made is valid whatever the epoch.
			if epoch, err = newEpoch(); err != nil {
				return err
			}
			renewed = true
			if scanErr != nil {
				return scanErr
			}
		}
		if err := set(txn, r.key, encodeNode(time.Now().Add(nodeTTL), ack, epoch)); err != nil {
			return err
		}
		if renewed {
			r.epoch.Store(epoch)
		}
		return nil
	})
	if renewed && err == nil {
		db.log.Warn("catalog: this node's registration had expired and was released; registered again, writes begun before fail", "node", r.id)
	}
	if err == nil && scanErr != nil {
		return fmt.Errorf("gc scan: %w", scanErr)
	}
	return err
}

// unregister stops the heartbeat and deletes the record (before the engine
// closes).
func (db *DB) unregister() {
	r := db.reg
	if r == nil {
		return
	}
	close(r.stop)
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.updateFreeing(ctx, func(txn kv.Txn) error { return del(txn, r.key) }); err != nil {
		db.log.Warn("catalog: node record not removed; it expires by itself", "err", err, "after", nodeTTL)
	}
}

// LiveNodes returns how many nodes use the catalog now (this one
// included): those whose heartbeat has not expired. On an engine that one
// process owns, 1.
func (db *DB) LiveNodes(ctx context.Context) (int, error) {
	if err := db.enter(); err != nil {
		return 0, fmt.Errorf("catalog: live nodes: %w", err)
	}
	defer db.leave()
	if db.reg == nil {
		return 1, nil
	}
	now := time.Now()
	n := 0
	err := db.view(ctx, func(txn kv.Reader) error {
		nodes, err := readNodes(txn)
		for _, r := range nodes {
			if r.expiry.After(now) {
				n++
			}
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("catalog: live nodes: %w", err)
	}
	return n, nil
}

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
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// Node registration. Every node on a shared engine keeps a record of its
// own, refreshed every nodeHeartbeat and expiring nodeTTL after its last
// refresh, so that work that is only safe with one node (garbage
// collection, until chunks move to an object store) can see whether others
// are live. A node that stops cleanly deletes its record; one that dies
// leaves it to expire. Expiry is read against the reader's clock: the
// nodes' clocks must agree to well within nodeTTL (NTP).
//
// Key: prefixMeta || "node/" || id → i64be(expiry, unix ns) || hostname.
// On an engine that one process owns there is one node, this one, and
// nothing is written.

var (
	nodeHeartbeat = 3 * time.Second
	nodeTTL       = 15 * time.Second
)

var keyNodePrefix = append([]byte{prefixMeta}, "node/"...)

type nodeReg struct {
	key  []byte
	stop chan struct{}
	done chan struct{}
}

// register writes this node's record and starts its heartbeat.
func (db *DB) register() error {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	r := &nodeReg{
		key:  append(bytes.Clone(keyNodePrefix), hex.EncodeToString(id[:])...),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if err := db.beat(context.Background(), r.key); err != nil {
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
			if err := db.beat(ctx, r.key); err != nil && !errors.Is(err, ErrClosed) {
				db.log.Warn("catalog: node heartbeat failed", "err", err)
			}
			cancel()
		}
	}()
	return nil
}

func (db *DB) beat(ctx context.Context, key []byte) error {
	host, _ := os.Hostname()
	v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().Add(nodeTTL).UnixNano()))
	v = append(v, host...)
	return db.update(ctx, func(txn kv.Txn) error { return set(txn, key, v) })
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
	now := uint64(time.Now().UnixNano())
	n := 0
	err := db.view(ctx, func(txn kv.Reader) error {
		it := txn.Iterate(kv.IterOptions{Prefix: keyNodePrefix})
		for it.Seek(keyNodePrefix); it.Valid(); it.Next() {
			v, err := it.Value()
			if err != nil {
				it.Close()
				return storageErr(err)
			}
			if len(v) >= 8 && binary.BigEndian.Uint64(v) > now {
				n++
			}
		}
		return storageErr(it.Close())
	})
	if err != nil {
		return 0, fmt.Errorf("catalog: live nodes: %w", err)
	}
	return n, nil
}

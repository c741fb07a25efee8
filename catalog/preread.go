package catalog

import (
	"context"
	"sync"
)

// Reading the records of an S3 request in one step. On a shared engine
// the record caches are off (another node's change would not reach them
// in time), so each request reads its access key, then its bucket (whose
// key needs the org the access key names), then its object's manifest
// (whose key needs the bucket's id): three dependent reads, three round
// trips to PostgreSQL. Preread guesses the org and the bucket id from
// hints (what earlier requests found: never trusted, only used to name
// keys) and reads all three keys in one kv.Engine.ReadKeys, one snapshot
// taken as the request begins. The methods that read those records
// (AccessKey, Bucket, Object) then take their record from it when the key
// they need is one it read: a stale hint names another key, which nobody
// asks for, and the method reads as it would have. What a request gets is
// therefore what a read at its start would have given, which is all the
// cross-node guarantees ask (a revocation, a bucket's deletion, another
// node's write acknowledged before the request began are all seen).
//
// Each record is served once, and not at all once the request writes
// through this catalog (update drops the request's snapshot): a read after
// the request's own write must see it.

// prereadKey is the context key of a request's snapshot.
type prereadKey struct{}

// preread holds what one Preread read: key → value (nil: absent), for one
// catalog.
type preread struct {
	db   *DB
	mu   sync.Mutex
	vals map[string][]byte
}

// take returns key's value from the request's snapshot and removes it:
// found reports whether the snapshot answers for key at all, present
// whether the key existed in it.
func (db *DB) prereadTake(ctx context.Context, key []byte) (v []byte, present, found bool) {
	p, _ := ctx.Value(prereadKey{}).(*preread)
	if p == nil || p.db != db {
		return nil, false, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	v, found = p.vals[string(key)]
	if found {
		delete(p.vals, string(key))
	}
	return v, v != nil, found
}

// prereadDrop forgets the request's snapshot: called as the request
// writes.
func (db *DB) prereadDrop(ctx context.Context) {
	p, _ := ctx.Value(prereadKey{}).(*preread)
	if p == nil || p.db != db {
		return
	}
	p.mu.Lock()
	p.vals = nil
	p.mu.Unlock()
}

// Preread reads, in one step of the engine, the records a request signed
// with access key keyID is about to read: the key itself, bucket bucket
// of its org and object key in it (empty strings: not needed), and
// returns a context that carries them to the request's reads. Only on a
// shared engine (an engine this process owns answers from memory and
// caches these records anyway); it returns ctx unchanged otherwise, and
// on any error (the request's own reads will meet it and report it).
func (db *DB) Preread(ctx context.Context, keyID, bucket, key string) context.Context {
	if db.nodes == nil || keyID == "" {
		return ctx
	}
	if err := db.enter(); err != nil {
		return ctx
	}
	defer db.leave()
	keys := [][]byte{accessKeyKey(keyID)}
	if org, ok := db.hints.org(keyID); ok && bucket != "" && ValidOrgID(org) {
		keys = append(keys, bucketKey(org, bucket))
		if id, ok := db.hints.bucket(bucketRef{org, bucket}); ok && key != "" {
			keys = append(keys, objectKey(id, key))
		}
	}
	p := &preread{db: db, vals: make(map[string][]byte, len(keys))}
	for _, k := range keys {
		p.vals[string(k)] = nil
	}
	if err := db.eng.ReadKeys(ctx, keys, func(i int, v []byte) { p.vals[string(keys[i])] = v }); err != nil {
		return ctx
	}
	return context.WithValue(ctx, prereadKey{}, p)
}

// read returns key's value, or errMissing: from the request's snapshot if
// it holds the key, else in one step of the engine.
func (db *DB) read(ctx context.Context, key []byte) ([]byte, error) {
	if v, present, found := db.prereadTake(ctx, key); found {
		if !present {
			return nil, errMissing
		}
		return v, nil
	}
	var v []byte
	if err := db.eng.ReadKeys(ctx, [][]byte{key}, func(_ int, val []byte) { v = val }); err != nil {
		return nil, storageErr(err)
	}
	if v == nil {
		return nil, errMissing
	}
	return v, nil
}

// readHints remembers which org an access key belongs to and which id a
// bucket has, to name the keys Preread reads. Nothing is served from them:
// a wrong hint only costs the request its own reads.
type readHints struct {
	mu      sync.Mutex
	orgs    map[string]string // access key id → org id
	buckets map[bucketRef]uint64
}

// maxHints bounds each map; a full map starts again empty.
const maxHints = 1 << 14

func (h *readHints) org(keyID string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.orgs[keyID]
	return o, ok
}

func (h *readHints) bucket(r bucketRef) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.buckets[r]
	return id, ok
}

func (h *readHints) setOrg(keyID, org string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.orgs == nil || len(h.orgs) >= maxHints {
		h.orgs = make(map[string]string)
	}
	h.orgs[keyID] = org
}

func (h *readHints) setBucket(r bucketRef, id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buckets == nil || len(h.buckets) >= maxHints {
		h.buckets = make(map[bucketRef]uint64)
	}
	h.buckets[r] = id
}

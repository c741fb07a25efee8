package catalog

import (
	"context"
	"maps"
	"sync"

	"excloud.dev/buckets/catalog/kv"
)

// A Touch carries the metadata follow-ups of a file system operation into
// the catalog transaction of the operation itself: the FUSE mount's rename,
// unlink, mkdir, rmdir or a new file's first commit changes an entry, and
// then the directory's mtime and ctime (on its "dir/" marker) and a renamed
// entry's ctime must change too.
// As separate transactions those cost one to two more commits per operation,
// each waiting for the engine's writer; folded, the operation is one commit,
// and the directory's times become visible with the entry change itself,
// never before and never without it: a write that fails changes no time.
//
// The caller attaches a Touch to the context of the write (WithTouch). The
// first transaction made with that context that changes an object of the
// Touch's bucket (it notes an object event there) also sets, on each key of
// the Touch, the metadata keys given, keeping the key's other metadata, its
// bytes and its ModTime: UpdateMeta in the same transaction. A key that does
// not exist (at that point of the transaction: a renamed entry is looked for
// under its new name) is left alone. Each key changed publishes an ObjectPut
// event, as UpdateMeta does, unless the transaction already publishes one
// for it (the renamed entry's new name), so an operation causes at most one
// event of each key.
//
// A key the transaction does not itself write is written under its stripe
// lock, as every writer of a key is (feed order per key, feed.go), unless
// the writer already holds that stripe (one of its own keys shares it) or
// its bucket's lock exclusively (RenamePrefix). The lock is only tried,
// never waited for, since the writer already holds its own keys' stripes;
// when it is busy (another writer of the same directory in flight) the key
// is not touched and its TouchKey.Done stays false: the caller then makes
// the change itself, in a transaction of its own, as before.
//
// A Touch is used by one operation at a time; its results are set when the
// transaction carrying it commits, before the write returns.
type Touch struct {
	OrgID, Bucket string
	Keys          []TouchKey

	// Set by the transaction that carried the Touch.
	applied    bool
	bucketHeld bool          // the writer holds the bucket's lock exclusively (RenamePrefix)
	held       []*sync.Mutex // stripes taken, released after the publish
	results    []touchResult // of the current attempt
	// folded are the keys whose writer applied the metadata to the
	// manifest it wrote (foldInto), with that manifest, in the current
	// attempt.
	folded map[string]*Manifest
}

// TouchKey is one key of a Touch and, after the write, what became of it.
type TouchKey struct {
	Key  string
	Meta map[string]string // metadata keys to set; the caller bounds their size

	// Done: the transaction that carried the Touch handled the key (set
	// its metadata, or found it missing). False when no transaction did
	// (the write failed, or changed no object of the bucket) or its stripe
	// was busy: the caller's follow-up is then still to do.
	Done bool
	// Manifest is the key's manifest after the change, nil if it did not
	// exist (or if !Done).
	Manifest *Manifest
}

type touchResult struct {
	done bool
	m    *Manifest
}

type touchKey struct{}

// WithTouch returns ctx carrying t to the next write made with it (see
// Touch).
func WithTouch(ctx context.Context, t *Touch) context.Context {
	return context.WithValue(ctx, touchKey{}, t)
}

// touchOf returns the Touch ctx carries that no transaction has applied
// yet, or nil.
func touchOf(ctx context.Context) *Touch {
	t, _ := ctx.Value(touchKey{}).(*Touch)
	if t == nil || t.applied {
		return nil
	}
	return t
}

// beginAttempt forgets what an earlier attempt of the write folded.
func (t *Touch) beginAttempt() {
	if t != nil {
		clear(t.folded)
	}
}

// foldInto applies the metadata t has for key to the manifest encoded in
// v, which the writer is about to store under key in bucket b, and
// returns the bytes to store instead (v itself when t has none for key).
// applyTouch then finds the key done: without it, a rename stored the
// moved manifest, read it back, decoded it, and stored it again with its
// new ctime, a third of its transaction's CPU. The writer must note an
// ObjectPut of key in the same attempt, as applyTouch relies on.
func (t *Touch) foldInto(b Bucket, key string, v []byte) ([]byte, error) {
	if t == nil || t.OrgID != b.OrgID || t.Bucket != b.Name {
		return v, nil
	}
	var m *Manifest
	for _, k := range t.Keys {
		if k.Key != key {
			continue
		}
		if m == nil {
			var err error
			if m, err = decodeManifest(v); err != nil {
				return nil, err
			}
			meta := make(map[string]string, len(m.Meta)+len(k.Meta))
			maps.Copy(meta, m.Meta)
			m.Meta = meta
		}
		maps.Copy(m.Meta, k.Meta)
	}
	if m == nil {
		return v, nil
	}
	if t.folded == nil {
		t.folded = make(map[string]*Manifest, 1)
	}
	t.folded[key] = m
	return encodeManifest(m), nil
}

// applyTouch makes t's changes in txn, after the write's own fn succeeded; it
// is a no-op for a nil t and for a transaction that changed no object of
// t's bucket. Stripe locks it takes stay held across retries until
// release.
func (db *DB) applyTouch(t *Touch, txn kv.Txn) error {
	if t == nil {
		return nil
	}
	t.results = t.results[:0]
	nt, ok := txn.(*noteTxn)
	if !ok {
		return nil
	}
	var bucketID uint64
	found := false
	for _, ev := range nt.notes {
		if (ev.Kind == ObjectPut || ev.Kind == ObjectDelete) && ev.OrgID == t.OrgID && ev.Bucket == t.Bucket {
			bucketID, found = ev.BucketID, true
			break
		}
	}
	if !found {
		return nil
	}
	b := Bucket{ID: bucketID, OrgID: t.OrgID, Name: t.Bucket}
	for _, k := range t.Keys {
		if m, ok := t.folded[k.Key]; ok {
			t.results = append(t.results, touchResult{done: true, m: m})
			continue
		}
		own, put := noted(nt.notes, bucketID, k.Key)
		if !own && !t.bucketHeld && !t.lock(db, nt.notes, bucketID, k.Key) {
			t.results = append(t.results, touchResult{})
			continue
		}
		cur, err := getManifest(txn, bucketID, k.Key)
		if err != nil {
			return err
		}
		if cur == nil {
			t.results = append(t.results, touchResult{done: true})
			continue
		}
		m := *cur
		m.Meta = make(map[string]string, len(cur.Meta)+len(k.Meta))
		maps.Copy(m.Meta, cur.Meta)
		maps.Copy(m.Meta, k.Meta)
		if err := set(txn, objectKey(bucketID, k.Key), encodeManifest(&m)); err != nil {
			return err
		}
		if !put {
			note(txn, Event{Kind: ObjectPut, OrgID: b.OrgID, BucketID: b.ID, Bucket: b.Name, Key: k.Key})
		}
		t.results = append(t.results, touchResult{done: true, m: &m})
	}
	return nil
}

// noted reports whether notes hold an event of key (own: the transaction
// writes it, under the writer's own ordering) and whether the last one is
// an ObjectPut.
func noted(notes []Event, bucketID uint64, key string) (own, put bool) {
	for _, ev := range notes {
		if ev.BucketID == bucketID && ev.Key == key && (ev.Kind == ObjectPut || ev.Kind == ObjectDelete) {
			own, put = true, ev.Kind == ObjectPut
		}
	}
	return own, put
}

// lock takes key's stripe lock for t: it finds it held already, by the
// writer (every writer holds the stripe of each key it notes, feed.go) or
// by t (an earlier attempt of the same write), or tries it.
func (t *Touch) lock(db *DB, notes []Event, bucketID uint64, key string) bool {
	m := db.keyLock(bucketID, key)
	for _, ev := range notes {
		if ev.BucketID == bucketID && ev.Key != "" && db.keyLock(bucketID, ev.Key) == m {
			return true
		}
	}
	for _, h := range t.held {
		if h == m {
			return true
		}
	}
	if !m.TryLock() {
		return false
	}
	t.held = append(t.held, m)
	return true
}

// committed records the results of the attempt that committed.
func (t *Touch) committed() {
	if t == nil || len(t.results) == 0 {
		return
	}
	t.applied = true
	for i, r := range t.results {
		t.Keys[i].Done, t.Keys[i].Manifest = r.done, r.m
	}
}

// release lets go of the stripes taken, once the write's events are
// published.
func (t *Touch) release() {
	if t == nil {
		return
	}
	for _, m := range t.held {
		m.Unlock()
	}
	t.held = nil
}

// WriteTransactions is the number of write transactions the catalog has run
// (a retry of a conflicting one is not counted again): what a file system
// operation costs in commits, for tests and measurements.
func (db *DB) WriteTransactions() uint64 { return db.commits.begun.Load() }

package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/chunkstore"
)

// Object bodies: docs/format.md, "Object bodies".
//
// An object too large to sit inside its manifest but small enough that a
// chunk file (a file fsync and a directory fsync per PUT) would dominate its
// cost keeps its bytes in the catalog under a key of its own,
// 'B' || bodyID, written in the transaction that commits the manifest. The
// manifest names the body by BodyID, so listings, Names and HEAD, which
// decode manifests, never read it, and a rename (which moves the manifest
// value unchanged) does not move it.
//
// A body id is counted like a chunk: Manifest.Chunks() includes it, so
// every path that adds or releases a manifest's chunk references (put,
// overwrite, delete, copy, rename over a target, multipart completion over
// an object) counts the body too, and applyRefs deletes the body key in
// the transaction that drops its count to zero. A copy is then metadata
// only, as for chunked objects. Body ids carry a fixed 16-byte marker so
// they are told apart from chunk ids (HMAC-SHA-256 outputs) without a
// lookup; a chunk id starting with the marker has probability 2^-128.

// bodyMarker opens every body id; the other 16 bytes are random.
var bodyMarker = [16]byte{0xff, 'e', 'x', 'c', '-', 'b', 'o', 'd', 'y', 0xff, 0, 0, 0, 0, 0, 1}

// NewBodyID returns a fresh, random body id.
func NewBodyID() chunkstore.ID {
	var id chunkstore.ID
	copy(id[:], bodyMarker[:])
	if _, err := rand.Read(id[len(bodyMarker):]); err != nil {
		panic(fmt.Sprintf("catalog: body id: %v", err)) // crypto/rand does not fail on Linux
	}
	return id
}

// IsBodyID reports whether id names an object body rather than a chunk.
func IsBodyID(id chunkstore.ID) bool { return bytes.Equal(id[:len(bodyMarker)], bodyMarker[:]) }

const prefixBody byte = 'B' // 'B' || bodyID(32) → body value

func bodyKey(id chunkstore.ID) []byte {
	k := make([]byte, 1, 33)
	k[0] = prefixBody
	return append(k, id[:]...)
}

// bodyV1 || u32be(CRC-32C of the bytes) || bytes. The checksum makes a
// corrupted value an error on every engine, not wrong bytes.
const bodyV1 byte = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeBody(p []byte) []byte {
	var h [5]byte
	h[0] = bodyV1
	binary.BigEndian.PutUint32(h[1:], crc32.Checksum(p, castagnoli))
	// append grows into new memory it does not zero first, as make would.
	return append(h[:], p...)
}

func decodeBody(v []byte, size int64) ([]byte, error) {
	if len(v) < 5 || v[0] != bodyV1 {
		return nil, fmt.Errorf("%w: object body of %d bytes", errCorrupt, len(v))
	}
	p := v[5:]
	if size >= 0 && int64(len(p)) != size {
		return nil, fmt.Errorf("%w: object body of %d bytes, manifest says %d", errCorrupt, len(p), size)
	}
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(v[1:]) {
		return nil, fmt.Errorf("%w: object body checksum mismatch", errCorrupt)
	}
	return p, nil
}

// putBody writes m's body, if m carries one to write (BodyID set and the
// bytes in Inline), inside txn.
func putBody(txn kv.Txn, m *Manifest) error {
	if m.BodyID.IsZero() || m.Inline == nil {
		return nil
	}
	return set(txn, bodyKey(m.BodyID), encodeBody(m.Inline))
}

// checkBody is applyRefs' check for a body whose count goes from zero to
// positive: its value must be in the store (written by this transaction,
// or still there for a copy). A body whose object was deleted since the
// copy read its manifest is gone: the copy's source no longer exists.
func checkBody(txn kv.Txn, id chunkstore.ID) error {
	ok, err := exists(txn, bodyKey(id))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("object body %s: %w", id, ErrNotFound)
	}
	return nil
}

// ObjectData returns the manifest of key with its bytes in Inline when the
// object keeps them in the catalog (inside the manifest or as a body), so
// the caller reads the object without another lookup. Manifest and body
// come from one snapshot.
func (db *DB) ObjectData(ctx context.Context, bucketID uint64, key string) (*Manifest, error) {
	m, err := db.Object(ctx, bucketID, key)
	if err != nil || m.BodyID.IsZero() {
		return m, err
	}
	if err := db.enter(); err != nil {
		return nil, objectErr("", bucketID, key, err)
	}
	defer db.leave()
	// The body id is never reused, so a body found is this manifest's.
	v, err := db.read(ctx, bodyKey(m.BodyID))
	if err == nil {
		if m.Inline, err = decodeBody(v, m.Size); err != nil {
			return nil, objectErr("", bucketID, key, err)
		}
		return m, nil
	}
	if !errors.Is(err, errMissing) {
		return nil, objectErr("", bucketID, key, err)
	}
	// Replaced or deleted since the manifest was read: read both again,
	// from one snapshot.
	err = db.view(ctx, func(txn kv.Reader) error {
		cur, err := getManifest(txn, bucketID, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrNotFound
		}
		if !cur.BodyID.IsZero() {
			v, err := getValue(txn, bodyKey(cur.BodyID))
			if err != nil {
				if errors.Is(err, errMissing) {
					return fmt.Errorf("%w: object body %s missing", errCorrupt, cur.BodyID)
				}
				return err
			}
			if cur.Inline, err = decodeBody(v, cur.Size); err != nil {
				return err
			}
		}
		m = cur
		return nil
	})
	if err != nil {
		return nil, objectErr("", bucketID, key, err)
	}
	return m, nil
}

// Body returns the bytes of the body id of an object of size bytes (-1:
// unknown), checked against their checksum (ErrNotFound once no object
// references it). Scrub reads bodies with it.
func (db *DB) Body(ctx context.Context, id chunkstore.ID, size int64) ([]byte, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: object body %s: %w", id, err)
	}
	defer db.leave()
	v, err := db.read(ctx, bodyKey(id))
	if errors.Is(err, errMissing) {
		err = ErrNotFound
	}
	var p []byte
	if err == nil {
		p, err = decodeBody(v, size)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: object body %s: %w", id, err)
	}
	return p, nil
}

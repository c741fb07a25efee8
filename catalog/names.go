package catalog

import (
	"bytes"
	"context"
	"fmt"

	"excloud.dev/buckets/catalog/kv"
)

// Name is what one key is to a file system: the object stored under it (nil
// if none), whether any key lies under key+"/" (then it is a directory, which
// wins over the object), and that directory's marker object key+"/", if
// there is one. The empty key names the bucket itself: a directory when any
// key exists, never with an object or marker.
type Name struct {
	Object *Manifest
	Dir    bool
	Marker *Manifest
	// Subdirs are the directory's subdirectories (the distinct components
	// of keys with a further "/"), when SubdirsKnown: a directory whose
	// listing is too long to walk within one lookup (SubdirScan keys) is
	// not counted, so a lookup stays cheap. A file system's directory link
	// count is 2 + len(Subdirs).
	Subdirs      []string
	SubdirsKnown bool
}

// SubdirScan bounds how many keys Names steps over to find a directory's
// subdirectories (each subdirectory is one seek, whatever its size).
const SubdirScan = 1000

// Names looks keys up in one snapshot, a point read and a seek each: the
// FUSE mount's lookup and rename need both answers for a name, and asking
// for them in separate calls cost a transaction apiece.
func (db *DB) Names(ctx context.Context, bucketID uint64, keys ...string) ([]Name, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: names in bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	out := make([]Name, len(keys))
	err := db.view(ctx, func(txn kv.Reader) error {
		for i, key := range keys {
			m, err := getManifest(txn, bucketID, key)
			if err != nil {
				return err
			}
			dir := objectKey(bucketID, key+"/")
			if key == "" {
				dir = objectKey(bucketID, "")
				m = nil
			}
			out[i].Object = m
			if out[i].Dir, out[i].Marker, err = dirUnder(txn, dir); err != nil {
				return err
			}
			if key == "" {
				out[i].Marker = nil
			}
			if out[i].Dir || key == "" {
				out[i].Subdirs, out[i].SubdirsKnown = subdirs(txn, dir)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: names in bucket %d: %w", bucketID, err)
	}
	return out, nil
}

// dirUnder says whether any key starts with dir (a key ending in "/") and
// returns the marker stored under dir itself. The iterator is bounded by dir,
// not by the bucket: Badger then opens only the tables whose key range
// overlaps dir, where a bucket-wide iterator would seek in every table of
// the bucket (after an untar, tens of them, each a block to decrypt).
func dirUnder(txn kv.Reader, dir []byte) (bool, *Manifest, error) {
	it := txn.Iterate(kv.IterOptions{Prefix: dir})
	defer it.Close()
	it.Seek(dir)
	if !it.Valid() {
		return false, nil, storageErr(it.Err())
	}
	if !bytes.Equal(it.Key(), dir) {
		return true, nil, nil
	}
	v, err := it.Value()
	if err != nil {
		return true, nil, storageErr(err)
	}
	m, err := decodeManifest(v)
	return true, m, err
}

// subdirs walks the keys under dir (a key prefix ending in "/", or a
// bucket's prefix) and returns the distinct first components of keys that
// go deeper, seeking past each such subdirectory's keys. It gives up after
// SubdirScan steps (known false). Deleted keys and old versions count as
// steps (kv.IterOptions.StepLimit): they linger until compaction (an rm -r
// leaves thousands), and a plain iterator would step over them uncounted,
// on every lookup.
func subdirs(txn kv.Reader, dir []byte) (names []string, known bool) {
	it := txn.Iterate(kv.IterOptions{Prefix: dir, KeysOnly: true, StepLimit: SubdirScan})
	defer it.Close()
	for it.Seek(dir); it.Valid(); {
		key := it.Key()
		rest := key[len(dir):]
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			it.Next()
			continue
		}
		names = append(names, string(rest[:i]))
		// Every key under rest[:i]+"/" sorts before rest[:i]+"0" ('/'+1).
		next := make([]byte, 0, len(dir)+i+1)
		next = append(append(append(next, dir...), rest[:i]...), '/'+1)
		it.Seek(next)
	}
	if it.Err() != nil {
		return nil, false
	}
	return names, true
}

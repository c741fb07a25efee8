package catalog

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Name is what one key is to a file system: the object stored under it (nil
// if none), whether any key lies under key+"/" (then it is a directory, which
// wins over the object), and that directory's marker object key+"/", if
// there is one.
type Name struct {
	Object *Manifest
	Dir    bool
	Marker *Manifest
}

// Names looks keys up in one snapshot, a point read and a seek each: the
// FUSE mount's lookup and rename need both answers for a name, and asking
// for them in separate calls cost a transaction apiece.
func (db *DB) Names(ctx context.Context, bucketID uint64, keys ...string) ([]Name, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: names in bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	out := make([]Name, len(keys))
	err := db.view(func(txn *badger.Txn) error {
		for i, key := range keys {
			m, err := getManifest(txn, bucketID, key)
			if err != nil {
				return err
			}
			out[i].Object = m
			if out[i].Dir, out[i].Marker, err = dirUnder(txn, objectKey(bucketID, key+"/")); err != nil {
				return err
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
func dirUnder(txn *badger.Txn, dir []byte) (bool, *Manifest, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: dir})
	defer it.Close()
	it.Seek(dir)
	if !it.ValidForPrefix(dir) {
		return false, nil, nil
	}
	item := it.Item()
	if !bytes.Equal(item.Key(), dir) {
		return true, nil, nil
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return true, nil, storageErr(err)
	}
	m, err := decodeManifest(v)
	return true, m, err
}

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
// for them in separate calls cost a transaction and an iterator apiece.
func (db *DB) Names(ctx context.Context, bucketID uint64, keys ...string) ([]Name, error) {
	if err := db.enter(); err != nil {
		return nil, fmt.Errorf("catalog: names in bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	out := make([]Name, len(keys))
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: bucketPrefix(prefixObject, bucketID, 0)})
		defer it.Close()
		for i, key := range keys {
			m, err := getManifest(txn, bucketID, key)
			if err != nil {
				return err
			}
			out[i].Object = m
			dir := objectKey(bucketID, key+"/")
			it.Seek(dir)
			if !it.ValidForPrefix(dir) {
				continue
			}
			out[i].Dir = true
			if item := it.Item(); bytes.Equal(item.Key(), dir) {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return storageErr(err)
				}
				if out[i].Marker, err = decodeManifest(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: names in bucket %d: %w", bucketID, err)
	}
	return out, nil
}

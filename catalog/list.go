package catalog

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"excloud.dev/buckets/catalog/kv"
)

// DefaultMaxKeys is the page size when ListOptions.MaxKeys is 0.
const DefaultMaxKeys = 1000

// List returns one page of the bucket's keys, with S3 ListObjects semantics:
//
//   - Only keys with Prefix that are greater than start = max(StartAfter,
//     ContinueAfter) are listed, in bytewise order.
//   - With a Delimiter, a key whose remainder after Prefix contains it is
//     rolled up into the common prefix Prefix + remainder up to and including
//     the delimiter's first occurrence. A common prefix counts once toward
//     MaxKeys, and is listed only if it is greater than start: a start
//     inside a common prefix (start has it as a prefix, as when ContinueAfter
//     is the common prefix a previous page ended with) means the common
//     prefix was already returned, so none of its keys are listed again.
//   - IsTruncated is true only if another key or common prefix follows the
//     page; Next is then the page's last key or common prefix, to be passed as
//     ContinueAfter.
//
// Cost: after a common prefix the iterator seeks to the prefix's successor,
// skipping the keys it hides without reading them, so a page costs about
// MaxKeys seeks or steps whatever the size of the bucket. Only size, ETag and
// modification time are decoded from each manifest.
func (db *DB) List(ctx context.Context, bucketID uint64, o ListOptions) (ListResult, error) {
	if err := db.enter(); err != nil {
		return ListResult{}, fmt.Errorf("catalog: list bucket %d: %w", bucketID, err)
	}
	defer db.leave()
	res, ok := db.fromAhead(ctx, bucketID, o)
	if !ok {
		var err error
		if res, err = db.listPage(ctx, bucketID, o); err != nil {
			return ListResult{}, err
		}
	}
	db.listed(bucketID, o, res)
	return res, nil
}

// listPage is List without the pages read ahead (list_ahead.go).
func (db *DB) listPage(ctx context.Context, bucketID uint64, o ListOptions) (ListResult, error) {
	var res ListResult
	err := db.view(ctx, func(txn kv.Reader) error {
		var err error
		res, err = list(ctx, txn, bucketID, o)
		return err
	})
	if err != nil {
		return ListResult{}, fmt.Errorf("catalog: list bucket %d prefix %q: %w", bucketID, o.Prefix, err)
	}
	return res, nil
}

// cpSteps is how many keys under a common prefix List steps over before it
// seeks past the rest. A variable so tests can exercise both paths.
var cpSteps = 8

func list(ctx context.Context, txn kv.Reader, bucketID uint64, o ListOptions) (ListResult, error) {
	return listEach(ctx, txn, bucketID, o, nil)
}

// listEach is list that also hands each listed object's stored value to
// each (when not nil), valid only during the call: ListManifests decodes
// the full manifest from the value the listing has read anyway, instead of
// reading every key a second time.
func listEach(ctx context.Context, txn kv.Reader, bucketID uint64, o ListOptions, each func(key string, v []byte) error) (ListResult, error) {
	var res ListResult
	maxKeys := o.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	start := max(o.StartAfter, o.ContinueAfter)
	bp := bucketPrefix(prefixObject, bucketID, len(o.Prefix)+len(start)+1)
	scan := append(bp, o.Prefix...) // every listed key starts with scan
	n := len(bp)                    // Badger key → object key: key[n:]

	// Where to start: the first key with Prefix greater than start, or
	// past start's whole common prefix if start lies inside one.
	var seek []byte
	switch {
	case start < o.Prefix:
		seek = scan
	case !strings.HasPrefix(start, o.Prefix):
		return res, nil // start is past every key with Prefix
	default:
		seek = append(bp[:n:n], start...)
		seek = append(seek, 0x00) // smallest key greater than start
		if o.Delimiter != "" {
			if i := strings.Index(start[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp := start[:len(o.Prefix)+i+len(o.Delimiter)]
				seek = successor(append(bp[:n:n], cp...))
				if seek == nil || !bytes.HasPrefix(seek, bp) {
					return res, nil
				}
			}
		}
	}

	// No prefetch with a delimiter: the listing seeks at every common
	// prefix, and each seek would restart it. Without one the page is the
	// next maxKeys+1 keys (the one past tells IsTruncated), which an
	// engine that fetches in batches (PostgreSQL) then reads in one.
	io := kv.IterOptions{Prefix: scan}
	if o.Delimiter == "" {
		io.Prefetch = maxKeys + 1
	}
	it := txn.Iterate(io)
	defer it.Close()
	delim := []byte(o.Delimiter)
	count := 0
	for it.Seek(seek); it.Valid(); {
		if count%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return ListResult{}, err
			}
		}
		k := it.Key()
		if len(delim) > 0 {
			if i := bytes.Index(k[len(scan):], delim); i >= 0 {
				if count == maxKeys {
					res.IsTruncated = true
					break
				}
				cpEnd := len(scan) + i + len(delim)
				cp := string(k[n:cpEnd])
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.Next = cp
				count++
				// Skip the keys under cp. A few steps first: a small
				// "directory" is cheaper to step over than to seek past
				// (a seek searches every level of the tree). Then one
				// seek, so a large one costs no more than a small one.
				cpKey := append([]byte(nil), k[:cpEnd]...)
				it.Next()
				for range cpSteps {
					if !it.Valid() || !bytes.HasPrefix(it.Key(), cpKey) {
						break
					}
					it.Next()
				}
				if it.Valid() && bytes.HasPrefix(it.Key(), cpKey) {
					next := successor(cpKey)
					if next == nil || !bytes.HasPrefix(next, scan) {
						break
					}
					it.Seek(next)
				}
				continue
			}
		}
		if count == maxKeys {
			res.IsTruncated = true
			break
		}
		e := ListEntry{Key: string(k[n:])}
		v, err := it.Value()
		if err != nil {
			return ListResult{}, storageErr(err)
		}
		h, err := decodeManifestHead(v)
		if err != nil {
			return ListResult{}, fmt.Errorf("key %q: %w", e.Key, err)
		}
		e.Size, e.ETag, e.ModTime = h.Size, h.ETag, h.ModTime
		if each != nil {
			if err := each(e.Key, v); err != nil {
				return ListResult{}, fmt.Errorf("key %q: %w", e.Key, err)
			}
		}
		res.Objects = append(res.Objects, e)
		res.Next = e.Key
		count++
		it.Next()
	}
	if err := it.Err(); err != nil {
		return ListResult{}, storageErr(err)
	}
	if !res.IsTruncated {
		res.Next = ""
	}
	return res, nil
}

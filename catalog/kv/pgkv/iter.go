package pgkv

import (
	"bytes"
	"fmt"

	"excloud.dev/buckets/catalog/kv"
)

// Page sizes: Prefetch sizes a page within these bounds.
const (
	minPage = 16
	maxPage = 1024 // a listing page of 1000 and the key after it, in one fetch
)

// iter reads its keys in pages from the transaction's snapshot. It holds
// no server-side cursor, so several may be open in one transaction and
// Set/Delete may run between its pages (a later page sees them, as any
// read of the transaction would).
type iter struct {
	t      *txn
	o      kv.IterOptions
	end    []byte // exclusive upper bound; nil: none
	page   int    // rows per fetch: first after a Seek, doubling after
	first  int    // the page after a Seek
	limit  int    // the largest page
	keys   [][]byte
	vals   [][]byte // nil entry: a tombstone (skipped)
	i      int
	more   bool // the page was full: keys may follow it
	after  []byte
	steps  int
	valid  bool
	err    error
	closed bool
}

func newIter(t *txn, o kv.IterOptions) *iter {
	page := o.Prefetch
	if page < minPage {
		page = minPage
	}
	if page > maxPage {
		page = maxPage
	}
	limit := maxPage
	if o.StepLimit > 0 && limit > o.StepLimit+1 {
		limit = o.StepLimit + 1
	}
	page = min(page, limit)
	return &iter{t: t, o: o, end: prefixEnd(o.Prefix), page: page, first: page, limit: limit}
}

// prefixEnd is the least key greater than every key with prefix p, or nil
// when there is none (p empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (it *iter) Seek(key []byte) {
	if it.closed {
		return
	}
	it.err = nil
	from := key
	if bytes.Compare(from, it.o.Prefix) < 0 {
		from = it.o.Prefix
	}
	if !it.step() {
		return
	}
	it.page = it.first
	it.fetch(from, true)
	it.settle()
}

func (it *iter) Next() {
	if !it.valid {
		return
	}
	if it.i+1 >= len(it.keys) && !it.more {
		// The last entry: the end, whatever the step count.
		it.i++
		it.valid = false
		return
	}
	if !it.step() {
		return
	}
	it.i++
	it.settle()
}

// step counts one step against StepLimit; false when the limit is hit.
func (it *iter) step() bool {
	it.steps++
	if it.o.StepLimit > 0 && it.steps > it.o.StepLimit {
		it.valid = false
		it.err = kv.ErrStepLimit
		return false
	}
	return true
}

// settle moves to the first live entry at or after it.i, fetching pages,
// stepping over tombstones.
func (it *iter) settle() {
	for {
		if it.i >= len(it.keys) {
			if !it.more {
				it.valid = false
				return
			}
			// A scan that goes on past its first page reads on in pages
			// twice as large each time: a caller that gave no Prefetch
			// (catalog.List reads up to 1000 keys so) pays a round trip
			// per page, not per minPage keys.
			it.page = min(it.page*2, it.limit)
			it.fetch(it.after, false)
			if it.err != nil {
				return
			}
			continue
		}
		if it.vals[it.i] != nil {
			it.valid = true
			return
		}
		// A tombstone: a step the caller does not see.
		if !it.step() {
			return
		}
		it.i++
	}
}

// fetch reads the page of keys from key on (inclusive or not).
func (it *iter) fetch(key []byte, inclusive bool) {
	it.keys, it.vals, it.i, it.valid = it.keys[:0], it.vals[:0], 0, false
	from := key
	if from == nil {
		from = []byte{} // nil would be SQL NULL, which no key is >= to
	}
	if !inclusive {
		from = append(bytes.Clone(key), 0) // the least key after key
	}
	qs := it.t.e.q
	args := []any{from, it.end, it.page}
	q := qs.scan
	switch {
	case it.end == nil && it.o.KeysOnly:
		q, args = qs.scanKeysAll, []any{from, it.page}
	case it.end == nil:
		q, args = qs.scanAll, []any{from, it.page}
	case it.o.KeysOnly:
		q = qs.scanKeys
	}
	op := fmt.Sprintf("scan from %q", from)
	rows, done, err := it.t.query(q, args...)
	if err != nil {
		it.err, it.more = it.t.fail(op, err), false
		return
	}
	for rows.Next() {
		var k []byte
		var v []byte
		if it.o.KeysOnly {
			var gone bool
			if err := rows.Scan(&k, &gone); err != nil {
				it.err = err
				break
			}
			if !gone {
				v = []byte{}
			}
		} else if err := rows.Scan(&k, &v); err != nil {
			it.err = err
			break
		}
		it.keys = append(it.keys, k)
		it.vals = append(it.vals, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil && it.err == nil {
		it.err = err
	}
	if err := done(); err != nil && it.err == nil {
		it.err = err
	}
	if it.err != nil {
		it.err, it.more = it.t.fail(op, it.err), false
		return
	}
	it.more = len(it.keys) == it.page
	if n := len(it.keys); n > 0 {
		it.after = it.keys[n-1]
	}
}

func (it *iter) Valid() bool { return it.valid && it.err == nil }

func (it *iter) Key() []byte { return it.keys[it.i] }

func (it *iter) Value() ([]byte, error) {
	if it.o.KeysOnly {
		return nil, fmt.Errorf("pgkv: Value of a keys-only iterator")
	}
	return it.t.e.seal.open(it.keys[it.i], it.vals[it.i])
}

func (it *iter) Err() error { return it.err }

func (it *iter) Close() error {
	it.closed, it.valid = true, false
	return it.err
}

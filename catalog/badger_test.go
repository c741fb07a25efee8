package catalog

import (
	"github.com/dgraph-io/badger/v4"

	"excloud.dev/buckets/catalog/kv/badgerkv"
)

type badgerTxn = badger.Txn

// bdb reaches under the engine contract, for tests that write Badger
// directly (corrupt records, old formats, bulk loads).
func (db *DB) bdb() *badger.DB { return db.eng.(*badgerkv.Engine).DB() }

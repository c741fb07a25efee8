package catalog

import "github.com/dgraph-io/badger/v4"

// Tests reach under the API only to write raw keys.
type badgerTxn = badger.Txn

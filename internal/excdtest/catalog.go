package excdtest

import (
	"sync"
	"testing"

	"excloud.dev/buckets/internal/pgtest"
)

// catalogs maps a data directory to the database EXC_TEST_CATALOG gave it,
// so a daemon restarted on the directory (a restart or crash test) finds
// its catalog again, as a node configured with one URL does.
var catalogs sync.Map // data directory → URL

// catalogFor is the --catalog of a start: Options.Catalog, else the data
// directory's database under EXC_TEST_CATALOG=postgres, else none.
func catalogFor(tb testing.TB, opts Options) string {
	if opts.Catalog != "" {
		return opts.Catalog
	}
	if v, ok := catalogs.Load(opts.DataDir); ok {
		return v.(string)
	}
	url := pgtest.CatalogURL(tb)
	if url != "" {
		catalogs.Store(opts.DataDir, url)
	}
	return url
}

package excdtest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
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

// openShared is OpenCatalog for a data directory whose catalog
// EXC_TEST_CATALOG put in PostgreSQL.
func openShared(tb testing.TB, url string, keys chunkstore.Keys, log *slog.Logger) *catalog.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: keys.CatalogPG[:], Logger: log})
	if err != nil {
		tb.Fatalf("open the catalog of the stopped daemon: %v", err)
	}
	db, err := catalog.OpenEngine(eng, log)
	if err != nil {
		tb.Fatalf("open the catalog of the stopped daemon: %v", err)
	}
	return db
}

package catalogtest

import (
	"context"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/internal/pgtest"
)

// OpenWith is catalog.Open for test stacks that build their own catalog,
// with the one switch that runs them on PostgreSQL: when EXC_TEST_CATALOG
// is "postgres" (pgtest.CatalogEnv) it opens a fresh database instead of
// opts.Dir, its values sealed with opts.EncryptionKey. The caller closes
// the catalog, as after catalog.Open.
func OpenWith(tb testing.TB, opts catalog.Options) (*catalog.DB, error) {
	tb.Helper()
	url := pgtest.CatalogURL(tb)
	if url == "" {
		return catalog.Open(opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eng, err := pgkv.Open(ctx, url, pgkv.Options{Key: opts.EncryptionKey, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return catalog.OpenEngine(eng, opts.Logger)
}

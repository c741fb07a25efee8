package pgkv

import (
	"bytes"
	"context"
	"testing"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
	"excloud.dev/buckets/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testKey = bytes.Repeat([]byte{7}, 32)

// open opens an engine on url, closed when t ends.
func open(t testing.TB, url string, o Options) *Engine {
	t.Helper()
	if o.Key == nil {
		o.Key = testKey
	}
	e, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine { return open(t, pgtest.DB(t), Options{}) })
}

package badgerkv

import (
	"testing"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		key := make([]byte, 32)
		e, err := Open(Options{Dir: t.TempDir(), EncryptionKey: key, MemTableSize: 1 << 20, SyncWrites: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	})
}

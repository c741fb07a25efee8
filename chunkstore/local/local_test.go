package local_test

import (
	"testing"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/chunkstoretest"
	"excloud.dev/buckets/chunkstore/local"
)

func TestBackend(t *testing.T) {
	chunkstoretest.Run(t, func(t *testing.T) chunkstore.Backend {
		b, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

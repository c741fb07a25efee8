package catalog

import (
	"context"
	"fmt"
)

// Durability is the engine's (kv.WriteOptions.NoSync, kv.Engine.Sync): the
// Badger engine's group commit shares one fsync among the commits that
// arrive during the previous one (kv/badgerkv/sync.go).

type noSyncKey struct{}

// WithoutSync marks ctx so that commits made with it return without waiting
// for durability. The FUSE mount uses it: like a local filesystem, a create,
// rename or close there is durable at the next fsync (Sync), not before. The
// commit is still ordered: any later Sync covers it, and the engine's
// background sync bounds how long it stays volatile.
func WithoutSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, noSyncKey{}, true)
}

func wantsSync(ctx context.Context) bool {
	v, _ := ctx.Value(noSyncKey{}).(bool)
	return !v
}

// Sync makes every commit made before it durable, including those made
// WithoutSync. Concurrent calls share one fsync.
func (db *DB) Sync(ctx context.Context) error {
	if err := db.enter(); err != nil {
		return fmt.Errorf("catalog: sync: %w", err)
	}
	defer db.leave()
	if err := db.eng.Sync(ctx); err != nil {
		return fmt.Errorf("catalog: sync: %w", storageErr(err))
	}
	return nil
}

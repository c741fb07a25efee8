package excdtest

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// ChunkFiles lists the chunk files of a data directory by name (the
// chunk id in hex) with their paths (docs/format.md, "Data directory":
// 64 hex digits under two levels of shards). chunks/tmp, where files are
// being written, holds none; any other file there is an error, so a test
// that counts chunks also notices a stray file.
func ChunkFiles(dataDir string) (map[string]string, error) {
	dir := filepath.Join(dataDir, "chunks")
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "tmp" && filepath.Dir(p) == dir {
				return filepath.SkipDir
			}
			return nil
		}
		if _, err := chunkstore.ParseID(d.Name()); err != nil {
			return fmt.Errorf("unexpected file %s in the chunk directory", p)
		}
		out[d.Name()] = p
		return nil
	})
	return out, err
}

// Keys derives the keys of a data directory from the master key kept there.
func Keys(tb testing.TB, dataDir string) chunkstore.Keys {
	tb.Helper()
	master, _, err := chunkstore.ReadMasterKey(dataDir, "")
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := chunkstore.DeriveKeys(master)
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// OpenCatalog opens the catalog of a stopped daemon's data directory,
// logging to log (nil: warnings to stderr); the test closes it.
func OpenCatalog(tb testing.TB, dataDir string, log *slog.Logger) *catalog.DB {
	tb.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	keys := Keys(tb, dataDir)
	if url, ok := catalogs.Load(dataDir); ok {
		return openShared(tb, url.(string), keys, log)
	}
	db, err := catalog.Open(catalog.Options{Dir: filepath.Join(dataDir, "catalog"), EncryptionKey: keys.Catalog[:], Logger: log})
	if err != nil {
		tb.Fatalf("open the catalog of the stopped daemon: %v", err)
	}
	return db
}

package excdtest

import (
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
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
		if b, err := hex.DecodeString(d.Name()); err != nil || len(b) != 32 {
			return fmt.Errorf("unexpected file %s in the chunk directory", p)
		}
		out[d.Name()] = p
		return nil
	})
	return out, err
}

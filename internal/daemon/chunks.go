package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/cache"
	"excloud.dev/buckets/chunkstore/local"
	s3chunks "excloud.dev/buckets/chunkstore/s3"
	"excloud.dev/buckets/internal/config"
)

// chunkStoreCheck bounds the start-up check that the object store answers:
// a wrong endpoint must stop the start with its error, not hang it.
const chunkStoreCheck = time.Minute

// openChunkBackend opens where Config.Chunks says the chunk files live: the
// data directory's chunks/ (with the free-space reserve), or an object
// store.
func (d *Daemon) openChunkBackend() (chunkstore.Backend, error) {
	cfg := d.cfg
	if cfg.Chunks.URL == "" {
		b, err := local.New(filepath.Join(cfg.DataDir, "chunks"))
		if err != nil {
			return nil, fmt.Errorf("open chunk directory: %w", err)
		}
		b.SetMinFree(cfg.MinFree)
		return b, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), chunkStoreCheck)
	defer cancel()
	b, err := s3chunks.New(ctx, S3ChunkOptions(cfg.Chunks))
	if err != nil {
		return nil, fmt.Errorf("open chunk store: %w", err)
	}
	d.log.Info("chunk store", "url", cfg.Chunks.URL, "endpoint", cfg.Chunks.Endpoint, "region", cfg.Chunks.Region)
	if cfg.Chunks.Cache == "" {
		return b, nil
	}
	size := cfg.Chunks.CacheSize
	if size <= 0 {
		size = config.DefaultChunkCacheSize
	}
	c, err := cache.New(cfg.Chunks.Cache, size, b, d.log)
	if err != nil {
		return nil, fmt.Errorf("open chunk cache: %w", err)
	}
	st := c.Stats()
	d.log.Info("chunk cache", "dir", cfg.Chunks.Cache, "limit", size, "bytes", st.Bytes, "files", st.Files)
	return c, nil
}

// S3ChunkOptions turns the settings into the backend's options (exc uses
// it too, to migrate a store).
func S3ChunkOptions(c config.Chunks) s3chunks.Options {
	return s3chunks.Options{
		URL:             c.URL,
		Endpoint:        c.Endpoint,
		Region:          c.Region,
		PathStyle:       c.PathStyle,
		CredentialsFile: c.CredentialsFile,
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
	}
}

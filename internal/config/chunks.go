package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	s3chunks "excloud.dev/buckets/chunkstore/s3"
)

// Chunks says where the chunk files live: "" URL is the data directory's
// chunks/, an s3:// URL an S3-compatible object store several nodes can
// share (docs/scale-out.md). The secret comes from the environment, the
// file or a credentials file, never a flag (it would show in ps).
type Chunks struct {
	URL             string // s3://BUCKET/PREFIX; "" = local
	Endpoint        string
	Region          string
	PathStyle       bool
	CredentialsFile string
	AccessKeyID     string
	SecretAccessKey string
	// Cache is a directory for the local read cache of sealed chunk bytes
	// ("" = none) and CacheSize its bound in bytes.
	Cache     string
	CacheSize int64
}

// DefaultChunkCacheSize bounds the read cache when chunk_cache_size is not
// set.
const DefaultChunkCacheSize = 1 << 30

// The chunk-store settings are appended to the table rather than written
// into it, so they stay one block in printouts and in merges.
func init() {
	settings = append(settings, chunkSettings...)
}

var chunkSettings = []setting{
	{key: "chunks", flag: "chunks", env: "EXC_CHUNKS",
		usage: "chunk store: empty keeps chunks in the data directory; s3://BUCKET/PREFIX keeps them in an S3-compatible object store several nodes share",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v != "" {
				if _, _, err := s3chunks.ParseURL(v); err != nil {
					return err
				}
			}
			c.Chunks.URL = v
			return nil
		},
		get: func(c *Config) string { return c.Chunks.URL }},
	{key: "chunks_endpoint", flag: "chunks-endpoint", env: "EXC_CHUNKS_ENDPOINT",
		usage: "the chunk store's S3 endpoint, e.g. https://s3.example.com:9000 (empty: AWS S3 in chunks_region)",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return fmt.Errorf("invalid endpoint %q: want http(s)://host[:port]", v)
			}
			if strings.Contains(v, "@") {
				return fmt.Errorf("invalid endpoint: credentials in the URL (use chunks_credentials or EXC_CHUNKS_ACCESS_KEY_ID/EXC_CHUNKS_SECRET_ACCESS_KEY)")
			}
			c.Chunks.Endpoint = v
			return nil
		},
		get: func(c *Config) string { return c.Chunks.Endpoint }},
	{key: "chunks_region", flag: "chunks-region", env: "EXC_CHUNKS_REGION",
		usage: "signing region of the chunk store (many stores check it)",
		set: func(c *Config, v string) error {
			if v == "" || strings.ContainsAny(v, " \t/") {
				return fmt.Errorf("invalid region %q", v)
			}
			c.Chunks.Region = v
			return nil
		},
		get: func(c *Config) string { return c.Chunks.Region }},
	{key: "chunks_path_style", flag: "chunks-path-style", env: "EXC_CHUNKS_PATH_STYLE", boolean: true,
		usage: "address the chunk store's bucket in the path (host/bucket/key), as most self-hosted stores need",
		set:   func(c *Config, v string) error { return parseFlag(&c.Chunks.PathStyle, v, true) },
		get:   func(c *Config) string { return strconv.FormatBool(c.Chunks.PathStyle) }},
	{key: "chunks_credentials", flag: "chunks-credentials", env: "EXC_CHUNKS_CREDENTIALS",
		usage: "AWS shared credentials file ([default] aws_access_key_id, aws_secret_access_key) for the chunk store",
		set:   func(c *Config, v string) error { c.Chunks.CredentialsFile = v; return nil },
		get:   func(c *Config) string { return c.Chunks.CredentialsFile }},
	{key: "chunks_access_key_id", env: "EXC_CHUNKS_ACCESS_KEY_ID", usage: "access key id for the chunk store",
		set: func(c *Config, v string) error { c.Chunks.AccessKeyID = v; return nil },
		get: func(c *Config) string { return c.Chunks.AccessKeyID }},
	{key: "chunks_secret_access_key", env: "EXC_CHUNKS_SECRET_ACCESS_KEY", secret: true, usage: "secret of the chunk store's access key",
		set: func(c *Config, v string) error { c.Chunks.SecretAccessKey = v; return nil },
		get: func(c *Config) string { return c.Chunks.SecretAccessKey }},
	{key: "chunk_cache", flag: "chunk-cache", env: "EXC_CHUNK_CACHE",
		usage: "directory of a local read cache of sealed chunk bytes for an s3:// chunk store (empty: none); safe to delete while excd is stopped",
		set:   func(c *Config, v string) error { c.Chunks.Cache = strings.TrimSpace(v); return nil },
		get:   func(c *Config) string { return c.Chunks.Cache }},
	{key: "chunk_cache_size", flag: "chunk-cache-size", env: "EXC_CHUNK_CACHE_SIZE",
		usage: "bound of the chunk read cache, e.g. 10GiB",
		set: func(c *Config, v string) error {
			if err := size(&c.Chunks.CacheSize, v); err != nil {
				return err
			}
			if c.Chunks.CacheSize <= 0 {
				return errors.New("chunk cache size must be positive")
			}
			return nil
		},
		get: func(c *Config) string { return fmtSize(c.Chunks.CacheSize) }},
}

// validateChunks checks what involves more than one chunk-store key.
func (c *Config) validateChunks() error {
	ch := &c.Chunks
	if (ch.AccessKeyID == "") != (ch.SecretAccessKey == "") {
		return errors.New(`keys "chunks_access_key_id" and "chunks_secret_access_key" (EXC_CHUNKS_ACCESS_KEY_ID, EXC_CHUNKS_SECRET_ACCESS_KEY): set both, or neither`)
	}
	if ch.URL == "" && ch.Cache != "" {
		return errors.New(`key "chunk_cache": a read cache is for an s3:// chunk store (key "chunks"); local chunks are read from disk`)
	}
	return nil
}

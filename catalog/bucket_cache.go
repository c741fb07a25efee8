package catalog

import "sync"

// bucketCache keeps decoded bucket records for Bucket, which every S3
// request and FUSE operation calls to turn a name into an id: reading and
// JSON-decoding the record each time was a tenth of the mount's CPU. Only
// existing buckets are cached. The catalog is the only writer of bucket
// records, and each method that changes or deletes one calls invalidate
// after its commit; gen makes a lookup that read the old record before the
// commit leave nothing behind (store checks that no invalidate ran since
// its load began).
type bucketCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]Bucket
}

func bucketCacheKey(orgID, name string) string { return orgID + "\x00" + name }

// get returns the cached record and, on a miss, the generation to pass to
// store.
func (c *bucketCache) get(orgID, name string) (Bucket, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[bucketCacheKey(orgID, name)]
	return b, c.gen, ok
}

func (c *bucketCache) store(b Bucket, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil {
		c.m = make(map[string]Bucket)
	}
	c.m[bucketCacheKey(b.OrgID, b.Name)] = b
}

func (c *bucketCache) invalidate(orgID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, bucketCacheKey(orgID, name))
}

package catalog

import "sync"

// recordCache keeps decoded records that every S3 request reads: the
// bucket (Bucket turns a name into an id for every S3 request and FUSE
// operation; reading and JSON-decoding it each time was a tenth of the
// mount's CPU) and the access key (authenticating each request read and
// decoded it: 4 % of excd's CPU in small PUTs). Only existing records are
// cached. The catalog is the only writer of these records, and each method
// that changes or deletes one calls invalidate after its commit; gen makes a
// lookup that read the old record before the commit leave nothing behind
// (store checks that no invalidate ran since its load began).
//
// off: the engine is shared with other nodes, whose changes this cache
// would not see before the next request (DB.nodes); nothing is cached.
type recordCache[K comparable, V any] struct {
	off bool // set before the catalog serves anything
	mu  sync.Mutex
	gen uint64
	m   map[K]V
}

// get returns the cached record and, on a miss, the generation to pass to
// store.
func (c *recordCache[K, V]) get(key K) (V, uint64, bool) {
	if c.off {
		var zero V
		return zero, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, c.gen, ok
}

func (c *recordCache[K, V]) store(key K, v V, gen uint64) {
	if c.off {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil {
		c.m = make(map[K]V)
	}
	c.m[key] = v
}

func (c *recordCache[K, V]) invalidate(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, key)
}

// invalidateAll is for changes that touch records the caller cannot name
// one by one (an org's deletion takes all of its keys).
func (c *recordCache[K, V]) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// bucketRef names a bucket in the cache; a struct rather than a joined
// string, so a lookup on every request builds no key.
type bucketRef struct{ org, name string }

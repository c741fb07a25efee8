package chunkstore

import "sync"

// headerCacheSize bounds the headers kept: about 100 bytes each, so a few
// MiB for the chunks of the last tens of GiB read.
const headerCacheSize = 1 << 15

// headerCache keeps the authenticated headers of chunks read recently, so
// that reading a range of a chunk is one backend read (one ranged GET on
// an object store) instead of two. A header is only added once a segment
// has authenticated it. A cached header can go stale when its chunk is
// deleted and stored again under a new salt (or a store ignores
// If-None-Match): the first segment then fails authentication, and Open
// drops the entry and reads the header again.
type headerCache struct {
	mu sync.Mutex
	m  map[ID][HeaderSize]byte
}

func (c *headerCache) get(id ID) ([HeaderSize]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, ok := c.m[id]
	return raw, ok
}

func (c *headerCache) put(id ID, raw [HeaderSize]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[ID][HeaderSize]byte)
	}
	if len(c.m) >= headerCacheSize {
		// Map iteration starts at a random entry: random eviction, no
		// bookkeeping on the read path.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[id] = raw
}

func (c *headerCache) drop(id ID) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

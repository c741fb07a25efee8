package catalog

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A client walking a listing asks for one page, decodes it, and only then
// asks for the next: the catalog's work on each page sits between two
// client decodes, with a core idle. So when List returns a truncated page it
// computes the following one in the background, and the request for it
// takes the page ready-made.
//
// A page read ahead must show every commit that a reader could have seen
// before the request for it. Every transaction is counted when it begins
// and when it ends (commitCount, kept by updateNeed); a page is read ahead
// only when none is in flight, and served only if none has begun since. A
// commit visible at the request then either ended before the page's
// snapshot was taken, or began after it and spoils the page. Writes to any
// bucket spoil pages read ahead in every other; that is the price of a
// check that cannot miss a commit, and a catalog busy with writes seldom
// reads ahead at all.

// listAheadPages bounds the pages held; one page is at most 1000 entries.
const listAheadPages = 8

// listAheadTTL drops pages no client came back for.
const listAheadTTL = 10 * time.Second

// listAheadMin is the smallest page that starts a read-ahead: walks ask for
// pages of hundreds or a thousand entries, while the mount's probes of one
// or two entries are truncated too and would only evict pages walks want.
const listAheadMin = 100

// commitCount counts catalog transactions; see the top of this file.
type commitCount struct{ begun, ended atomic.Uint64 }

// quiet returns the count of transactions begun, and whether all of them
// had ended when it looked.
func (c *commitCount) quiet() (uint64, bool) {
	g := c.begun.Load()
	return g, c.ended.Load() == g
}

// aheadKey names a page by what list() reads: StartAfter and ContinueAfter
// only matter through their maximum, so a V1 marker walk (StartAfter) and a
// V2 continuation (ContinueAfter) share pages.
type aheadKey struct {
	bucket            uint64
	prefix, delimiter string
	start             string
	maxKeys           int
}

func keyFor(bucketID uint64, o ListOptions) aheadKey {
	return aheadKey{bucket: bucketID, prefix: o.Prefix, delimiter: o.Delimiter,
		start: max(o.StartAfter, o.ContinueAfter), maxKeys: o.MaxKeys}
}

type aheadPage struct {
	gen   uint64 // transactions begun, all ended, before the page's snapshot
	born  time.Time
	ready chan struct{}
	res   ListResult
	err   error
}

type listAhead struct {
	mu    sync.Mutex
	pages map[aheadKey]*aheadPage
	// busy admits one page being read ahead at a time: under many
	// concurrent listings the work read ahead would only compete with the
	// requests themselves.
	busy atomic.Bool
	hits atomic.Int64 // pages served from here, for tests
}

// take removes and returns the page for k, if one was read ahead.
func (a *listAhead) take(k aheadKey) *aheadPage {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pages[k]
	if p != nil {
		delete(a.pages, k)
	}
	return p
}

// listed is called with a page List is about to return: if it is truncated
// and no other page is being read ahead, the next one is started.
func (db *DB) listed(bucketID uint64, o ListOptions, res ListResult) {
	if db.nodes != nil {
		// Other nodes' commits are not counted here (commitCount counts
		// this process's), so a page read ahead could miss one.
		return
	}
	if !res.IsTruncated || len(res.Objects)+len(res.CommonPrefixes) < listAheadMin {
		return
	}
	gen, quiet := db.commits.quiet()
	if !quiet || !db.ahead.busy.CompareAndSwap(false, true) {
		return
	}
	if err := db.enter(); err != nil {
		db.ahead.busy.Store(false)
		return
	}
	next := o
	next.StartAfter, next.ContinueAfter = "", res.Next
	k := keyFor(bucketID, next)
	p := &aheadPage{gen: gen, born: time.Now(), ready: make(chan struct{})}
	a := &db.ahead
	a.mu.Lock()
	if a.pages == nil {
		a.pages = make(map[aheadKey]*aheadPage)
	}
	for old, op := range a.pages {
		if time.Since(op.born) > listAheadTTL {
			delete(a.pages, old)
		}
	}
	if len(a.pages) >= listAheadPages {
		// Evict an arbitrary page: the walks that would want them all at
		// once are more than this cache is for.
		for old := range a.pages {
			delete(a.pages, old)
			break
		}
	}
	a.pages[k] = p
	a.mu.Unlock()
	go func() {
		defer db.leave()
		defer a.busy.Store(false)
		defer close(p.ready)
		p.res, p.err = db.listPage(context.Background(), bucketID, next)
	}()
}

// fromAhead returns the page read ahead for (bucketID, o) if there is one
// and no transaction has begun since it was started.
func (db *DB) fromAhead(ctx context.Context, bucketID uint64, o ListOptions) (ListResult, bool) {
	p := db.ahead.take(keyFor(bucketID, o))
	if p == nil {
		return ListResult{}, false
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
		return ListResult{}, false
	}
	if p.err != nil || p.gen != db.commits.begun.Load() {
		return ListResult{}, false
	}
	db.ahead.hits.Add(1)
	return p.res, true
}

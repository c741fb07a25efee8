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
// A page read ahead must still show every commit acknowledged before the
// request for it: it is served only if no commit at all has happened since
// it was started (DB.gen, bumped by every commit before the commit returns).
// Writes to any bucket therefore spoil pages read ahead in every other; that
// is the price of a check that cannot miss a commit.

// listAheadPages bounds the pages held; one page is at most 1000 entries.
const listAheadPages = 8

// listAheadTTL drops pages no client came back for.
const listAheadTTL = 10 * time.Second

// listAheadOff turns reading ahead off (tests compare with it off).
var listAheadOff bool

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
	gen   uint64 // DB.gen before the page's snapshot was taken
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
	if listAheadOff || !res.IsTruncated || !db.ahead.busy.CompareAndSwap(false, true) {
		return
	}
	if err := db.enter(); err != nil {
		db.ahead.busy.Store(false)
		return
	}
	next := o
	next.StartAfter, next.ContinueAfter = "", res.Next
	k := keyFor(bucketID, next)
	p := &aheadPage{gen: db.gen.Load(), born: time.Now(), ready: make(chan struct{})}
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
// and no commit has happened since it was started.
func (db *DB) fromAhead(ctx context.Context, bucketID uint64, o ListOptions) (ListResult, bool) {
	if listAheadOff {
		return ListResult{}, false
	}
	p := db.ahead.take(keyFor(bucketID, o))
	if p == nil {
		return ListResult{}, false
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
		return ListResult{}, false
	}
	if p.err != nil || p.gen != db.gen.Load() {
		return ListResult{}, false
	}
	db.ahead.hits.Add(1)
	return p.res, true
}

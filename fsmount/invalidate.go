package fsmount

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"excloud.dev/buckets/catalog"
)

// fsys is the state one mount shares among its nodes.
type fsys struct {
	objs   Objects
	orgID  string
	opts   Options
	log    *slog.Logger
	root   *rootNode
	server *fuse.Server
	seals  sealer // owner.go

	// own counts this mount's catalog mutations in flight, by bucket and
	// key (or key prefix), so the feed handler can skip their events: the
	// kernel already knows, and notifying it from inside the FUSE operation
	// that caused the event could deadlock on the inode lock it holds.
	ownMu    sync.Mutex
	ownKeys  map[string]*ownKey
	ownPrefs map[string]int

	// writers are the file nodes with an open write session, so Unmount
	// and Sync can commit them.
	wmu     sync.Mutex
	writers map[*fileNode]struct{}

	// While an invalidation the kernel did not take in notifyWait is still
	// pending, later events queue here behind it instead of each waiting
	// notifyWait in turn: the kernel is blocked on a directory lock that a
	// FUSE operation holds, and that operation's own commit is queued in
	// the feed behind these deliveries. Waiting per event made every S3
	// write in the directory cost 200 ms, one after the other, for as long
	// as the queue was (seconds under 200 clients).
	bgMu     sync.Mutex
	bgActive bool
	bgQueue  []catalog.Event
}

func newFsys(objs Objects, orgID string, opts Options) *fsys {
	return &fsys{
		objs: objs, orgID: orgID, opts: opts, log: opts.Logger,
		ownKeys:  make(map[string]*ownKey),
		ownPrefs: make(map[string]int),
		writers:  make(map[*fileNode]struct{}),
	}
}

func ownName(bucket, key string) string { return bucket + "\x00" + key }

// ownKey is a key this mount is changing: how many of its operations on it
// are in flight, how many started since it last had none, and the feed
// events for it skipped meanwhile. Each operation causes at most one event
// of its key, so more events than operations means another writer (S3,
// another node) committed the key in the same instant; its event was
// skipped, and the kernel is told once the last operation ends (last).
type ownKey struct {
	n, ops, events int
	last           catalog.Event
}

// mine registers a mutation of key (or, with prefix, every key under it)
// and returns its end.
func (f *fsys) mine(bucket, key string, prefix bool) func() {
	k := ownName(bucket, key)
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	if prefix {
		f.ownPrefs[k]++
		return func() {
			f.ownMu.Lock()
			if f.ownPrefs[k]--; f.ownPrefs[k] <= 0 {
				delete(f.ownPrefs, k)
			}
			f.ownMu.Unlock()
		}
	}
	end := f.mineLocked(k)
	return func() { end(true) }
}

// mineMaybe is mine for one key that the operation may leave unchanged (a
// directory's marker, whose times a change of its entries carries into its
// own transaction only when it can): its end says whether it changed the
// key, since an operation that caused no event of the key must not take
// another writer's event for its own.
func (f *fsys) mineMaybe(bucket, key string) func(changed bool) {
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	return f.mineLocked(ownName(bucket, key))
}

func (f *fsys) mineLocked(k string) func(changed bool) {
	o := f.ownKeys[k]
	if o == nil {
		o = &ownKey{}
		f.ownKeys[k] = o
	}
	o.n++
	o.ops++
	return func(changed bool) {
		f.ownMu.Lock()
		o.n--
		if !changed {
			o.ops--
		}
		foreign := o.n == 0 && o.events > o.ops
		if o.n == 0 {
			delete(f.ownKeys, k)
		}
		f.ownMu.Unlock()
		if foreign {
			// The operation's reply holds the kernel's inode lock until
			// this function's caller returns: invalidate after it.
			f.debugEvent("fsmount: invalidate a change that raced this mount's own", o.last)
			go f.invalidate(o.last)
		}
	}
}

// isMine reports whether this mount is changing the event's key; it counts
// the event against the mutations in flight (ownKey).
func (f *fsys) isMine(ev catalog.Event) bool {
	k := ownName(ev.Bucket, ev.Key)
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	if o := f.ownKeys[k]; o != nil {
		o.events++
		o.last = ev
		return true
	}
	for p := range f.ownPrefs {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// notifyWait bounds how long a feed delivery waits for the kernel to take
// an invalidation. Normally it takes microseconds and the S3 call returns
// after it; if the kernel is blocked (it holds a directory lock while a
// FUSE operation of this mount waits for the catalog, which waits for this
// delivery), the invalidation finishes in the background instead of
// deadlocking.
const notifyWait = 200 * time.Millisecond

// onEvent is the feed subscriber. It runs synchronously inside the catalog
// commit of the mutation it reports.
func (f *fsys) onEvent(ev catalog.Event) {
	if f.server == nil || (ev.OrgID != f.orgID && ev.Kind != catalog.Resync) {
		return
	}
	if ev.Kind != catalog.Resync && f.isMine(ev) {
		f.debugEvent("fsmount: no invalidation: the change came through this mount", ev)
		return
	}
	f.bgMu.Lock()
	if f.bgActive {
		f.bgQueue = append(f.bgQueue, ev)
		n := len(f.bgQueue)
		f.bgMu.Unlock()
		f.debugEvent("fsmount: invalidation queued behind one the kernel has not taken", ev, "queued", n)
		return
	}
	f.bgMu.Unlock()
	f.debugEvent("fsmount: invalidate", ev)
	if done, ok := waitBounded(func() { f.invalidate(ev) }); !ok {
		f.log.Warn("fsmount: kernel invalidation still pending; continuing", "bucket", ev.Bucket, "key", ev.Key)
		f.bgMu.Lock()
		f.bgActive = true
		f.bgMu.Unlock()
		go f.drain(done)
	}
}

// debugEvent logs a feed event at debug level. The check comes first:
// onEvent runs inside every catalog commit, and at info level it should
// cost nothing.
func (f *fsys) debugEvent(msg string, ev catalog.Event, extra ...any) {
	if !f.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	f.log.Debug(msg, append(eventAttrs(ev), extra...)...)
}

// eventAttrs describe a change-feed event for the debug log.
func eventAttrs(ev catalog.Event) []any {
	kind := "unknown"
	switch ev.Kind {
	case catalog.ObjectPut:
		kind = "object_put"
	case catalog.ObjectDelete:
		kind = "object_delete"
	case catalog.BucketCreate:
		kind = "bucket_create"
	case catalog.BucketDelete:
		kind = "bucket_delete"
	case catalog.Resync:
		kind = "resync"
	}
	return []any{"event", kind, "bucket", ev.Bucket, "key", ev.Key, "seq", ev.Seq}
}

// waitBounded runs fn, a call into the kernel, in a goroutine and waits for
// it at most notifyWait. It reports whether fn finished; if not, done
// closes when it does.
func waitBounded(fn func()) (done <-chan struct{}, finished bool) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		fn()
	}()
	t := time.NewTimer(notifyWait)
	defer t.Stop()
	select {
	case <-ch:
		return ch, true
	case <-t.C:
		return ch, false
	}
}

// drain waits for the pending invalidation, then invalidates the events
// queued meanwhile, in feed order, until none is left.
func (f *fsys) drain(pending <-chan struct{}) {
	<-pending
	for {
		f.bgMu.Lock()
		q := f.bgQueue
		f.bgQueue = nil
		if len(q) == 0 {
			f.bgActive = false
			f.bgMu.Unlock()
			return
		}
		f.bgMu.Unlock()
		for _, ev := range q {
			f.invalidate(ev)
		}
	}
}

// invalidate drops what the kernel may cache about ev's key: the deepest
// directory it has loaded on the key's path forgets the next name (it may
// be a new directory, or gone), and an existing file's attributes and pages
// are dropped. Parts of the path the kernel never looked up have nothing to
// drop. A directory whose subdirectories may have changed (a name appeared
// or vanished on the path) forgets its attributes too: its link count
// counts them, and the kernel may keep attributes for an hour.
func (f *fsys) invalidate(ev catalog.Event) {
	root := f.root.EmbeddedInode()
	switch ev.Kind {
	case catalog.Resync:
		f.log.Info("fsmount: change feed resync: dropping every cached entry and page")
		forgetTree(root)
		return
	case catalog.BucketCreate, catalog.BucketDelete:
		root.NotifyEntry(ev.Bucket)
		root.NotifyContent(0, 0)
		return
	}
	node := root.GetChild(ev.Bucket)
	if node == nil {
		return
	}
	del := ev.Kind == catalog.ObjectDelete
	comps := strings.Split(ev.Key, "/")
	for i, c := range comps {
		if dn, ok := node.Operations().(*dirNode); ok {
			// Counted first, then cleared: a listing page read before
			// the event is then either cleared or refused
			// (rememberPage).
			dn.stale() // its subdirectories or marker may have changed
			dn.forgetListing()
		}
		last := i == len(comps)-1
		if c == "" {
			if last && i > 0 {
				// The directory's marker: its mode, owner or times.
				node.NotifyContent(0, 0)
				if dn, ok := node.Operations().(*dirNode); ok && del {
					dn.marker.Store(nil) // keepDir must look again
				}
				if del {
					// Without its marker the directory may be gone;
					// its entry has the long timeout.
					if name, parent := node.Parent(); parent != nil {
						parent.NotifyEntry(name)
						parent.NotifyContent(0, 0)
					}
				}
			}
			return // a directory marker, or a name the mount hides
		}
		child := node.GetChild(c)
		if child == nil {
			node.NotifyEntry(c)
			if !last {
				// c is a directory that may have appeared or vanished.
				node.NotifyContent(0, 0)
			}
			return
		}
		if last {
			if fn, ok := child.Operations().(*fileNode); ok {
				fn.dropCacheTag()
			}
			if del {
				node.NotifyDelete(c, child)
			} else {
				child.NotifyContent(0, 0)
				node.NotifyEntry(c)
			}
			return
		}
		switch cn := child.Operations().(type) {
		case *fileNode:
			// A key a/b/c now makes a a directory where a file was.
			node.NotifyEntry(c)
			node.NotifyContent(0, 0)
			return
		case *dirNode:
			if del && cn.implied() {
				// Its last key may be gone, and with it the directory.
				node.NotifyContent(0, 0)
			}
		}
		node = child
	}
}

// forgetTree drops everything the kernel and this mount cache below n:
// after a resync of the change feed (events from other nodes may have been
// lost) no entry, attribute, listing or page can be trusted. Each name is
// forgotten after its subtree, so the kernel looks everything up again.
func forgetTree(n *fs.Inode) {
	switch op := n.Operations().(type) {
	case *dirNode:
		op.stale()
		op.forgetListing()
	case *fileNode:
		op.dropCacheTag()
		n.NotifyContent(0, 0)
	}
	for name, c := range n.Children() {
		forgetTree(c)
		n.NotifyEntry(name)
	}
}

// syncAll commits every open write session.
func (f *fsys) syncAll(ctx context.Context) error {
	f.wmu.Lock()
	nodes := make([]*fileNode, 0, len(f.writers))
	for n := range f.writers {
		nodes = append(nodes, n)
	}
	f.wmu.Unlock()
	var errs []error
	for _, n := range nodes {
		if errno := n.commit(ctx); errno != 0 {
			errs = append(errs, errno)
		}
	}
	return errors.Join(errs...)
}

// pathOf returns the bucket and key (directories end in "/") of a node by
// walking its parents; ok is false for a node no longer in the tree (an
// unlinked file still open).
func pathOf(n *fs.Inode) (bucket, key string, ok bool) {
	var names []string
	for {
		name, parent := n.Parent()
		if parent == nil {
			if !n.IsRoot() {
				return "", "", false
			}
			break
		}
		names = append(names, name)
		n = parent
	}
	if len(names) == 0 {
		return "", "", true // the root
	}
	bucket = names[len(names)-1]
	var sb strings.Builder
	for i := len(names) - 2; i >= 0; i-- {
		sb.WriteString(names[i])
		if i > 0 {
			sb.WriteByte('/')
		}
	}
	return bucket, sb.String(), true
}

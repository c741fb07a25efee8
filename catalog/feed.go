package catalog

import (
	"sync"
	"sync/atomic"
)

// feed is the change feed (docs/format.md, "Change feed ordering").
//
// Guarantees:
//   - An event is delivered after its mutation has committed (it is visible
//     to every reader) and before the mutating method returns.
//   - Deliveries never overlap: one publish mutex is held while every
//     subscriber's fn runs, and Seq is assigned under it, so Seq is strictly
//     increasing in delivery order.
//   - Events of one object key are delivered in commit order: the writer
//     holds the key's stripe lock from before its transaction until after
//     publishing, so the next writer of that key cannot commit in between.
//     Events of different keys may be delivered in an order other than their
//     commits'.
//
// Seq restarts at 1 when the catalog is opened; it orders deliveries, it is
// not a durable log position.
type feed struct {
	mu   sync.Mutex // held across a whole delivery
	seq  uint64
	subs atomic.Pointer[[]*subscriber] // copy on write, so cancel never waits for mu
	smu  sync.Mutex                    // serializes writers of subs
}

type subscriber struct {
	fn        func(Event)
	cancelled atomic.Bool
}

// Subscribe registers fn to be called, synchronously and never concurrently,
// with every event committed from now on. fn runs while the mutating call
// (and the publish mutex) waits for it: it must be quick, and must not call
// catalog methods that mutate (those would wait for the delivery that is
// waiting for them); reading the catalog is fine and sees the committed
// state. The returned cancel stops deliveries; it may be called from inside
// fn, and more than once. An fn already running when cancel returns finishes.
func (db *DB) Subscribe(fn func(Event)) (cancel func()) {
	s := &subscriber{fn: fn}
	f := &db.feed
	f.smu.Lock()
	old := f.subs.Load()
	var next []*subscriber
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	f.subs.Store(&next)
	f.smu.Unlock()
	return func() {
		if s.cancelled.Swap(true) {
			return
		}
		f.smu.Lock()
		defer f.smu.Unlock()
		cur := *f.subs.Load()
		next := make([]*subscriber, 0, len(cur))
		for _, x := range cur {
			if x != s {
				next = append(next, x)
			}
		}
		f.subs.Store(&next)
	}
}

// publish delivers ev to every subscriber. Callers hold the key (or bucket)
// lock that orders ev after the commit it reports.
func (db *DB) publish(ev Event) {
	f := &db.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev.Seq = f.seq
	subs := f.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if !s.cancelled.Load() {
			s.fn(ev)
		}
	}
}

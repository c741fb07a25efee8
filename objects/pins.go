package objects

import (
	"context"
	"sync"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Pins is the collector's view of chunks in use outside the catalog: those
// leased by writes in flight (stored, not yet committed) and those pinned by
// open readers (an S3 GET, a file open on the mount), and of manifest
// lookups about to pin more. It pins what is in use, never time, so a reader
// held open for hours keeps its object's chunks and nothing else.
//
// memPins serves one process. Several nodes sharing one chunk store would
// share one implementation of this interface (leases in the catalog, say;
// ARCHITECTURE.md, decision 8); the collector needs nothing else of them.
type Pins interface {
	// Pin keeps id from the collector until a matching Unpin. Pins count:
	// a chunk pinned twice needs two Unpins.
	Pin(id chunkstore.ID)
	Unpin(ids ...chunkstore.ID)
	// Lookup announces a manifest lookup whose chunks the caller will pin
	// (or commit a reference to); the returned func ends it, after the
	// pins are taken, and may be called more than once. A sweep waits for
	// the lookups that began before its Settle.
	Lookup() (end func())
	// BeginSweep starts a collection; only one runs at a time.
	BeginSweep() Sweep

	// Scan is this node's part in a collection across nodes (gc_fleet.go):
	// given every mark in the catalog it returns the condemned ones of
	// chunks pinned here (to be cleared), and remembers the doomed and gone
	// ones: a write holding such a chunk, or pinning one later, is poisoned
	// and must not commit. It waits for the lookups and commits begun
	// before it, so that when it returns, every one of them either saw the
	// poison or has ended.
	Scan(ctx context.Context, marks []catalog.GCMark) ([]catalog.GCMark, error)
	// Poisoned reports whether any of ids (pinned by the caller) was
	// poisoned since it was pinned.
	Poisoned(ids []chunkstore.ID) bool
}

// Sweep is one collection's hold on the pins. The collector lists
// candidates (unpinned, unreferenced chunks), calls Settle, then frees each
// through Free, which rechecks under the pins' lock.
type Sweep interface {
	// Spared reports whether id is pinned now, or was at any moment since
	// the sweep began: a write may have referenced and a delete
	// unreferenced it again since the candidate was chosen, and a reader
	// that found it in between may not have pinned it yet.
	Spared(id chunkstore.ID) bool
	// Settle waits until every lookup begun before the call has ended, so
	// that any chunk such a lookup found is pinned or referenced by now. It
	// fails if ctx ends or the wait passes a bound.
	Settle(ctx context.Context) error
	// Free calls del for id unless it is spared, with no Pin able to slip
	// in between the check and del.
	Free(id chunkstore.ID, del func() (bool, error)) (bool, error)
	// End finishes the sweep.
	End()
}

// lookupWait bounds how long a sweep waits for lookups in flight. A lookup
// is catalog work (reads, at most one commit), never paced by a client, so
// the bound is only met when the catalog itself is stuck; the sweep then
// frees nothing and the next one tries again.
const lookupWait = 30 * time.Second

// memPins is the in-process Pins.
type memPins struct {
	sweepMu sync.Mutex // one sweep at a time

	mu      sync.Mutex
	pins    map[chunkstore.ID]int
	seq     uint64
	lookups map[uint64]struct{}
	changed *sync.Cond
	// touched collects ids pinned while a sweep runs (nil otherwise).
	touched map[chunkstore.ID]struct{}
	// lost: the chunks the last Scan found doomed or gone; poisoned: the
	// pinned chunks that were lost while pinned (entries go with the pin).
	lost     map[chunkstore.ID]struct{}
	poisoned map[chunkstore.ID]struct{}
}

func newMemPins() *memPins {
	p := &memPins{pins: make(map[chunkstore.ID]int), lookups: make(map[uint64]struct{}), poisoned: make(map[chunkstore.ID]struct{})}
	p.changed = sync.NewCond(&p.mu)
	return p
}

func (p *memPins) Pin(id chunkstore.ID) {
	p.mu.Lock()
	p.pins[id]++
	if _, ok := p.lost[id]; ok {
		p.poisoned[id] = struct{}{}
	}
	if p.touched != nil {
		p.touched[id] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *memPins) Unpin(ids ...chunkstore.ID) {
	p.mu.Lock()
	for _, id := range ids {
		if p.pins[id]--; p.pins[id] <= 0 {
			delete(p.pins, id)
			delete(p.poisoned, id)
		}
	}
	p.mu.Unlock()
}

func (p *memPins) Lookup() func() {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.lookups[seq] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.lookups, seq)
			p.changed.Broadcast()
			p.mu.Unlock()
		})
	}
}

func (p *memPins) BeginSweep() Sweep {
	p.sweepMu.Lock()
	p.mu.Lock()
	p.touched = make(map[chunkstore.ID]struct{})
	p.mu.Unlock()
	return memSweep{p}
}

type memSweep struct{ p *memPins }

func (s memSweep) Spared(id chunkstore.ID) bool {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.sparedLocked(id)
}

func (p *memPins) sparedLocked(id chunkstore.ID) bool {
	if p.pins[id] > 0 {
		return true
	}
	_, ok := p.touched[id]
	return ok
}

func (s memSweep) Settle(ctx context.Context) error { return s.p.settle(ctx) }

// settle waits until every lookup begun before the call has ended.
func (p *memPins) settle(ctx context.Context) error {
	wake := func() {
		p.mu.Lock()
		p.changed.Broadcast()
		p.mu.Unlock()
	}
	t := time.AfterFunc(lookupWait, wake)
	defer t.Stop()
	stop := context.AfterFunc(ctx, wake)
	defer stop()
	deadline := time.Now().Add(lookupWait)

	p.mu.Lock()
	defer p.mu.Unlock()
	snap := p.seq
	for {
		old := false
		for seq := range p.lookups {
			if seq <= snap {
				old = true
				break
			}
		}
		if !old {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return errLookupWait
		}
		p.changed.Wait()
	}
}

func (p *memPins) Scan(ctx context.Context, marks []catalog.GCMark) ([]catalog.GCMark, error) {
	// A lookup begun before the marks were read may have found a manifest
	// since deleted; once it ends, its chunks are pinned (or committed).
	if err := p.settle(ctx); err != nil {
		return nil, err
	}
	var clear []catalog.GCMark
	p.mu.Lock()
	lost := make(map[chunkstore.ID]struct{})
	for _, m := range marks {
		_, pinned := p.pins[m.Chunk]
		switch {
		case m.State == catalog.MarkCondemned:
			if pinned {
				clear = append(clear, m)
			}
		default:
			lost[m.Chunk] = struct{}{}
			if pinned {
				p.poisoned[m.Chunk] = struct{}{}
			}
		}
	}
	p.lost = lost
	p.mu.Unlock()
	// A commit that checked its chunks before they were poisoned is a
	// lookup in flight: wait for it, so the node acknowledges the marks
	// only when no commit can still miss them.
	if err := p.settle(ctx); err != nil {
		return nil, err
	}
	return clear, nil
}

func (p *memPins) Poisoned(ids []chunkstore.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if _, ok := p.poisoned[id]; ok {
			return true
		}
	}
	return false
}

func (s memSweep) Free(id chunkstore.ID, del func() (bool, error)) (bool, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.sparedLocked(id) {
		return false, nil
	}
	return del()
}

func (s memSweep) End() {
	s.p.mu.Lock()
	s.p.touched = nil
	s.p.mu.Unlock()
	s.p.sweepMu.Unlock()
}

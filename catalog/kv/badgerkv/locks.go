package badgerkv

import (
	"context"
	"sync"

	"excloud.dev/buckets/catalog/kv"
)

// lockTable holds kv.Txn.Lock's locks, by exact key: no two keys share a
// lock, so the order callers take locks in (parent before child) is the
// only order there is, and no stripe collision can make a cycle. Waiting
// exclusive lockers keep new shared ones out, so a bucket's deletion is not
// starved by a steady stream of writers into it.
type lockTable struct {
	mu sync.Mutex
	m  map[string]*lockState
}

type lockState struct {
	shared      int  // shared holders
	excl        bool // an exclusive holder
	waiting     int  // acquirers between arrival and grant (keeps the entry)
	exclWaiting int
	wake        chan struct{} // closed (and replaced) when the state loosens
}

func (lt *lockTable) acquire(ctx context.Context, key string, mode kv.LockMode) error {
	lt.mu.Lock()
	if lt.m == nil {
		lt.m = map[string]*lockState{}
	}
	st := lt.m[key]
	if st == nil {
		st = &lockState{}
		lt.m[key] = st
	}
	st.waiting++
	if mode == kv.Exclusive {
		st.exclWaiting++
	}
	for {
		if mode == kv.Shared && !st.excl && st.exclWaiting == 0 {
			st.shared++
			break
		}
		if mode == kv.Exclusive && !st.excl && st.shared == 0 {
			st.excl = true
			break
		}
		if st.wake == nil {
			st.wake = make(chan struct{})
		}
		wake := st.wake
		lt.mu.Unlock()
		select {
		case <-wake:
			lt.mu.Lock()
		case <-ctx.Done():
			lt.mu.Lock()
			st.waiting--
			if mode == kv.Exclusive {
				st.exclWaiting--
				lt.loosened(key, st) // shared waiters may go now
			}
			lt.drop(key, st)
			lt.mu.Unlock()
			return ctx.Err()
		}
	}
	st.waiting--
	if mode == kv.Exclusive {
		st.exclWaiting--
	}
	lt.mu.Unlock()
	return nil
}

func (lt *lockTable) release(key string, mode kv.LockMode) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	st := lt.m[key]
	if mode == kv.Exclusive {
		st.excl = false
	} else {
		st.shared--
	}
	lt.loosened(key, st)
	lt.drop(key, st)
}

// loosened wakes every waiter of key to look again; called with mu held.
func (lt *lockTable) loosened(key string, st *lockState) {
	if st.wake != nil {
		close(st.wake)
		st.wake = nil
	}
}

// drop forgets an entry nobody holds or waits for; called with mu held.
func (lt *lockTable) drop(key string, st *lockState) {
	if st.shared == 0 && !st.excl && st.waiting == 0 {
		delete(lt.m, key)
	}
}

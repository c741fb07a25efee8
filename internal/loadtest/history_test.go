package loadtest

import (
	"fmt"
	"sync"
	"time"
)

// history records every write of the shared keys, which all clients
// overwrite and delete concurrently, to judge what a GET may return. Seeds
// are unique, so a GET's answer names exactly one write (or, seed 0, some
// delete). The answer is acceptable when that write started before the GET
// ended and was not superseded before the GET started: no other write was
// both sent after it was acknowledged and acknowledged before the GET was
// sent. That is the real-time order a single-key register must keep; any
// acknowledged or in-flight version is otherwise fine.
type history struct {
	mu   sync.Mutex
	keys map[string][]*version
	t0   time.Time
}

type version struct {
	seed       uint64 // 0: a delete
	size       int64
	start, ack time.Time // ack is zero while in flight (or if it failed)
}

func newHistory() *history {
	return &history{keys: make(map[string][]*version), t0: time.Now()}
}

// begin records a write about to be sent; the caller sets ack through done.
func (h *history) begin(key string, seed uint64, size int64) *version {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.keys[key]; !ok {
		// Before any write the key is absent, as if deleted at t0.
		h.keys[key] = []*version{{start: h.t0, ack: h.t0}}
	}
	v := &version{seed: seed, size: size, start: time.Now()}
	h.keys[key] = append(h.keys[key], v)
	return v
}

func (h *history) done(v *version) {
	now := time.Now()
	h.mu.Lock()
	v.ack = now
	h.mu.Unlock()
}

// check judges a GET of key sent at start and answered at end with seed
// (0: NoSuchKey) and size.
func (h *history) check(key string, seed uint64, size int64, start, end time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	vs := h.keys[key]
	if vs == nil {
		vs = []*version{{start: h.t0, ack: h.t0}}
	}
	// latest is the latest start of a write acknowledged before the GET.
	var latest time.Time
	for _, w := range vs {
		if !w.ack.IsZero() && w.ack.Before(start) && w.start.After(latest) {
			latest = w.start
		}
	}
	found := false
	for _, v := range vs {
		if v.seed != seed || !v.start.Before(end) {
			continue
		}
		found = true
		if seed != 0 && v.size != size {
			return fmt.Errorf("%s: version %x has size %d, GET said %d", key, seed, v.size, size)
		}
		if v.ack.IsZero() || !latest.After(v.ack) {
			return nil
		}
	}
	if !found {
		return fmt.Errorf("%s: GET returned version %x that no client wrote before it", key, seed)
	}
	return fmt.Errorf("%s: GET returned version %x, superseded by a write acknowledged before the GET was sent", key, seed)
}

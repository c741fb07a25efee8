package badgerkv

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Waiters that arrive while a sync runs share the next one: 64 concurrent
// commits must not cost 64 fsyncs, and each must be covered by a sync that
// started after it.
func TestGroupCommitSharesSyncs(t *testing.T) {
	var calls atomic.Int64
	var mu sync.Mutex
	var started []time.Time
	s := newSyncer(t.TempDir(), func() error {
		mu.Lock()
		started = append(started, time.Now())
		mu.Unlock()
		calls.Add(1)
		time.Sleep(2 * time.Millisecond)
		return nil
	})
	defer s.close()

	const n = 64
	arrived := make([]time.Time, n)
	returned := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arrived[i] = time.Now()
			if err := s.wait(); err != nil {
				t.Error(err)
			}
			returned[i] = time.Now()
		}()
	}
	wg.Wait()
	if c := calls.Load(); c >= n/2 {
		t.Errorf("%d syncs for %d concurrent waiters; want them shared", c, n)
	}
	// Every waiter returned after some sync that started after it arrived.
	for i := range n {
		covered := false
		for _, st := range started {
			if !st.Before(arrived[i]) && !st.After(returned[i]) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("waiter %d returned without a sync starting after it arrived", i)
		}
	}
}

// A failed sync fails exactly the commits it covered; the next one retries.
func TestGroupCommitError(t *testing.T) {
	fail := errors.New("disk on fire")
	var bad atomic.Bool
	bad.Store(true)
	s := newSyncer(t.TempDir(), func() error {
		if bad.Load() {
			return fail
		}
		return nil
	})
	defer s.close()
	if err := s.wait(); err == nil || !strings.Contains(err.Error(), fail.Error()) {
		t.Fatalf("wait = %v, want the sync's error", err)
	}
	bad.Store(false)
	if err := s.wait(); err != nil {
		t.Fatalf("wait after recovery = %v", err)
	}
}

// Commits made without waiting are synced by the background loop.
func TestBackgroundSyncCoversLazyCommits(t *testing.T) {
	var calls atomic.Int64
	s := newSyncer(t.TempDir(), func() error { calls.Add(1); return nil })
	defer s.close()
	time.Sleep(backgroundSync + 200*time.Millisecond)
	if c := calls.Load(); c != 0 {
		t.Fatalf("%d syncs with nothing committed", c)
	}
	s.committed()
	deadline := time.Now().Add(5 * backgroundSync)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if calls.Load() == 0 {
		t.Fatal("a lazy commit was never synced")
	}
}

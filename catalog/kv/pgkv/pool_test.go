package pgkv

import (
	"context"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/internal/pgtest"
)

// inFlight runs n transactions that each wait, holding their connection,
// until all n have started or bound passes, and returns how many had
// started: how many the engine lets run at once.
func inFlight(t *testing.T, e *Engine, n int, bound time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var mu sync.Mutex
	started := 0
	all := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.View(ctx, func(r kv.Reader) error {
				r.Get([]byte("k")) // the transaction is open on its connection
				mu.Lock()
				started++
				if started == n {
					close(all)
				}
				mu.Unlock()
				select {
				case <-all:
				case <-ctx.Done():
				}
				return nil
			})
		}()
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
	cancel() // release the ones waiting for a connection, if any
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return started
}

// 16 concurrent transactions run at once by default (a node serving
// 32 S3 clients must not queue them behind pgxpool's max(4, NumCPU)
// connections), and the URL's pool_max_conns still chooses.
func TestPoolSize(t *testing.T) {
	url := pgtest.DB(t)
	if got := inFlight(t, open(t, url, Options{PruneEvery: -1}), DefaultMaxConns, time.Minute); got != DefaultMaxConns {
		t.Errorf("default pool: %d of %d transactions ran at once", got, DefaultMaxConns)
	}
	// Three start at once; the bound is how long the other two are given
	// to (not) start.
	if got := inFlight(t, open(t, url+"&pool_max_conns=3", Options{PruneEvery: -1}), 5, 5*time.Second); got != 3 {
		t.Errorf("pool_max_conns=3: %d transactions ran at once", got)
	}
}

package pgkv

import (
	"context"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
	"excloud.dev/buckets/catalog/kv/kvtest"
	"excloud.dev/buckets/internal/pgtest"
)

// collector gathers what a Listen subscriber receives.
type collector struct {
	mu  sync.Mutex
	got []kv.Notification
	ch  chan struct{} // signalled on every delivery
}

func listen(t *testing.T, e *Engine) *collector {
	t.Helper()
	c := &collector{ch: make(chan struct{}, 1)}
	cancel, err := e.Listen(context.Background(), func(n kv.Notification) {
		c.mu.Lock()
		c.got = append(c.got, n)
		c.mu.Unlock()
		select {
		case c.ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return c
}

// wait returns the deliveries once there are at least n, failing after a
// generous bound.
func (c *collector) wait(t *testing.T, n int) []kv.Notification {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			got := append([]kv.Notification(nil), c.got...)
			c.mu.Unlock()
			return got
		}
		c.mu.Unlock()
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("waited a minute for %d notifications", n)
		}
	}
}

// The Notifier conformance tests: two engines on one database.
func TestNotifierConformance(t *testing.T) {
	kvtest.RunNotifier(t, func(t *testing.T) (kv.Engine, kv.Engine) {
		url := pgtest.DB(t)
		return open(t, url, Options{}), open(t, url, Options{})
	})
}

// When the listening connection is cut, notifications sent meanwhile are
// lost to it: after it reconnects its subscribers get a Resync, then the
// notifications of later commits.
func TestNotifyResyncAfterReconnect(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, Options{}), open(t, url, Options{})
	cb := listen(t, b)
	admin := raw(t, url)
	if _, err := admin.Exec(bg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"); err != nil {
		t.Fatal(err)
	}
	got := cb.wait(t, 1)
	if !got[0].Resync {
		t.Fatalf("first delivery after the cut: %+v, want a resync", got[0])
	}
	// Commits after the resync arrive again.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		if err := a.Update(bg, kv.WriteOptions{}, func(tx kv.Txn) error { return a.Notify(tx, []byte("after")) }); err != nil {
			t.Fatal(err)
		}
		cb.mu.Lock()
		n := len(cb.got)
		var last kv.Notification
		if n > 0 {
			last = cb.got[n-1]
		}
		cb.mu.Unlock()
		if string(last.Payload) == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification after the reconnect")
		}
		cb.wait(t, n+1)
	}
}

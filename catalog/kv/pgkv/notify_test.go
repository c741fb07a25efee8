package pgkv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
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

// A payload attached to a transaction reaches the subscribers of both
// engines sharing the database, once, after the commit, in commit order;
// a rolled-back transaction's payload reaches no one.
func TestNotifyAcrossEngines(t *testing.T) {
	url := pgtest.DB(t)
	a, b := open(t, url, Options{}), open(t, url, Options{})
	ca, cb := listen(t, a), listen(t, b)
	const n = 50
	for i := range n {
		e := a
		if i%2 == 1 {
			e = b
		}
		if err := e.Update(bg, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := tx.Set([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
				return err
			}
			return e.Notify(tx, []byte(fmt.Sprintf("ev\x00%d", i)))
		}); err != nil {
			t.Fatal(err)
		}
		// A transaction that fails after its Notify sends nothing.
		boom := errors.New("boom")
		if err := e.Update(bg, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := e.Notify(tx, []byte("rolled back")); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]*collector{"a": ca, "b": cb} {
		got := c.wait(t, n)
		if len(got) != n {
			t.Fatalf("%s: %d notifications, want %d", name, len(got), n)
		}
		for i, g := range got {
			if want := fmt.Sprintf("ev\x00%d", i); string(g.Payload) != want || g.Resync {
				t.Fatalf("%s: notification %d = %q (resync %v), want %q", name, i, g.Payload, g.Resync, want)
			}
		}
	}
	// Nothing more arrives (the rolled-back ones): one more commit comes
	// right after the last.
	if err := a.Update(bg, kv.WriteOptions{}, func(tx kv.Txn) error { return a.Notify(tx, []byte("last")) }); err != nil {
		t.Fatal(err)
	}
	if got := cb.wait(t, n+1); len(got) != n+1 || string(got[n].Payload) != "last" {
		t.Fatalf("after the last commit: %d notifications, last %q", len(got), got[len(got)-1].Payload)
	}
	big := make([]byte, kv.MaxNotifyPayload+1)
	if err := a.Update(bg, kv.WriteOptions{}, func(tx kv.Txn) error { return a.Notify(tx, big) }); err == nil {
		t.Fatal("a payload over MaxNotifyPayload was accepted")
	}
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

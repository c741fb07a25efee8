package kvtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"excloud.dev/buckets/catalog/kv"
)

// NewNotifierPair returns two open engines on one empty shared store (two
// processes' view of it), both implementing kv.Notifier.
type NewNotifierPair func(t *testing.T) (a, b kv.Engine)

// RunNotifier runs the conformance tests of the kv.Notifier capability.
func RunNotifier(t *testing.T, pair NewNotifierPair) {
	t.Run("DeliveredEverywhereInCommitOrder", func(t *testing.T) {
		a, b := pair(t)
		testNotifyOrder(t, a, b)
	})
	t.Run("PayloadBound", func(t *testing.T) {
		a, _ := pair(t)
		n := a.(kv.Notifier)
		big := make([]byte, kv.MaxNotifyPayload+1)
		if err := Update(context.Background(), a, func(tx kv.Txn) error { return n.Notify(tx, big) }); err == nil {
			t.Fatal("a payload over MaxNotifyPayload was accepted")
		}
		max := make([]byte, kv.MaxNotifyPayload)
		if err := Update(context.Background(), a, func(tx kv.Txn) error { return n.Notify(tx, max) }); err != nil {
			t.Fatalf("a payload of MaxNotifyPayload bytes: %v", err)
		}
	})
}

type notes struct {
	mu  sync.Mutex
	got []kv.Notification
	ch  chan struct{}
}

func listenAll(t *testing.T, e kv.Engine) *notes {
	t.Helper()
	c := &notes{ch: make(chan struct{}, 1)}
	cancel, err := e.(kv.Notifier).Listen(context.Background(), func(n kv.Notification) {
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

func (c *notes) waitN(t *testing.T, n int) []kv.Notification {
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

// testNotifyOrder: payloads of committed transactions, from either engine,
// reach the subscribers of both, once each, in commit order (here the
// commits are sequential, so commit order is their order); payloads of a
// transaction that fails reach no one; several payloads of one transaction
// arrive together, in the order they were attached.
func testNotifyOrder(t *testing.T, a, b kv.Engine) {
	ca, cb := listenAll(t, a), listenAll(t, b)
	ctx := context.Background()
	var want []string
	for i := range 30 {
		e := a
		if i%2 == 1 {
			e = b
		}
		n := e.(kv.Notifier)
		if err := Update(ctx, e, func(tx kv.Txn) error {
			if err := tx.Set([]byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
				return err
			}
			if err := n.Notify(tx, []byte(fmt.Sprintf("%d.1\x00", i))); err != nil {
				return err
			}
			return n.Notify(tx, []byte(fmt.Sprintf("%d.2", i)))
		}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%d.1\x00", i), fmt.Sprintf("%d.2", i))
		boom := errors.New("boom")
		if err := e.Update(ctx, kv.WriteOptions{}, func(tx kv.Txn) error {
			if err := n.Notify(tx, []byte("rolled back")); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
	}
	// A last commit marks the end: nothing of the failed ones came before.
	if err := Update(ctx, a, func(tx kv.Txn) error { return a.(kv.Notifier).Notify(tx, []byte("end")) }); err != nil {
		t.Fatal(err)
	}
	want = append(want, "end")
	for name, c := range map[string]*notes{"a": ca, "b": cb} {
		got := c.waitN(t, len(want))
		if len(got) != len(want) {
			t.Fatalf("%s: %d notifications, want %d", name, len(got), len(want))
		}
		for i, g := range got {
			if string(g.Payload) != want[i] || g.Resync {
				t.Fatalf("%s: notification %d = %q (resync %v), want %q", name, i, g.Payload, g.Resync, want[i])
			}
		}
	}
}

package pgkv

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"excloud.dev/buckets/catalog/kv"
)

// The feed across nodes (kv.Notifier): a transaction's payloads are
// pg_notify calls inside it, so the server sends them when, and only if, it
// commits, and sends the notifications of different transactions in the
// order they committed. Each engine that has subscribers keeps one
// connection outside the pool that LISTENs on the table's name (a channel
// name lives in its own namespace) and hands what arrives to them.
//
// A notification sent while that connection is down is lost for it: after
// it reconnects and LISTENs again, its subscribers get a Resync first.

var _ kv.Notifier = (*Engine)(nil)

// listeners holds each engine's listener. It lives here rather than in
// Engine so that this file is the whole of the capability; a listener ends
// when its engine is closed (e.stop).
var listeners sync.Map // *Engine -> *listener

type listener struct {
	e    *Engine
	subs atomic.Pointer[[]*notifySub]
	smu  sync.Mutex // serializes writers of subs
}

type notifySub struct {
	fn        func(kv.Notification)
	cancelled atomic.Bool
}

// Notify sends payload with txn's commit.
func (e *Engine) Notify(tx kv.Txn, payload []byte) error {
	t, ok := tx.(*txn)
	if !ok || t.e != e {
		return errors.New("pgkv: notify: not a transaction of this engine")
	}
	if len(payload) > kv.MaxNotifyPayload {
		return fmt.Errorf("pgkv: notify: payload of %d bytes, at most %d", len(payload), kv.MaxNotifyPayload)
	}
	if t.readOnly {
		return errors.New("pgkv: notify in a read-only transaction")
	}
	// NOTIFY's payload is text in the server's encoding: base64 keeps any
	// bytes (an object key may hold any UTF-8, and NUL is not text).
	return t.write("notify", "SELECT pg_notify($1, $2)", e.opts.Table, base64.StdEncoding.EncodeToString(payload))
}

// Listen registers fn; the first call starts the engine's listener and
// returns once its LISTEN is in effect.
func (e *Engine) Listen(ctx context.Context, fn func(kv.Notification)) (func(), error) {
	if e.closed.Load() {
		return nil, kv.ErrClosed
	}
	l, err := e.listener(ctx)
	if err != nil {
		return nil, err
	}
	s := &notifySub{fn: fn}
	l.smu.Lock()
	var next []*notifySub
	if old := l.subs.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	l.subs.Store(&next)
	l.smu.Unlock()
	return func() {
		if s.cancelled.Swap(true) {
			return
		}
		l.smu.Lock()
		defer l.smu.Unlock()
		cur := *l.subs.Load()
		next := make([]*notifySub, 0, len(cur))
		for _, x := range cur {
			if x != s {
				next = append(next, x)
			}
		}
		l.subs.Store(&next)
	}, nil
}

// listenMu serializes the start of listeners.
var listenMu sync.Mutex

func (e *Engine) listener(ctx context.Context) (*listener, error) {
	listenMu.Lock()
	defer listenMu.Unlock()
	if v, ok := listeners.Load(e); ok {
		return v.(*listener), nil
	}
	conn, err := e.listenConn(ctx)
	if err != nil {
		return nil, err
	}
	l := &listener{e: e}
	listeners.Store(e, l)
	go l.run(conn)
	return l, nil
}

// listenConn opens a connection of its own (a pooled one would be handed
// to transactions) and LISTENs on it.
func (e *Engine) listenConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("pgkv: listen: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.opts.Table}.Sanitize()); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgkv: listen: %w", err)
	}
	return conn, nil
}

// run delivers notifications until the engine closes, reconnecting when
// the connection fails.
func (l *listener) run(conn *pgx.Conn) {
	e := l.e
	defer listeners.Delete(e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stop
		cancel()
	}()
	backoff := 50 * time.Millisecond
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			backoff = 50 * time.Millisecond
			p, derr := base64.StdEncoding.DecodeString(n.Payload)
			if derr != nil {
				// Not one of ours (someone NOTIFYed the channel by hand):
				// what it stood for is unknown, so assume anything changed.
				e.opts.Logger.Warn("pgkv: listen: a notification that is not base64; resyncing", "channel", n.Channel)
				l.deliver(kv.Notification{Resync: true})
				continue
			}
			l.deliver(kv.Notification{Payload: p})
			continue
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		e.opts.Logger.Warn("pgkv: listen: connection lost; reconnecting", "err", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			conn, err = e.listenConn(cctx)
			ccancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			e.opts.Logger.Warn("pgkv: listen: reconnect failed", "err", err)
		}
		e.opts.Logger.Info("pgkv: listen: reconnected; subscribers resync")
		l.deliver(kv.Notification{Resync: true})
	}
}

func (l *listener) deliver(n kv.Notification) {
	subs := l.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if !s.cancelled.Load() {
			s.fn(n)
		}
	}
}

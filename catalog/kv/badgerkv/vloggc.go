package badgerkv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Value-log garbage collection. Values above valueThreshold (object bodies,
// huge manifests) live in Badger's value log, which only grows: a deleted
// or overwritten value's bytes stay until its log file is rewritten.
// Badger's RunValueLogGC rewrites the live values of a mostly dead file to
// the head of the log and deletes the file, but it writes them without an
// fsync (the engine turns Badger's syncing off: sync.go) and deletes the old
// file at once; a machine crash between the two would lose every live value
// the file held. Badger defers the deletion while any iterator is open, so
// GCValueLog holds one open across the rewrite, runs the engine's sync, and
// only then closes it: the file goes once its values are durable elsewhere.

// DefaultValueLogGCInterval is how often an open engine collects its value
// log when Options.ValueLogGCInterval is 0.
const DefaultValueLogGCInterval = 10 * time.Minute

// valueLogDiscardRatio: a log file is rewritten once at least half of it is
// dead, so a rewrite copies at most as much as it frees.
const valueLogDiscardRatio = 0.5

// maxRewritesPerRun bounds one run's work; the next run continues.
const maxRewritesPerRun = 64

// GCValueLog rewrites the value-log files that are at least half dead,
// durably, until none is left (or after a bounded number), and returns how
// many it rewrote. Badger learns which files are dead from compactions, so
// space freed by recent deletions may only be found by a later run.
func (e *Engine) GCValueLog(ctx context.Context) (int, error) {
	n := 0
	for n < maxRewritesPerRun {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if e.closed.Load() {
			return n, nil
		}
		done, err := e.rewriteOne()
		if err != nil || !done {
			return n, err
		}
		n++
	}
	return n, nil
}

// rewriteOne runs one RunValueLogGC under an open iterator; done reports
// whether a file was rewritten.
func (e *Engine) rewriteOne() (done bool, err error) {
	txn := e.bdb.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{}) // holds back the deletion
	release := func() {
		it.Close()
		txn.Discard()
	}
	if e.beforeRewrite != nil {
		e.beforeRewrite()
	}
	err = e.bdb.RunValueLogGC(valueLogDiscardRatio)
	if e.afterRewrite != nil {
		e.afterRewrite(err)
	}
	switch {
	case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
		release()
		return false, nil
	case err != nil:
		// Nothing was marked for deletion unless the rewrite finished;
		// make whatever it wrote durable before the file may go.
		if serr := e.sync.wait(); serr != nil {
			e.holdForever(it, txn)
			return false, fmt.Errorf("badgerkv: value log gc: %w (and sync: %w)", mapErr(err), serr)
		}
		release()
		return false, fmt.Errorf("badgerkv: value log gc: %w", mapErr(err))
	}
	if serr := e.sync.wait(); serr != nil {
		e.holdForever(it, txn)
		return false, fmt.Errorf("badgerkv: value log gc: sync of the rewritten values: %w", serr)
	}
	release()
	return true, nil
}

// holdForever keeps the iterator open when the rewritten values could not
// be made durable: the old file then stays until the process ends, and
// Badger's next open reads it again.
func (e *Engine) holdForever(it *badger.Iterator, txn *badger.Txn) {
	e.heldMu.Lock()
	e.held = append(e.held, heldGC{it, txn})
	e.heldMu.Unlock()
}

type heldGC struct {
	it  *badger.Iterator
	txn *badger.Txn
}

// valueLogGCLoop runs GCValueLog every interval until the engine closes.
func (e *Engine) valueLogGCLoop(interval time.Duration) {
	defer close(e.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.gcStop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-e.gcStop:
				cancel()
			case <-ctx.Done():
			}
		}()
		n, err := e.GCValueLog(ctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			e.log.Error("badgerkv: value log gc", "err", err)
		} else if n > 0 {
			e.log.Info("badgerkv: value log gc", "files_rewritten", n)
		}
	}
}

package objects_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/catalog/kv/pgkv"
	"excloud.dev/buckets/chunkstore"
	"excloud.dev/buckets/chunkstore/local"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/objects"
)

// logCount counts records at or above WARN.
type logCount struct {
	mu    sync.Mutex
	warns []string
}

func (h *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCount) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns = append(h.warns, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h *logCount) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCount) WithGroup(string) slog.Handler      { return h }

func (h *logCount) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.warns)
}

func pgCatalog(t *testing.T, url string) *catalog.DB {
	t.Helper()
	e, err := pgkv.Open(context.Background(), url, pgkv.Options{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.OpenEngine(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// While another node is live on the catalog, garbage collection refuses
// to run, with an error saying why, and warns once, not at every attempt;
// when the other node stops, it runs again.
func TestGCRefusedWhileOtherNodesLive(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a := pgCatalog(t, url)
	t.Cleanup(func() { a.Close() })
	b := pgCatalog(t, url)
	bClosed := false
	t.Cleanup(func() {
		if !bClosed {
			b.Close()
		}
	})
	keys, err := chunkstore.DeriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	back, err := local.New(filepath.Join(t.TempDir(), "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(back, keys)
	if err != nil {
		t.Fatal(err)
	}
	// An unreferenced chunk a collection would delete.
	orphan := []byte("orphan chunk")
	if err := store.Put(ctx, store.Sum("o", orphan), orphan); err != nil {
		t.Fatal(err)
	}
	h := &logCount{}
	l := objects.New(a, store, slog.New(h))
	for range 3 {
		st, err := l.GC(ctx)
		if !errors.Is(err, objects.ErrNodesLive) || !strings.Contains(err.Error(), "2 live") {
			t.Fatalf("gc with two nodes live: %+v, %v", st, err)
		}
		if st.Deleted != 0 {
			t.Fatalf("gc refused but deleted %d", st.Deleted)
		}
	}
	if n := h.count(); n != 1 {
		t.Fatalf("%d warnings for three refused collections, want 1: %v", n, h.warns)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	bClosed = true
	st, err := l.GC(ctx)
	if err != nil || st.Deleted != 1 {
		t.Fatalf("gc once node b stopped: %+v, %v", st, err)
	}
}

package badgerkv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"excloud.dev/buckets/internal/fsutil"
)

// Durability is group commit, done here rather than by Badger. Badger's
// SyncWrites fsyncs the write-ahead log once per transaction, one after
// another on its single writer goroutine, so 32 concurrent small PUTs paid 32
// serial fsyncs. Badger now writes without syncing, and a commit that must be
// durable waits for a sync that started after it: whichever waiter finds no
// sync running becomes the leader and syncs for every commit made so far,
// the rest wait for it. One fsync then covers as many commits as arrived
// during the previous one.
//
// Badger writes its log through a shared memory map, so a commit survives a
// crash of this process the moment it returns; the sync is what makes it
// survive a crash of the machine.

// backgroundSync bounds how long a commit made with NoSync stays volatile,
// like ext4's 5 s journal commit; it does nothing while nothing is dirty.
const backgroundSync = time.Second

type syncer struct {
	dir string
	// syncFn makes everything Badger has written so far durable.
	syncFn func() error

	mu      sync.Mutex
	cond    *sync.Cond
	ticket  uint64 // commits registered so far
	synced  uint64 // highest ticket covered by a completed sync
	running bool
	lastErr error  // result of the sync that set synced
	files   string // log file names at the last sync, to notice new ones
	// rotated holds logs that were rotated out and synced since; only the
	// leader touches files and rotated.
	rotated map[string]bool

	stop chan struct{}
	done chan struct{}
}

func newSyncer(dir string, syncFn func() error) *syncer {
	s := &syncer{dir: dir, syncFn: syncFn, rotated: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.background()
	return s
}

// committed records a commit that need not wait; the background sync or
// the next waiter covers it.
func (s *syncer) committed() {
	s.mu.Lock()
	s.ticket++
	s.mu.Unlock()
}

// wait returns once every commit made before the call is durable.
func (s *syncer) wait() error {
	s.mu.Lock()
	s.ticket++
	t := s.ticket
	for {
		if s.synced >= t {
			err := s.lastErr
			s.mu.Unlock()
			return err
		}
		if !s.running {
			break
		}
		s.cond.Wait()
	}
	err := s.lead()
	s.mu.Unlock()
	return err
}

// lead runs one sync covering every ticket issued so far; called and
// returning with s.mu held.
func (s *syncer) lead() error {
	s.running = true
	cover := s.ticket
	s.mu.Unlock()
	err := s.syncAll()
	s.mu.Lock()
	s.running = false
	s.synced, s.lastErr = cover, err
	s.cond.Broadcast()
	return err
}

// syncAll is Badger's Sync plus what it leaves out: Badger syncs only the
// current memtable's log and value log, but a commit may sit in a log that
// was rotated since (an immutable memtable not yet flushed to a table), and
// a freshly created log file needs its directory entry synced. A rotated
// log takes no more writes, so it is synced once.
func (s *syncer) syncAll() error {
	if err := s.syncFn(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	var logs []string
	newest := map[string]string{} // suffix -> newest file, which syncFn covered
	for _, e := range ents {
		n := e.Name()
		for _, suf := range []string{".mem", ".vlog"} {
			if strings.HasSuffix(n, suf) {
				logs = append(logs, n)
				if logNewer(n, newest[suf]) {
					newest[suf] = n
				}
			}
		}
	}
	seen := make(map[string]bool, len(logs))
	for _, n := range logs {
		seen[n] = true
		if n == newest[".mem"] || n == newest[".vlog"] || s.rotated[n] {
			continue
		}
		f, err := os.Open(filepath.Join(s.dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // flushed into a table and removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", n, err)
		}
		s.rotated[n] = true
	}
	for n := range s.rotated {
		if !seen[n] {
			delete(s.rotated, n)
		}
	}
	// os.ReadDir sorts by name, so the same files join to the same string.
	if joined := strings.Join(logs, "/"); joined != s.files {
		if err := fsutil.SyncDir(s.dir); err != nil {
			return fmt.Errorf("sync %s: %w", s.dir, err)
		}
		s.files = joined
	}
	return nil
}

// logNewer compares Badger log names ("00012.mem"): a longer number is
// larger, then bytewise.
func logNewer(a, b string) bool {
	if b == "" {
		return true
	}
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func (s *syncer) background() {
	defer close(s.done)
	t := time.NewTicker(backgroundSync)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.synced < s.ticket && !s.running {
			s.lead()
		}
		s.mu.Unlock()
	}
}

func (s *syncer) close() {
	close(s.stop)
	<-s.done
}

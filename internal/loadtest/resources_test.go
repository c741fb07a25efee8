package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/internal/excdtest"
)

// Tolerances of "back to the baseline". The daemon holds no state per
// connection or per request once a connection is closed, so a leak would
// grow with the tens of thousands of requests or the 200 connections of
// the load, far beyond these. What may legitimately differ by a few: the
// connection of the /metrics scrape itself, go-fuse's pool of request
// readers (it grows with concurrent kernel requests, up to a small fixed
// maximum), and runtime or Badger background goroutines that happen to be
// running at the instant of the sample.
const (
	goroutineSlack = 10
	fdSlack        = 4
)

// fdCounts splits the daemon's descriptors by what they point at. Badger's
// table and value-log files are reported but not held to the baseline:
// the load legitimately makes it flush memtables into new tables. Pipes
// are go-fuse's splice pool: it keeps one pipe pair per FUSE reply that
// was ever in flight at once, so it grows to the peak concurrency of FUSE
// requests and stays there; they are held to that bound (pipeSlack).
type fdCounts struct {
	total, sockets, badger, chunks, pipes, other int
	others                                       string // what the "other" ones are, for the log
}

// held is the count held to the baseline within fdSlack.
func (f fdCounts) held() int { return f.total - f.badger - f.pipes }

func (f fdCounts) String() string {
	return fmt.Sprintf("%d (sockets %d, badger %d, chunk files %d, pipes %d, other %d)",
		f.total, f.sockets, f.badger, f.chunks, f.pipes, f.other)
}

// pipeSlack bounds the splice pool's growth past the baseline: two fds per
// FUSE request that can be in flight at once, which is the kernel's
// max_background (go-fuse's default, 12) plus one synchronous request per
// FUSE worker thread of the test.
func pipeSlack(fuseWorkers int) int { return 2 * (12 + fuseWorkers) }

func countFDs(p *excdtest.Proc, dataDir string) fdCounts {
	dir := fmt.Sprintf("/proc/%d/fd", p.Pid())
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fdCounts{total: -1}
	}
	var c fdCounts
	var others []string
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		c.total++
		switch {
		case strings.HasPrefix(link, "socket:"):
			c.sockets++
		case strings.HasPrefix(link, filepath.Join(dataDir, "catalog")):
			c.badger++
		case strings.HasPrefix(link, filepath.Join(dataDir, "chunks")):
			c.chunks++
		case strings.HasPrefix(link, "pipe:"):
			c.pipes++
		default:
			c.other++
			others = append(others, link)
		}
	}
	slices.Sort(others)
	c.others = strings.Join(others, " ")
	return c
}

type snapshot struct {
	goroutines int
	fds        fdCounts
}

func (s snapshot) String() string {
	return fmt.Sprintf("%d goroutines, %s fds", s.goroutines, s.fds)
}

func take(ctx context.Context, t *testing.T, p *excdtest.Proc, dataDir string) snapshot {
	g, err := p.Metric(ctx, "go_goroutines")
	if err != nil {
		t.Fatalf("read go_goroutines: %v", err)
	}
	return snapshot{goroutines: int(g), fds: countFDs(p, dataDir)}
}

// settle waits until the daemon at rest gives the same counts for two
// seconds (at most 15 s) and returns them as the baseline.
func settle(ctx context.Context, t *testing.T, p *excdtest.Proc, dataDir string) snapshot {
	prev := take(ctx, t, p, dataDir)
	same := 0
	for deadline := time.Now().Add(15 * time.Second); same < 8 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		s := take(ctx, t, p, dataDir)
		if s == prev {
			same++
		} else {
			same, prev = 0, s
		}
	}
	return prev
}

// waitBaseline polls until goroutines and fds are back within the slack
// of base, or until limit.
func waitBaseline(ctx context.Context, t *testing.T, p *excdtest.Proc, dataDir string, base snapshot, fuseWorkers int, limit time.Duration) (snapshot, bool) {
	var s snapshot
	for deadline := time.Now().Add(limit); ; {
		s = take(ctx, t, p, dataDir)
		if s.goroutines <= base.goroutines+goroutineSlack && s.fds.held() <= base.fds.held()+fdSlack &&
			s.fds.pipes <= base.fds.pipes+pipeSlack(fuseWorkers) {
			return s, true
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// peaks are the highest samples the monitor saw.
type peaks struct {
	goroutines, fds int
	rss             int64
}

type monitor struct {
	stop chan struct{}
	done chan peaks
}

// startMonitor samples the daemon's RSS, fds and goroutines every 250 ms.
func startMonitor(ctx context.Context, p *excdtest.Proc) *monitor {
	m := &monitor{stop: make(chan struct{}), done: make(chan peaks, 1)}
	go func() {
		var pk peaks
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			pk.rss = max(pk.rss, p.Status("VmRSS"))
			pk.fds = max(pk.fds, p.FDs())
			if g, err := p.Metric(ctx, "go_goroutines"); err == nil {
				pk.goroutines = max(pk.goroutines, int(g))
			}
			select {
			case <-m.stop:
				m.done <- pk
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *monitor) finish() peaks {
	close(m.stop)
	return <-m.done
}

// checkStore runs the collector once more and a scrub: after the load
// every chunk must be intact and every reference count right.
func checkStore(ctx context.Context, t *testing.T, p *excdtest.Proc) {
	ac := p.AdminClient()
	defer ac.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	gc, err := ac.GC(ctx)
	if err != nil {
		t.Fatalf("gc after load: %v", err)
	}
	sr, err := ac.Scrub(ctx)
	if err != nil {
		t.Fatalf("scrub after load: %v", err)
	}
	t.Logf("after load: gc freed %d chunks (%.1f MiB); scrub: %d chunks (%.1f MiB), %d objects, %d parts, in %.1f s",
		gc.Deleted, mib(gc.BytesFreed), sr.Chunks, mib(sr.ChunkBytes), sr.Objects, sr.Parts, sr.DurationSeconds)
	if sr.Damaged {
		t.Errorf("scrub after load found damage: corrupt %v, missing %v, mismatched counts %v", sr.Corrupt, sr.Missing, sr.Mismatched)
	}
}

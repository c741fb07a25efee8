package crashtest

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// State is one version of a key as a client saw it acknowledged (or sent
// it, for an operation in flight at the kill).
type State struct {
	Absent bool
	Data   Content
	// CType and Meta are checked when set: S3 writes set them; files
	// written through the mount carry the mount's own attributes instead.
	CType string
	Meta  map[string]string
	Op    uint64 // the operation that produced it
	Kind  string
}

var absent = &State{Absent: true, Kind: "absent"}

func (s *State) String() string {
	if s.Absent {
		return "absent"
	}
	return fmt.Sprintf("op %d %s (%v)", s.Op, s.Kind, s.Data)
}

// keyRec is what the record says about one key: its last acknowledged
// state, and the states of an operation in flight when the daemon was
// killed. After a restart the key must be in exactly one of them. One
// worker owns each key, so at most one operation per key is in flight and
// the record needs no lock during a cycle.
type keyRec struct {
	bucket, key string
	mount       string // path through the mount, for keys written there
	cur         *State
	maybe       []*State
	// inflight names the operation of maybe, for the figures.
	inflight string
}

func (k *keyRec) name() string { return k.bucket + "/" + k.key }

// begin records an operation about to be sent: until ack, the key may end
// up in any of next (or stay as it is).
func (k *keyRec) begin(op string, next ...*State) { k.inflight, k.maybe = op, next }

func (k *keyRec) ack(s *State) { k.cur, k.maybe = s, nil }

func (k *keyRec) candidates() []*State {
	out := []*State{k.cur}
	for _, s := range k.maybe {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// partRec is an uploaded part as acknowledged (or in flight).
type partRec struct {
	num  int32
	size int64
	etag string // quoted MD5, computed here
}

// upRec is a multipart upload the record knows: created and acknowledged,
// with its acknowledged parts.
type upRec struct {
	key   *keyRec
	id    string // "" while CreateMultipartUpload has not answered
	seed  uint64
	ctype string
	meta  map[string]string
	op    uint64
	parts []partRec

	// In flight at the kill: at most one of these.
	inflight   *partRec
	completing *State
	aborting   bool
}

// renamePair is a rename through the mount in flight at the kill: after
// the restart either the source still holds moved and the target its old
// state, or the source is gone and the target holds moved. Never both,
// never neither.
type renamePair struct {
	from, to *keyRec
	moved    *State
}

// counters are the run's figures, by name.
type counters struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *counters) add(name string, d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[name] += d
}

func (c *counters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// format lists the counters whose names start with prefix, sorted.
func (c *counters) format(prefix string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	names := slices.Collect(maps.Keys(c.n))
	sort.Strings(names)
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, prefix); ok && c.n[n] != 0 {
			fmt.Fprintf(&b, " %s=%d", rest, c.n[n])
		}
	}
	return strings.TrimSpace(b.String())
}

// sum adds the counters whose names start with prefix.
func (c *counters) sum(prefix string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s int64
	for n, v := range c.n {
		if strings.HasPrefix(n, prefix) {
			s += v
		}
	}
	return s
}

package loadtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts operations by kind with their latencies, and errors by
// class, split into expected ones (caused by the workload itself, such as
// a GET of a key the client deleted) and unexpected ones, any of which
// fails the test. It is safe for concurrent use.
type Stats struct {
	BytesWritten  atomic.Int64 // payload bytes acknowledged by PUT, part upload or FUSE close
	BytesVerified atomic.Int64 // payload bytes read back and compared

	mu         sync.Mutex
	lat        map[string][]time.Duration
	expected   map[string]int64
	unexpected map[string]int64
	firstErrs  []string
}

// maxKeptErrors bounds the error messages kept for the report.
const maxKeptErrors = 20

// Op records one successful (or expectedly failed) operation of kind.
func (s *Stats) Op(kind string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lat == nil {
		s.lat = make(map[string][]time.Duration)
	}
	s.lat[kind] = append(s.lat[kind], d)
}

// Expected counts an error the workload caused on purpose.
func (s *Stats) Expected(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expected == nil {
		s.expected = make(map[string]int64)
	}
	s.expected[class]++
}

// Fail counts an unexpected error and keeps the first messages.
func (s *Stats) Fail(class string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unexpected == nil {
		s.unexpected = make(map[string]int64)
	}
	s.unexpected[class]++
	if len(s.firstErrs) < maxKeptErrors {
		s.firstErrs = append(s.firstErrs, fmt.Sprintf("%s: %v", class, err))
	}
}

// Unexpected is the number of unexpected errors so far.
func (s *Stats) Unexpected() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, v := range s.unexpected {
		n += v
	}
	return n
}

// Errors returns the first unexpected error messages.
func (s *Stats) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.firstErrs)
}

// Total is the number of operations recorded.
func (s *Stats) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lat {
		n += len(l)
	}
	return n
}

// Report is a table of operations (count, p50, p99, max) and errors.
func (s *Stats) Report(elapsed time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	total := 0
	fmt.Fprintf(&b, "%-16s %8s %10s %10s %10s\n", "op", "count", "p50", "p99", "max")
	for _, k := range slices.Sorted(maps.Keys(s.lat)) {
		l := slices.Clone(s.lat[k])
		slices.Sort(l)
		total += len(l)
		fmt.Fprintf(&b, "%-16s %8d %10s %10s %10s\n", k, len(l),
			pct(l, 50), pct(l, 99), l[len(l)-1].Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "total %d ops in %s (%.0f ops/s); %.1f MiB written, %.1f MiB verified\n",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		float64(s.BytesWritten.Load())/(1<<20), float64(s.BytesVerified.Load())/(1<<20))
	for _, k := range slices.Sorted(maps.Keys(s.expected)) {
		fmt.Fprintf(&b, "expected error %-28s %d\n", k, s.expected[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.unexpected)) {
		fmt.Fprintf(&b, "UNEXPECTED error %-26s %d\n", k, s.unexpected[k])
	}
	return b.String()
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(time.Microsecond)
}

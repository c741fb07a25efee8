package pgtest

import "testing"

// Options choose how a server runs. The zero value is the tests' server:
// durability off, since a test's database dies with the test.
type Options struct {
	// Durable runs the server as a production one runs: fsync,
	// synchronous_commit and full_page_writes on (PostgreSQL's defaults),
	// so a commit returns once its WAL is on disk. Benchmarks comparing
	// engines need it: Badger syncs its commits, and a server that does
	// not would be measured without its disk.
	Durable bool
}

// settings are the server's command-line settings for o.
func (o Options) settings() []string {
	if o.Durable {
		return []string{"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"}
	}
	return []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
}

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := StartServerWith(o)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("pgtest: server log (tail):\n%s", s.logTail())
		}
		if err := s.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return s
}

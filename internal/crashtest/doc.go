// Package crashtest owns the crash-safety harness of excloud buckets
// (TestCrash): it runs excd as a child process, drives concurrent writers
// over S3 and through the FUSE mount, kills the daemon with SIGKILL at a
// random moment of each cycle (and sometimes while it starts), restarts it
// on the same data directory and checks what survived against a record of
// acknowledged operations: every acknowledged write present with its bytes
// and metadata, every acknowledged delete gone, an operation in flight at
// the kill either whole or absent, never a mix; after a garbage collection
// no unreferenced chunk file and no missing one. docs/reliability.md, "Crash
// safety", describes it with its figures.
//
// The non-test part is the content model the harness writes and checks:
// bytes generated from seeds, addressable by position, so an object that
// holds a mix of two versions, or a torn write, is told apart from every
// version that was ever written.
//
// Short version (CI; 2 cycles with less data under -race):
//
//	go test ./internal/crashtest
//
// Long version (50 kill cycles; collection and leak check every 10):
//
//	go test ./internal/crashtest -run TestCrash -timeout 30m -v -args -cycles=50
//
// A run prints its seed; -args -seed=N replays the same plan of
// operations, sizes and kill moments (the interleaving of the writers with
// the kill is still up to the scheduler). -args -gcevery=N changes how
// often the leak check runs.
package crashtest

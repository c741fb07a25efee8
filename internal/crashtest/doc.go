// Package crashtest owns the crash-safety harness of excloud buckets: a
// test that runs excd as a child process, drives concurrent writers over S3
// and through the FUSE mount, kills the daemon with SIGKILL at random
// moments, restarts it on the same data directory and checks what survived
// against a record of acknowledged operations (docs/reliability.md, "Crash
// safety").
//
// The non-test part is the content model the harness writes and checks:
// bytes generated from seeds, addressable by position, so an object that
// holds a mix of two versions, or a torn write, is told apart from every
// version that was ever written.
//
// Short version (CI):
//
//	go test ./internal/crashtest
//
// Long version (50 kill cycles, collection and leak check every 10):
//
//	go test ./internal/crashtest -run TestCrash -timeout 60m -args -cycles=50
//
// A run prints its seed; -args -seed=N replays the same plan of
// operations, sizes and kill moments (the interleaving of the writers with
// the kill is still up to the scheduler).
package crashtest

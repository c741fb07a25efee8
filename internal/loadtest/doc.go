// Package loadtest owns the bounded load test of excd (issue 7, "Load"):
// one real excd child process (internal/excdtest) with a FUSE mount and
// /metrics, driven over loopback by many aws-sdk-go-v2 clients doing mixed
// PUT, GET (full and ranged), HEAD, LIST, DELETE and multipart uploads of
// 0 B to 64 MiB, while FUSE workers write, read back, rename and delete
// files in the mount and read objects written over S3. Every byte read is
// checked against content generated from a seed (Payload), so a wrong byte
// anywhere fails the test; every error is classified as expected (a
// NoSuchKey the client caused itself) or not, and any unexpected one fails.
// After the load the daemon's goroutines and file descriptors must return
// to their warmed-up baseline, and its peak RSS is reported and bounded.
//
// Short version (CI; also under -race, then with 40 clients, objects up to
// 8 MiB and 6 s of load):
//
//	go test ./internal/loadtest
//
// Long version, and the flags:
//
//	go test ./internal/loadtest -run TestLoad -count=1 -v -args -duration=60s
//	  -clients=N      S3 client goroutines (200)
//	  -fuse=N         FUSE writers, and as many readers (3)
//	  -max-size=B     largest object in bytes (64 MiB)
//	  -mount=false    no FUSE mount and no FUSE workers, to compare
//	  -rss-limit-mib  bound on the daemon's peak RSS (512)
//
// The non-test files hold the parts that need no daemon: the seeded
// content (payload.go) and the per-operation counters and latencies
// (stats.go). The harness itself is in the _test files; see load_test.go
// for the flags and how to run the long version.
package loadtest

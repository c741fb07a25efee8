// Package bench measures excd from the outside: it builds the daemon, runs it
// as a child process on a loopback port with a temporary data directory, and
// drives it with aws-sdk-go-v2 the way a user's program would. Next to each
// figure it measures the machine's single-core limits in the same run
// (AES-GCM, SHA-256, MD5, CRC64-NVME, and the serial per-byte work of a signed
// PUT), because on shared machines only same-run ratios mean anything.
//
// Nothing here asserts speed. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/
//
// and copy the figures into docs/benchmarks.md.
package bench

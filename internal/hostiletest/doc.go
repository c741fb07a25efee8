// Package hostiletest holds process-level tests of excd against hostile and
// malformed clients: request limits (header size, XML body size, part
// numbers, key length, metadata size), slow-loris clients, clients that
// disconnect mid-upload, and every way a SigV4 signature can be wrong. The
// tests talk raw HTTP (net/http or net.Conn) to a real excd child process
// (internal/excdtest); the package has no non-test code.
//
// Short version: go test ./internal/hostiletest; the slow-client tests give
// excd 1 s header and idle timeouts (--read-header-timeout,
// --io-idle-timeout). Long version, the same tests against the shipped
// 20 s and 2 min (about 3 minutes more):
// go test ./internal/hostiletest -run SlowLoris -count=1 -v -args -long
package hostiletest

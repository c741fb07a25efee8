// Package hostiletest holds process-level tests of excd against hostile and
// malformed clients: request limits (header size, XML body size, part
// numbers, key length, metadata size), slow-loris clients, clients that
// disconnect mid-upload, and every way a SigV4 signature can be wrong. The
// tests talk raw HTTP (net/http or net.Conn) to a real excd child process
// (internal/excdtest) or, where a timeout must be shortened, to an
// in-process daemon; the package has no non-test code.
//
// Short version: go test ./internal/hostiletest. Long version (adds the
// slow-loris test against the real 20 s header timeout of a child excd):
// go test ./internal/hostiletest -args -long.
package hostiletest

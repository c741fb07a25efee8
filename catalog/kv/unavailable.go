package kv

import (
	"errors"
	"io"
	"net"
)

// ErrUnavailable: the engine cannot reach its storage for now (a database
// server stopped, restarting or out of reach). Nothing of the transaction
// took effect, or, for a commit whose answer was lost, the caller cannot
// know: either way it is not acknowledged. Unlike ErrConflict it is not
// retried at once: the caller reports it (S3 503 SlowDown) and the client
// comes back later. Engines may wrap it; Unavailable also recognises the
// transport errors a networked engine returns as they are.
var ErrUnavailable = errors.New("kv: storage unavailable")

// Unavailable reports whether err says the engine's storage could not be
// reached: ErrUnavailable, a network error (a refused or cut connection, a
// unix socket that is gone), a connection that ended mid-answer, or a
// database error of the connection-exception class (SQLSTATE 08xxx) or of
// an operator's intervention (57P01 shutdown, 57P02 crash shutdown, 57P03
// cannot connect now: starting up or shutting down). An embedded engine
// (Badger) returns none of these.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// The concrete types, not the net.Error interface: syscall.Errno
	// satisfies that too, and a disk's ENOSPC is not an outage.
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return true
	}
	// The database driver's errors, recognised by their methods so the
	// contract imports no driver: pgconn.PgError has SQLState; pgconn's
	// transport errors say whether they are safe to retry because nothing
	// reached the server.
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		s := st.SQLState()
		return len(s) == 5 && (s[:2] == "08" || s == "57P01" || s == "57P02" || s == "57P03")
	}
	var rt interface{ SafeToRetry() bool }
	if errors.As(err, &rt) && rt.SafeToRetry() {
		return true
	}
	return false
}

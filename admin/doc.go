// Package admin owns excd's administration API: versioned JSON over HTTP/1.1
// on a unix socket, the server that maps it onto the catalog, and the typed
// client that cmd/exc uses.
//
// The socket is the whole access control: it is created mode 0600 (only the
// daemon's user may connect), and every accepted connection is checked once
// more with SO_PEERCRED, so a socket whose mode was loosened by hand still
// answers only root and the daemon's own uid. The daemon stays the only
// process that opens Badger; exc never touches the data directory.
//
// Routes live under /v1/; a change that breaks a client gets /v2/. Fields are
// snake_case. Errors are {"error": {"code": "...", "message": "..."}} with an
// HTTP status that matches the code (see codes.go). An access key's secret is
// in exactly one response, the one that creates the key, and never in a log.
package admin

// Package web holds the console's browser application. This is a
// placeholder so the server builds and its tests run; the frontend
// (branch consoleweb) replaces the whole package.
package web

import "embed"

// FS holds the application's files at its top level; index.html is the
// page served at "/".
//
//go:embed index.html
var FS embed.FS

// Package web holds the console's browser application: one HTML page, its
// stylesheet and plain JavaScript modules, embedded so excd serves them
// with nothing else installed and no network. There is no build step: the
// files here are what the browser runs.
//
// The page obeys the console's Content-Security-Policy (default-src
// 'self', no 'unsafe-inline'): no inline script, no inline event handler,
// no style attribute in the HTML. Object data is only ever put into the
// page as text (textContent) or as an <img> source, never as markup.
package web

import "embed"

// FS holds index.html, app.css, the icons (*.svg) and the JavaScript
// modules (*.js), all at the top level.
//
//go:embed index.html app.css *.svg *.js
var FS embed.FS

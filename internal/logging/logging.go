// Package logging builds the slog handlers excd logs through, so that every
// record has the same shape whichever part of the daemon wrote it.
//
// Decisions:
//   - A time.Duration is written as seconds, a float, under its own key
//     ("duration":0.075253, "gc_interval":600). slog's default is integer
//     nanoseconds in JSON, which reads as a count, and a Go duration string
//     in text; seconds are what Prometheus and most log tooling expect, and
//     keeping the key means no call site has to know about the rule.
//   - The rule applies in text and JSON alike, so a value an operator sees
//     on a terminal is the value a jq filter on the journal compares with.
package logging

import (
	"io"
	"log/slog"
)

// ReplaceAttr is the slog.HandlerOptions.ReplaceAttr of excd's handlers:
// durations become float seconds; everything else passes unchanged.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// Options are the handler options for level.
func Options(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: ReplaceAttr}
}

// NewJSONHandler is the handler for the journal and anything that parses
// the log: one JSON object per line.
func NewJSONHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, Options(level))
}

// NewTextHandler is the handler for a person at a terminal.
func NewTextHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, Options(level))
}

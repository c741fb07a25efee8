package excdtest_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"excloud.dev/buckets/internal/excdtest"
)

// LogRecord reads back what slog's JSON and text handlers write, quoted
// values, spaces and '=' included; other lines are not records.
func TestLogRecordBothFormats(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&b, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&b, nil)
		}
		slog.New(h).Error("exiting on error", "err", errors.New(`listen tcp 127.0.0.1:9: bind: "address" in use a=b`), "exit_code", 1)
		slog.New(h).Info("S3 endpoint", "url", "http://127.0.0.1:1234")
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		a, ok := excdtest.LogRecord(lines[0])
		if !ok || a["level"] != "ERROR" || a["msg"] != "exiting on error" || a["exit_code"] != "1" ||
			a["err"] != `listen tcp 127.0.0.1:9: bind: "address" in use a=b` {
			t.Errorf("%s: %q parsed as %v, %v", format, lines[0], a, ok)
		}
		if u, ok := excdtest.LogValue(lines[1], "S3 endpoint", "url"); !ok || u != "http://127.0.0.1:1234" {
			t.Errorf("%s: %q: url %q, %v", format, lines[1], u, ok)
		}
		if _, ok := excdtest.LogValue(lines[1], "metrics endpoint", "url"); ok {
			t.Errorf("%s: matched another message", format)
		}
	}
	for _, l := range []string{"excd: S3 endpoint http://x", "WARNING: DATA RACE", "panic: boom", "{not json", ""} {
		if a, ok := excdtest.LogRecord(l); ok {
			t.Errorf("%q parsed as a record: %v", l, a)
		}
	}
}

package objects

import (
	"context"

	"excloud.dev/buckets/catalog"
)

// SetBeforeCommit installs a hook that runs between durable chunks and the
// catalog commit, so tests can crash a writer at that moment.
func SetBeforeCommit(l *Layer, f func()) { l.beforeCommit = f }

// ScanMarks runs the layer's part of a node's scan, as its heartbeat does.
func ScanMarks(l *Layer, marks []catalog.GCMark) ([]catalog.GCMark, error) {
	return l.pins.Scan(context.Background(), marks)
}

package crashtest

import (
	"bytes"
	"strings"
	"sync"
)

// daemonLog watches the daemons' logs: a race report (the race-built excd
// keeps running after one, and a killed one never reaches the exit status
// that would tell), a panic, or a reference count clamped below zero is a
// failure the checks over S3 might not see. Error lines are counted and the
// first few kept for the report.
type daemonLog struct {
	mu      sync.Mutex
	line    bytes.Buffer
	fatal   []string // race reports, panics, clamped counts
	errors  int
	samples []string
	tail    []string
}

func (l *daemonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range p {
		if b != '\n' {
			l.line.WriteByte(b)
			continue
		}
		l.handle(l.line.String())
		l.line.Reset()
	}
	return len(p), nil
}

func (l *daemonLog) handle(s string) {
	l.tail = append(l.tail, s)
	if len(l.tail) > 40 {
		l.tail = l.tail[1:]
	}
	switch {
	case strings.Contains(s, "WARNING: DATA RACE"), strings.HasPrefix(s, "panic:"),
		strings.HasPrefix(s, "fatal error:"), strings.Contains(s, "below zero"):
		l.fatal = append(l.fatal, s)
	case strings.Contains(s, "level=ERROR"):
		l.errors++
		if len(l.samples) < 5 {
			l.samples = append(l.samples, s)
		}
	}
}

// take returns the fatal lines seen since the last call, with the log's
// tail for context.
func (l *daemonLog) take() (fatal []string, tail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fatal, l.fatal = l.fatal, nil
	return fatal, strings.Join(l.tail, "\n")
}

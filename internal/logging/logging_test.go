package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// durationValuer resolves to a duration only when the handler asks, the
// way a lazily computed attribute does.
type durationValuer time.Duration

func (d durationValuer) LogValue() slog.Value { return slog.DurationValue(time.Duration(d)) }

func TestJSONHandlerDurations(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		path []string // where the value is in the record
		want any      // as encoding/json decodes it
	}{
		{"request duration", func(l *slog.Logger) { l.Info("m", "duration", 75253*time.Nanosecond) },
			[]string{"duration"}, 0.000075253},
		{"gc interval", func(l *slog.Logger) { l.Info("m", "gc_interval", 10*time.Minute) },
			[]string{"gc_interval"}, 600.0},
		{"zero", func(l *slog.Logger) { l.Info("m", "wait", time.Duration(0)) },
			[]string{"wait"}, 0.0},
		{"negative", func(l *slog.Logger) { l.Info("m", "skew", -1500*time.Millisecond) },
			[]string{"skew"}, -1.5},
		{"typed attr", func(l *slog.Logger) { l.Info("m", slog.Duration("timeout", 30*time.Second)) },
			[]string{"timeout"}, 30.0},
		{"slog.Any", func(l *slog.Logger) { l.Info("m", slog.Any("timeout", 2*time.Second)) },
			[]string{"timeout"}, 2.0},
		{"LogValuer", func(l *slog.Logger) { l.Info("m", "lazy", durationValuer(250*time.Millisecond)) },
			[]string{"lazy"}, 0.25},
		{"inside slog.Group", func(l *slog.Logger) { l.Info("m", slog.Group("gc", "took", 3*time.Second)) },
			[]string{"gc", "took"}, 3.0},
		{"under WithGroup", func(l *slog.Logger) { l.WithGroup("req").Info("m", "duration", time.Millisecond) },
			[]string{"req", "duration"}, 0.001},
		{"from With", func(l *slog.Logger) { l.With("interval", time.Hour).Info("m") },
			[]string{"interval"}, 3600.0},
		{"integers stay integers", func(l *slog.Logger) { l.Info("m", "bytes", int64(600000000000)) },
			[]string{"bytes"}, 600000000000.0},
		{"strings stay strings", func(l *slog.Logger) { l.Info("m", "gc_interval", "10m0s") },
			[]string{"gc_interval"}, "10m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewJSONHandler(&buf, slog.LevelInfo)))
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
			}
			var v any = rec
			for _, k := range tc.path {
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("%q: no object at %v", buf.String(), tc.path)
				}
				v = m[k]
			}
			if v != tc.want {
				t.Errorf("%s = %#v, want %#v (line %s)", strings.Join(tc.path, "."), v, tc.want, buf.String())
			}
		})
	}
}

// The text handler, for a person at a terminal, writes the same numbers.
func TestTextHandlerDurations(t *testing.T) {
	var buf bytes.Buffer
	slog.New(NewTextHandler(&buf, slog.LevelInfo)).Info("s3 request", "duration", 1500*time.Millisecond, "gc_interval", 10*time.Minute)
	for _, want := range []string{"duration=1.5 ", "gc_interval=600\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%q lacks %q", buf.String(), want)
		}
	}
}

// The level is the one passed, and it stays live (SIGHUP changes it).
func TestHandlerLevel(t *testing.T) {
	var buf bytes.Buffer
	level := new(slog.LevelVar)
	level.Set(slog.LevelInfo)
	l := slog.New(NewJSONHandler(&buf, level))
	l.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug record at info level: %s", buf.String())
	}
	level.Set(slog.LevelDebug)
	l.Debug("shown")
	if !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Fatalf("debug record missing after the level changed: %q", buf.String())
	}
}

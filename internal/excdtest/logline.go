package excdtest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// LogRecord parses one line of excd's log, in either format
// (--log-format json or text), into its attributes; time, level and msg
// included. ok is false for a line that is not a log record (a race
// report, a panic).
func LogRecord(line string) (attrs map[string]string, ok bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "{") {
		var raw map[string]any
		if json.Unmarshal([]byte(line), &raw) != nil {
			return nil, false
		}
		attrs = make(map[string]string, len(raw))
		for k, v := range raw {
			if s, isStr := v.(string); isStr {
				attrs[k] = s
			} else {
				b, _ := json.Marshal(v)
				attrs[k] = string(b)
			}
		}
		return attrs, attrs["msg"] != "" && attrs["level"] != ""
	}
	// slog's text format: key=value pairs, a value quoted (strconv.Quote)
	// when it holds a space, a quote or '='.
	attrs = map[string]string{}
	for line != "" {
		eq := strings.IndexByte(line, '=')
		if eq <= 0 || strings.ContainsAny(line[:eq], " \"") {
			return nil, false
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, false
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		attrs[key] = val
		line = strings.TrimLeft(rest, " ")
	}
	return attrs, attrs["msg"] != "" && attrs["level"] != ""
}

// LogValue returns attribute key of the record with message msg in line.
func LogValue(line, msg, key string) (string, bool) {
	a, ok := LogRecord(line)
	if !ok || a["msg"] != msg {
		return "", false
	}
	v, ok := a[key]
	return v, ok
}

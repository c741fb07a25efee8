// Package inifile edits INI files that belong to the user (the AWS CLI's
// config and credentials, rclone.conf, .s3cfg) textually and minimally:
// only the lines of the settings being written change, and every other
// byte, comments included, is kept. Writing the files is the callers' job.
package inifile

import (
	"bytes"
	"strings"
)

// SetSection returns content with section [header] holding exactly body
// (lines ending in "\n"). Everything outside that section is kept byte for
// byte.
//
// A section runs from its header line to the next header. Comments and
// blank lines at the end of that range usually introduce the next section
// ("# work account" above [profile work]), so they are kept; what is
// replaced is the header through the section's last setting line. Headers
// match after trimming spaces inside and around the brackets. If the section
// occurs more than once, the first occurrence is replaced and later ones
// removed, so the written values are the ones that count whichever way a
// reader resolves duplicates. A missing section is appended, after a blank
// line.
func SetSection(content []byte, header, body string) []byte {
	lines := splitLines(content)
	section := "[" + header + "]\n" + body
	var out bytes.Buffer
	written := false
	for i := 0; i < len(lines); {
		if name, ok := headerName(lines[i]); !ok || name != normalize(header) {
			out.WriteString(lines[i])
			i++
			continue
		}
		// lines[i] is our header: find the end of its settings.
		end := i + 1 // one past the last setting line
		j := i + 1
		for ; j < len(lines); j++ {
			if _, ok := headerName(lines[j]); ok {
				break
			}
			if !isBlankOrComment(lines[j]) {
				end = j + 1
			}
		}
		if !written {
			out.WriteString(section)
			written = true
		}
		i = end
	}
	if written {
		return out.Bytes()
	}
	if out.Len() > 0 {
		if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		if !bytes.HasSuffix(out.Bytes(), []byte("\n\n")) {
			out.WriteByte('\n')
		}
	}
	out.WriteString(section)
	return out.Bytes()
}

// SetKeys returns content with each of settings set in section [header]:
// an existing "key = value" line is replaced where it stands (later
// duplicates dropped, so the written value counts), missing keys are added
// after the section's last setting, and a missing section is appended.
// Every other line is kept byte for byte. Unlike SetSection it
// keeps the section's other settings, for files with one shared section
// such as s3cmd's.
func SetKeys(content []byte, header string, settings [][2]string) []byte {
	lines := splitLines(content)
	want := make(map[string]string, len(settings))
	for _, kv := range settings {
		want[kv[0]] = kv[1]
	}
	done := make(map[string]bool, len(settings))
	missing := func() string {
		var b strings.Builder
		for _, kv := range settings {
			if !done[kv[0]] {
				b.WriteString(kv[0] + " = " + kv[1] + "\n")
				done[kv[0]] = true
			}
		}
		return b.String()
	}

	var out bytes.Buffer
	found := false
	for i := 0; i < len(lines); i++ {
		name, ok := headerName(lines[i])
		if !ok || found || name != normalize(header) {
			out.WriteString(lines[i])
			continue
		}
		found = true
		out.WriteString(ensureNewline(lines[i]))
		// The section runs to the next header; settings missing from it go
		// after its last setting line, before comments that introduce the
		// next section.
		end := i + 1
		j := i + 1
		for ; j < len(lines); j++ {
			if _, ok := headerName(lines[j]); ok {
				break
			}
			if !isBlankOrComment(lines[j]) {
				end = j + 1
			}
		}
		for k := i + 1; k < j; k++ {
			if k == end {
				out.WriteString(missing())
			}
			key := settingKey(lines[k])
			v, ours := want[key]
			switch {
			case !ours:
				out.WriteString(ensureNewline(lines[k]))
			case !done[key]:
				out.WriteString(key + " = " + v + "\n")
				done[key] = true
			}
		}
		if end == j {
			out.WriteString(missing())
		}
		i = j - 1
	}
	if found {
		return out.Bytes()
	}
	if out.Len() > 0 {
		if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		if !bytes.HasSuffix(out.Bytes(), []byte("\n\n")) {
			out.WriteByte('\n')
		}
	}
	out.WriteString("[" + header + "]\n" + missing())
	return out.Bytes()
}

// settingKey is the key of a "key = value" line, "" for anything else.
func settingKey(line string) string {
	if isBlankOrComment(line) {
		return ""
	}
	k, _, ok := strings.Cut(line, "=")
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// splitLines splits after each "\n", keeping it; a last line without one is
// kept as is.
func splitLines(b []byte) []string {
	var lines []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, string(b))
			break
		}
		lines = append(lines, string(b[:i+1]))
		b = b[i+1:]
	}
	return lines
}

// headerName reports whether line is a section header, and its normalized
// name. A comment after the closing bracket is allowed.
func headerName(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "[") {
		return "", false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return "", false
	}
	return normalize(t[1:end]), true
}

// normalize trims a header name and collapses inner runs of spaces, so
// "[ profile  x ]" and "[profile x]" are the same section.
func normalize(name string) string { return strings.Join(strings.Fields(name), " ") }

func isBlankOrComment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || t[0] == '#' || t[0] == ';'
}

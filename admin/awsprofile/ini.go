package awsprofile

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

package inifile_test

import (
	"testing"

	"excloud.dev/buckets/admin/inifile"
)

func TestSetSection(t *testing.T) {
	body := "a = 1\nb = 2\n"
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "[x]\na = 1\nb = 2\n"},
		{"append after text without newline", "[y]\nk = v", "[y]\nk = v\n\n[x]\na = 1\nb = 2\n"},
		{"append after blank line", "[y]\nk = v\n\n", "[y]\nk = v\n\n[x]\na = 1\nb = 2\n"},
		{"replace middle, keep comment of next", "[y]\n[x]\nold = 1\n\n# about z\n[z]\n", "[y]\n[x]\na = 1\nb = 2\n\n# about z\n[z]\n"},
		{"replace last without newline", "[x]\nold = 1", "[x]\na = 1\nb = 2\n"},
		{"spaced header", "[ x ]  # mine\nold = 1\n[z]\n", "[x]\na = 1\nb = 2\n[z]\n"},
		{"duplicates collapse", "[x]\nold = 1\n[z]\nq = 1\n[x]\nold = 2\n", "[x]\na = 1\nb = 2\n[z]\nq = 1\n"},
		{"prefix name is another section", "[xx]\nk = v\n", "[xx]\nk = v\n\n[x]\na = 1\nb = 2\n"},
	} {
		if got := string(inifile.SetSection([]byte(tt.in), "x", body)); got != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestSetKeys(t *testing.T) {
	set := [][2]string{{"a", "1"}, {"b", "2"}}
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "[default]\na = 1\nb = 2\n"},
		{"other section only", "[x]\nk = v", "[x]\nk = v\n\n[default]\na = 1\nb = 2\n"},
		{"replace in place, keep others", "[default]\nkeep = 1\nb = old\n", "[default]\nkeep = 1\nb = 2\na = 1\n"},
		{"duplicates dropped", "[default]\na = x\na = y\nb=z\n", "[default]\na = 1\nb = 2\n"},
		{"missing go before the next section's comment", "[default]\nz = 1\n\n# next\n[x]\na = untouched\n",
			"[default]\nz = 1\na = 1\nb = 2\n\n# next\n[x]\na = untouched\n"},
		{"header without newline", "[default]", "[default]\na = 1\nb = 2\n"},
		{"last line without newline", "[default]\nz = 1", "[default]\nz = 1\na = 1\nb = 2\n"},
		{"comments kept", "# top\n[default]\n# about a\na = 0\n", "# top\n[default]\n# about a\na = 1\nb = 2\n"},
		{"spaced header", "[ default ]\na = 0\n", "[ default ]\na = 1\nb = 2\n"},
	} {
		if got := string(inifile.SetKeys([]byte(tt.in), "default", set)); got != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

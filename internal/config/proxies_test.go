package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// trusted_proxies takes addresses and CIDRs from the file, the environment
// (comma-separated) and the flag (repeated or comma-separated), with the
// usual precedence, and prints back what it parsed.
func TestTrustedProxies(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []netip.Prefix
	}{
		{"default", "", nil, nil, nil},
		{"file", `trusted_proxies = ["10.1.2.3", "192.168.0.0/16", "::1"]`, nil, nil,
			pfx("10.1.2.3/32", "192.168.0.0/16", "::1/128")},
		{"env over file", `trusted_proxies = ["10.1.2.3"]`, map[string]string{"EXC_TRUSTED_PROXIES": "172.16.0.0/12, fd00::/8"}, nil,
			pfx("172.16.0.0/12", "fd00::/8")},
		{"flag over env", "", map[string]string{"EXC_TRUSTED_PROXIES": "172.16.0.0/12"},
			[]string{"--trusted-proxies", "127.0.0.1", "--trusted-proxies", "10.0.0.0/8,10.9.9.9"},
			pfx("127.0.0.1/32", "10.0.0.0/8", "10.9.9.9/32")},
		{"host bits dropped", `trusted_proxies = ["10.1.2.3/8"]`, nil, nil, pfx("10.0.0.0/8")},
		{"v4-mapped address", `trusted_proxies = ["::ffff:10.0.0.1"]`, nil, nil, pfx("10.0.0.1/32")},
		{"empty list", `trusted_proxies = []`, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.file, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.TrustedProxies, tc.want) {
				t.Fatalf("got %v, want %v", c.TrustedProxies, tc.want)
			}
		})
	}

	c, err := load(t, `trusted_proxies = ["10.0.0.0/8", "10.9.9.9"]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.WriteTOML(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `trusted_proxies = ["10.0.0.0/8", "10.9.9.9"]`+"\n") {
		t.Errorf("print-config:\n%s", out.String())
	}
}

func TestTrustedProxiesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string
	}{
		{"host name in file", `trusted_proxies = ["proxy.example.com"]`, nil, nil, []string{`key "trusted_proxies"`, "proxy.example.com"}},
		{"bad CIDR in env", "", map[string]string{"EXC_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, []string{"EXC_TRUSTED_PROXIES", "10.0.0.0/33"}},
		{"bad flag", "", nil, []string{"--trusted-proxies", "10.0.0"}, []string{"trusted-proxies", "10.0.0"}},
		{"string, not array", `trusted_proxies = "10.0.0.1"`, nil, nil, []string{`key "trusted_proxies"`, "array"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.env, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

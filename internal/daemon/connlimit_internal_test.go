package daemon

import (
	"net"
	"testing"
)

// One IPv4 address is one source; an IPv6 client usually holds a whole /64,
// so that is one source too.
func TestSourceOf(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4000":               "192.0.2.7",
		"[::ffff:192.0.2.7]:4000":      "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:4000":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::ff]:4001": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:4000":       "2001:db8:1:3::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceOf(a); got != want {
			t.Errorf("sourceOf(%s) = %s, want %s", addr, got, want)
		}
	}
}

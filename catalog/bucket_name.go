package catalog

import (
	"errors"
	"strings"
)

// ValidBucketName applies S3's general-purpose bucket naming rules: 3–63
// characters of lowercase letters, digits, '-' and '.', starting and ending
// with a letter or digit, no "..", not shaped like an IPv4 address, and none
// of the prefixes and suffixes AWS reserves. Keeping to AWS's rules means a
// bucket created here can be mirrored to AWS under the same name. The S3
// gateway, the admin API and the FUSE mount all create buckets, and all
// check names with this one rule. Names that pass are valid DNS labels and
// safe in a URL path.
func ValidBucketName(name string) error {
	if n := len(name); n < 3 || n > 63 {
		return errors.New("bucket names must be between 3 and 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return errors.New("bucket names may contain only lowercase letters, digits, '-' and '.'")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return errors.New("bucket names must begin and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return errors.New("bucket names must not contain two adjacent periods")
	}
	// Each dot-separated label must itself begin and end with a letter or
	// digit (a DNS label rule S3 enforces): "a-.b" and "a.-b" are refused.
	if strings.Contains(name, "-.") || strings.Contains(name, ".-") {
		return errors.New("bucket names must not contain a period next to a hyphen")
	}
	if ipShaped(name) {
		return errors.New("bucket names must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return errors.New("bucket names must not start with " + p)
		}
	}
	for _, sfx := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, sfx) {
			return errors.New("bucket names must not end with " + sfx)
		}
	}
	return nil
}

// ipShaped reports four dot-separated runs of digits: "formatted as an IP
// address" in AWS's words. net.ParseIP is not the test: it refuses leading
// zeros ("10.0.00.1"), which are still IP-shaped and which AWS refuses.
func ipShaped(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

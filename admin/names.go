package admin

import (
	"fmt"
	"net/netip"

	"excloud.dev/buckets/catalog"
)

// ValidBucketName checks name against S3's rules for general-purpose
// buckets: 3–63 characters of lowercase letters, digits, '-' and '.',
// starting and ending with a letter or digit, no "..", not shaped like an
// IPv4 address. Names that pass are valid DNS labels (so virtual-host and
// public-bucket URLs can carry them) and safe in a URL path.
func ValidBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q: must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(name)-1 {
				return fmt.Errorf("bucket name %q: must start and end with a lowercase letter or digit", name)
			}
			if c == '.' && name[i-1] == '.' {
				return fmt.Errorf("bucket name %q: must not contain \"..\"", name)
			}
		default:
			return fmt.Errorf("bucket name %q: only lowercase letters, digits, '-' and '.' are allowed", name)
		}
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return fmt.Errorf("bucket name %q: must not be an IPv4 address", name)
	}
	return nil
}

// ValidOrgName checks an org name: 1–63 characters of letters, digits, '-',
// '_' and '.', starting with a letter or digit, and not shaped like an org
// id. The catalog looks an org up by id first and by name second, so a name
// that could be an id would be ambiguous; the character set keeps names
// usable unquoted in a URL path and a shell.
func ValidOrgName(name string) error {
	if len(name) < 1 || len(name) > 63 {
		return fmt.Errorf("org name %q: must be 1 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("org name %q: only letters, digits, '-', '_' and '.' are allowed, starting with a letter or digit", name)
		}
	}
	if catalog.ValidOrgID(name) {
		return fmt.Errorf("org name %q: has the shape of an org id (o + 12 base32 characters)", name)
	}
	return nil
}

package admin

import (
	"fmt"

	"excloud.dev/buckets/catalog"
)

// ValidBucketName checks a bucket name with the rule every door applies
// (catalog.ValidBucketName), naming the bucket in the error.
func ValidBucketName(name string) error {
	if err := catalog.ValidBucketName(name); err != nil {
		return fmt.Errorf("bucket name %q: %w", name, err)
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

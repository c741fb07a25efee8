package objects

import (
	"errors"
	"fmt"

	"excloud.dev/buckets/catalog"
)

// The metadata limits, one rule for both front doors: Put, Copy with
// ReplaceMeta, CreateMultipart and SetMeta are held to it here, so an S3
// client and a process setting xattrs on the mount meet the same bound,
// and a HEAD response stays a few KiB. A FileWriter's commit is not
// checked: refusing it would lose the file's data for a metadata excess,
// so the mount applies CheckUserMetaEdit when an xattr is set, before the
// session takes the metadata.
//
// User metadata is what S3 calls user-defined metadata: x-amz-meta-* over
// S3, user.* xattrs and the POSIX attribute keys (mode, uid, gid, mtime)
// on the mount. S3 limits it to 2 KB, measured as the UTF-8 bytes of every
// name (without the x-amz-meta- prefix) and value; MaxUserMeta is that
// rule. S3 does not count the standard headers it stores (Content-Type,
// Content-Encoding, Content-Disposition, Content-Language, Cache-Control,
// Expires) in those 2 KB; only its 8 KB limit on a PUT's request headers
// bounds them. Here they get a budget of their own, MaxHeaderMeta, so
// that an S3 client sees MetadataTooLarge exactly where S3 would show it
// for user metadata, and nothing stored is unbounded.
const (
	// MaxUserMeta bounds the user metadata: names plus values, in bytes.
	MaxUserMeta = 2 << 10
	// MaxHeaderMeta bounds the stored standard headers' values, in bytes.
	MaxHeaderMeta = 2 << 10
)

// ErrMetadataTooLarge: the metadata to store exceeds MaxUserMeta or
// MaxHeaderMeta. Nothing was stored.
var ErrMetadataTooLarge = errors.New("metadata too large")

// UserMetaSize is the size MaxUserMeta limits: the bytes of every name
// and value.
func UserMetaSize(meta map[string]string) int {
	n := 0
	for k, v := range meta {
		n += len(k) + len(v)
	}
	return n
}

// HeaderMetaSize is the size MaxHeaderMeta limits: the bytes of the
// standard header values m stores.
func HeaderMetaSize(m *catalog.Manifest) int {
	return len(m.ContentType) + len(m.ContentEncoding) + len(m.ContentDisposition) +
		len(m.ContentLanguage) + len(m.CacheControl) + len(m.Expires)
}

// CheckUserMeta reports whether meta fits MaxUserMeta; the error wraps
// ErrMetadataTooLarge.
func CheckUserMeta(meta map[string]string) error {
	if n := UserMetaSize(meta); n > MaxUserMeta {
		return fmt.Errorf("%w: user metadata is %d bytes, the limit is %d", ErrMetadataTooLarge, n, MaxUserMeta)
	}
	return nil
}

// CheckMeta reports whether the caller-settable metadata of m (user
// metadata and standard headers) fits the limits; the error wraps
// ErrMetadataTooLarge.
func CheckMeta(m *catalog.Manifest) error {
	if err := CheckUserMeta(m.Meta); err != nil {
		return err
	}
	if n := HeaderMetaSize(m); n > MaxHeaderMeta {
		return fmt.Errorf("%w: the standard headers stored are %d bytes, the limit is %d", ErrMetadataTooLarge, n, MaxHeaderMeta)
	}
	return nil
}

// CheckUserMetaEdit is CheckUserMeta for replacing an existing object's
// user metadata old with meta: an object stored before the limit may keep
// more, so edits that do not grow it (removing an xattr, say) succeed.
func CheckUserMetaEdit(old, meta map[string]string) error {
	if UserMetaSize(meta) <= UserMetaSize(old) {
		return nil
	}
	return CheckUserMeta(meta)
}

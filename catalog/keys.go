package catalog

import (
	"encoding/binary"
	"strings"
)

// Key layout: docs/format.md, section "Catalog keys". Every Badger key starts
// with one prefix byte naming its record type; multi-byte integers are
// big-endian so that Badger's bytewise order is numeric order. Org ids have a
// fixed length (orgIDLen), so an org id followed directly by a name or key id
// needs no separator.
const (
	prefixMeta        byte = 0x00 // 0x00 || name                        → meta value
	prefixOrg         byte = 'o'  // 'o' || orgID                         → org record
	prefixOrgName     byte = 'n'  // 'n' || name                          → orgID
	prefixAccessKey   byte = 'k'  // 'k' || keyID                         → access key record
	prefixOrgKey      byte = 'K'  // 'K' || orgID || keyID                → empty (index)
	prefixBucket      byte = 'b'  // 'b' || orgID || name                 → bucket record
	prefixObject      byte = 'm'  // 'm' || u64be(bucketID) || key        → manifest
	prefixUpload      byte = 'U'  // 'U' || u64be(bucketID) || uploadID   → upload record
	prefixUploadByKey byte = 'u'  // 'u' || u64be(bucketID) || esc(key) || uploadID → empty (index)
	prefixPart        byte = 'p'  // 'p' || u64be(bucketID) || uploadID || u32be(part) → part record
	prefixRef         byte = 'r'  // 'r' || chunkID(32)                   → i64be(count)
)

// Meta keys, under prefixMeta.
var (
	keyFormat     = []byte{prefixMeta, 'f', 'o', 'r', 'm', 'a', 't'}                     // → u32be(FormatVersion)
	keyBucketSeq  = []byte{prefixMeta, 'b', 'u', 'c', 'k', 'e', 't', '-', 's', 'e', 'q'} // → u64be(last bucket id)
	keyDefaultOrg = append([]byte{prefixMeta}, "default-org"...)                         // → orgID, or empty: none
)

// FormatVersion is the catalog format this package writes (docs/format.md,
// "Catalog format version"). Open also reads version 1, a catalog from
// before object bodies (body.go), and marks it version 2 as it opens it, so
// a build that knows only version 1 refuses it instead of meeting a
// manifest with a body id; it refuses every other version.
const FormatVersion uint32 = 2

// formatV1 is the version before object bodies: every value it holds is
// also a version 2 value.
const formatV1 uint32 = 1

const (
	orgIDLen    = 13 // "o" + 12 base32 characters
	uploadIDLen = 32 // 32 lowercase hex digits
)

func orgKey(orgID string) []byte { return catKey(prefixOrg, orgID) }

func orgNameKey(name string) []byte { return catKey(prefixOrgName, name) }

func accessKeyKey(id string) []byte { return catKey(prefixAccessKey, id) }

func orgKeyIndex(orgID, keyID string) []byte { return catKey(prefixOrgKey, orgID, keyID) }

func bucketKey(orgID, name string) []byte { return catKey(prefixBucket, orgID, name) }

func catKey(prefix byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// bucketPrefix is prefix || u64be(bucketID), the start of every object,
// upload and part key of one bucket.
func bucketPrefix(prefix byte, bucketID uint64, extra int) []byte {
	k := make([]byte, 9, 9+extra)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], bucketID)
	return k
}

func objectKey(bucketID uint64, key string) []byte {
	return append(bucketPrefix(prefixObject, bucketID, len(key)), key...)
}

func uploadKey(bucketID uint64, uploadID string) []byte {
	return append(bucketPrefix(prefixUpload, bucketID, len(uploadID)), uploadID...)
}

func uploadIndexKey(bucketID uint64, key, uploadID string) []byte {
	k := bucketPrefix(prefixUploadByKey, bucketID, len(key)+2+len(uploadID))
	k = appendEscaped(k, key)
	k = append(k, 0x00, 0x01)
	return append(k, uploadID...)
}

func partPrefix(bucketID uint64, uploadID string) []byte {
	return append(bucketPrefix(prefixPart, bucketID, len(uploadID)+4), uploadID...)
}

func partKey(bucketID uint64, uploadID string, number int) []byte {
	return binary.BigEndian.AppendUint32(partPrefix(bucketID, uploadID), uint32(number))
}

func refKey(id [32]byte) []byte {
	k := make([]byte, 1, 33)
	k[0] = prefixRef
	return append(k, id[:]...)
}

// appendEscaped appends key with every 0x00 byte written as 0x00 0xFF. With
// the terminator 0x00 0x01 after it, escaped keys sort exactly as the raw keys
// do, and a key's uploads stay contiguous even when one key is a prefix of
// another (esc(k) || 0x00 0x01 < esc(k || x) for every x).
func appendEscaped(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		dst = append(dst, key[i])
		if key[i] == 0x00 {
			dst = append(dst, 0xFF)
		}
	}
	return dst
}

// splitEscaped undoes appendEscaped on b, which must hold the escaped key, the
// terminator and then rest; it returns the key and rest.
func splitEscaped(b []byte) (key string, rest []byte, ok bool) {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] != 0x00 {
			sb.WriteByte(b[i])
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case 0xFF:
			sb.WriteByte(0x00)
			i++
		case 0x01:
			return sb.String(), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// successor returns the smallest byte string greater than every string that
// has p as a prefix, or nil if there is none (p is empty or all 0xFF).
func successor(p []byte) []byte {
	s := append([]byte(nil), p...)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xFF {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

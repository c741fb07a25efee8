package catalog

import (
	"time"

	"excloud.dev/buckets/chunkstore"
)

// Org is a tenant. Buckets and access keys belong to exactly one org.
type Org struct {
	ID      string // "o" + 12 lowercase base32 characters, immutable
	Name    string // unique among orgs
	Created time.Time
}

// AccessKey authenticates S3 requests for one org.
type AccessKey struct {
	ID       string // "EXC" + 17 uppercase letters/digits
	Secret   string // 40 characters; lives only in the encrypted catalog
	OrgID    string
	ReadOnly bool
	Buckets  []string // if non-empty, the only buckets the key may touch
	Created  time.Time
}

// Bucket is a named container of objects within an org.
type Bucket struct {
	ID      uint64 // catalog-internal, never reused; objects are keyed by it
	OrgID   string
	Name    string
	Public  bool
	Created time.Time
	// CORS is the bucket's CORS configuration (none when empty). Shared
	// with the catalog's cache: read it, never modify it.
	CORS []CORSRule
}

// Extent is a run of bytes of a chunk: the object's next Length bytes are the
// chunk's plaintext bytes [Offset, Offset+Length). An extent whose Chunk is
// the zero id is a zero run (a hole): Length zero bytes, of any length, with
// no chunk stored or referenced; its Offset is 0 (docs/format.md, "Manifest
// v2"). A hole in a sparse file costs one extent, whatever its size.
type Extent struct {
	Chunk  chunkstore.ID
	Offset int64
	Length int64
}

// ZeroRun is an extent of n zero bytes.
func ZeroRun(n int64) Extent { return Extent{Length: n} }

// IsZeroRun reports whether the extent is a run of zeros rather than bytes
// of a chunk.
func (e Extent) IsZeroRun() bool { return e.Chunk.IsZero() }

// Part records where one multipart part starts in a completed object, so
// GET/HEAD with partNumber can serve it.
type Part struct {
	Number int
	Size   int64
	ETag   string // quoted
}

// Manifest is everything stored about one object version: the bytes are the
// concatenation of Inline (for small objects) or of the Extents, in order.
type Manifest struct {
	Size    int64
	ETag    string // quoted, as S3 returns it
	ModTime time.Time
	Inline  []byte // whole content when small; then Extents is empty
	// BodyID, when not zero, names the catalog value that holds the
	// object's bytes (body.go): Extents is then empty and Inline is either
	// nil (the manifest as stored and listed) or the body, loaded by
	// ObjectData or handed to PutObject to write.
	BodyID  chunkstore.ID
	Extents []Extent
	Parts   []Part // non-empty only for objects completed from multipart uploads

	// Standard headers; empty means absent.
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string

	// Meta holds x-amz-meta-* user metadata, keys lowercased without the
	// prefix.
	Meta map[string]string
	// Checksums maps an algorithm ("CRC32", "CRC32C", "CRC64NVME", "SHA1",
	// "SHA256") to its base64 value as S3 returns it.
	Checksums map[string]string
	// Tags is the S3 object tag set (x-amz-tagging, PutObjectTagging):
	// key to value, at most 10 pairs, checked by the S3 layer.
	Tags map[string]string
}

// Chunks returns the distinct chunk ids the manifest references, in first-use
// order, and its body id if it has one (counted like a chunk: body.go).
// Reference counts are kept per (manifest, chunk) pair, not per extent.
// Zero runs reference no chunk.
func (m *Manifest) Chunks() []chunkstore.ID {
	if !m.BodyID.IsZero() {
		return []chunkstore.ID{m.BodyID}
	}
	seen := make(map[chunkstore.ID]struct{}, len(m.Extents))
	var ids []chunkstore.ID
	for _, e := range m.Extents {
		if e.IsZeroRun() {
			continue
		}
		if _, ok := seen[e.Chunk]; ok {
			continue
		}
		seen[e.Chunk] = struct{}{}
		ids = append(ids, e.Chunk)
	}
	return ids
}

// Condition makes a write conditional on the current version of the key,
// checked in the same transaction as the commit.
type Condition struct {
	IfNoneMatchAny bool   // If-None-Match: * : only if the key is absent
	IfMatch        string // If-Match: "etag" : only if the current ETag equals this (quoted)
}

// ListOptions selects a page of a bucket's keys. Keys are ordered bytewise.
type ListOptions struct {
	Prefix     string
	Delimiter  string // any string; empty means no grouping
	StartAfter string // list keys strictly greater than this (V2 start-after, V1 marker)
	// ContinueAfter resumes a previous page: keys (and common prefixes)
	// strictly greater than it. It is the raw last key or prefix returned; the
	// S3 layer makes it opaque.
	ContinueAfter string
	MaxKeys       int // 0 means 1000; capped at 1000 by the S3 layer, not here
}

// ListEntry is one object in a listing.
type ListEntry struct {
	Key     string
	Size    int64
	ETag    string
	ModTime time.Time
}

// ListResult is one page of a listing. Objects and CommonPrefixes are each in
// bytewise order; together they hold at most MaxKeys items.
type ListResult struct {
	Objects        []ListEntry
	CommonPrefixes []string
	IsTruncated    bool
	// Next is the raw resume point (last key or common prefix returned) when
	// IsTruncated.
	Next string
}

// Upload is an in-progress multipart upload.
type Upload struct {
	ID        string
	BucketID  uint64
	Key       string
	Initiated time.Time
	// Template carries the headers, metadata and checksum algorithm given at
	// CreateMultipartUpload; Size, ETag, Extents are empty.
	Template Manifest
}

// UploadPart is one uploaded part of a multipart upload.
type UploadPart struct {
	Number   int
	Size     int64
	ETag     string // quoted MD5 of the part
	ModTime  time.Time
	Extents  []Extent
	Checksum map[string]string
}

// EventKind says what a committed mutation did.
type EventKind uint8

const (
	ObjectPut    EventKind = iota + 1 // a key now has a (new) manifest
	ObjectDelete                      // a key was removed
	BucketCreate                      // a bucket was created
	BucketDelete                      // a bucket was removed
	// Resync: events may have been missed (the connection that brings
	// other nodes' events was cut and restored): drop everything derived
	// from earlier events. Only Kind and Seq are set.
	Resync
)

// Event is one committed mutation, as the change feed delivers it.
type Event struct {
	Seq      uint64 // strictly increasing in delivery order
	Kind     EventKind
	OrgID    string
	BucketID uint64
	Bucket   string
	Key      string // empty for bucket events
}

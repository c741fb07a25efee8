package catalog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"excloud.dev/buckets/chunkstore"
)

// Value encodings: docs/format.md, section "Catalog values".
//
// Manifests, uploads and parts use a hand-written binary encoding: a version
// byte, then fields in a fixed order, with
//
//	uvarint / varint  encoding/binary's variable-length integers
//	str               uvarint(len) || bytes
//	time              0x00 (zero time) | 0x01 || varint(unix nanoseconds)
//	map               uvarint(n) || (str key || str value)*, keys ascending
//	extent            id(32) || varint(offset) || varint(length)
//
// Version 2 of manifests and parts is version 1 in which extents may be zero
// runs (the zero id); version 3 of manifests is version 2 with the object's
// tags appended. Encoders write the lowest version that can hold the value,
// so values without holes or tags keep their bytes and an older build that
// meets one fails on that one value instead of reading a chunk that does
// not exist or dropping tags.
//
// The manifest puts Size, ETag and ModTime first so a listing decodes only
// those (decodeManifestHead) and never touches inline data or extents.
// Orgs, access keys and buckets are small, rarely written records: JSON with a
// "v" version field.
const (
	manifestV1 byte = 1
	manifestV2 byte = 2 // v1 with zero runs
	manifestV3 byte = 3 // v2 plus the object's tags; written only when it has some
	manifestV4 byte = 4 // v3 (tags may be empty) plus a body id; written only for an object with a body
	uploadV1   byte = 1
	partV1     byte = 1
	partV2     byte = 2 // v1 with zero runs
	recordV1        = 1 // "v" of the JSON records
)

// errCorrupt is wrapped by every decoder failure: a value that this format
// version cannot have produced.
var errCorrupt = errors.New("corrupt catalog value")

type encoder struct{ b []byte }

func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) id(id [32]byte)   { e.b = append(e.b, id[:]...) }
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.byte(0)
		return
	}
	e.byte(1)
	e.varint(t.UnixNano())
}

func (e *encoder) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic bytes for equal maps
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) extents(xs []Extent) {
	e.uvarint(uint64(len(xs)))
	for _, x := range xs {
		e.id(x.Chunk)
		e.varint(x.Offset)
		e.varint(x.Length)
	}
}

// decoder reads what encoder wrote. The first failure sticks in err and every
// later read returns a zero value, so decoding code checks err once at the end;
// lengths are checked against the bytes left before anything is allocated, so
// arbitrary input cannot make it panic or allocate more than its own size.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a uvarint element count and checks that n elements of at least
// minSize bytes each can still follow.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.b)/minSize) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *decoder) raw(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str(what string) string { return string(d.raw(what)) }

func (d *decoder) id(what string) (id chunkstore.ID) {
	if d.err != nil || len(d.b) < len(id) {
		d.fail(what)
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[len(id):]
	return id
}

func (d *decoder) time(what string) time.Time {
	switch d.byte(what) {
	case 0:
		return time.Time{}
	case 1:
		n := d.varint(what)
		if d.err != nil {
			return time.Time{}
		}
		return time.Unix(0, n).UTC()
	default:
		d.fail(what)
		return time.Time{}
	}
}

func (d *decoder) strMap(what string) map[string]string {
	n := d.count(what, 2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str(what)
		m[k] = d.str(what)
	}
	return m
}

// extents decodes an extent list; zeroRuns tells whether the value's
// version allows zero runs (v2). A zero id in a v1 value is damage: no
// writer of v1 produced one.
func (d *decoder) extents(what string, zeroRuns bool) []Extent {
	n := d.count(what, 32+2)
	if n == 0 {
		return nil
	}
	xs := make([]Extent, n)
	for i := range xs {
		x := Extent{Chunk: d.id(what), Offset: d.varint(what), Length: d.varint(what)}
		if x.IsZeroRun() && !zeroRuns {
			d.fail(what + " (zero run)")
		}
		xs[i] = x
	}
	return xs
}

// hasZeroRun reports whether xs needs a version 2 value.
func hasZeroRun(xs []Extent) bool {
	for _, x := range xs {
		if x.IsZeroRun() {
			return true
		}
	}
	return false
}

// done reports the sticky error, or trailing bytes that no field claimed.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(what + " (trailing bytes)")
	}
	return d.err
}

// encodeManifest is the manifest value (docs/format.md, "Manifest v1",
// "Manifest v2" when an extent is a zero run, "Manifest v3" when the object
// has tags):
//
//	0x01 (0x02, 0x03) || varint(Size) || str(ETag) || time(ModTime) || str(Inline) ||
//	uvarint(n) || extent* || uvarint(n) || (uvarint(Number) || varint(Size) || str(ETag))* ||
//	str(ContentType) || str(ContentEncoding) || str(ContentDisposition) ||
//	str(ContentLanguage) || str(CacheControl) || str(Expires) ||
//	map(Meta) || map(Checksums) [|| map(Tags), v3 only]
func encodeManifest(m *Manifest) []byte {
	// Sized for every field but the rarely set ones, so a manifest with
	// inline bytes is not copied again as it grows.
	n := 64 + len(m.ETag) + len(m.Inline) + len(m.Extents)*44 + len(m.ContentType)
	for k, v := range m.Meta {
		n += len(k) + len(v) + 4
	}
	e := encoder{b: make([]byte, 0, n)}
	switch {
	case !m.BodyID.IsZero():
		e.byte(manifestV4)
	case len(m.Tags) > 0:
		e.byte(manifestV3)
	case hasZeroRun(m.Extents):
		e.byte(manifestV2)
	default:
		e.byte(manifestV1)
	}
	e.varint(m.Size)
	e.str(m.ETag)
	e.time(m.ModTime)
	if m.BodyID.IsZero() {
		e.bytes(m.Inline)
	} else {
		e.bytes(nil) // the bytes live under the body key
	}
	e.extents(m.Extents)
	e.uvarint(uint64(len(m.Parts)))
	for _, p := range m.Parts {
		e.uvarint(uint64(p.Number))
		e.varint(p.Size)
		e.str(p.ETag)
	}
	e.str(m.ContentType)
	e.str(m.ContentEncoding)
	e.str(m.ContentDisposition)
	e.str(m.ContentLanguage)
	e.str(m.CacheControl)
	e.str(m.Expires)
	e.strMap(m.Meta)
	e.strMap(m.Checksums)
	if len(m.Tags) > 0 || !m.BodyID.IsZero() {
		e.strMap(m.Tags)
	}
	if !m.BodyID.IsZero() {
		e.id(m.BodyID)
	}
	return e.b
}

// decodeManifest decodes a whole manifest. b may be a Badger value: every
// field is copied out, nothing aliases b.
func decodeManifest(b []byte) (*Manifest, error) { return decodeManifestData(b, true) }

// decodeManifestNoData is decodeManifest without the object's own bytes
// (Inline stays nil, Size says how many there are): what describes an
// object, for readers that never serve its contents. Copying the inline
// bytes out of every value was most of what a mount's cold `ls -l` of
// small files cost the catalog.
func decodeManifestNoData(b []byte) (*Manifest, error) { return decodeManifestData(b, false) }

func decodeManifestData(b []byte, data bool) (*Manifest, error) {
	d := decoder{b: b}
	m := new(Manifest)
	v, err := d.manifestHead(m)
	if err != nil {
		return nil, err
	}
	in := d.raw("inline data")
	if len(in) > 0 && data {
		m.Inline = append([]byte(nil), in...)
	}
	m.Extents = d.extents("extents", v >= manifestV2)
	if n := d.count("parts", 3); n > 0 {
		m.Parts = make([]Part, n)
		for i := range m.Parts {
			num := d.uvarint("part number")
			if num > maxPartNumber {
				d.fail("part number")
			}
			m.Parts[i] = Part{Number: int(num), Size: d.varint("part size"), ETag: d.str("part etag")}
		}
	}
	m.ContentType = d.str("content type")
	m.ContentEncoding = d.str("content encoding")
	m.ContentDisposition = d.str("content disposition")
	m.ContentLanguage = d.str("content language")
	m.CacheControl = d.str("cache control")
	m.Expires = d.str("expires")
	m.Meta = d.strMap("metadata")
	m.Checksums = d.strMap("checksums")
	switch v {
	case manifestV3:
		if m.Tags = d.strMap("tags"); m.Tags == nil {
			d.fail("tags (empty in a v3 manifest)")
		}
	case manifestV4:
		m.Tags = d.strMap("tags")
		m.BodyID = d.id("body id")
		if d.err == nil && (!IsBodyID(m.BodyID) || len(in) > 0 || len(m.Extents) != 0) {
			d.fail("body id (with inline data or extents, or not a body id)")
		}
	}
	if err := d.done("manifest"); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeManifestHead decodes only Size, ETag and ModTime: what a listing
// needs. It does not check the rest of the value, and allocates only the
// ETag string.
func decodeManifestHead(b []byte) (head Manifest, err error) {
	d := decoder{b: b}
	if _, err := d.manifestHead(&head); err != nil {
		return Manifest{}, err
	}
	return head, nil
}

// manifestHead decodes the version byte, Size, ETag and ModTime, and
// returns the version.
func (d *decoder) manifestHead(m *Manifest) (byte, error) {
	v := d.byte("manifest version")
	if d.err == nil && (v < manifestV1 || v > manifestV4) {
		return 0, fmt.Errorf("%w: manifest version %d", errCorrupt, v)
	}
	m.Size, m.ETag, m.ModTime = d.varint("size"), d.str("etag"), d.time("modification time")
	return v, d.err
}

// maxPartNumber bounds part numbers so they fit the u32 of a part key; S3
// itself allows 1..10000, which the S3 layer enforces.
const maxPartNumber = 1<<31 - 1

// encodeUpload is the upload value (docs/format.md, "Upload v1"):
//
//	0x01 || str(ID) || uvarint(BucketID) || str(Key) || time(Initiated) || str(encodeManifest(Template))
func encodeUpload(u *Upload) []byte {
	e := encoder{}
	e.byte(uploadV1)
	e.str(u.ID)
	e.uvarint(u.BucketID)
	e.str(u.Key)
	e.time(u.Initiated)
	e.bytes(encodeManifest(&u.Template))
	return e.b
}

func decodeUpload(b []byte) (Upload, error) {
	d := decoder{b: b}
	if v := d.byte("upload version"); d.err == nil && v != uploadV1 {
		return Upload{}, fmt.Errorf("%w: upload version %d", errCorrupt, v)
	}
	u := Upload{ID: d.str("upload id"), BucketID: d.uvarint("bucket id"), Key: d.str("key"), Initiated: d.time("initiated")}
	tmpl := d.raw("template")
	if err := d.done("upload"); err != nil {
		return Upload{}, err
	}
	m, err := decodeManifest(tmpl)
	if err != nil {
		return Upload{}, err
	}
	u.Template = *m
	return u, nil
}

// encodePart is the part value (docs/format.md, "Part v1", and "Part v2"
// when an extent is a zero run, as a part copied from a sparse file has):
//
//	0x01 (0x02) || uvarint(Number) || varint(Size) || str(ETag) || time(ModTime) ||
//	uvarint(n) || extent* || map(Checksum)
func encodePart(p *UploadPart) []byte {
	e := encoder{b: make([]byte, 0, 32+len(p.ETag)+len(p.Extents)*44)}
	if hasZeroRun(p.Extents) {
		e.byte(partV2)
	} else {
		e.byte(partV1)
	}
	e.uvarint(uint64(p.Number))
	e.varint(p.Size)
	e.str(p.ETag)
	e.time(p.ModTime)
	e.extents(p.Extents)
	e.strMap(p.Checksum)
	return e.b
}

func decodePart(b []byte) (*UploadPart, error) {
	d := decoder{b: b}
	v := d.byte("part version")
	if d.err == nil && v != partV1 && v != partV2 {
		return nil, fmt.Errorf("%w: part version %d", errCorrupt, v)
	}
	num := d.uvarint("part number")
	if num > maxPartNumber {
		d.fail("part number")
	}
	p := &UploadPart{Number: int(num), Size: d.varint("size"), ETag: d.str("etag"), ModTime: d.time("modification time")}
	p.Extents = d.extents("extents", v == partV2)
	p.Checksum = d.strMap("checksum")
	if err := d.done("part"); err != nil {
		return nil, err
	}
	return p, nil
}

// partChunks returns the distinct chunks of a part, as Manifest.Chunks does.
func partChunks(p *UploadPart) []chunkstore.ID {
	return (&Manifest{Extents: p.Extents}).Chunks()
}

// JSON records. Field names are short and fixed by docs/format.md; "v" is the
// record version.

type orgRecord struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

type accessKeyRecord struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Secret   string    `json:"secret"`
	OrgID    string    `json:"org"`
	ReadOnly bool      `json:"ro,omitempty"`
	Buckets  []string  `json:"buckets,omitempty"`
	Created  time.Time `json:"created"`
}

type bucketRecord struct {
	V       int          `json:"v"`
	ID      uint64       `json:"id"`
	OrgID   string       `json:"org"`
	Name    string       `json:"name"`
	Public  bool         `json:"public,omitempty"`
	Created time.Time    `json:"created"`
	CORS    []corsRecord `json:"cors,omitempty"`
}

// corsRecord is a CORSRule in a bucket record.
type corsRecord struct {
	ID      string   `json:"id,omitempty"`
	Origins []string `json:"origins"`
	Methods []string `json:"methods"`
	Headers []string `json:"headers,omitempty"`
	Expose  []string `json:"expose,omitempty"`
	MaxAge  *int     `json:"maxAge,omitempty"`
}

func encodeOrg(o Org) []byte {
	return mustJSON(orgRecord{V: recordV1, ID: o.ID, Name: o.Name, Created: o.Created})
}

func decodeOrg(b []byte) (Org, error) {
	var r orgRecord
	if err := decodeJSON(b, &r.V, &r, "org"); err != nil {
		return Org{}, err
	}
	return Org{ID: r.ID, Name: r.Name, Created: r.Created}, nil
}

func encodeAccessKey(k AccessKey) []byte {
	return mustJSON(accessKeyRecord{V: recordV1, ID: k.ID, Secret: k.Secret, OrgID: k.OrgID,
		ReadOnly: k.ReadOnly, Buckets: k.Buckets, Created: k.Created})
}

func decodeAccessKey(b []byte) (AccessKey, error) {
	var r accessKeyRecord
	if err := decodeJSON(b, &r.V, &r, "access key"); err != nil {
		return AccessKey{}, err
	}
	return AccessKey{ID: r.ID, Secret: r.Secret, OrgID: r.OrgID, ReadOnly: r.ReadOnly,
		Buckets: r.Buckets, Created: r.Created}, nil
}

func encodeBucket(b Bucket) []byte {
	r := bucketRecord{V: recordV1, ID: b.ID, OrgID: b.OrgID, Name: b.Name,
		Public: b.Public, Created: b.Created}
	for _, c := range b.CORS {
		r.CORS = append(r.CORS, corsRecord{ID: c.ID, Origins: c.AllowedOrigins, Methods: c.AllowedMethods,
			Headers: c.AllowedHeaders, Expose: c.ExposeHeaders, MaxAge: c.MaxAgeSeconds})
	}
	return mustJSON(r)
}

func decodeBucket(b []byte) (Bucket, error) {
	var r bucketRecord
	if err := decodeJSON(b, &r.V, &r, "bucket"); err != nil {
		return Bucket{}, err
	}
	bk := Bucket{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Public: r.Public, Created: r.Created}
	for _, c := range r.CORS {
		bk.CORS = append(bk.CORS, CORSRule{ID: c.ID, AllowedOrigins: c.Origins, AllowedMethods: c.Methods,
			AllowedHeaders: c.Headers, ExposeHeaders: c.Expose, MaxAgeSeconds: c.MaxAge})
	}
	return bk, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings, bools, integers and times: Marshal cannot fail.
		panic("catalog: encode record: " + err.Error())
	}
	return b
}

func decodeJSON(b []byte, version *int, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s record: %v", errCorrupt, what, err)
	}
	if *version != recordV1 {
		return fmt.Errorf("%w: %s record version %d", errCorrupt, what, *version)
	}
	return nil
}

// encodeCount and decodeCount are the reference-count value: i64be(count).
func encodeCount(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func decodeCount(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: reference count of %d bytes", errCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

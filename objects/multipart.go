package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// Multipart limits, as S3 sets them.
const (
	MaxParts    = 10000
	MinPartSize = 5 << 20 // every part but the last
)

// PartOptions describe an UploadPart beyond its body.
type PartOptions struct {
	Size       int64  // exact body length, or -1
	ContentMD5 []byte // raw digest from Content-MD5, if sent
	// Verify, if set, runs after the body is read and before the part is
	// recorded (trailing checksums); it may set p.Checksum.
	Verify func(p *catalog.UploadPart) error
	// Checksum is stored with the part as given (x-amz-checksum-* headers,
	// already verified by the caller as the body streamed).
	Checksum map[string]string
}

// CompletePart is one entry of a CompleteMultipartUpload request.
type CompletePart struct {
	Number int
	ETag   string // quoted or not
}

// CompleteOptions describe a CompleteMultipartUpload beyond its part list.
type CompleteOptions struct {
	Cond catalog.Condition
	// Verify, if set, runs with the manifest about to be committed and the
	// parts it was built from (composite checksums); an error aborts.
	Verify func(m *catalog.Manifest, parts []catalog.UploadPart) error
}

// CreateMultipart starts a multipart upload; meta carries the headers and
// metadata the completed object will have.
func (l *Layer) CreateMultipart(ctx context.Context, orgID, bucket, key string, meta catalog.Manifest) (catalog.Upload, error) {
	if err := CheckMeta(&meta); err != nil {
		return catalog.Upload{}, fmt.Errorf("objects: create upload %s/%s: %w", bucket, key, err)
	}
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return catalog.Upload{}, err
	}
	var tmpl catalog.Manifest
	setMeta(&tmpl, &meta)
	tmpl.Checksums = meta.Checksums
	tmpl.Tags = meta.Tags
	return l.meta.CreateUpload(ctx, b, key, tmpl)
}

// upload resolves an upload and checks it belongs to key.
func (l *Layer) upload(ctx context.Context, orgID, bucket, key, uploadID string) (catalog.Bucket, catalog.Upload, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return b, catalog.Upload{}, err
	}
	up, err := l.meta.Upload(ctx, b.ID, uploadID)
	if err != nil {
		return b, up, err
	}
	if up.Key != key {
		return b, up, fmt.Errorf("objects: upload %s is for another key: %w", uploadID, catalog.ErrNoSuchUpload)
	}
	return b, up, nil
}

// UploadPart stores one part. Uploading a number again replaces the part.
func (l *Layer) UploadPart(ctx context.Context, orgID, bucket, key, uploadID string, number int, body io.Reader, opts PartOptions) (*catalog.UploadPart, error) {
	if number < 1 || number > MaxParts {
		return nil, fmt.Errorf("objects: part %d: %w", number, ErrInvalidPartNumber)
	}
	b, _, err := l.upload(ctx, orgID, bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	ctx = l.fence(ctx)
	m, sum, leased, err := l.write(ctx, orgID, body, opts.Size, false)
	defer l.pins.Unpin(leased...)
	if err != nil {
		return nil, fmt.Errorf("objects: upload part %d of %s: %w", number, key, err)
	}
	if opts.ContentMD5 != nil && !bytes.Equal(opts.ContentMD5, sum) {
		return nil, fmt.Errorf("objects: upload part %d of %s: %w", number, key, ErrBadDigest)
	}
	p := &catalog.UploadPart{Number: number, Size: m.Size, ETag: m.ETag, ModTime: l.now().UTC(), Extents: m.Extents, Checksum: opts.Checksum}
	if opts.Verify != nil {
		if err := opts.Verify(p); err != nil {
			return nil, err
		}
	}
	end, err := l.commitGuard(leased)
	if err != nil {
		return nil, fmt.Errorf("objects: upload part %d of %s: %w", number, key, err)
	}
	defer end()
	if _, err := l.meta.PutPart(ctx, b, uploadID, *p); err != nil {
		return nil, fmt.Errorf("objects: upload part %d of %s: %w", number, key, err)
	}
	return p, nil
}

// UploadPartCopy makes a part from a byte range of an existing object. For
// chunked sources it is metadata only: the part's extents are slices of the
// source's. A source kept in the catalog (≤ BodyMax bytes) is written as a small chunk.
// length < 0 copies to the end; check, if set, sees the source first.
func (l *Layer) UploadPartCopy(ctx context.Context, orgID, bucket, key, uploadID string, number int, srcBucket, srcKey string, off, length int64, check func(*catalog.Manifest) error) (*catalog.UploadPart, error) {
	if number < 1 || number > MaxParts {
		return nil, fmt.Errorf("objects: part %d: %w", number, ErrInvalidPartNumber)
	}
	b, _, err := l.upload(ctx, orgID, bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	ctx = l.fence(ctx)
	src, err := l.Open(ctx, orgID, srcBucket, srcKey) // keeps the source's chunks from the collector
	if err != nil {
		return nil, err
	}
	defer src.Close()
	m := src.Manifest
	if check != nil {
		if err := check(m); err != nil {
			return nil, err
		}
	}
	if length < 0 {
		length = m.Size - off
	}
	// off+length is not computed: near MaxInt64 it would wrap and pass.
	if off < 0 || length < 0 || off > m.Size || length > m.Size-off {
		return nil, fmt.Errorf("objects: copy range %d+%d of %d bytes: %w", off, length, m.Size, ErrInvalidRange)
	}
	p := &catalog.UploadPart{Number: number, Size: length, ModTime: l.now().UTC()}
	if len(m.Extents) == 0 {
		pm, sum, leased, err := l.write(ctx, orgID, bytes.NewReader(src.data[off:off+length]), length, false)
		defer l.pins.Unpin(leased...)
		if err != nil {
			return nil, err
		}
		p.Extents, p.ETag = pm.Extents, etag(sum)
	} else {
		p.Extents = src.slice(off, length)
		p.ETag = copiedPartETag(m, off, length, p.Extents)
	}
	end, err := l.commitGuard(partChunks(p))
	if err != nil {
		return nil, fmt.Errorf("objects: upload part copy %d of %s: %w", number, key, err)
	}
	defer end()
	if _, err := l.meta.PutPart(ctx, b, uploadID, *p); err != nil {
		return nil, fmt.Errorf("objects: upload part copy %d of %s: %w", number, key, err)
	}
	return p, nil
}

// copiedPartETag names a part made by UploadPartCopy without reading its
// bytes: the source's own MD5 ETag when the whole of a single-PUT object is
// copied, otherwise the MD5 of the extent list. Clients treat part ETags as
// opaque tokens to hand back at completion; reading gigabytes to compute an
// MD5 nobody can check would make the copy cost as much as an upload.
func copiedPartETag(m *catalog.Manifest, off, length int64, exts []catalog.Extent) string {
	if off == 0 && length == m.Size && len(m.Parts) == 0 && len(m.ETag) == 34 {
		return m.ETag
	}
	h := md5.New()
	for _, e := range exts {
		fmt.Fprintf(h, "%x:%d:%d;", e.Chunk[:], e.Offset, e.Length)
	}
	return etag(h.Sum(nil))
}

// slice returns the extents covering [off, off+length) of the object.
func (o *Object) slice(off, length int64) []catalog.Extent {
	var out []catalog.Extent
	for i, e := range o.Manifest.Extents {
		start, end := o.starts[i], o.starts[i]+e.Length
		if end <= off || start >= off+length {
			continue
		}
		a, z := max(start, off), min(end, off+length)
		if e.IsZeroRun() {
			out = append(out, catalog.ZeroRun(z-a))
			continue
		}
		out = append(out, catalog.Extent{Chunk: e.Chunk, Offset: e.Offset + (a - start), Length: z - a})
	}
	return out
}

// CompleteMultipart assembles the named parts into the object. It is
// metadata only: the object's extents are the parts' extents in order. The
// ETag is the MD5 of the parts' binary MD5s, a dash and the part count, as
// S3 computes it.
func (l *Layer) CompleteMultipart(ctx context.Context, orgID, bucket, key, uploadID string, parts []CompletePart, opts CompleteOptions) (*catalog.Manifest, error) {
	// A lookup from before reading parts until the commit: a part replaced
	// concurrently loses its reference, and the collector must not free it
	// before our commit counts it.
	done := l.pins.Lookup()
	defer done()
	b, up, err := l.upload(ctx, orgID, bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("objects: complete %s: no parts: %w", key, ErrInvalidPart)
	}
	have := make(map[int]catalog.UploadPart)
	for after := 0; ; {
		page, more, err := l.meta.ListParts(ctx, b.ID, uploadID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			have[p.Number] = p
			after = p.Number
		}
		if !more {
			break
		}
	}
	m := up.Template
	m.Extents, m.Parts, m.Inline = nil, nil, nil
	used := make([]catalog.UploadPart, 0, len(parts))
	md5s := md5.New()
	for i, cp := range parts {
		if i > 0 && cp.Number <= parts[i-1].Number {
			return nil, fmt.Errorf("objects: complete %s: part %d after %d: %w", key, cp.Number, parts[i-1].Number, ErrInvalidPartOrder)
		}
		p, ok := have[cp.Number]
		if !ok || strings.Trim(p.ETag, `"`) != strings.Trim(cp.ETag, `"`) {
			return nil, fmt.Errorf("objects: complete %s: part %d: %w", key, cp.Number, ErrInvalidPart)
		}
		if i < len(parts)-1 && p.Size < MinPartSize {
			return nil, fmt.Errorf("objects: complete %s: part %d is %d bytes: %w", key, cp.Number, p.Size, ErrEntityTooSmall)
		}
		raw, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil {
			return nil, fmt.Errorf("objects: complete %s: part %d has etag %s: %w", key, cp.Number, p.ETag, ErrInvalidPart)
		}
		md5s.Write(raw)
		m.Size += p.Size
		m.Extents = append(m.Extents, p.Extents...)
		m.Parts = append(m.Parts, catalog.Part{Number: p.Number, Size: p.Size, ETag: p.ETag})
		used = append(used, p)
	}
	m.ETag = fmt.Sprintf("\"%x-%d\"", md5s.Sum(nil), len(parts))
	m.ModTime = l.now().UTC()
	if opts.Verify != nil {
		if err := opts.Verify(&m, used); err != nil {
			return nil, err
		}
	}
	if _, err := l.meta.CompleteUpload(ctx, b, uploadID, &m, opts.Cond); err != nil {
		return nil, fmt.Errorf("objects: complete %s: %w", key, err)
	}
	return &m, nil
}

// AbortMultipart discards an upload; its parts' chunks become garbage.
func (l *Layer) AbortMultipart(ctx context.Context, orgID, bucket, key, uploadID string) error {
	b, _, err := l.upload(ctx, orgID, bucket, key, uploadID)
	if err != nil {
		return err
	}
	return l.meta.AbortUpload(ctx, b, uploadID)
}

// ListUploads lists a bucket's uploads in progress, by key then initiation.
func (l *Layer) ListUploads(ctx context.Context, orgID, bucket, prefix, keyMarker, uploadIDMarker string, max int) ([]catalog.Upload, bool, error) {
	b, err := l.meta.Bucket(ctx, orgID, bucket)
	if err != nil {
		return nil, false, err
	}
	return l.meta.ListUploads(ctx, b.ID, prefix, keyMarker, uploadIDMarker, max)
}

// ListParts lists an upload's parts numbered above after, and returns the
// upload itself (the template CreateMultipartUpload stored), which it reads
// anyway to check that the upload exists.
func (l *Layer) ListParts(ctx context.Context, orgID, bucket, key, uploadID string, after, max int) (catalog.Upload, []catalog.UploadPart, bool, error) {
	b, up, err := l.upload(ctx, orgID, bucket, key, uploadID)
	if err != nil {
		return catalog.Upload{}, nil, false, err
	}
	parts, more, err := l.meta.ListParts(ctx, b.ID, uploadID, after, max)
	return up, parts, more, err
}

// partChunks returns the chunks a part's extents use.
func partChunks(p *catalog.UploadPart) []chunkstore.ID {
	m := catalog.Manifest{Extents: p.Extents}
	return m.Chunks()
}

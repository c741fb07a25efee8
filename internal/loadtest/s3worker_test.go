package loadtest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"excloud.dev/buckets/internal/testutil"
)

// slotsPerClient is how many keys each client owns under its prefix.
const slotsPerClient = 8

// slot is what a client knows of one of its keys: it alone writes them, so
// every answer about them can be checked exactly.
type slot struct {
	present bool
	unknown bool // a write failed: either version may be there
	pl      Payload
	etag    string
}

// s3worker is one S3 client goroutine with its own key prefix c%03d/.
type s3worker struct {
	h     *harness
	id    int
	c     *s3.Client
	rng   *rand.Rand
	slots [slotsPerClient]slot
	imm   []string // its acknowledged keys under imm/, oldest first
	gone  []string // its imm/ keys deleted (acknowledged), the last few
}

func newS3Worker(h *harness, id int) *s3worker {
	return &s3worker{h: h, id: id, c: h.s3[id%2], rng: rand.New(rand.NewPCG(uint64(id), 0x10ad))}
}

func (w *s3worker) key(i int) string { return fmt.Sprintf("c%03d/k%d", w.id, i) }

func (w *s3worker) run() {
	for !w.h.stop.Load() {
		n := w.rng.IntN(100)
		s := w.rng.IntN(slotsPerClient)
		switch {
		case n < 25:
			w.put(s)
		case n < 45:
			w.get(s)
		case n < 55:
			w.getRange(s)
		case n < 65:
			w.head(s)
		case n < 72:
			w.list()
		case n < 82:
			w.del(s)
		case n < 92:
			w.shared()
		case n < 97:
			w.immPut()
		default:
			w.immList()
		}
	}
}

// size draws an object size: mostly small (0 to 64 KiB, across the 8 KiB
// inline limit), some 1 to 8 MiB, rarely 16 to 64 MiB.
func (w *s3worker) size() int64 {
	max := w.h.cfg.maxSize
	r := w.rng.IntN(1000)
	var n int64
	switch {
	case r < 30:
		return 0
	case r < 800:
		n = 1 + w.rng.Int64N(64<<10)
	case r < 975:
		n = 1<<20 + w.rng.Int64N(7<<20)
	default:
		n = bigSize + w.rng.Int64N(48<<20)
	}
	return min(n, max)
}

// takeBig reserves one of the big-operation tokens for an object of n
// bytes; false when all are in use.
func (w *s3worker) takeBig(n int64) bool {
	if n < bigSize {
		return true
	}
	select {
	case w.h.big <- struct{}{}:
		return true
	default:
		return false
	}
}

func (w *s3worker) releaseBig(n int64) {
	if n >= bigSize {
		<-w.h.big
	}
}

func ctxOp() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// errCode is the S3 error code, or a coarse class for transport errors.
func errCode(err error) string {
	if code := testutil.APICode(err); code != "" {
		return code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "transport"
}

func (w *s3worker) fail(op string, err error) {
	w.h.stats.Fail(op+":"+errCode(err), err)
}

// failCheck records a wrong answer (wrong bytes, size, ETag or listing).
func (w *s3worker) failCheck(op string, err error) {
	w.h.stats.Fail(op+":check", err)
}

func seedMeta(pl Payload) map[string]string {
	return map[string]string{"seed": strconv.FormatUint(pl.Seed, 16), "size": strconv.FormatInt(pl.Size, 10)}
}

// metaPayload reads the seed a version was written with from its metadata.
func metaPayload(meta map[string]string) (Payload, error) {
	seed, err := strconv.ParseUint(meta["seed"], 16, 64)
	if err != nil {
		return Payload{}, fmt.Errorf("metadata seed %q: %v", meta["seed"], err)
	}
	size, err := strconv.ParseInt(meta["size"], 10, 64)
	if err != nil {
		return Payload{}, fmt.Errorf("metadata size %q: %v", meta["size"], err)
	}
	return Payload{Seed: seed, Size: size}, nil
}

func (w *s3worker) put(s int) {
	n := w.size()
	if !w.takeBig(n) {
		n = 1<<20 + w.rng.Int64N(7<<20)
	}
	defer w.releaseBig(n)
	pl := Payload{Seed: randSeed(w.rng), Size: n}
	ctx, cancel := ctxOp()
	defer cancel()
	multipart := n >= 6<<20 && w.rng.IntN(4) == 0
	op := "put"
	if multipart {
		op = "multipart"
	}
	start := time.Now()
	var etag, want string
	var err error
	if multipart {
		etag, want, err = w.multipart(ctx, w.key(s), pl)
	} else {
		var out *s3.PutObjectOutput
		out, err = w.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.h.bucket, Key: aws.String(w.key(s)),
			Body: pl.Reader(), ContentLength: aws.Int64(n), Metadata: seedMeta(pl)})
		if err == nil {
			etag, want = aws.ToString(out.ETag), `"`+pl.MD5()+`"`
		}
	}
	d := time.Since(start)
	if err != nil {
		w.slots[s].unknown = true
		w.fail(op, err)
		return
	}
	w.h.stats.Op(op, d)
	w.h.stats.BytesWritten.Add(n)
	if etag != want {
		w.failCheck(op, fmt.Errorf("%s: ETag %s, want %s", w.key(s), etag, want))
	}
	w.slots[s] = slot{present: true, pl: pl, etag: etag}
}

// multipart uploads pl in 5 MiB parts (the last one shorter) and returns
// the ETag the daemon gave and the one S3 defines: MD5 of the part MD5s.
func (w *s3worker) multipart(ctx context.Context, key string, pl Payload) (string, string, error) {
	cr, err := w.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &w.h.bucket, Key: &key, Metadata: seedMeta(pl)})
	if err != nil {
		return "", "", err
	}
	const partSize = 5 << 20
	var parts []types.CompletedPart
	sums := md5.New()
	for off, num := int64(0), int32(1); off < pl.Size; off, num = off+partSize, num+1 {
		n := min(partSize, pl.Size-off)
		part := io.NewSectionReader(pl, off, n)
		h := md5.New()
		io.Copy(h, part)
		part.Seek(0, io.SeekStart)
		sums.Write(h.Sum(nil))
		up, err := w.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &w.h.bucket, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(num), Body: part, ContentLength: aws.Int64(n)})
		if err != nil {
			w.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &w.h.bucket, Key: &key, UploadId: cr.UploadId})
			return "", "", fmt.Errorf("part %d: %w", num, err)
		}
		if got, want := aws.ToString(up.ETag), `"`+hex.EncodeToString(h.Sum(nil))+`"`; got != want {
			return "", "", fmt.Errorf("part %d ETag %s, want %s", num, got, want)
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(num)})
	}
	co, err := w.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &w.h.bucket, Key: &key,
		UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return "", "", err
	}
	return aws.ToString(co.ETag), fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sums.Sum(nil)), len(parts)), nil
}

func (w *s3worker) get(s int) {
	sl := w.slots[s]
	if sl.present && !sl.unknown && !w.takeBig(sl.pl.Size) {
		w.getRange(s) // too many big transfers in flight
		return
	}
	defer func() {
		if sl.present && !sl.unknown {
			w.releaseBig(sl.pl.Size)
		}
	}()
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	out, err := w.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.h.bucket, Key: aws.String(w.key(s))})
	if sl.unknown {
		if err == nil {
			out.Body.Close()
		}
		return
	}
	if !sl.present {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			w.h.stats.Op("get", time.Since(start))
			w.h.stats.Expected("get:NoSuchKey")
			return
		}
		if err == nil {
			out.Body.Close()
			err = errors.New("object found after its delete was acknowledged")
		}
		w.failCheck("get", fmt.Errorf("%s: %w", w.key(s), err))
		return
	}
	if err != nil {
		w.fail("get", err)
		return
	}
	defer out.Body.Close()
	if err := w.checkHeaders(s, aws.ToString(out.ETag), aws.ToInt64(out.ContentLength), sl.pl.Size, out.Metadata); err != nil {
		w.failCheck("get", err)
		return
	}
	if err := sl.pl.Verify(out.Body, 0, sl.pl.Size); err != nil {
		w.failCheck("get", fmt.Errorf("%s: %w", w.key(s), err))
		return
	}
	w.h.stats.Op("get", time.Since(start))
	w.h.stats.BytesVerified.Add(sl.pl.Size)
}

func (w *s3worker) checkHeaders(s int, etag string, length, wantLength int64, meta map[string]string) error {
	sl := w.slots[s]
	if etag != sl.etag || length != wantLength {
		return fmt.Errorf("%s: ETag %s length %d, want %s %d", w.key(s), etag, length, sl.etag, wantLength)
	}
	pl, err := metaPayload(meta)
	if err != nil || pl != sl.pl {
		return fmt.Errorf("%s: metadata %v (%v), want seed %x size %d", w.key(s), meta, err, sl.pl.Seed, sl.pl.Size)
	}
	return nil
}

// getRange reads a random range (at most 1 MiB): bounded, open-ended,
// suffix, or running past the end, which S3 clamps.
func (w *s3worker) getRange(s int) {
	sl := w.slots[s]
	if !sl.present || sl.unknown || sl.pl.Size == 0 {
		w.head(s)
		return
	}
	size := sl.pl.Size
	var first, last int64
	var spec string
	switch r := w.rng.IntN(10); {
	case r < 2: // suffix: the last n bytes
		n := 1 + w.rng.Int64N(min(size, 1<<20))
		first, last, spec = size-n, size-1, fmt.Sprintf("bytes=-%d", n)
	case r < 4: // open-ended near the end
		first = size - 1 - w.rng.Int64N(min(size, 1<<20))
		last, spec = size-1, fmt.Sprintf("bytes=%d-", first)
	default:
		first = w.rng.Int64N(size)
		end := first + w.rng.Int64N(1<<20)
		last = min(end, size-1)
		spec = fmt.Sprintf("bytes=%d-%d", first, end)
	}
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	out, err := w.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.h.bucket, Key: aws.String(w.key(s)), Range: &spec})
	if err != nil {
		w.fail("get-range", err)
		return
	}
	defer out.Body.Close()
	n := last - first + 1
	if err := w.checkHeaders(s, aws.ToString(out.ETag), aws.ToInt64(out.ContentLength), n, out.Metadata); err != nil {
		w.failCheck("get-range", fmt.Errorf("%s: %w", spec, err))
		return
	}
	if got, want := aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-%d/%d", first, last, size); got != want {
		w.failCheck("get-range", fmt.Errorf("%s %s: Content-Range %q, want %q", w.key(s), spec, got, want))
		return
	}
	if err := sl.pl.Verify(out.Body, first, n); err != nil {
		w.failCheck("get-range", fmt.Errorf("%s %s: %w", w.key(s), spec, err))
		return
	}
	w.h.stats.Op("get-range", time.Since(start))
	w.h.stats.BytesVerified.Add(n)
}

func (w *s3worker) head(s int) {
	sl := w.slots[s]
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	out, err := w.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &w.h.bucket, Key: aws.String(w.key(s))})
	switch {
	case sl.unknown:
	case !sl.present:
		var nf *types.NotFound
		if errors.As(err, &nf) {
			w.h.stats.Op("head", time.Since(start))
			w.h.stats.Expected("head:NotFound")
			return
		}
		if err == nil {
			err = errors.New("object found after its delete was acknowledged")
		}
		w.failCheck("head", fmt.Errorf("%s: %w", w.key(s), err))
	case err != nil:
		w.fail("head", err)
	default:
		if err := w.checkHeaders(s, aws.ToString(out.ETag), aws.ToInt64(out.ContentLength), sl.pl.Size, out.Metadata); err != nil {
			w.failCheck("head", err)
			return
		}
		w.h.stats.Op("head", time.Since(start))
	}
}

func (w *s3worker) del(s int) {
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	_, err := w.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.h.bucket, Key: aws.String(w.key(s))})
	if err != nil {
		w.slots[s].unknown = true
		w.fail("delete", err)
		return
	}
	w.h.stats.Op("delete", time.Since(start))
	w.slots[s] = slot{}
}

// listAll lists prefix, in pages of pageSize keys.
func (w *s3worker) listAll(ctx context.Context, prefix string, pageSize int32) (map[string]types.Object, error) {
	got := make(map[string]types.Object)
	in := &s3.ListObjectsV2Input{Bucket: &w.h.bucket, Prefix: &prefix, MaxKeys: aws.Int32(pageSize)}
	for {
		out, err := w.c.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, o := range out.Contents {
			if _, dup := got[*o.Key]; dup {
				return nil, fmt.Errorf("key %s listed twice", *o.Key)
			}
			got[*o.Key] = o
		}
		if !aws.ToBool(out.IsTruncated) {
			return got, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// list checks the client's own prefix exactly: the keys it has written and
// not deleted, with their sizes and ETags, and nothing else.
func (w *s3worker) list() {
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	page := int32(1000)
	if w.rng.IntN(3) == 0 {
		page = 3 // several pages and continuation tokens
	}
	got, err := w.listAll(ctx, fmt.Sprintf("c%03d/", w.id), page)
	if err != nil {
		w.fail("list", err)
		return
	}
	d := time.Since(start)
	for i, sl := range w.slots {
		o, ok := got[w.key(i)]
		delete(got, w.key(i))
		switch {
		case sl.unknown:
		case sl.present != ok:
			w.failCheck("list", fmt.Errorf("%s: listed %v, want %v", w.key(i), ok, sl.present))
			return
		case ok && (aws.ToInt64(o.Size) != sl.pl.Size || aws.ToString(o.ETag) != sl.etag):
			w.failCheck("list", fmt.Errorf("%s: listed size %d ETag %s, want %d %s", w.key(i), aws.ToInt64(o.Size), aws.ToString(o.ETag), sl.pl.Size, sl.etag))
			return
		}
	}
	if len(got) > 0 {
		w.failCheck("list", fmt.Errorf("prefix c%03d/ lists keys never written: %v", w.id, got))
		return
	}
	w.h.stats.Op("list", d)
}

// sharedKeys are overwritten and deleted by every client; see history.
const sharedKeys = 16

func (w *s3worker) shared() {
	key := fmt.Sprintf("shared/k%02d", w.rng.IntN(sharedKeys))
	ctx, cancel := ctxOp()
	defer cancel()
	switch r := w.rng.IntN(10); {
	case r < 5:
		n := w.rng.Int64N(256 << 10)
		if w.rng.IntN(10) == 0 {
			n = 1<<20 + w.rng.Int64N(1<<20)
		}
		pl := Payload{Seed: randSeed(w.rng), Size: n}
		v := w.h.shared.begin(key, pl.Seed, n)
		start := time.Now()
		_, err := w.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.h.bucket, Key: &key,
			Body: pl.Reader(), ContentLength: aws.Int64(n), Metadata: seedMeta(pl)})
		if err != nil {
			w.fail("shared-put", err)
			return
		}
		w.h.shared.done(v)
		w.h.stats.Op("shared-put", time.Since(start))
		w.h.stats.BytesWritten.Add(n)
	case r < 6:
		v := w.h.shared.begin(key, 0, 0)
		start := time.Now()
		if _, err := w.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.h.bucket, Key: &key}); err != nil {
			w.fail("shared-delete", err)
			return
		}
		w.h.shared.done(v)
		w.h.stats.Op("shared-delete", time.Since(start))
	default:
		start := time.Now()
		out, err := w.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.h.bucket, Key: &key})
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			if err := w.h.shared.check(key, 0, 0, start, time.Now()); err != nil {
				w.failCheck("shared-get", err)
				return
			}
			w.h.stats.Op("shared-get", time.Since(start))
			w.h.stats.Expected("shared-get:NoSuchKey")
			return
		}
		if err != nil {
			w.fail("shared-get", err)
			return
		}
		defer out.Body.Close()
		pl, err := metaPayload(out.Metadata)
		if err == nil && pl.Size != aws.ToInt64(out.ContentLength) {
			err = fmt.Errorf("length %d, metadata size %d", aws.ToInt64(out.ContentLength), pl.Size)
		}
		if err == nil {
			err = pl.Verify(out.Body, 0, pl.Size)
		}
		if err == nil {
			err = w.h.shared.check(key, pl.Seed, pl.Size, start, time.Now())
		}
		if err != nil {
			w.failCheck("shared-get", fmt.Errorf("%s: %w", key, err))
			return
		}
		w.h.stats.Op("shared-get", time.Since(start))
		w.h.stats.BytesVerified.Add(pl.Size)
	}
}

// immKey names an object that is never overwritten: its seed and size are
// in its name, so a FUSE reader can check it from the name alone.
func immKey(client int, pl Payload) string {
	return fmt.Sprintf("imm/c%03d-%x-%d", client, pl.Seed, pl.Size)
}

func parseImmName(name string) (Payload, bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return Payload{}, false
	}
	seed, err1 := strconv.ParseUint(parts[1], 16, 64)
	size, err2 := strconv.ParseInt(parts[2], 10, 64)
	return Payload{Seed: seed, Size: size}, err1 == nil && err2 == nil
}

// immPut writes an immutable object for the FUSE readers, and deletes the
// client's oldest one beyond three.
func (w *s3worker) immPut() {
	n := 1 + w.rng.Int64N(64<<10)
	if w.rng.IntN(5) == 0 {
		n = 1<<20 + w.rng.Int64N(3<<20)
	}
	pl := Payload{Seed: randSeed(w.rng), Size: n}
	key := immKey(w.id, pl)
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	if _, err := w.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.h.bucket, Key: &key,
		Body: pl.Reader(), ContentLength: aws.Int64(n)}); err != nil {
		w.fail("imm-put", err)
		return
	}
	w.h.stats.Op("imm-put", time.Since(start))
	w.h.stats.BytesWritten.Add(n)
	w.imm = append(w.imm, key)
	if len(w.imm) <= 3 {
		return
	}
	old := w.imm[0]
	start = time.Now()
	if _, err := w.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.h.bucket, Key: &old}); err != nil {
		w.fail("imm-delete", err)
		return
	}
	w.h.stats.Op("imm-delete", time.Since(start))
	w.imm = w.imm[1:]
	w.gone = append(w.gone, old)
	if len(w.gone) > 4 {
		w.gone = w.gone[1:]
	}
}

// immList lists imm/, where all clients write: the client's own
// acknowledged keys must be there and its deleted ones gone.
func (w *s3worker) immList() {
	ctx, cancel := ctxOp()
	defer cancel()
	start := time.Now()
	got, err := w.listAll(ctx, "imm/", 1000)
	if err != nil {
		w.fail("list-shared", err)
		return
	}
	for _, k := range w.imm {
		if _, ok := got[k]; !ok {
			w.failCheck("list-shared", fmt.Errorf("acknowledged %s not listed", k))
			return
		}
	}
	for _, k := range w.gone {
		if _, ok := got[k]; ok {
			w.failCheck("list-shared", fmt.Errorf("deleted %s still listed", k))
			return
		}
	}
	w.h.stats.Op("list-shared", time.Since(start))
}

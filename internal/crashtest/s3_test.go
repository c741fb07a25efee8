package crashtest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Worker writes its own keys over S3, one operation at a time, until the
// kill.
type s3Worker struct {
	h      *harness
	id     int
	prefix string // of its keys: "s<id>/", or "f<id>/" for a flood worker
	// flood workers only PUT small objects (inline: they live in their
	// manifests in the catalog, no chunk file), many keys each, so most
	// kills find several catalog commits in flight at once.
	flood   bool
	rng     *rand.Rand
	keys    []*keyRec
	uploads []*upRec // created and acknowledged, not completed or aborted
	// creating: CreateMultipartUpload in flight at the kill; the restart
	// may find an upload of its key that nobody knows the id of.
	creating []*upRec
}

var contentTypes = []string{"application/octet-stream", "text/plain; charset=utf-8", "image/png", "application/x-crashtest"}

func (w *s3Worker) run(ctx context.Context) {
	for !w.h.killed.Load() {
		if err := w.step(ctx); err != nil {
			return
		}
	}
}

func (w *s3Worker) step(ctx context.Context) error {
	r := w.rng
	k := w.keys[r.IntN(len(w.keys))]
	if w.flood {
		return w.put(ctx, k, 4<<10+r.Int64N(4<<10+1), "put-flood")
	}
	switch n := r.IntN(100); {
	case n < 20:
		return w.put(ctx, k, 16+r.Int64N(8<<10-15), "put-inline") // up to InlineMax
	case n < 30:
		return w.put(ctx, k, 8<<10+1+r.Int64N(128<<10-8<<10), "put-body") // a catalog body, up to BodyMax
	case n < 47:
		return w.put(ctx, k, 8<<10+1+r.Int64N(4*mib-8<<10), "put-chunk") // one chunk, up to exactly 4 MiB
	case n < 55:
		return w.put(ctx, k, 4*mib+1+r.Int64N(w.h.cfg.maxPut-4*mib), "put-multichunk")
	case n < 60:
		return w.putDedup(ctx, k)
	case n < 70:
		return w.multipart(ctx, k, r.IntN(3) == 0)
	case n < 77:
		if len(w.uploads) > 0 {
			return w.resume(ctx)
		}
		return w.multipart(ctx, k, false)
	case n < 90:
		return w.copy(ctx, k)
	default:
		return w.delete(ctx, k)
	}
}

func (w *s3Worker) newState(data Content, kind string, op uint64) *State {
	return &State{Data: data, Kind: kind, Op: op,
		CType: contentTypes[w.rng.IntN(len(contentTypes))],
		Meta: map[string]string{
			"crash-op":   strconv.FormatUint(op, 10),
			"crash-kind": kind,
		}}
}

func (w *s3Worker) put(ctx context.Context, k *keyRec, size int64, kind string) error {
	op, seed := w.h.nextOp()
	return w.putState(ctx, k, w.newState(Gen(seed, size), kind, op))
}

// putDedup writes bytes another key of this worker holds: the same chunks,
// a second reference, and a count that must survive either key's deletion.
func (w *s3Worker) putDedup(ctx context.Context, k *keyRec) error {
	var src []*State
	for _, o := range w.keys {
		if !o.cur.Absent && o.cur.Data.Size() > 8<<10 {
			src = append(src, o.cur)
		}
	}
	if len(src) == 0 {
		return w.put(ctx, k, 8<<10+1+w.rng.Int64N(2*mib), "put-chunk")
	}
	op, _ := w.h.nextOp()
	return w.putState(ctx, k, w.newState(src[w.rng.IntN(len(src))].Data, "put-dedup", op))
}

func (w *s3Worker) putState(ctx context.Context, k *keyRec, st *State) error {
	w.h.register(st)
	k.begin(st.Kind, st)
	_, err := w.h.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(k.bucket), Key: aws.String(k.key),
		Body: st.Data.Reader(), ContentLength: aws.Int64(st.Data.Size()),
		ContentType: aws.String(st.CType), Metadata: st.Meta,
	})
	if err != nil {
		return w.h.failed(fmt.Sprintf("%s %s (%v)", st.Kind, k.name(), st.Data), err)
	}
	k.ack(st)
	w.h.acked.add("op/"+st.Kind, 1)
	w.h.acked.add("bytes/"+st.Kind, st.Data.Size())
	return nil
}

// partMD5 is the quoted MD5 of the part's bytes: its ETag.
func partMD5(c Content, off, n int64) string {
	m := md5.New()
	io.Copy(m, io.NewSectionReader(c, off, n))
	return `"` + hex.EncodeToString(m.Sum(nil)) + `"`
}

// multipart uploads 1..maxParts parts (5 MiB each but the last) and
// completes, or, when leaveOpen, leaves the upload in progress for a later
// cycle to complete or abort (or for the kill to find).
func (w *s3Worker) multipart(ctx context.Context, k *keyRec, leaveOpen bool) error {
	r := w.rng
	op, seed := w.h.nextOp()
	st := w.newState(nil, "mpu", op)
	u := &upRec{key: k, seed: seed, ctype: st.CType, meta: st.Meta, op: op}
	var sizes []int64
	n := 1 + r.IntN(w.h.cfg.maxParts)
	for range n - 1 {
		sizes = append(sizes, 5*mib)
	}
	if n == 1 {
		sizes = append(sizes, 1+r.Int64N(3*mib))
	} else {
		sizes = append(sizes, 1+r.Int64N(2*mib))
	}

	w.creating = append(w.creating, u)
	out, err := w.h.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(k.bucket), Key: aws.String(k.key),
		ContentType: aws.String(u.ctype), Metadata: u.meta,
	})
	if err != nil {
		return w.h.failed("create multipart upload "+k.name(), err)
	}
	w.creating = w.creating[:len(w.creating)-1]
	u.id = aws.ToString(out.UploadId)
	w.uploads = append(w.uploads, u)
	w.h.acked.add("op/mpu-create", 1)

	var off int64
	all := Gen(seed, 1<<40)
	for i, size := range sizes {
		p := partRec{num: int32(i + 1), size: size, etag: partMD5(all, off, size)}
		u.inflight = &p
		res, err := w.h.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(k.bucket), Key: aws.String(k.key), UploadId: aws.String(u.id),
			PartNumber: aws.Int32(p.num), Body: io.NewSectionReader(all, off, size), ContentLength: aws.Int64(size),
		})
		if err != nil {
			return w.h.failed(fmt.Sprintf("upload part %d of %s", p.num, k.name()), err)
		}
		if got := aws.ToString(res.ETag); got != p.etag {
			w.h.t.Errorf("upload part %d of %s: ETag %s, want %s", p.num, k.name(), got, p.etag)
		}
		u.parts = append(u.parts, p)
		u.inflight = nil
		off += size
		w.h.acked.add("op/mpu-part", 1)
		w.h.acked.add("bytes/mpu-part", size)
	}
	if leaveOpen {
		w.h.acked.add("op/mpu-left-open", 1)
		return nil
	}
	return w.complete(ctx, u, "mpu-complete")
}

// complete completes u with the parts it has: the object is the prefix of
// the upload's stream that they cover.
func (w *s3Worker) complete(ctx context.Context, u *upRec, kind string) error {
	var total int64
	var parts []types.CompletedPart
	for _, p := range u.parts {
		total += p.size
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: aws.String(p.etag)})
	}
	st := &State{Data: Gen(u.seed, total), CType: u.ctype, Meta: u.meta, Op: u.op, Kind: "mpu"}
	w.h.register(st)
	u.completing = st
	u.key.begin(kind, st)
	_, err := w.h.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(u.key.bucket), Key: aws.String(u.key.key), UploadId: aws.String(u.id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return w.h.failed("complete multipart upload "+u.key.name(), err)
	}
	u.key.ack(st)
	w.forget(u)
	w.h.acked.add("op/"+kind, 1)
	w.h.acked.add("bytes/"+kind, total)
	return nil
}

func (w *s3Worker) abort(ctx context.Context, u *upRec) error {
	u.aborting = true
	_, err := w.h.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(u.key.bucket), Key: aws.String(u.key.key), UploadId: aws.String(u.id),
	})
	if err != nil {
		return w.h.failed("abort multipart upload "+u.key.name(), err)
	}
	w.forget(u)
	w.h.acked.add("op/mpu-abort", 1)
	return nil
}

func (w *s3Worker) forget(u *upRec) {
	w.uploads = slices.DeleteFunc(w.uploads, func(o *upRec) bool { return o == u })
}

// resume completes or aborts an upload left open, usually by an earlier
// cycle: its parts survived a kill and a restart.
func (w *s3Worker) resume(ctx context.Context) error {
	u := w.uploads[w.rng.IntN(len(w.uploads))]
	if len(u.parts) == 0 || w.rng.IntN(3) == 0 {
		return w.abort(ctx, u)
	}
	return w.complete(ctx, u, "mpu-complete-resumed")
}

// copy copies another key of this worker onto k: metadata only, the same
// chunks, with the source's metadata or new metadata.
func (w *s3Worker) copy(ctx context.Context, k *keyRec) error {
	var srcs []*keyRec
	for _, o := range w.keys {
		if !o.cur.Absent && o != k {
			srcs = append(srcs, o)
		}
	}
	if len(srcs) == 0 {
		return w.put(ctx, k, 16+w.rng.Int64N(8<<10), "put-inline")
	}
	src := srcs[w.rng.IntN(len(srcs))]
	in := &s3.CopyObjectInput{
		Bucket: aws.String(k.bucket), Key: aws.String(k.key),
		CopySource: aws.String(src.bucket + "/" + src.key),
	}
	st := &State{Data: src.cur.Data, CType: src.cur.CType, Meta: src.cur.Meta, Op: src.cur.Op, Kind: src.cur.Kind}
	kind := "copy"
	if w.rng.IntN(2) == 0 {
		kind = "copy-replace"
		op, _ := w.h.nextOp()
		st = w.newState(src.cur.Data, kind, op)
		w.h.register(st)
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType = aws.String(st.CType)
		in.Metadata = st.Meta
	}
	k.begin(kind, st)
	if _, err := w.h.c.CopyObject(ctx, in); err != nil {
		return w.h.failed(fmt.Sprintf("%s %s to %s", kind, src.name(), k.name()), err)
	}
	k.ack(st)
	w.h.acked.add("op/"+kind, 1)
	w.h.acked.add("bytes/"+kind, st.Data.Size())
	return nil
}

func (w *s3Worker) delete(ctx context.Context, k *keyRec) error {
	k.begin("delete", absent)
	_, err := w.h.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key)})
	if err != nil {
		return w.h.failed("delete "+k.name(), err)
	}
	k.ack(absent)
	w.h.acked.add("op/delete", 1)
	return nil
}

package crashtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// observed is what one read of a key returned.
type observed struct {
	absent bool
	size   int64
	ctype  string
	meta   map[string]string
}

func (o observed) String() string {
	if o.absent {
		return "absent"
	}
	return fmt.Sprintf("%d bytes, content-type %q, metadata %v", o.size, o.ctype, o.meta)
}

// verify checks every key over S3 (and through the mount for files written
// there), the listings and the multipart uploads against the record, then
// makes what it found the record's acknowledged state. It returns how many
// operations were in flight at the kill.
func (h *harness) verify(ctx context.Context) int {
	inflight := 0
	for _, k := range h.keys {
		if len(k.maybe) > 0 {
			inflight++
		}
		got := h.checkKey(ctx, k)
		if got == nil {
			continue
		}
		if len(k.maybe) > 0 {
			outcome := "old"
			if got != k.cur {
				outcome = "new"
				if got.Kind == "fs-truncated" {
					outcome = "truncated"
				}
			}
			h.figures.add("inflight/"+k.inflight+"-"+outcome, 1)
		}
		k.ack(got)
	}
	for _, w := range h.fsw {
		// Checked after every key was resolved above.
		moved := 0
		for _, p := range w.renaming {
			if (p.from.cur == p.moved) == (p.to.cur == p.moved) {
				h.t.Errorf("rename %s -> %s in flight at the kill is not atomic: source %v, target %v",
					p.from.name(), p.to.name(), p.from.cur, p.to.cur)
			}
			if p.to.cur == p.moved {
				moved++
			}
		}
		if moved != 0 && moved != len(w.renaming) {
			h.t.Errorf("directory rename in flight at the kill moved %d of its %d keys", moved, len(w.renaming))
		}
		w.renaming = nil
	}
	h.checkListing(ctx)
	for _, w := range h.s3w {
		inflight += len(w.creating)
		h.checkUploads(ctx, w)
	}
	return inflight
}

// checkKey reads k over S3 and returns the candidate state it holds, or
// nil (and fails the test) if it holds none of them.
func (h *harness) checkKey(ctx context.Context, k *keyRec) *State {
	t := h.t
	cands := k.candidates()
	got, err := h.readS3(ctx, k, cands)
	if err != nil {
		t.Errorf("%s: %v", k.name(), err)
		return nil
	}
	h.figures.add("verified-keys", 1)
	if k.mount == "" {
		return got
	}
	viaMount, err := h.readMount(k, cands)
	if err != nil {
		t.Errorf("%s through the mount: %v", k.name(), err)
		return nil
	}
	if viaMount != got {
		t.Errorf("%s: S3 reads %v, the mount %v", k.name(), got, viaMount)
		return nil
	}
	return got
}

// pick returns the candidates whose size and metadata the observation
// agrees with; matching the bytes decides among them.
func pick(o observed, cands []*State) (absentOK bool, rest []*State) {
	for _, c := range cands {
		switch {
		case c.Absent:
			absentOK = true
		case o.absent, c.Data.Size() != o.size:
		case c.CType != "" && c.CType != o.ctype:
		case c.Meta != nil && !maps.Equal(c.Meta, o.meta):
		default:
			rest = append(rest, c)
		}
	}
	return absentOK, rest
}

// matchBody reads body and returns the state among cands whose bytes it
// holds.
func matchBody(body io.Reader, o observed, cands []*State, all []*State) (*State, int64, error) {
	datas := make([]Bytes, len(cands))
	for i, c := range cands {
		datas[i] = c.Data
	}
	idx, n, diff, err := Match(body, datas)
	if err != nil {
		return nil, n, fmt.Errorf("read: %w", err)
	}
	if idx < 0 {
		var b strings.Builder
		for i, c := range cands {
			fmt.Fprintf(&b, "\n\t%v: first differing byte at %d", c, diff[i])
		}
		return nil, n, fmt.Errorf("holds %s (%d bytes read) matching none of the acceptable states %v: partial or mixed content:%s",
			o, n, all, b.String())
	}
	return cands[idx], n, nil
}

func (h *harness) readS3(ctx context.Context, k *keyRec, cands []*State) (*State, error) {
	out, err := h.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		if absentOK, _ := pick(observed{absent: true}, cands); absentOK {
			if err := h.headAbsent(ctx, k); err != nil {
				return nil, err
			}
			return absent, nil
		}
		return nil, fmt.Errorf("absent, but the acceptable states are %v: acknowledged write lost", cands)
	}
	if err != nil {
		return nil, fmt.Errorf("GET: %w", err)
	}
	defer out.Body.Close()
	o := observed{size: aws.ToInt64(out.ContentLength), ctype: aws.ToString(out.ContentType), meta: out.Metadata}
	_, rest := pick(o, cands)
	if len(rest) == 0 {
		what := "matching none of the acceptable states"
		if len(cands) == 1 && cands[0].Absent {
			what = "acknowledged deleted"
		}
		return nil, fmt.Errorf("GET: %s, %s %v", o, what, cands)
	}
	got, n, err := matchBody(out.Body, o, rest, cands)
	h.figures.add("verified-s3-bytes", n)
	if err != nil {
		return nil, fmt.Errorf("GET: %w", err)
	}
	head, err := h.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key)})
	if err != nil {
		return nil, fmt.Errorf("HEAD after GET: %w", err)
	}
	ho := observed{size: aws.ToInt64(head.ContentLength), ctype: aws.ToString(head.ContentType), meta: head.Metadata}
	if ho.size != o.size || ho.ctype != o.ctype || !maps.Equal(ho.meta, o.meta) || aws.ToString(head.ETag) != aws.ToString(out.ETag) {
		return nil, fmt.Errorf("HEAD says %s ETag %s, GET said %s ETag %s", ho, aws.ToString(head.ETag), o, aws.ToString(out.ETag))
	}
	return got, nil
}

func (h *harness) headAbsent(ctx context.Context, k *keyRec) error {
	_, err := h.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key)})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		return fmt.Errorf("GET says no such key, HEAD says %v", err)
	}
	return nil
}

func (h *harness) readMount(k *keyRec, cands []*State) (*State, error) {
	f, err := os.Open(k.mount)
	if errors.Is(err, os.ErrNotExist) {
		if absentOK, _ := pick(observed{absent: true}, cands); absentOK {
			return absent, nil
		}
		return nil, fmt.Errorf("absent, but the acceptable states are %v", cands)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	o := observed{size: fi.Size()}
	_, rest := pick(o, cands)
	if len(rest) == 0 {
		return nil, fmt.Errorf("%d bytes, matching none of the acceptable states %v", o.size, cands)
	}
	got, n, err := matchBody(f, o, rest, cands)
	h.figures.add("verified-mount-bytes", n)
	return got, err
}

// checkListing lists both buckets over S3, and the mount's bucket
// directory: exactly the keys found present, at their sizes.
func (h *harness) checkListing(ctx context.Context) {
	t := h.t
	want := map[string]map[string]int64{s3Bucket: {}, fsBucket: {}}
	for _, k := range h.keys {
		if k.cur != nil && !k.cur.Absent {
			want[k.bucket][k.key] = k.cur.Data.Size()
		}
	}
	for bucket, keys := range want {
		got := map[string]int64{}
		p := s3.NewListObjectsV2Paginator(h.c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(7)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("list %s: %v", bucket, err)
				return
			}
			for _, o := range page.Contents {
				got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
			}
		}
		for key, size := range got {
			if ws, ok := keys[key]; !ok {
				t.Errorf("list %s: key %s (%d bytes) is listed but was never written or was found absent", bucket, key, size)
			} else if ws != size {
				t.Errorf("list %s: key %s listed with %d bytes, GET read %d", bucket, key, size, ws)
			}
		}
		for key := range keys {
			if _, ok := got[key]; !ok {
				t.Errorf("list %s: key %s is readable but not listed", bucket, key)
			}
		}
	}
	// Through the mount: the bucket's directory and each directory in it
	// list exactly the names the present keys give them.
	dirs := map[string]map[string]bool{"": {}}
	for key := range want[fsBucket] {
		dir, name, nested := strings.Cut(key, "/")
		dirs[""][dir] = true
		if nested {
			if dirs[dir] == nil {
				dirs[dir] = map[string]bool{}
			}
			if name != "" {
				dirs[dir][name] = true
			}
		}
	}
	for dir, names := range dirs {
		ents, err := os.ReadDir(filepath.Join(h.mnt, fsBucket, dir))
		if err != nil {
			t.Errorf("readdir through the mount: %v", err)
			continue
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		slices.Sort(got)
		if wantNames := slices.Sorted(maps.Keys(names)); !slices.Equal(got, wantNames) {
			t.Errorf("readdir %s/%s through the mount: %v, want %v", fsBucket, dir, got, wantNames)
		}
	}
}

// checkUploads lists the worker's multipart uploads: every acknowledged one
// is there with exactly its acknowledged parts (plus, perhaps, the part in
// flight at the kill); a completion or abort in flight happened entirely or
// not at all; an upload nobody knows the id of is only allowed for a key
// whose CreateMultipartUpload was in flight, and is adopted (then aborted
// by the next collection).
func (h *harness) checkUploads(ctx context.Context, w *s3Worker) {
	t := h.t
	prefix := w.prefix
	listed := map[string]string{} // id -> key
	p := s3.NewListMultipartUploadsPaginator(h.c, &s3.ListMultipartUploadsInput{Bucket: aws.String(s3Bucket), Prefix: aws.String(prefix), MaxUploads: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Errorf("list uploads: %v", err)
			return
		}
		for _, u := range page.Uploads {
			listed[aws.ToString(u.UploadId)] = aws.ToString(u.Key)
		}
	}
	var keep []*upRec
	for _, u := range w.uploads {
		_, there := listed[u.id]
		delete(listed, u.id)
		switch {
		case u.completing != nil:
			done := u.key.cur == u.completing
			if there == done {
				t.Errorf("upload %s of %s, completion in flight at the kill: upload listed %v, object completed %v (must be exactly one)",
					u.id, u.key.name(), there, done)
			}
			h.figures.add("inflight/mpu-complete-"+map[bool]string{true: "new", false: "old"}[done], 1)
			u.completing = nil
		case u.aborting:
			h.figures.add("inflight/mpu-abort-"+map[bool]string{true: "old", false: "new"}[there], 1)
			u.aborting = false
		case !there:
			t.Errorf("upload %s of %s (%d acknowledged parts) is gone: acknowledged upload lost", u.id, u.key.name(), len(u.parts))
		}
		if there {
			h.checkParts(ctx, u)
			keep = append(keep, u)
		}
	}
	w.uploads = keep
	for id, key := range listed {
		i := slices.IndexFunc(w.creating, func(u *upRec) bool { return u.key.key == key })
		if i < 0 {
			t.Errorf("upload %s of %s is listed but was never created", id, key)
			continue
		}
		u := w.creating[i]
		w.creating = slices.Delete(w.creating, i, i+1)
		u.id = id
		h.figures.add("inflight/mpu-create-new", 1)
		h.checkParts(ctx, u)
		w.uploads = append(w.uploads, u)
	}
	h.figures.add("inflight/mpu-create-old", int64(len(w.creating)))
	w.creating = nil
}

// checkParts lists u's parts: the acknowledged ones exactly, plus the one
// in flight at the kill if it landed whole.
func (h *harness) checkParts(ctx context.Context, u *upRec) {
	t := h.t
	h.figures.add("verified-uploads", 1)
	var got []types.Part
	p := s3.NewListPartsPaginator(h.c, &s3.ListPartsInput{Bucket: aws.String(u.key.bucket), Key: aws.String(u.key.key), UploadId: aws.String(u.id)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Errorf("list parts of %s: %v", u.key.name(), err)
			return
		}
		got = append(got, page.Parts...)
	}
	want := u.parts
	if u.inflight != nil && len(got) == len(want)+1 {
		want = append(want, *u.inflight)
		h.figures.add("inflight/mpu-part-new", 1)
	} else if u.inflight != nil {
		h.figures.add("inflight/mpu-part-old", 1)
	}
	u.inflight = nil
	if len(got) != len(want) {
		t.Errorf("upload %s of %s: %d parts listed, want %d", u.id, u.key.name(), len(got), len(want))
		return
	}
	for i, g := range got {
		wp := want[i]
		if aws.ToInt32(g.PartNumber) != wp.num || aws.ToInt64(g.Size) != wp.size || aws.ToString(g.ETag) != wp.etag {
			t.Errorf("upload %s of %s: part %d listed as number %d, %d bytes, ETag %s; want %d bytes, ETag %s",
				u.id, u.key.name(), wp.num, aws.ToInt32(g.PartNumber), aws.ToInt64(g.Size), aws.ToString(g.ETag), wp.size, wp.etag)
			return
		}
		h.figures.add("verified-parts", 1)
	}
	u.parts = want
}

package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/chunkstore"
)

// scrubCatalog is what Scrub reads beyond Catalog: every org, upload and
// part, and the stored reference counts. *catalog.DB implements it; a
// catalog that does not cannot be scrubbed.
type scrubCatalog interface {
	ListOrgs(ctx context.Context) ([]catalog.Org, error)
	ListUploads(ctx context.Context, bucketID uint64, prefix, keyMarker, uploadIDMarker string, maxUploads int) ([]catalog.Upload, bool, error)
	ListParts(ctx context.Context, bucketID uint64, uploadID string, afterPart, maxParts int) ([]catalog.UploadPart, bool, error)
	ForEachRef(ctx context.Context, fn func(id chunkstore.ID, n int64) error) error
}

// ScrubReport is what Scrub found. The store is healthy when Damaged is
// false.
type ScrubReport struct {
	Chunks        int   // chunk files read
	ChunkBytes    int64 // plaintext bytes read and authenticated
	Objects       int   // manifests walked
	Parts         int   // multipart parts walked
	ReferencedIDs int   // distinct chunks referenced by manifests and parts
	Bodies        int   // object bodies kept in the catalog, read and checked
	BodyBytes     int64 // their bytes

	// Corrupt chunks failed authentication (or could not be read).
	Corrupt []ChunkProblem
	// Missing chunks are referenced but have no chunk file: the objects
	// using them cannot be read (dangling references).
	Missing []ChunkProblem
	// Mismatched reference counts differ from a recount over manifests and
	// parts, in two passes, so writes during the scrub do not show up.
	Mismatched []RefMismatch
}

// ChunkProblem names a damaged or missing chunk and, for missing ones, a
// key that references it.
type ChunkProblem struct {
	Chunk chunkstore.ID
	Err   string // what reading it returned (corrupt chunks)
	Ref   string // "bucket/key" or "bucket/key#upload/part" of one user (missing chunks)
}

// RefMismatch is a chunk whose stored count differs from the recount. A
// count too high only delays collection; a count too low lets GC delete a
// chunk still in use.
type RefMismatch struct {
	Chunk   chunkstore.ID
	Stored  int64
	Counted int64
}

// Damaged reports whether the scrub found anything wrong.
func (r *ScrubReport) Damaged() bool {
	return len(r.Corrupt) > 0 || len(r.Missing) > 0 || len(r.Mismatched) > 0
}

// counted is a recount: per chunk, how many manifests and parts reference
// it, and one of them for the report.
type counted struct {
	n   map[chunkstore.ID]int64
	ref map[chunkstore.ID]string
}

// Scrub checks the whole store: it recounts chunk references over every
// manifest and upload part and compares them with the stored counts, checks
// that every referenced chunk exists, and reads and authenticates every
// chunk file. It changes nothing. It runs alongside normal traffic (and
// the collector), so it treats what a concurrent write or delete explains
// as no damage; a count mismatch is reported only if a second recount
// agrees with the first.
func (l *Layer) Scrub(ctx context.Context) (ScrubReport, error) {
	var rep ScrubReport
	sc, ok := l.meta.(scrubCatalog)
	if !ok {
		return rep, errors.New("objects: scrub: the catalog cannot enumerate uploads and reference counts")
	}
	first, err := l.recount(ctx, sc, &rep)
	if err != nil {
		return rep, fmt.Errorf("objects: scrub: %w", err)
	}
	stored, err := storedRefs(ctx, sc)
	if err != nil {
		return rep, fmt.Errorf("objects: scrub: %w", err)
	}
	for id := range first.n {
		if !catalog.IsBodyID(id) {
			rep.ReferencedIDs++
		}
	}

	// Read every chunk file, after the references were taken: a chunk is
	// durable before the commit that references it, so every chunk
	// referenced above is listed here unless it was deleted since.
	present := map[chunkstore.ID]bool{}
	err = l.chunks.List(ctx, func(id chunkstore.ID, _ int64) error {
		present[id] = true
		n, err := l.readChunk(ctx, id)
		rep.ChunkBytes += n
		rep.Chunks++
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist):
			// Collected since it was listed; checked with the missing below.
			delete(present, id)
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			rep.Corrupt = append(rep.Corrupt, ChunkProblem{Chunk: id, Err: err.Error()})
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("objects: scrub: %w", err)
	}

	for _, id := range sortedIDs(first.n) {
		if present[id] {
			continue
		}
		if catalog.IsBodyID(id) {
			// An object body: a catalog value, not a chunk file.
			if err := l.scrubBody(ctx, id, stored[id], first.ref[id], &rep); err != nil {
				return rep, fmt.Errorf("objects: scrub: %w", err)
			}
			continue
		}
		// Still referenced now? A delete between the recount and the
		// listing (then GC) explains a missing file.
		n, err := l.meta.RefCount(ctx, id)
		if err != nil {
			return rep, fmt.Errorf("objects: scrub: %w", err)
		}
		if n == 0 && stored[id] != 0 {
			continue
		}
		rep.Missing = append(rep.Missing, ChunkProblem{Chunk: id, Ref: first.ref[id]})
	}

	suspects := mismatches(first.n, stored)
	if len(suspects) == 0 {
		return rep, nil
	}
	second, err := l.recount(ctx, sc, nil)
	if err != nil {
		return rep, fmt.Errorf("objects: scrub: %w", err)
	}
	for _, m := range suspects {
		now, err := l.meta.RefCount(ctx, m.Chunk)
		if err != nil {
			return rep, fmt.Errorf("objects: scrub: %w", err)
		}
		if now == m.Stored && second.n[m.Chunk] == m.Counted {
			rep.Mismatched = append(rep.Mismatched, m)
		}
	}
	return rep, nil
}

// readChunk reads a chunk to its end, which authenticates every segment.
func (l *Layer) readChunk(ctx context.Context, id chunkstore.ID) (int64, error) {
	rc, err := l.chunks.Open(ctx, id, 0, -1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// recount walks every manifest and upload part. rep, if non-nil, gets the
// object and part counts.
func (l *Layer) recount(ctx context.Context, sc scrubCatalog, rep *ScrubReport) (counted, error) {
	c := counted{n: map[chunkstore.ID]int64{}, ref: map[chunkstore.ID]string{}}
	add := func(ids []chunkstore.ID, ref string) {
		for _, id := range ids {
			c.n[id]++
			if _, ok := c.ref[id]; !ok {
				c.ref[id] = ref
			}
		}
	}
	orgs, err := sc.ListOrgs(ctx)
	if err != nil {
		return c, err
	}
	for _, o := range orgs {
		buckets, err := l.meta.ListBuckets(ctx, o.ID)
		if err != nil {
			return c, err
		}
		for _, b := range buckets {
			opts := catalog.ListOptions{}
			for {
				page, err := l.meta.List(ctx, b.ID, opts)
				if err != nil {
					return c, err
				}
				for _, e := range page.Objects {
					m, err := l.meta.Object(ctx, b.ID, e.Key)
					if errors.Is(err, catalog.ErrNotFound) {
						continue // deleted since the page was read
					}
					if err != nil {
						return c, err
					}
					if rep != nil {
						rep.Objects++
					}
					add(m.Chunks(), b.Name+"/"+e.Key)
				}
				if !page.IsTruncated {
					break
				}
				opts.ContinueAfter = page.Next
			}
			if err := l.recountUploads(ctx, sc, b, rep, add); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

func (l *Layer) recountUploads(ctx context.Context, sc scrubCatalog, b catalog.Bucket, rep *ScrubReport, add func([]chunkstore.ID, string)) error {
	var keyMarker, idMarker string
	for {
		ups, more, err := sc.ListUploads(ctx, b.ID, "", keyMarker, idMarker, 0)
		if err != nil {
			return err
		}
		for _, u := range ups {
			after := 0
			for {
				parts, more, err := sc.ListParts(ctx, b.ID, u.ID, after, 0)
				if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrNoSuchUpload) {
					break // completed or aborted since listed
				}
				if err != nil {
					return err
				}
				for _, p := range parts {
					if rep != nil {
						rep.Parts++
					}
					m := catalog.Manifest{Extents: p.Extents}
					add(m.Chunks(), fmt.Sprintf("%s/%s#%s/%d", b.Name, u.Key, u.ID, p.Number))
					after = p.Number
				}
				if !more || len(parts) == 0 {
					break
				}
			}
		}
		if !more || len(ups) == 0 {
			return nil
		}
		last := ups[len(ups)-1]
		keyMarker, idMarker = last.Key, last.ID
	}
}

func storedRefs(ctx context.Context, sc scrubCatalog) (map[chunkstore.ID]int64, error) {
	m := map[chunkstore.ID]int64{}
	err := sc.ForEachRef(ctx, func(id chunkstore.ID, n int64) error {
		m[id] = n
		return nil
	})
	return m, err
}

func mismatches(counted, stored map[chunkstore.ID]int64) []RefMismatch {
	var out []RefMismatch
	for id, n := range counted {
		if stored[id] != n {
			out = append(out, RefMismatch{Chunk: id, Stored: stored[id], Counted: n})
		}
	}
	for id, n := range stored {
		if _, ok := counted[id]; !ok {
			out = append(out, RefMismatch{Chunk: id, Stored: n})
		}
	}
	slices.SortFunc(out, func(a, b RefMismatch) int { return compareID(a.Chunk, b.Chunk) })
	return out
}

func sortedIDs(m map[chunkstore.ID]int64) []chunkstore.ID {
	ids := make([]chunkstore.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareID)
	return ids
}

func compareID(a, b chunkstore.ID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// bodyCatalog reads object bodies; *catalog.DB is one.
type bodyCatalog interface {
	Body(ctx context.Context, id chunkstore.ID, size int64) ([]byte, error)
}

// scrubBody reads an object body the recount found referenced, which
// checks its checksum: a corrupt one is reported with the chunks, a
// missing one that is still referenced as missing.
func (l *Layer) scrubBody(ctx context.Context, id chunkstore.ID, stored int64, ref string, rep *ScrubReport) error {
	bc, ok := l.meta.(bodyCatalog)
	if !ok {
		return nil
	}
	p, err := bc.Body(ctx, id, -1)
	switch {
	case err == nil:
		rep.Bodies++
		rep.BodyBytes += int64(len(p))
		return nil
	case errors.Is(err, catalog.ErrNotFound):
		n, err := l.meta.RefCount(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 && stored != 0 {
			return nil // the object went since the recount
		}
		rep.Missing = append(rep.Missing, ChunkProblem{Chunk: id, Ref: ref})
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		rep.Corrupt = append(rep.Corrupt, ChunkProblem{Chunk: id, Err: err.Error()})
	}
	return nil
}

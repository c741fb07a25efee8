package console

import (
	"context"
	"net/http"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw"
)

// bucketJSON is one bucket as the console shows it. Objects and Bytes are
// counted by listing, up to countLimit objects; Counted says whether the
// count is complete (a bucket of a million keys shows "more than").
type bucketJSON struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	Public    bool      `json:"public"`
	PublicURL string    `json:"public_url,omitempty"`
	Objects   int64     `json:"objects"`
	Bytes     int64     `json:"bytes"`
	Counted   bool      `json:"counted"`
}

// countLimit bounds the listing behind a bucket's counts, and countBudget
// that of one bucket list: it must come back quickly however big and many
// the buckets are.
const (
	countLimit  = 10000
	countBudget = 100000
)

// bucketJSON describes b; count, when not nil, is the listing budget left
// for counting its objects, and is spent.
func (s *Server) bucketJSON(ctx context.Context, b catalog.Bucket, budget *int) (bucketJSON, error) {
	out := bucketJSON{Name: b.Name, Created: b.Created.UTC(), Public: b.Public}
	if b.Public {
		if base := s.cfg.PublicURL(b.OrgID); base != "" {
			out.PublicURL = base + "/" + b.Name + "/"
		}
	}
	if budget == nil {
		out.Counted = true
		return out, nil
	}
	if *budget <= 0 {
		return out, nil
	}
	opts := catalog.ListOptions{MaxKeys: 1000}
	for {
		res, err := s.cfg.Objects.List(ctx, b.OrgID, b.Name, opts)
		if err != nil {
			return out, err
		}
		for _, o := range res.Objects {
			out.Objects++
			out.Bytes += o.Size
		}
		*budget -= len(res.Objects)
		if !res.IsTruncated {
			out.Counted = true
			return out, nil
		}
		if out.Objects >= countLimit || *budget <= 0 {
			return out, nil
		}
		opts.ContinueAfter = res.Next
	}
}

func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, c *call) error {
	bs, err := s.cfg.Objects.ListBuckets(r.Context(), c.org())
	if err != nil {
		return err
	}
	out := []bucketJSON{}
	budget := countBudget
	for _, b := range bs {
		if !s3gw.BucketAllowed(c.key, b.Name) {
			continue
		}
		j, err := s.bucketJSON(r.Context(), b, &budget)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"buckets": out})
}

func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := readJSON(r, &in, 4<<10); err != nil {
		return err
	}
	// The path names no bucket, so the scope check is here.
	if err := s3gw.Authorize(c.key, s3gw.OpCreateBucket, in.Name); err != nil {
		return err
	}
	if err := catalog.ValidBucketName(in.Name); err != nil {
		return apiErr(http.StatusBadRequest, "InvalidBucketName", "%v", err)
	}
	b, err := s.cfg.Objects.CreateBucket(r.Context(), c.org(), in.Name)
	if err != nil {
		return err
	}
	s.log.Info("console: bucket created", "access_key", c.key.ID, "org", c.org(), "bucket", b.Name)
	j, err := s.bucketJSON(r.Context(), b, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, j)
}

func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("b")
	if err := s.cfg.Objects.DeleteBucket(r.Context(), c.org(), name); err != nil {
		if code, _, _ := s3gw.ErrorInfo(err); code == "BucketNotEmpty" {
			return apiErr(http.StatusConflict, "BucketNotEmpty", "Bucket %q still holds objects or unfinished uploads; delete them first.", name)
		}
		return err
	}
	s.log.Info("console: bucket deleted", "access_key", c.key.ID, "org", c.org(), "bucket", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) setPublic(w http.ResponseWriter, r *http.Request, c *call) error {
	name := r.PathValue("b")
	var in struct {
		Public *bool `json:"public"`
	}
	if err := readJSON(r, &in, 1<<10); err != nil {
		return err
	}
	if in.Public == nil {
		return badRequest(`The body must say {"public": true} or {"public": false}.`)
	}
	if *in.Public && s.cfg.PublicURL(c.org()) == "" {
		return apiErr(http.StatusConflict, "NoPublicDomain", "This server has no public domain (setting public_domain), so a bucket cannot be made public.")
	}
	if err := s.cfg.Catalog.SetBucketPublic(r.Context(), c.org(), name, *in.Public); err != nil {
		return err
	}
	b, err := s.cfg.Objects.Bucket(r.Context(), c.org(), name)
	if err != nil {
		return err
	}
	s.log.Info("console: bucket visibility", "access_key", c.key.ID, "org", c.org(), "bucket", name, "public", *in.Public)
	j, err := s.bucketJSON(r.Context(), b, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

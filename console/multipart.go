package console

import (
	"net/http"
	"strconv"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// maxPart is S3's bound on one part.
const maxPart = 5 << 30

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Key         string `json:"key"`
		ContentType string `json:"content_type"`
	}
	if err := readJSON(r, &in, 8<<10); err != nil {
		return err
	}
	if err := checkKey(in.Key); err != nil {
		return err
	}
	meta := catalog.Manifest{}
	if in.ContentType != "" {
		h := http.Header{"Content-Type": {in.ContentType}}
		meta.ContentType = contentType(&http.Request{Header: h})
	}
	up, err := s.cfg.Objects.CreateMultipart(r.Context(), c.org(), r.PathValue("b"), in.Key, meta)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"upload_id": up.ID, "key": in.Key})
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, c *call) error {
	ups, truncated, err := s.cfg.Objects.ListUploads(r.Context(), c.org(), r.PathValue("b"), r.URL.Query().Get("prefix"), "", "", 1000)
	if err != nil {
		return err
	}
	type uploadJSON struct {
		Key       string    `json:"key"`
		UploadID  string    `json:"upload_id"`
		Initiated time.Time `json:"initiated"`
	}
	out := []uploadJSON{}
	for _, u := range ups {
		out = append(out, uploadJSON{Key: u.Key, UploadID: u.ID, Initiated: u.Initiated.UTC()})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"uploads": out, "truncated": truncated})
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > 10000 {
		return badRequest("The part number must be between 1 and 10000.")
	}
	if r.ContentLength > maxPart {
		return apiErr(http.StatusBadRequest, "EntityTooLarge", "A part holds at most 5 GiB.")
	}
	p, err := s.cfg.Objects.UploadPart(r.Context(), c.org(), r.PathValue("b"), key, r.PathValue("id"), n,
		http.MaxBytesReader(w, r.Body, maxPart), objects.PartOptions{Size: r.ContentLength})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"number": n, "etag": p.ETag, "size": p.Size})
}

type partJSON struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
}

// listParts is what a resumed upload asks: which parts the server has.
func (s *Server) listParts(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	out := []partJSON{}
	after := 0
	for {
		_, parts, truncated, err := s.cfg.Objects.ListParts(r.Context(), c.org(), r.PathValue("b"), key, r.PathValue("id"), after, 1000)
		if err != nil {
			return err
		}
		for _, p := range parts {
			out = append(out, partJSON{Number: p.Number, Size: p.Size, ETag: p.ETag})
			after = p.Number
		}
		if !truncated || len(parts) == 0 {
			break
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"key": key, "upload_id": r.PathValue("id"), "parts": out})
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	var in struct {
		Parts []struct {
			Number int    `json:"number"`
			ETag   string `json:"etag"`
		} `json:"parts"`
	}
	if err := readJSON(r, &in, 2<<20); err != nil {
		return err
	}
	if len(in.Parts) == 0 || len(in.Parts) > 10000 {
		return badRequest("Name between 1 and 10000 parts.")
	}
	parts := make([]objects.CompletePart, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = objects.CompletePart{Number: p.Number, ETag: p.ETag}
	}
	m, err := s.cfg.Objects.CompleteMultipart(r.Context(), c.org(), r.PathValue("b"), key, r.PathValue("id"), parts, objects.CompleteOptions{})
	if err != nil {
		return err
	}
	s.log.Info("console: multipart upload completed", "access_key", c.key.ID, "org", c.org(), "bucket", r.PathValue("b"), "parts", len(parts), "size", m.Size)
	return writeJSON(w, http.StatusOK, map[string]any{"etag": m.ETag, "size": m.Size})
}

func (s *Server) abort(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Objects.AbortMultipart(r.Context(), c.org(), r.PathValue("b"), key, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

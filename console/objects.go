package console

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
)

// maxKeyLen is S3's limit on a key, in bytes.
const maxKeyLen = 1024

// maxPut bounds a single PUT of an object, as S3 bounds PutObject; the
// browser sends bigger files as multipart uploads.
const maxPut = 5 << 30

func checkKey(k string) error {
	if k == "" {
		return badRequest("The object key is missing (query parameter key).")
	}
	if len(k) > maxKeyLen {
		return apiErr(http.StatusBadRequest, "KeyTooLongError", "The object key is longer than %d bytes.", maxKeyLen)
	}
	if !utf8.ValidString(k) {
		return badRequest("The object key is not valid UTF-8.")
	}
	return nil
}

func queryKey(r *http.Request) (string, error) {
	k := r.URL.Query().Get("key")
	return k, checkKey(k)
}

type objectJSON struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	ETag     string    `json:"etag"`
}

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	max := 200
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("max must be a positive number.")
		}
		max = min(n, 1000)
	}
	delim := q.Get("delimiter")
	if len(delim) > 16 {
		return badRequest("The delimiter is longer than 16 bytes.")
	}
	res, err := s.cfg.Objects.List(r.Context(), c.org(), r.PathValue("b"), catalog.ListOptions{
		Prefix: q.Get("prefix"), Delimiter: delim, ContinueAfter: q.Get("after"), MaxKeys: max,
	})
	if err != nil {
		return err
	}
	out := struct {
		Prefixes  []string     `json:"prefixes"`
		Objects   []objectJSON `json:"objects"`
		Next      string       `json:"next,omitempty"`
		Truncated bool         `json:"truncated"`
	}{Prefixes: append([]string{}, res.CommonPrefixes...), Objects: []objectJSON{}, Truncated: res.IsTruncated}
	if res.IsTruncated {
		out.Next = res.Next
	}
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, objectJSON{Key: o.Key, Size: o.Size, Modified: o.ModTime.UTC(), ETag: o.ETag})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) meta(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	m, err := s.cfg.Objects.Head(r.Context(), c.org(), r.PathValue("b"), key)
	if err != nil {
		return err
	}
	checksums := map[string]string{}
	for alg, v := range m.Checksums {
		checksums[strings.ToLower(alg)] = v
	}
	meta := map[string]string{}
	for k, v := range m.Meta {
		meta[k] = v
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"key": key, "size": m.Size, "modified": m.ModTime.UTC(), "etag": m.ETag,
		"content_type": m.ContentType, "metadata": meta, "checksums": checksums,
		"parts": len(m.Parts),
	})
}

// previewTypes are served inline by a preview: images the browser decodes
// without running anything, and text. The value is the type sent.
var previewTypes = map[string]string{
	"image/png":        "image/png",
	"image/jpeg":       "image/jpeg",
	"image/gif":        "image/gif",
	"image/webp":       "image/webp",
	"text/plain":       "text/plain; charset=utf-8",
	"text/markdown":    "text/plain; charset=utf-8",
	"text/csv":         "text/plain; charset=utf-8",
	"application/json": "text/plain; charset=utf-8",
}

// maxTextPreview bounds a text preview; the rest is a download away.
const maxTextPreview = 1 << 20

// previewCSP is added to an inline preview: were the browser ever to treat
// it as a document, it would be one with no script, no plugins and an
// opaque origin.
const previewCSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"

func (s *Server) download(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	preview := r.URL.Query().Get("preview") == "1"
	o, err := s.cfg.Objects.Open(r.Context(), c.org(), r.PathValue("b"), key)
	if err != nil {
		return err
	}
	defer o.Close()
	m := o.Manifest
	length := m.Size
	h := w.Header()
	if preview {
		base, _, _ := mime.ParseMediaType(m.ContentType)
		ct, ok := previewTypes[strings.ToLower(base)]
		if !ok {
			return apiErr(http.StatusUnsupportedMediaType, "NoPreview", "Objects of type %q are not previewed; download it instead.", m.ContentType)
		}
		if strings.HasPrefix(ct, "text/") && length > maxTextPreview {
			length = maxTextPreview
			h.Set("X-Preview-Truncated", "true")
		}
		h.Set("Content-Type", ct)
		h.Set("Content-Security-Policy", previewCSP)
		h.Set("Content-Disposition", "inline")
	} else {
		// Whatever the object says it is, the console's origin serves
		// bytes, never a document: HTML or SVG run nothing here.
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", attachment(key))
	}
	rd, err := o.NewReader(r.Context(), 0, length)
	if err != nil {
		return err
	}
	defer rd.Close()
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("ETag", m.ETag)
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rd)
	return err
}

// attachment is a Content-Disposition that saves under the key's last
// segment; mime encodes non-ASCII names as RFC 2231 filename*.
func attachment(key string) string {
	name := path.Base(strings.TrimSuffix(key, "/"))
	if name == "" || name == "." || name == "/" {
		name = "download"
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}

// contentType keeps the type the browser sent if it parses, else none.
func contentType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil || len(ct) > 256 {
		return ""
	}
	return ct
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, c *call) error {
	key, err := queryKey(r)
	if err != nil {
		return err
	}
	if r.ContentLength > maxPut {
		return apiErr(http.StatusBadRequest, "EntityTooLarge", "A single upload holds at most 5 GiB; larger files go as multipart uploads.")
	}
	body := http.MaxBytesReader(w, r.Body, maxPut)
	m, err := s.cfg.Objects.Put(r.Context(), c.org(), r.PathValue("b"), key, body, objects.PutOptions{
		Size: r.ContentLength,
		Meta: catalog.Manifest{ContentType: contentType(r)},
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"etag": m.ETag})
}

// maxDeleteKeys bounds one multi-delete request, as S3's DeleteObjects.
const maxDeleteKeys = 1000

type deleteError struct {
	Key     string `json:"key"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Keys []string `json:"keys"`
	}
	if err := readJSON(r, &in, 1<<20); err != nil {
		return err
	}
	if len(in.Keys) == 0 || len(in.Keys) > maxDeleteKeys {
		return badRequest("Name between 1 and %d keys to delete.", maxDeleteKeys)
	}
	bucket := r.PathValue("b")
	out := struct {
		Deleted []string      `json:"deleted"`
		Errors  []deleteError `json:"errors"`
		Objects int64         `json:"objects"` // objects removed, folders' contents included
	}{Deleted: []string{}, Errors: []deleteError{}}
	for _, k := range in.Keys {
		if err := checkKey(k); err != nil {
			out.Errors = append(out.Errors, deleteError{Key: k, Code: "InvalidArgument", Message: err.(*apiError).message})
			continue
		}
		var n int64
		var err error
		if strings.HasSuffix(k, "/") {
			n, err = s.deletePrefix(r, c, bucket, k)
		} else {
			err = s.cfg.Objects.Delete(r.Context(), c.org(), bucket, k)
			if err == nil {
				n = 1
			} else if errors.Is(err, catalog.ErrNotFound) {
				err = nil // as S3: deleting what is not there succeeds
			}
		}
		out.Objects += n
		if err != nil {
			if errors.Is(err, catalog.ErrNoSuchBucket) {
				return err
			}
			ae := s.toAPIError(r, err)
			out.Errors = append(out.Errors, deleteError{Key: k, Code: ae.code, Message: ae.message})
			continue
		}
		out.Deleted = append(out.Deleted, k)
	}
	s.log.Info("console: objects deleted", "access_key", c.key.ID, "org", c.org(), "bucket", bucket,
		"requested", len(in.Keys), "objects", out.Objects, "errors", len(out.Errors))
	return writeJSON(w, http.StatusOK, out)
}

// deletePrefix deletes every object under prefix (a folder), the folder's
// own marker object included, page by page.
func (s *Server) deletePrefix(r *http.Request, c *call, bucket, prefix string) (int64, error) {
	var n int64
	opts := catalog.ListOptions{Prefix: prefix, MaxKeys: 1000}
	for {
		res, err := s.cfg.Objects.List(r.Context(), c.org(), bucket, opts)
		if err != nil {
			return n, err
		}
		for _, o := range res.Objects {
			if err := s.cfg.Objects.Delete(r.Context(), c.org(), bucket, o.Key); err != nil && !errors.Is(err, catalog.ErrNotFound) {
				return n, err
			}
			n++
		}
		if !res.IsTruncated {
			return n, nil
		}
		opts.ContinueAfter = res.Next
	}
}

func (s *Server) rename(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := readJSON(r, &in, 8<<10); err != nil {
		return err
	}
	if err := checkKey(in.From); err != nil {
		return err
	}
	if err := checkKey(in.To); err != nil {
		return err
	}
	if in.From == in.To {
		return badRequest("The new name is the old one.")
	}
	bucket := r.PathValue("b")
	folder := strings.HasSuffix(in.From, "/")
	if folder != strings.HasSuffix(in.To, "/") {
		return badRequest("A folder (ending in /) renames to a folder, an object to an object.")
	}
	moved := 1
	var err error
	if folder {
		if strings.HasPrefix(in.To, in.From) {
			return badRequest("A folder cannot move into itself.")
		}
		moved, err = s.cfg.Objects.RenamePrefix(r.Context(), c.org(), bucket, in.From, in.To, 0)
	} else {
		err = s.cfg.Objects.Rename(r.Context(), c.org(), bucket, in.From, in.To)
	}
	if err != nil {
		return err
	}
	s.log.Info("console: renamed", "access_key", c.key.ID, "org", c.org(), "bucket", bucket, "objects", moved)
	return writeJSON(w, http.StatusOK, map[string]any{"from": in.From, "to": in.To, "objects": moved})
}

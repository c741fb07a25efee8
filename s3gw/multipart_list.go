package s3gw

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"excloud.dev/buckets/catalog"
)

// ListMultipartUploads and ListParts: markers, page sizes and grouping.

// maxParam parses a max-uploads / max-parts value, capped at limit.
func maxParam(q url.Values, name string, limit int) (int, error) {
	vs, ok := q[name]
	if !ok {
		return limit, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
	if err != nil || n < 0 {
		return 0, s3Err(ErrInvalidArgument, "%s must be a non-negative integer.", name)
	}
	return min(n, limit), nil
}

// uploadsPage is one page of ListMultipartUploads after delimiter grouping.
type uploadsPage struct {
	uploads             []catalog.Upload
	prefixes            []string
	truncated           bool
	nextKey, nextUpload string
}

// listUploadsPage pages through the bucket's uploads. The catalog lists
// uploads by key then initiation; with a delimiter, keys sharing a prefix up
// to the delimiter collapse into one common prefix (counted as one entry),
// and the listing resumes past every key under it. A key marker that is
// itself such a prefix (the NextKeyMarker of a page that ended on one)
// resumes past the whole group too. Keys are UTF-8, so prefix+"\xff" sorts
// after every key that starts with prefix.
func (s *server) listUploadsPage(r *http.Request, rq *request, prefix, delim, keyMarker, idMarker string, limit int) (uploadsPage, error) {
	var pg uploadsPage
	if keyMarker == "" {
		idMarker = "" // S3 ignores an upload-id-marker without a key-marker
	}
	groupOf := func(key string) (string, bool) {
		if delim == "" || !strings.HasPrefix(key, prefix) {
			return "", false
		}
		rest := key[len(prefix):]
		i := strings.Index(rest, delim)
		if i < 0 {
			return "", false
		}
		return prefix + rest[:i+len(delim)], true
	}
	km, im := keyMarker, idMarker
	if cp, ok := groupOf(km); ok && im == "" && cp == km {
		km = cp + "\xff"
	}
	if limit == 0 {
		// Still report a missing bucket, and whether anything is there.
		ups, _, err := s.objs.ListUploads(r.Context(), rq.org, rq.bucket, prefix, km, im, 1)
		pg.truncated = len(ups) > 0
		return pg, err
	}
	lastGroup := ""
	for {
		ups, more, err := s.objs.ListUploads(r.Context(), rq.org, rq.bucket, prefix, km, im, limit-len(pg.uploads)-len(pg.prefixes)+1)
		if err != nil {
			return pg, err
		}
		for _, u := range ups {
			cp, grouped := groupOf(u.Key)
			if grouped && cp == lastGroup {
				continue
			}
			if len(pg.uploads)+len(pg.prefixes) == limit {
				pg.truncated = true
				return pg, nil
			}
			if grouped {
				pg.prefixes = append(pg.prefixes, cp)
				pg.nextKey, pg.nextUpload = cp, ""
				lastGroup = cp
				continue
			}
			pg.uploads = append(pg.uploads, u)
			pg.nextKey, pg.nextUpload = u.Key, u.ID
		}
		if !more {
			return pg, nil
		}
		if lastGroup != "" && pg.nextUpload == "" {
			km, im = lastGroup+"\xff", ""
		} else {
			last := ups[len(ups)-1]
			km, im = last.Key, last.ID
		}
	}
}

func (s *server) listMultipartUploads(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := requestQuery(r)
	maxN, err := maxParam(q, "max-uploads", maxListUploads)
	if err != nil {
		return err
	}
	var enc func(string) string
	switch et := q.Get("encoding-type"); {
	case et == "":
		enc = encoder(false)
	case strings.EqualFold(et, "url"):
		enc = encoder(true)
	default:
		return s3Err(ErrInvalidArgument, "Invalid Encoding Method specified in Request: encoding-type must be \"url\".")
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	pg, err := s.listUploadsPage(r, rq, prefix, delim, keyMarker, idMarker, maxN)
	if err != nil {
		return err
	}
	o := ownerOf(rq.org)
	res := listMultipartUploadsResult{
		Bucket:         rq.bucket,
		KeyMarker:      enc(keyMarker),
		UploadIDMarker: idMarker,
		Prefix:         enc(prefix),
		Delimiter:      enc(delim),
		MaxUploads:     maxN,
		IsTruncated:    pg.truncated,
		Uploads:        []uploadXML{},
	}
	if pg.truncated {
		res.NextKeyMarker, res.NextUploadIDMarker = enc(pg.nextKey), pg.nextUpload
	}
	if strings.EqualFold(q.Get("encoding-type"), "url") {
		res.EncodingType = "url"
	}
	for _, u := range pg.uploads {
		alg, typ := uploadAlgorithm(u.Template)
		res.Uploads = append(res.Uploads, uploadXML{
			Key:               enc(u.Key),
			UploadID:          u.ID,
			Initiator:         o,
			Owner:             o,
			StorageClass:      "STANDARD",
			Initiated:         xmlTime(u.Initiated),
			ChecksumAlgorithm: string(alg),
			ChecksumType:      typ,
		})
	}
	for _, cp := range pg.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	return writeXML(w, res)
}

func (s *server) listParts(w http.ResponseWriter, r *http.Request, rq *request) error {
	id, err := uploadIDParam(r)
	if err != nil {
		return err
	}
	q := requestQuery(r)
	maxN, err := maxParam(q, "max-parts", maxListParts)
	if err != nil {
		return err
	}
	after := 0
	if v := q.Get("part-number-marker"); v != "" {
		if after, err = strconv.Atoi(v); err != nil || after < 0 {
			return s3Err(ErrInvalidArgument, "part-number-marker must be a non-negative integer.")
		}
	}
	// The catalog reads 0 as "default": ask for one to learn whether the
	// upload exists and anything follows.
	up, parts, more, err := s.objs.ListParts(r.Context(), rq.org, rq.bucket, rq.key, id, after, max(maxN, 1))
	if err != nil {
		return err
	}
	if maxN == 0 {
		more, parts = len(parts) > 0, nil
	}
	alg, typ := uploadAlgorithm(up.Template)
	o := ownerOf(rq.org)
	res := listPartsResult{
		ChecksumAlgorithm: string(alg),
		ChecksumType:      typ,
		Bucket:            rq.bucket,
		Key:               rq.key,
		UploadID:          id,
		PartNumberMarker:  after,
		MaxParts:          maxN,
		IsTruncated:       more,
		Initiator:         o,
		Owner:             o,
		StorageClass:      "STANDARD",
		Parts:             []partXML{},
	}
	for _, p := range parts {
		px := partXML{PartNumber: p.Number, LastModified: xmlTime(p.ModTime), ETag: p.ETag, Size: p.Size}
		px.set(p.Checksum)
		res.Parts = append(res.Parts, px)
		res.NextPartNumberMarker = p.Number
	}
	return writeXML(w, res)
}

type uploadXML struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         owner  `xml:"Initiator"`
	Owner             owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

// listMultipartUploadsResult is the ListMultipartUploads response. The
// markers are always present (S3 sends them empty); the Next ones only on a
// truncated page.
type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	Uploads            []uploadXML    `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

type partXML struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumXML
}

type listPartsResult struct {
	XMLName              xml.Name  `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string    `xml:"Bucket"`
	Key                  string    `xml:"Key"`
	UploadID             string    `xml:"UploadId"`
	PartNumberMarker     int       `xml:"PartNumberMarker"`
	NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
	MaxParts             int       `xml:"MaxParts"`
	IsTruncated          bool      `xml:"IsTruncated"`
	Parts                []partXML `xml:"Part"`
	Initiator            owner     `xml:"Initiator"`
	Owner                owner     `xml:"Owner"`
	StorageClass         string    `xml:"StorageClass"`
	ChecksumAlgorithm    string    `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string    `xml:"ChecksumType,omitempty"`
}

package s3gw

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/sigv4"
)

// maxListKeys is S3's page size limit; larger max-keys values are capped.
const maxListKeys = 1000

// listParams are the parsed query parameters of ListObjects V1 and V2.
type listParams struct {
	Prefix, Delimiter string
	MaxKeys           int
	EncodingURL       bool
	// V2
	StartAfter        string
	ContinuationToken string // as sent, echoed back
	TokenSent         bool   // continuation-token was present, maybe empty
	ContinueAfter     string // decoded from the token
	FetchOwner        bool
	// V1
	Marker string
}

// parseListParams reads the parameters common to both versions and those of
// the given version, rejecting what S3 rejects.
func parseListParams(q url.Values, v2 bool) (listParams, error) {
	p := listParams{
		Prefix:    q.Get("prefix"),
		Delimiter: q.Get("delimiter"),
		MaxKeys:   maxListKeys,
	}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 0 {
			return p, s3Err(ErrInvalidArgument, "max-keys must be a non-negative integer.")
		}
		p.MaxKeys = min(n, maxListKeys)
	}
	switch et := q.Get("encoding-type"); {
	case et == "":
	case strings.EqualFold(et, "url"):
		p.EncodingURL = true
	default:
		return p, s3Err(ErrInvalidArgument, "Invalid Encoding Method specified in Request: encoding-type must be \"url\".")
	}
	if !v2 {
		p.Marker = q.Get("marker")
		return p, nil
	}
	p.StartAfter = q.Get("start-after")
	p.FetchOwner = q.Get("fetch-owner") == "true"
	// An empty token lists from the start (and is echoed), as S3 does.
	_, p.TokenSent = q["continuation-token"]
	if tok, ok := q["continuation-token"]; ok && tok[0] != "" {
		p.ContinuationToken = tok[0]
		after, err := decodeToken(tok[0])
		if err != nil {
			return p, err
		}
		p.ContinueAfter = after
	}
	return p, nil
}

// The continuation token is the raw resume point (the last key or common
// prefix returned) in unpadded URL-safe base64: opaque to clients, as S3
// requires, while the catalog's one-seek resume stays stateless. It is not a
// secret; a client that forges one only lists its own bucket from elsewhere.
func encodeToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

// decodeToken reverses encodeToken; a token it did not make is
// InvalidArgument.
func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if tok == "" || err != nil {
		return "", s3Err(ErrInvalidArgument, "The continuation token provided is incorrect.")
	}
	return string(b), nil
}

// listPage asks the object layer for one page. max-keys=0 is answered
// without asking, since the catalog reads 0 as "default".
func (s *server) listPage(r *http.Request, rq *request, p listParams, startAfter string) (catalog.ListResult, error) {
	if p.MaxKeys == 0 {
		// Still report a missing bucket.
		_, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket)
		return catalog.ListResult{}, err
	}
	return s.objs.List(r.Context(), rq.org, rq.bucket, catalog.ListOptions{
		Prefix:        p.Prefix,
		Delimiter:     p.Delimiter,
		StartAfter:    startAfter,
		ContinueAfter: p.ContinueAfter,
		MaxKeys:       p.MaxKeys,
	})
}

func listContents(res catalog.ListResult, enc func(string) string, o *owner) ([]listObject, []commonPrefix) {
	objs := make([]listObject, 0, len(res.Objects))
	for _, e := range res.Objects {
		objs = append(objs, listObject{
			Key:          enc(e.Key),
			LastModified: xmlTime(e.ModTime),
			ETag:         e.ETag,
			Size:         e.Size,
			StorageClass: "STANDARD",
			Owner:        o,
		})
	}
	cps := make([]commonPrefix, 0, len(res.CommonPrefixes))
	for _, cp := range res.CommonPrefixes {
		cps = append(cps, commonPrefix{Prefix: enc(cp)})
	}
	return objs, cps
}

func encoder(url bool) func(string) string {
	if url {
		// encoding-type=url: every byte but the unreserved ones and '/'
		// percent-encoded, the form SDKs decode back to the key.
		return sigv4.EncodeURIPath
	}
	return func(s string) string { return s }
}

// buildListV2 renders a ListObjectsV2 page; split from the handler so the
// encoding rules are testable without an object layer.
func buildListV2(bucket string, p listParams, res catalog.ListResult, org string) listBucketResultV2 {
	enc := encoder(p.EncodingURL)
	var o *owner
	if p.FetchOwner {
		ow := ownerOf(org)
		o = &ow
	}
	objs, cps := listContents(res, enc, o)
	out := listBucketResultV2{
		Name:              bucket,
		Prefix:            enc(p.Prefix),
		Delimiter:         enc(p.Delimiter),
		MaxKeys:           p.MaxKeys,
		KeyCount:          len(objs) + len(cps),
		IsTruncated:       res.IsTruncated,
		ContinuationToken: p.ContinuationToken,
		TokenSent:         p.TokenSent,
		StartAfter:        enc(p.StartAfter),
		Contents:          objs,
		CommonPrefixes:    cps,
	}
	if p.EncodingURL {
		out.EncodingType = "url"
	}
	if res.IsTruncated {
		out.NextContinuationToken = encodeToken(res.Next)
	}
	return out
}

// buildListV1 renders a ListObjects (V1) page. NextMarker is sent only when a
// delimiter is set, as S3 does; without one clients resume from the last key.
func buildListV1(bucket string, p listParams, res catalog.ListResult, org string) listBucketResultV1 {
	enc := encoder(p.EncodingURL)
	o := ownerOf(org)
	objs, cps := listContents(res, enc, &o)
	out := listBucketResultV1{
		Name:           bucket,
		Prefix:         enc(p.Prefix),
		Marker:         enc(p.Marker),
		MaxKeys:        p.MaxKeys,
		Delimiter:      enc(p.Delimiter),
		IsTruncated:    res.IsTruncated,
		Contents:       objs,
		CommonPrefixes: cps,
	}
	if p.EncodingURL {
		out.EncodingType = "url"
	}
	if res.IsTruncated && p.Delimiter != "" {
		out.NextMarker = enc(res.Next)
	}
	return out
}

func (s *server) listObjectsV2(w http.ResponseWriter, r *http.Request, rq *request) error {
	p, err := parseListParams(requestQuery(r), true)
	if err != nil {
		return err
	}
	res, err := s.listPage(r, rq, p, p.StartAfter)
	if err != nil {
		return err
	}
	return writeXML(w, buildListV2(rq.bucket, p, res, rq.org))
}

func (s *server) listObjectsV1(w http.ResponseWriter, r *http.Request, rq *request) error {
	if lt := requestQuery(r).Get("list-type"); lt != "" && lt != "1" {
		return s3Err(ErrInvalidArgument, "list-type must be 1 or 2.")
	}
	p, err := parseListParams(requestQuery(r), false)
	if err != nil {
		return err
	}
	res, err := s.listPage(r, rq, p, p.Marker)
	if err != nil {
		return err
	}
	return writeXML(w, buildListV1(rq.bucket, p, res, rq.org))
}

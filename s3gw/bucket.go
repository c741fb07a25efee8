package s3gw

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"excloud.dev/buckets/catalog"
)

// ownerOf is the owner shown in listings and ACLs: the org.
func ownerOf(org string) owner { return owner{ID: org, DisplayName: org} }

func (s *server) listBuckets(w http.ResponseWriter, r *http.Request, rq *request) error {
	bs, err := s.objs.ListBuckets(r.Context(), rq.org)
	if err != nil {
		return err
	}
	q := requestQuery(r)
	// Paging as in the newer ListBuckets: without max-buckets the answer is
	// every bucket, as older clients expect; the token is the last name
	// returned, opaque like a listing's.
	limit := len(bs)
	paged := q.Has("max-buckets")
	if paged {
		n, err := strconv.Atoi(q.Get("max-buckets"))
		if err != nil || n < 1 || n > maxBucketsPage {
			return s3Err(ErrInvalidArgument, "max-buckets must be an integer from 1 to %d.", maxBucketsPage)
		}
		limit = n
	}
	after := ""
	if q.Has("continuation-token") {
		var err error
		if after, err = decodeToken(q.Get("continuation-token")); err != nil {
			return err
		}
	}
	// Every bucket lives in this server's one region; asking for another
	// lists none.
	region := q.Get("bucket-region")
	prefix := q.Get("prefix")
	res := listAllMyBucketsResult{Owner: ownerOf(rq.org), Buckets: []bucketXMLRow{}, Prefix: prefix}
	if region != "" && region != s.region {
		bs = nil
	}
	for _, b := range bs {
		// A key limited to some buckets sees only those.
		if !bucketAllowed(rq.access, b.Name) || !strings.HasPrefix(b.Name, prefix) || b.Name <= after {
			continue
		}
		if len(res.Buckets) == limit {
			// Only a page can end before the buckets do.
			res.ContinuationToken = encodeToken(res.Buckets[limit-1].Name)
			break
		}
		row := bucketXMLRow{Name: b.Name, CreationDate: xmlTime(b.Created)}
		if paged {
			row.BucketRegion = s.region
		}
		res.Buckets = append(res.Buckets, row)
	}
	return writeXML(w, res)
}

// maxBucketsPage is ListBuckets' max-buckets ceiling (S3's).
const maxBucketsPage = 10000

// maxSmallBody bounds the configuration bodies read into memory.
const maxSmallBody = 64 << 10

func (s *server) createBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := catalog.ValidBucketName(rq.bucket); err != nil {
		return &Error{Code: ErrInvalidBucketName, Message: "The specified bucket is not valid: " + err.Error() + "."}
	}
	if strings.EqualFold(r.Header.Get("x-amz-bucket-object-lock-enabled"), "true") {
		return s3Err(ErrNotImplemented, "This server does not implement S3 Object Lock.")
	}
	// The body is optional; SDKs send CreateBucketConfiguration naming their
	// region. Any LocationConstraint is accepted; it has to parse, though.
	data, err := io.ReadAll(io.LimitReader(rq.auth.Body, maxSmallBody+1))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		var cfg createBucketConfiguration
		if err := decodeXML(data, maxSmallBody, &cfg); err != nil {
			return err
		}
	}
	if _, err := s.objs.CreateBucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	// Worded as the admin API and the mount word it, so one query finds
	// every bucket an org gained; the access line has the rest.
	s.logger.Info("bucket created", "org_id", rq.org, "bucket", rq.bucket, "via", "s3")
	w.Header().Set("Location", "/"+rq.bucket)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) headBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	// SDKs discover a bucket's region from this header.
	w.Header().Set("x-amz-bucket-region", s.region)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) deleteBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.objs.DeleteBucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	s.logger.Info("bucket deleted", "org_id", rq.org, "bucket", rq.bucket, "via", "s3")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) getBucketLocation(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	return writeXML(w, locationConstraint{Region: s.region})
}

// getBucketVersioning reports versioning as never enabled (an empty
// configuration), which tools such as rclone and Terraform check.
func (s *server) getBucketVersioning(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	return writeXML(w, versioningConfiguration{})
}

// ownerACL is the only ACL there is: the org has full control.
func ownerACL(org string) accessControlPolicy {
	o := ownerOf(org)
	return accessControlPolicy{
		Owner: o,
		Grants: []grant{{
			Grantee: grantee{
				XMLNSXSI:    "http://www.w3.org/2001/XMLSchema-instance",
				Type:        "CanonicalUser",
				ID:          o.ID,
				DisplayName: o.DisplayName,
			},
			Permission: "FULL_CONTROL",
		}},
	}
}

func (s *server) getBucketACL(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket); err != nil {
		return err
	}
	return writeXML(w, ownerACL(rq.org))
}

func (s *server) getObjectACL(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.objs.Head(r.Context(), rq.org, rq.bucket, rq.key); err != nil {
		return err
	}
	return writeXML(w, ownerACL(rq.org))
}

package s3gw

// Bucket CORS: Get/Put/DeleteBucketCors, the preflight OPTIONS request, and
// the Access-Control-* headers on actual requests, as S3 defines them.
//
// Decisions:
//   - The rules are stored in the bucket's catalog record (catalog.CORSRule;
//     docs/format.md), so they go with the bucket and are read through the
//     catalog's bucket cache: an actual request with an Origin header costs
//     no catalog read.
//   - A preflight is not signed, and bucket names are per org here, so the
//     org is found from the request: the X-Amz-Credential of a presigned
//     URL (a browser preflights the very URL it will send, query included),
//     else the orgs that have a bucket of that name, the first whose rules
//     match answering. Answering a preflight leaks no more than S3 does (any
//     caller may ask S3 whether an origin is allowed), and it authorizes
//     nothing: the actual request is authenticated as any other.
//   - Origins and headers match with at most one "*" each; origins
//     case-sensitively, headers case-insensitively; the first matching rule
//     wins, as in S3. Access-Control-Allow-Origin is "*" when the matching
//     pattern is exactly "*", else the request's Origin with
//     Access-Control-Allow-Credentials: true.
//   - CORS headers are set before the handler runs and kept on error
//     responses, so a browser can read an S3 error, not only a success.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/checksum"
	"excloud.dev/buckets/s3gw/sigv4"
)

// The CORS error codes. Numbered apart from errors.go's list so that both
// can grow without renumbering each other.
const (
	ErrNoSuchCORSConfiguration ErrorCode = 1000 + iota
	ErrCORSForbidden                     // preflight refused: S3's AccessForbidden
	ErrCORSBadRequest                    // preflight without Origin or method
)

func init() {
	errorTable[ErrNoSuchCORSConfiguration] = errorInfo{"NoSuchCORSConfiguration", "The CORS configuration does not exist", http.StatusNotFound}
	errorTable[ErrCORSForbidden] = errorInfo{"AccessForbidden", "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", http.StatusForbidden}
	errorTable[ErrCORSBadRequest] = errorInfo{"BadRequest", "Insufficient information. Origin request header needed.", http.StatusBadRequest}
}

// maxCORSRules is S3's limit on rules per configuration.
const maxCORSRules = 100

// corsMethods are the methods a rule may allow (S3's list, case-sensitive).
var corsMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}

type corsConfiguration struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	XMLNS   string        `xml:"xmlns,attr,omitempty"`
	Rules   []corsRuleXML `xml:"CORSRule"`
}

type corsRuleXML struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

// parseCORS decodes and validates a PutBucketCors body.
func parseCORS(body []byte) ([]catalog.CORSRule, error) {
	if tooManyChildren(body, "CORSRule", maxCORSRules) {
		return nil, s3Err(ErrMalformedXML, "A CORS configuration may have at most %d rules.", maxCORSRules)
	}
	var cfg corsConfiguration
	if err := decodeXML(body, maxSmallBody, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Rules) == 0 {
		return nil, s3Err(ErrMalformedXML, "A CORS configuration must have at least one CORSRule.")
	}
	rules := make([]catalog.CORSRule, 0, len(cfg.Rules))
	for _, x := range cfg.Rules {
		if len(x.AllowedOrigins) == 0 || len(x.AllowedMethods) == 0 {
			return nil, s3Err(ErrMalformedXML, "Each CORSRule must have at least one AllowedOrigin and one AllowedMethod.")
		}
		if len(x.ID) > 255 {
			return nil, s3Err(ErrInvalidArgument, "A CORSRule ID may have at most 255 characters.")
		}
		for _, m := range x.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return nil, s3Err(ErrInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range x.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return nil, s3Err(ErrInvalidRequest, "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range x.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return nil, s3Err(ErrInvalidRequest, "AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
		if x.MaxAgeSeconds != nil && *x.MaxAgeSeconds < 0 {
			return nil, s3Err(ErrMalformedXML, "MaxAgeSeconds must not be negative.")
		}
		rules = append(rules, catalog.CORSRule{ID: x.ID, AllowedOrigins: x.AllowedOrigins, AllowedMethods: x.AllowedMethods,
			AllowedHeaders: x.AllowedHeaders, ExposeHeaders: x.ExposeHeaders, MaxAgeSeconds: x.MaxAgeSeconds})
	}
	return rules, nil
}

// corsStore is the object layer's CORS setter (*objects.Layer has it);
// optional so the Objects interface stays as it is.
type corsStore interface {
	SetBucketCORS(ctx context.Context, orgID, name string, rules []catalog.CORSRule) error
}

func (s *server) setCORS(ctx context.Context, org, bucket string, rules []catalog.CORSRule) error {
	cs, ok := s.objs.(corsStore)
	if !ok {
		return s3Err(ErrNotImplemented, "This server does not implement CORS configuration.")
	}
	return cs.SetBucketCORS(ctx, org, bucket, rules)
}

func (s *server) getBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	b, err := s.objs.Bucket(r.Context(), rq.org, rq.bucket)
	if err != nil {
		return err
	}
	if len(b.CORS) == 0 {
		return &Error{Code: ErrNoSuchCORSConfiguration}
	}
	out := corsConfiguration{XMLNS: "http://s3.amazonaws.com/doc/2006-03-01/"}
	for _, c := range b.CORS {
		out.Rules = append(out.Rules, corsRuleXML{ID: c.ID, AllowedHeaders: c.AllowedHeaders, AllowedMethods: c.AllowedMethods,
			AllowedOrigins: c.AllowedOrigins, ExposeHeaders: c.ExposeHeaders, MaxAgeSeconds: c.MaxAgeSeconds})
	}
	return writeXML(w, out)
}

func (s *server) putBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	body, err := io.ReadAll(io.LimitReader(rq.auth.Body, maxSmallBody+1))
	if err != nil {
		return err
	}
	if err := checkBodyDigests(r.Header, body, "configuration body"); err != nil {
		return err
	}
	rules, err := parseCORS(body)
	if err != nil {
		return err
	}
	if err := s.setCORS(r.Context(), rq.org, rq.bucket, rules); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) deleteBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.setCORS(r.Context(), rq.org, rq.bucket, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkBodyDigests verifies a small request body (a configuration, a
// DeleteObjects list) against the Content-MD5 and x-amz-checksum-* headers,
// when sent (S3 requires one on PutBucketCors and DeleteObjects; older
// clients send neither, so neither is required). what names the body in a
// mismatch error.
func checkBodyDigests(h http.Header, body []byte, what string) error {
	want, err := contentMD5(h)
	if err != nil {
		return err
	}
	if want != nil {
		if got := md5.Sum(body); !bytes.Equal(got[:], want) {
			return &Error{Code: ErrBadDigest}
		}
	}
	alg, value, err := checksum.FromHeaders(h)
	if err != nil {
		return err
	}
	if alg != "" && value != "" {
		want, err := checksum.Decode(alg, value)
		if err != nil {
			return err
		}
		if !bytes.Equal(checksum.Sum(alg, body), want) {
			return fmt.Errorf("%s: %w", what, checksum.ErrMismatch)
		}
	}
	return nil
}

// wildcardMatch matches s against a pattern with at most one '*' standing
// for any run of characters.
func wildcardMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	pre, suf, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	return len(s) >= len(pre)+len(suf) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf)
}

// matchCORS returns the first rule allowing origin, method and every one
// of headers, and the origin pattern that matched.
func matchCORS(rules []catalog.CORSRule, origin, method string, headers []string) (*catalog.CORSRule, string) {
	for i := range rules {
		rule := &rules[i]
		if !slices.Contains(rule.AllowedMethods, method) {
			continue
		}
		pat := ""
		for _, o := range rule.AllowedOrigins {
			if wildcardMatch(o, origin, false) {
				pat = o
				break
			}
		}
		if pat == "" {
			continue
		}
		ok := true
		for _, h := range headers {
			if !slices.ContainsFunc(rule.AllowedHeaders, func(p string) bool { return wildcardMatch(p, h, true) }) {
				ok = false
				break
			}
		}
		if ok {
			return rule, pat
		}
	}
	return nil, ""
}

// setCORSHeaders writes the response headers for an allowed request.
func setCORSHeaders(h http.Header, rule *catalog.CORSRule, pattern, origin string) {
	if pattern == "*" {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAgeSeconds))
	}
	h.Add("Vary", "Origin")
}

// applyCORS adds the CORS headers to an actual (non-preflight) request of
// org's bucket whose Origin a rule allows for its method. It reads the
// bucket through the catalog's cache and ignores a missing bucket: the
// handler reports that.
func (s *server) applyCORS(w http.ResponseWriter, r *http.Request, org, bucket string) {
	origin := r.Header.Get("Origin")
	if origin == "" || bucket == "" {
		return
	}
	b, err := s.objs.Bucket(r.Context(), org, bucket)
	if err != nil || len(b.CORS) == 0 {
		return
	}
	if rule, pat := matchCORS(b.CORS, origin, r.Method, nil); rule != nil {
		setCORSHeaders(w.Header(), rule, pat, origin)
	}
}

// keepOnError reports whether an error response keeps header name (set
// before the handler failed): the CORS headers do, so a browser may read
// the error.
func keepOnError(name string) bool {
	return strings.HasPrefix(name, "Access-Control-") || name == "Vary"
}

// orgLister lists orgs; *catalog.DB (the gateway's Keys) has it.
type orgLister interface {
	ListOrgs(ctx context.Context) ([]catalog.Org, error)
}

// preflightRules returns the CORS rule sets that may answer a preflight
// for bucket: that of the presigned URL's key's org, or else those of every
// org with a bucket of that name.
func (s *server) preflightRules(r *http.Request, bucket string) ([][]catalog.CORSRule, error) {
	ctx := r.Context()
	if cred := requestQuery(r).Get(sigv4.QueryCredential); cred != "" {
		c, err := sigv4.ParseCredential(cred)
		if err != nil {
			return nil, nil
		}
		k, err := s.keys.AccessKey(ctx, c.AccessKeyID)
		if err != nil || !bucketAllowed(k, bucket) {
			return nil, nil
		}
		b, err := s.objs.Bucket(ctx, k.OrgID, bucket)
		if err != nil {
			return nil, nil
		}
		return [][]catalog.CORSRule{b.CORS}, nil
	}
	ol, ok := s.keys.(orgLister)
	if !ok {
		return nil, nil
	}
	orgs, err := ol.ListOrgs(ctx)
	if err != nil {
		return nil, fmt.Errorf("preflight: list orgs: %w", err)
	}
	var sets [][]catalog.CORSRule
	for _, o := range orgs {
		b, err := s.objs.Bucket(ctx, o.ID, bucket)
		if errors.Is(err, catalog.ErrNoSuchBucket) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(b.CORS) > 0 {
			sets = append(sets, b.CORS)
		}
	}
	return sets, nil
}

// preflight answers an OPTIONS request from the bucket's rules. It is not
// authenticated: browsers send no credentials with a preflight.
func (s *server) preflight(w http.ResponseWriter, r *http.Request) error {
	p := requestPath(r)
	if p.err != nil {
		return &Error{Code: ErrInvalidURI, Err: p.err}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return &Error{Code: ErrCORSBadRequest}
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		if method == "" {
			method = "null"
		}
		return s3Err(ErrCORSBadRequest, "Invalid Access-Control-Request-Method: %s", method)
	}
	var headers []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				headers = append(headers, h)
			}
		}
	}
	if p.bucket == "" {
		return s3Err(ErrCORSForbidden, "CORSResponse: CORS is not enabled for this bucket.")
	}
	sets, err := s.preflightRules(r, p.bucket)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		return s3Err(ErrCORSForbidden, "CORSResponse: CORS is not enabled for this bucket.")
	}
	for _, rules := range sets {
		rule, pat := matchCORS(rules, origin, method, headers)
		if rule == nil {
			continue
		}
		h := w.Header()
		setCORSHeaders(h, rule, pat, origin)
		if len(headers) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
		}
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return &Error{Code: ErrCORSForbidden}
}

// unauthenticated wraps an endpoint that runs without a signature (the
// preflight), recording its Op for the log.
func (s *server) unauthenticated(op Op, fn handlerFunc) *route {
	return &route{op: op, h: func(w http.ResponseWriter, r *http.Request) error {
		stateFrom(r.Context()).op = op
		return fn(w, r)
	}}
}

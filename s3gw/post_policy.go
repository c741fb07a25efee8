package s3gw

// Browser POST uploads (S3's "POST Object", Signature Version 4): an HTML
// form posts multipart/form-data to /bucket with a policy document the
// app's server signed, and the file as the last part.
//
// Decisions:
//   - The form fields before the file are read into memory up to
//     maxPostFields together (S3 allows about 20 KB); the file part is
//     streamed into the object layer, never buffered. Parts after the file
//     are ignored, as in S3.
//   - The signature is the HMAC of the base64 policy (sigv4.VerifyPost);
//     then the signing key's scope applies as on any write (read-only keys
//     and bucket scope), then the policy: not expired, every condition met,
//     and every form field named by a condition except policy,
//     x-amz-signature, file and x-ignore-* (S3's rule, so a form cannot
//     carry metadata the policy did not allow).
//   - Conditions: {"field": "value"} and ["eq", "$field", "value"] (exact),
//     ["starts-with", "$field", "prefix"] ("" allows any value), and
//     ["content-length-range", min, max], checked as the file streams: the
//     upload fails with EntityTooLarge as soon as max is passed, and with
//     EntityTooSmall before the commit, so nothing is stored either way.
//     Field names compare case-insensitively; "$bucket" is the path's.
//   - "${filename}" in key is replaced by the file part's file name (its
//     last path element), after the policy has been checked against the key
//     as sent.
//   - Content-Type is the form field's, else the file part's own.
//   - Answer: success_action_redirect (or redirect) gives 303 to it with
//     bucket, key and etag added to its query; else success_action_status
//     200 or 201 (with a PostResponse document), default 204.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/objects"
	"excloud.dev/buckets/s3gw/sigv4"
)

const (
	ErrMalformedPOSTRequest ErrorCode = 1100 + iota
	ErrInvalidPolicyDocument
	ErrMaxPostPreDataLengthExceeded
)

func init() {
	errorTable[ErrMalformedPOSTRequest] = errorInfo{"MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.", http.StatusBadRequest}
	errorTable[ErrInvalidPolicyDocument] = errorInfo{"InvalidPolicyDocument", "The content of the form does not meet the conditions specified in the policy document.", http.StatusBadRequest}
	errorTable[ErrMaxPostPreDataLengthExceeded] = errorInfo{"MaxPostPreDataLengthExceededError", "Your POST request fields preceding the upload file were too large.", http.StatusBadRequest}
}

// maxPostFields bounds the form fields before the file, together.
const maxPostFields = 64 << 10

// postPolicy is the decoded policy document.
type postPolicy struct {
	Expiration string            `json:"expiration"`
	Conditions []json.RawMessage `json:"conditions"`
}

// postCondition is one parsed condition.
type postCondition struct {
	op       string // "eq", "starts-with", "content-length-range"
	field    string // lowercase, no "$"
	value    string
	min, max int64
	raw      string // as written, for the error message
}

func invalidPolicy(format string, args ...any) error {
	return s3Err(ErrInvalidPolicyDocument, "Invalid Policy: "+format, args...)
}

func parseConditions(raw []json.RawMessage) ([]postCondition, error) {
	var out []postCondition
	for _, r := range raw {
		text := string(r)
		var obj map[string]string
		if err := json.Unmarshal(r, &obj); err == nil {
			if len(obj) != 1 {
				return nil, invalidPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
			}
			for k, v := range obj {
				out = append(out, postCondition{op: "eq", field: strings.ToLower(strings.TrimPrefix(k, "$")), value: v, raw: text})
			}
			continue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(r, &arr); err != nil || len(arr) != 3 {
			return nil, invalidPolicy("Invalid Condition: %s", text)
		}
		var op string
		if err := json.Unmarshal(arr[0], &op); err != nil {
			return nil, invalidPolicy("Invalid Condition: %s", text)
		}
		switch op = strings.ToLower(op); op {
		case "content-length-range":
			var min, max int64
			if json.Unmarshal(arr[1], &min) != nil || json.Unmarshal(arr[2], &max) != nil || min < 0 || max < min {
				return nil, invalidPolicy("Invalid content-length-range: %s", text)
			}
			out = append(out, postCondition{op: op, min: min, max: max, raw: text})
		case "eq", "starts-with":
			var field, value string
			if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
				return nil, invalidPolicy("Invalid Condition: %s", text)
			}
			out = append(out, postCondition{op: op, field: strings.ToLower(field[1:]), value: value, raw: text})
		default:
			return nil, invalidPolicy("Invalid Condition: unknown operation %q.", op)
		}
	}
	return out, nil
}

// policyDenied is S3's refusal of a form its policy does not allow.
func policyDenied(format string, args ...any) error {
	return s3Err(ErrAccessDenied, "Invalid according to Policy: "+format, args...)
}

// readPostFields reads the form up to the file part.
func readPostFields(mr *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := make(map[string]string)
	total := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, s3Err(ErrInvalidArgument, "POST requires exactly one file upload per request.")
		}
		if err != nil {
			return nil, nil, &Error{Code: ErrMalformedPOSTRequest, Err: err}
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			return fields, part, nil
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(maxPostFields-total+1)))
		if err != nil {
			return nil, nil, &Error{Code: ErrMalformedPOSTRequest, Err: err}
		}
		if total += len(name) + len(v); total > maxPostFields {
			return nil, nil, &Error{Code: ErrMaxPostPreDataLengthExceeded}
		}
		if _, dup := fields[name]; dup {
			return nil, nil, s3Err(ErrInvalidArgument, "POST form field %q appears more than once.", name)
		}
		fields[name] = string(v)
	}
}

// sizeLimit counts the file's bytes and fails once past max.
type sizeLimit struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, s3Err(ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size.")
	}
	return n, err
}

// postHeaderFields are the form fields that become the object's headers.
var postHeaderFields = []string{"content-type", "cache-control", "content-disposition", "content-encoding", "content-language", "expires"}

func (s *server) postObject(w http.ResponseWriter, r *http.Request) error {
	st := stateFrom(r.Context())
	p := requestPath(r)
	if p.err != nil {
		return &Error{Code: ErrInvalidURI, Err: p.err}
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return s3Err(ErrPreconditionFailed, "Bucket POST must be of the enclosure-type multipart/form-data.")
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	fields, file, err := readPostFields(multipart.NewReader(body, params["boundary"]))
	if err != nil {
		return err
	}
	if fields["policy"] == "" && fields["x-amz-signature"] == "" {
		return s3Err(ErrAccessDenied, "Anonymous POST uploads are not allowed: sign a policy document.")
	}
	for _, f := range []string{"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if fields[f] == "" {
			return s3Err(ErrInvalidArgument, "Bucket POST must contain a field named '%s'. If it is specified, please check the order of the fields.", f)
		}
	}
	var key catalog.AccessKey
	_, err = sigv4.VerifyPost(r.Context(), sigv4.PostForm{
		Algorithm: fields["x-amz-algorithm"], Credential: fields["x-amz-credential"], Date: fields["x-amz-date"],
		Signature: fields["x-amz-signature"], Policy: fields["policy"],
	}, func(ctx context.Context, id string) (string, error) {
		k, err := s.lookupKey(ctx, id)
		key = k
		return k.Secret, err
	})
	if err != nil {
		st.authDenied(r, err)
		return err
	}
	st.org = key.OrgID
	s.applyCORS(w, r, key.OrgID, p.bucket)
	if err := authorize(key, OpPostObject, p.bucket); err != nil {
		st.authDenied(r, err)
		return err
	}
	st.authAccepted(r, key, false)
	conds, err := checkPolicy(fields, p.bucket, s.now())
	if err != nil {
		return err
	}

	objKey := fields["key"]
	if strings.Contains(objKey, "${filename}") {
		name := file.FileName()
		if i := strings.LastIndexAny(name, `/\`); i >= 0 {
			name = name[i+1:]
		}
		objKey = strings.ReplaceAll(objKey, "${filename}", name)
	}
	st.bucket, st.key, st.named = p.bucket, objKey, true
	if err := checkKey(objKey); err != nil {
		return err
	}
	h := make(http.Header)
	for name, v := range fields {
		switch {
		case strings.HasPrefix(name, "x-amz-meta-"), strings.HasPrefix(name, "x-amz-checksum-"), strings.HasPrefix(name, "x-amz-server-side-encryption"):
			h.Set(name, v)
		case name == "tagging":
			h.Set("x-amz-tagging", v)
		}
	}
	for _, name := range postHeaderFields {
		if v, ok := fields[name]; ok {
			h.Set(name, v)
		}
	}
	if h.Get("Content-Type") == "" && file.Header.Get("Content-Type") != "" {
		h.Set("Content-Type", file.Header.Get("Content-Type"))
	}
	if err := checkUnsupportedWriteHeaders(h); err != nil {
		return err
	}
	meta, err := headerMeta(h)
	if err != nil {
		return err
	}
	lim := &sizeLimit{r: file, max: maxPutSize}
	var min int64
	for _, c := range conds {
		if c.op == "content-length-range" {
			lim.max, min = c.max, c.min
		}
	}
	data, finish, err := checksummed(h, &sigv4.Result{Body: lim})
	if err != nil {
		return err
	}
	m, err := s.objs.Put(r.Context(), key.OrgID, p.bucket, objKey, data, objects.PutOptions{
		Size: -1,
		Meta: meta,
		Verify: func(m *catalog.Manifest) error {
			if lim.n < min {
				return s3Err(ErrEntityTooSmall, "Your proposed upload is smaller than the minimum allowed size.")
			}
			sums, err := finish()
			m.Checksums = sums
			return err
		},
	})
	if err != nil {
		return err
	}
	return postAnswer(w, r, fields, p.bucket, objKey, m.ETag)
}

// checkPolicy decodes the policy and checks it against the form.
func checkPolicy(fields map[string]string, bucket string, now time.Time) ([]postCondition, error) {
	doc, err := base64.StdEncoding.DecodeString(fields["policy"])
	if err != nil {
		return nil, invalidPolicy("policy is not base64.")
	}
	var pol postPolicy
	if err := json.Unmarshal(doc, &pol); err != nil {
		return nil, invalidPolicy("Invalid JSON.")
	}
	if pol.Expiration == "" {
		return nil, invalidPolicy("Policy missing expiration.")
	}
	exp, err := time.Parse(time.RFC3339, pol.Expiration)
	if err != nil {
		return nil, invalidPolicy("Invalid 'expiration' value: %q", pol.Expiration)
	}
	if now.After(exp) {
		return nil, policyDenied("Policy expired.")
	}
	conds, err := parseConditions(pol.Conditions)
	if err != nil {
		return nil, err
	}
	covered := map[string]bool{}
	for _, c := range conds {
		if c.op == "content-length-range" {
			continue
		}
		covered[c.field] = true
		got := fields[c.field]
		if c.field == "bucket" {
			got = bucket
		}
		if c.op == "eq" && got != c.value || c.op == "starts-with" && !strings.HasPrefix(got, c.value) {
			return nil, policyDenied("Policy Condition failed: %s", c.raw)
		}
	}
	for name := range fields {
		switch {
		case name == "policy", name == "x-amz-signature", strings.HasPrefix(name, "x-ignore-"), covered[name]:
		default:
			return nil, policyDenied("Extra input fields: %s", name)
		}
	}
	return conds, nil
}

// postAnswer writes S3's answer to a stored POST upload.
func postAnswer(w http.ResponseWriter, r *http.Request, fields map[string]string, bucket, key, etag string) error {
	loc := "http://" + r.Host + "/" + url.PathEscape(bucket) + "/" + escapeKeyPath(key)
	if r.TLS != nil {
		loc = "https" + strings.TrimPrefix(loc, "http")
	}
	h := w.Header()
	h.Set("ETag", etag)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.IsAbs() {
		q := u.Query()
		q.Set("bucket", bucket)
		q.Set("key", key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		h.Set("Location", u.String())
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	h.Set("Location", loc)
	switch fields["success_action_status"] {
	case "200":
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case "201":
		body := encodeXML(postResponse{Location: loc, Bucket: bucket, Key: key, ETag: etag})
		h.Set("Content-Type", "application/xml")
		h.Set("Content-Length", itoa(int64(len(body))))
		w.WriteHeader(http.StatusCreated)
		_, err := w.Write(body)
		return err
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

type postResponse struct {
	XMLName  struct{} `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// escapeKeyPath escapes a key for a URL path, keeping its slashes.
func escapeKeyPath(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// lookupKey resolves an access key id for authenticate and the POST form,
// recording the id for the log.
func (s *server) lookupKey(ctx context.Context, id string) (catalog.AccessKey, error) {
	if st := stateFrom(ctx); st != nil {
		st.accessKey = id // logged even if the signature then fails
	}
	k, err := s.keys.AccessKey(ctx, id)
	if errors.Is(err, catalog.ErrNoSuchKey) {
		return catalog.AccessKey{}, fmt.Errorf("%w: %s", sigv4.ErrInvalidAccessKeyID, id)
	}
	if err != nil {
		return catalog.AccessKey{}, fmt.Errorf("look up access key %s: %w", id, err)
	}
	return k, nil
}

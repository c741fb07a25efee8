package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"excloud.dev/buckets/catalog"
)

// Error codes. Each has one HTTP status (codeStatus); clients branch on the
// code, not on the message.
const (
	CodeNoSuchOrg         = "no_such_org"
	CodeOrgExists         = "org_exists"
	CodeOrgNotEmpty       = "org_not_empty"
	CodeInvalidOrgName    = "invalid_org_name"
	CodeNoSuchBucket      = "no_such_bucket"
	CodeBucketExists      = "bucket_exists"
	CodeBucketNotEmpty    = "bucket_not_empty"
	CodeInvalidBucketName = "invalid_bucket_name"
	CodeNoSuchKey         = "no_such_key"
	CodeAccessKeyExists   = "access_key_exists"
	CodeInvalidRequest    = "invalid_request"
	CodeNoPublicDomain    = "no_public_domain"
	CodeUnknownRoute      = "unknown_route"
	CodeInternal          = "internal"
	// CodeGCElsewhere: another node of the fleet holds the collector
	// lease (it is collecting now); retry later or run it there.
	CodeGCElsewhere = "gc_running_elsewhere"
)

var codeStatus = map[string]int{
	CodeNoSuchOrg:         http.StatusNotFound,
	CodeOrgExists:         http.StatusConflict,
	CodeOrgNotEmpty:       http.StatusConflict,
	CodeInvalidOrgName:    http.StatusBadRequest,
	CodeNoSuchBucket:      http.StatusNotFound,
	CodeBucketExists:      http.StatusConflict,
	CodeBucketNotEmpty:    http.StatusConflict,
	CodeInvalidBucketName: http.StatusBadRequest,
	CodeNoSuchKey:         http.StatusNotFound,
	CodeAccessKeyExists:   http.StatusConflict,
	CodeInvalidRequest:    http.StatusBadRequest,
	CodeNoPublicDomain:    http.StatusConflict,
	CodeUnknownRoute:      http.StatusNotFound,
	CodeInternal:          http.StatusInternalServerError,
	CodeGCElsewhere:       http.StatusConflict,
}

// catalogCodes maps the catalog's sentinels to codes; anything else is
// CodeInternal. This is the only place the server interprets catalog errors.
var catalogCodes = []struct {
	err  error
	code string
}{
	{catalog.ErrNoSuchOrg, CodeNoSuchOrg},
	{catalog.ErrOrgExists, CodeOrgExists},
	{catalog.ErrOrgNotEmpty, CodeOrgNotEmpty},
	{catalog.ErrNoSuchBucket, CodeNoSuchBucket},
	{catalog.ErrBucketExists, CodeBucketExists},
	{catalog.ErrBucketNotEmpty, CodeBucketNotEmpty},
	{catalog.ErrNoSuchKey, CodeNoSuchKey},
	{catalog.ErrAccessKeyExists, CodeAccessKeyExists},
	{catalog.ErrGCLeaseHeld, CodeGCElsewhere},
}

// Error is an error the API returned: the server builds one to answer, the
// client decodes one from a response.
type Error struct {
	Code    string // one of the Code constants
	Message string
	Status  int // HTTP status
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

// NotFound reports whether the error says a named thing does not exist, the
// case exc gives its own exit code.
func (e *Error) NotFound() bool { return e.Status == http.StatusNotFound }

// apiError builds an *Error for code with a formatted message.
func apiError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: codeStatus[code]}
}

// toAPIError classifies err. The message of a catalog error is kept (it
// names the org, bucket or key involved and holds no secret); an unknown
// error's detail goes to the log only, the client gets "internal error".
func toAPIError(err error) (e *Error, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	for _, c := range catalogCodes {
		if errors.Is(err, c.err) {
			// The "catalog: " prefix names a package, which means nothing
			// to an operator reading exc's output.
			msg := strings.TrimPrefix(err.Error(), "catalog: ")
			return &Error{Code: c.code, Message: msg, Status: codeStatus[c.code]}, false
		}
	}
	return apiError(CodeInternal, "internal error; see the excd log"), true
}

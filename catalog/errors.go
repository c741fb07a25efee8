package catalog

import "errors"

// The kinds of failure callers react to. Each is returned wrapped with the
// operation and names involved; test with errors.Is.
var (
	// ErrNotFound: the object key (or upload part) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoSuchBucket: the bucket does not exist in the caller's org.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrBucketExists: CreateBucket of a name the org already has.
	ErrBucketExists = errors.New("bucket already exists")
	// ErrBucketNotEmpty: DeleteBucket of a bucket that still holds objects
	// or multipart uploads.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrNoSuchOrg: the org id or name does not exist.
	ErrNoSuchOrg = errors.New("no such org")
	// ErrOrgExists: CreateOrg with a name already taken.
	ErrOrgExists = errors.New("org already exists")
	// ErrOrgNotEmpty: DeleteOrg of an org that still has buckets.
	ErrOrgNotEmpty = errors.New("org not empty")
	// ErrNoSuchKey: the access key id does not exist.
	ErrNoSuchKey = errors.New("no such access key")
	// ErrNoSuchUpload: the multipart upload id does not exist (or was
	// completed or aborted).
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrPreconditionFailed: a conditional write's If-Match / If-None-Match
	// did not hold at commit time.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrFormat: the database was written by an unknown format version.
	ErrFormat = errors.New("unsupported catalog format")
	// ErrClosed: the catalog has been closed.
	ErrClosed = errors.New("catalog closed")
	// ErrUnavailable: the catalog's database cannot be reached for now
	// (kv.Unavailable); nothing was acknowledged, try again later.
	ErrUnavailable = errors.New("catalog database unavailable")
)

// Added after the first contract; same conventions.
var (
	// ErrAccessKeyExists: CreateAccessKey with an id that is already taken.
	ErrAccessKeyExists = errors.New("access key already exists")
	// ErrEncryptionKey: Open was given a key other than the one the catalog
	// was created with.
	ErrEncryptionKey = errors.New("wrong catalog encryption key")
)

// Added with the default-org record (docs/format.md, "Default org").
var (
	// ErrNoDefaultOrg: the catalog has no default org (it was deleted, or
	// an older catalog had no org named "default").
	ErrNoDefaultOrg = errors.New("no default org")
)

// Added with the PostgreSQL engine (docs/scale-out.md, "Under contention").
var (
	// ErrBusy: a write lost to concurrent writers of the same records (a
	// chunk many objects share, say) more times than the catalog retries
	// it; nothing of it took effect, and trying again may succeed.
	ErrBusy = errors.New("catalog busy: the write kept losing to concurrent writers")
)

// Package catalog owns every piece of metadata, kept in one Badger directory
// with Badger's encryption at rest: orgs, access keys, buckets, object
// manifests, multipart uploads and their parts, chunk reference counts, and the
// change feed that announces each committed mutation.
//
// It knows nothing of HTTP or FUSE, and nothing outside it sees a Badger type
// or error: callers get the sentinels in errors.go, wrapped with the operation
// and the names involved. Keys and value encodings follow docs/format.md,
// section "Catalog"; keys.go mirrors that section.
package catalog

// Package catalog owns every piece of metadata, kept in one Badger directory
// with Badger's encryption at rest: orgs, access keys, buckets, object
// manifests, multipart uploads and their parts, chunk reference counts, and the
// change feed that announces each committed mutation.
//
// It knows nothing of HTTP or FUSE, and nothing outside it sees a Badger type
// or error: callers get the sentinels in errors.go, wrapped with the operation
// and the names involved. Keys and value encodings follow docs/format.md,
// section "Catalog"; keys.go mirrors that section.
//
// # Transactions
//
// Each mutating method is one Badger transaction: PutObject checks that the
// bucket exists and that its Condition holds, writes the manifest and adjusts
// the chunk reference counts, all or nothing. Transactions that conflict
// (two writers sharing a chunk's count) are retried from the start; ctx is
// checked between attempts and during long scans, since Badger's transactions
// take no context.
//
// # Ordering
//
// The caller makes chunk data durable before the commit that references it;
// the commit is the moment of visibility. After a commit, and before the
// mutating method returns, the change feed delivers one Event to every
// subscriber (Subscribe). Deliveries never overlap and their Seq strictly
// increases; the events of one object key are delivered in commit order,
// because a writer holds that key's stripe lock across transaction, commit
// and delivery. Writers of different keys commit concurrently and share one
// fsync (group commit, sync.go); commits made WithoutSync (the FUSE mount's)
// are durable at the next Sync.
//
// # Listing
//
// Objects are keyed by bucket id and key bytes, so a bucket's keys are
// contiguous and ordered and a page of List is one seek plus one step or seek
// per entry, however large the bucket and however many keys a common prefix
// hides.
package catalog

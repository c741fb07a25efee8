// Package catalog owns every piece of metadata: orgs, access keys, buckets,
// object manifests, multipart uploads and their parts, chunk reference
// counts, and the change feed that announces each committed mutation. It
// keeps them in an ordered transactional key-value engine (package kv): by
// default one Badger directory with Badger's encryption at rest
// (kv/badgerkv).
//
// It knows nothing of HTTP or FUSE, and nothing outside it sees an engine
// type or error: callers get the sentinels in errors.go, wrapped with the
// operation and the names involved. Keys and value encodings follow
// docs/format.md, section "Catalog"; keys.go mirrors that section. They are
// the same whatever the engine.
//
// # Transactions
//
// Each mutating method is one engine transaction: PutObject checks that the
// bucket exists and that its Condition holds, writes the manifest and adjusts
// the chunk reference counts, all or nothing. Transactions that conflict
// (two writers sharing a chunk's count) are retried from the start; ctx is
// checked between attempts and during long scans.
//
// The catalog relies on snapshot isolation and nothing stronger. A decision
// taken on what another transaction might add without touching the keys
// this one writes (that a bucket or an org is empty, that an upload has no
// further parts, that a key is absent) is taken under an engine lock on the
// parent record, taken before the transaction reads anything: writers into
// a bucket (objects, uploads) lock its record shared and DeleteBucket and
// RenamePrefix exclusive; PutPart locks the upload's record shared and
// CompleteUpload and AbortUpload exclusive; CreateBucket and CreateAccessKey
// lock the org's record shared and DeleteOrg exclusive; a conditional write
// locks the object's key exclusive; CreateOrg locks the default-org record
// exclusive. So they hold across processes sharing one engine, not only
// inside this one.
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
// fsync (the engine's group commit); commits made WithoutSync (the FUSE
// mount's) are durable at the next Sync. These stripe locks, and the bucket
// stripes RenamePrefix holds across its events, order this process's feed.
//
// On an engine shared by several processes (kv.Notifier) the events ride
// the commit: every node delivers every node's events in commit order, and
// a mutating method returns once its own have been delivered here; record
// caches and the listing read-ahead are off, and each node registers with a
// heartbeat (LiveNodes). See feed_nodes.go, nodes.go and docs/scale-out.md,
// "Several nodes".
//
// # Listing
//
// Objects are keyed by bucket id and key bytes, so a bucket's keys are
// contiguous and ordered and a page of List is one seek plus one step or seek
// per entry, however large the bucket and however many keys a common prefix
// hides.
package catalog

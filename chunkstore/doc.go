// Package chunkstore owns the immutable, encrypted chunks that object data
// lives in: their ids (hashes of the plaintext keyed per org), their sealing (AEAD in
// fixed-size segments), the keys derived from the master key, and the Backend
// contract that a place to keep chunk files must honour.
//
// It knows nothing of object names, buckets or manifests; the catalog does.
// The byte layout it writes is specified in docs/format.md, section
// "Chunk files"; key derivation in section "Keys"; the write order that makes
// a chunk durable before anything references it in section "Ordering".
//
// Reads are authenticated per 64 KiB segment: a damaged, truncated or
// misplaced chunk file is an ErrCorrupt error, never wrong bytes.
package chunkstore

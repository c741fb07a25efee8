package s3gw

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"
	"time"

	"excloud.dev/buckets/objects"
)

// A CompleteMultipartUpload whose response is lost (a timeout, a dropped
// connection) is retried by every SDK. The first attempt already made the
// object and removed the upload, so without help the retry would get
// NoSuchUpload and the SDK would report a failure for an object that was
// written. S3 answers such a retry with the original result; so do we, for
// completedRetention after the completion, and only for the same key and the
// same part list. Anything else (another list, an expired or unknown id)
// gets NoSuchUpload, as for an upload that no longer exists.
//
// The record is kept in memory: a retry follows its lost response within
// seconds, and one lost across a daemon restart gets NoSuchUpload, which is
// what it got before this existed.
const (
	completedRetention = time.Hour
	// completedMax bounds the memory (a few hundred bytes an entry); the
	// oldest record goes first.
	completedMax = 10000
)

type completedKey struct{ org, bucket, uploadID string }

type completedUpload struct {
	key       string
	parts     [sha256.Size]byte // partsDigest of the completion's list
	etag      string
	checksums map[string]string
	typ       string
	at        time.Time
}

// completedUploads remembers recent completions. Its zero value is ready.
type completedUploads struct {
	mu    sync.Mutex
	byKey map[completedKey]*completedUpload
	order []completedKey // insertion order, for expiry and the size bound
}

// partsDigest identifies a completion's part list: numbers and ETags as a
// client would resend them (quotes do not matter).
func partsDigest(parts []objects.CompletePart) [sha256.Size]byte {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(p.Number))
		b.WriteByte(':')
		b.WriteString(strings.Trim(strings.TrimSpace(p.ETag), `"`))
		b.WriteByte('\n')
	}
	return sha256.Sum256([]byte(b.String()))
}

func (c *completedUploads) add(k completedKey, u *completedUpload) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = make(map[completedKey]*completedUpload)
	}
	c.expireLocked(u.at)
	if _, ok := c.byKey[k]; !ok {
		c.order = append(c.order, k)
	}
	c.byKey[k] = u
	for len(c.order) > completedMax {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
}

// lookup returns the completion a retry of (k, key, parts) should repeat.
func (c *completedUploads) lookup(k completedKey, key string, parts []objects.CompletePart, now time.Time) (*completedUpload, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	u, ok := c.byKey[k]
	if !ok || u.key != key || u.parts != partsDigest(parts) {
		return nil, false
	}
	return u, true
}

func (c *completedUploads) expireLocked(now time.Time) {
	n := 0
	for n < len(c.order) {
		u := c.byKey[c.order[n]]
		if u != nil && now.Sub(u.at) < completedRetention {
			break
		}
		delete(c.byKey, c.order[n])
		n++
	}
	if n > 0 {
		c.order = append(c.order[:0:0], c.order[n:]...)
	}
}

package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw"
)

// eventBuffer is how many changes a slow browser may fall behind by before
// it is told to reload its listing instead (event "resync").
const eventBuffer = 256

// maxStreams bounds the change feeds one session may hold open: every feed
// is a subscriber every write in the store calls. A browser needs one per
// tab.
const maxStreams = 16

type changeJSON struct {
	Kind   string `json:"kind"` // put, delete, bucket-create, bucket-delete
	Bucket string `json:"bucket"`
	Key    string `json:"key,omitempty"`
}

// events streams the catalog's change feed, filtered to what the key may
// see, as server-sent events. The feed's callback runs inside the writer's
// commit, so it only filters and hands off, never blocks: a browser that
// cannot keep up gets "resync" rather than slowing every writer down. The
// stream ends when the session ends, the server closes, or the client
// leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.sess.streams.Add(1) > maxStreams {
		c.sess.streams.Add(-1)
		return apiErr(http.StatusTooManyRequests, "TooManyStreams", "This session has %d change feeds open already; close a tab.", maxStreams)
	}
	defer c.sess.streams.Add(-1)
	q := r.URL.Query()
	bucket, prefix := q.Get("bucket"), q.Get("prefix")
	rc := http.NewResponseController(w)
	ch := make(chan changeJSON, eventBuffer)
	var overflow atomic.Bool
	key := c.key
	cancel := s.cfg.Catalog.Subscribe(func(ev catalog.Event) {
		if ev.OrgID != key.OrgID || !s3gw.BucketAllowed(key, ev.Bucket) {
			return
		}
		if bucket != "" && ev.Bucket != bucket {
			return
		}
		var kind string
		switch ev.Kind {
		case catalog.ObjectPut:
			kind = "put"
		case catalog.ObjectDelete:
			kind = "delete"
		case catalog.BucketCreate:
			kind = "bucket-create"
		case catalog.BucketDelete:
			kind = "bucket-delete"
		default:
			return
		}
		if ev.Key != "" && !strings.HasPrefix(ev.Key, prefix) {
			return
		}
		select {
		case ch <- changeJSON{Kind: kind, Bucket: ev.Bucket, Key: ev.Key}:
		default:
			overflow.Store(true)
		}
	})
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	w.WriteHeader(http.StatusOK)
	// A first comment, so the browser sees the stream open at once.
	if _, err := fmt.Fprint(w, ": ready\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closed:
			return nil
		case <-c.sess.done:
			_, _ = fmt.Fprint(w, "event: signed-out\ndata: {}\n\n")
			_ = rc.Flush()
			return nil
		case <-ping.C:
			if !s.sessions.alive(c.sess) {
				_, _ = fmt.Fprint(w, "event: signed-out\ndata: {}\n\n")
				_ = rc.Flush()
				return nil
			}
			_, err = fmt.Fprint(w, ": ping\n\n")
		case ev := <-ch:
			if overflow.Swap(false) {
				for len(ch) > 0 {
					<-ch
				}
				_, err = fmt.Fprint(w, "event: resync\ndata: {}\n\n")
				break
			}
			b, _ := json.Marshal(ev)
			_, err = fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return nil // the client went away
		}
	}
}

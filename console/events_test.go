package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type sse struct {
	res    *http.Response
	events chan [2]string // event, data
}

// stream opens the change feed as EventSource would, and reads it in the
// background.
func (c *client) stream(query string) *sse {
	c.e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.e.srv.URL+"/api/events"+query, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		c.e.t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{res: res, events: make(chan [2]string, 100)}
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != "" {
					s.events <- [2]string{ev, data}
				}
				ev, data = "", ""
			case strings.HasPrefix(line, "event: "):
				ev = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			}
		}
	}()
	return s
}

// next returns the next event, failing after a generous bound.
func (s *sse) next(t *testing.T) (string, map[string]any) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(ev[1]), &m)
		return ev[0], m
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30 s")
	}
	return "", nil
}

// ended waits for the stream to end.
func (s *sse) ended(t *testing.T) []string {
	t.Helper()
	var got []string
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return got
			}
			got = append(got, ev[0])
		case <-time.After(30 * time.Second):
			t.Fatal("the stream did not end within 30 s")
		}
	}
}

// A change made through S3 or through the object layer (what the mount
// writes with) reaches the console's listing.
func TestEventsFromS3AndLayer(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "bkt"})
	c.want(201, "", "POST", "/api/buckets", map[string]string{"name": "other"})
	s := c.stream("?bucket=bkt&prefix=docs/")

	ctx := context.Background()
	s3c := e.s3(rootAK, rootSK)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("other"), Key: aws.String("docs/x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("elsewhere"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("docs/a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	ev, data := s.next(t)
	if ev != "change" || data["kind"] != "put" || data["bucket"] != "bkt" || data["key"] != "docs/a.txt" {
		t.Fatalf("first event: %s %v (other buckets and prefixes must not show)", ev, data)
	}
	if err := e.d.Layer().Delete(ctx, e.orgID(), "bkt", "docs/a.txt"); err != nil {
		t.Fatal(err)
	}
	ev, data = s.next(t)
	if ev != "change" || data["kind"] != "delete" || data["key"] != "docs/a.txt" {
		t.Fatalf("second event: %s %v", ev, data)
	}
	// Signing out ends the stream, with a last word.
	if res, _ := c.do("DELETE", "/api/session", nil); res.StatusCode != 204 {
		t.Fatal("sign-out")
	}
	if got := s.ended(t); len(got) != 1 || got[0] != "signed-out" {
		t.Fatalf("events at sign-out: %v", got)
	}
}

// Without a bucket filter a key hears of changes in the buckets it may
// see only.
func TestEventsScoped(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(rootAK, rootSK)
	admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": "mine"})
	admin.want(201, "", "POST", "/api/buckets", map[string]string{"name": "theirs"})
	k := e.key(false, "mine")
	sc := e.signIn(k.ID, k.Secret)
	s := sc.stream("")
	admin.put("theirs", "secret.txt", "text/plain", []byte("x"))
	admin.put("mine", "ok.txt", "text/plain", []byte("x"))
	ev, data := s.next(t)
	if ev != "change" || data["bucket"] != "mine" || data["key"] != "ok.txt" {
		t.Fatalf("event: %s %v", ev, data)
	}
}

// The stream ends when the session expires, and when the server closes
// (so an http.Server's Shutdown is not held up).
func TestEventsEnd(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	s := c.stream("")
	e.clock.advance(31 * time.Minute) // past idle; the next ping notices
	if got := s.ended(t); len(got) != 1 || got[0] != "signed-out" {
		t.Fatalf("events at expiry: %v", got)
	}
	c2 := e.signIn(rootAK, rootSK)
	s2 := c2.stream("")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a change feed open: %v", err)
	}
	s2.ended(t)
}

// Every feed is a subscriber each write in the store calls: one session
// may not open them without bound.
func TestEventsPerSessionBound(t *testing.T) {
	e := newEnv(t)
	c := e.signIn(rootAK, rootSK)
	for i := 0; i < 16; i++ {
		c.stream("")
	}
	c.want(429, "TooManyStreams", "GET", "/api/events", nil)
	// Another session is not affected.
	e.signIn(rootAK, rootSK).stream("")
}

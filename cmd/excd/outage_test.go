package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"excloud.dev/buckets/internal/excdtest"
	"excloud.dev/buckets/internal/pgtest"
	"excloud.dev/buckets/internal/seeded"
	"excloud.dev/buckets/internal/testutil"
)

// outageBound bounds each wait of the outage test (for enough PUTs, for
// the daemon to notice the database gone or back): generous, the machine
// is shared; never a measure of speed.
const outageBound = 2 * time.Minute

// The catalog's database stops in the middle of a PUT load and comes back:
// while it is away, PUTs are answered 503 SlowDown with Retry-After,
// /readyz is 503 and the mount answers EIO; when it returns, the daemon
// serves again without a restart, and every PUT that was answered 200
// reads back with its bytes.
func TestCatalogDatabaseOutage(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDB(t)
	mnt := t.TempDir()
	p := excdtest.Start(t, excdtest.Options{DataDir: t.TempDir(), Catalog: url, Metrics: true, Mount: mnt})
	ctx := context.Background()
	c := p.S3(testutil.NoRetries)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("load")}); err != nil {
		t.Fatal(err)
	}

	type result struct {
		key    string
		sum    [32]byte
		code   string // "" when answered 200
		status int
		retry  string // Retry-After of an error answer
		err    error
	}
	var (
		mu      sync.Mutex
		results []result
		cond    = sync.NewCond(&mu)
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	count := func(pred func(result) bool) int {
		n := 0
		for _, r := range results {
			if pred(r) {
				n++
			}
		}
		return n
	}
	// waitFor waits, under mu, until pred holds of the results since
	// results[from:], or fails the test after outageBound.
	waitFor := func(what string, from int, pred func([]result) bool) {
		t.Helper()
		deadline := time.Now().Add(outageBound)
		timer := time.AfterFunc(outageBound, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
		defer timer.Stop()
		mu.Lock()
		defer mu.Unlock()
		for !pred(results[from:]) {
			if time.Now().After(deadline) {
				t.Fatalf("waited %v for %s; %d results since", outageBound, what, len(results)-from)
			}
			cond.Wait()
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d/%06d", w, i)
				body := seeded.Bytes(uint64(w<<32|i), 4096)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("load"), Key: aws.String(key), Body: bytes.NewReader(body)})
				r := result{key: key, sum: sha256.Sum256(body), err: err}
				if err != nil {
					r.code = testutil.APICode(err)
					var re *smithyhttp.ResponseError
					if errors.As(err, &re) {
						r.status = re.HTTPStatusCode()
						r.retry = re.Response.Header.Get("Retry-After")
					}
				}
				mu.Lock()
				results = append(results, r)
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	ok := func(r result) bool { return r.err == nil }
	waitFor("PUTs before the outage", 0, func(rs []result) bool { return count(ok) >= 40 })

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Log("PostgreSQL stopped")
	mu.Lock()
	down := len(results)
	mu.Unlock()
	// PUTs begun after the stop fail, each with 503 SlowDown.
	slow := func(r result) bool {
		return r.code == "SlowDown" && r.status == http.StatusServiceUnavailable && r.retry != ""
	}
	waitFor("503 SlowDown answers during the outage", down, func(rs []result) bool {
		n := 0
		for _, r := range rs {
			if slow(r) {
				n++
			}
		}
		return n >= 20
	})
	if code := readyz(t, p.Metrics); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", code)
	}
	// The mount has nothing to answer with either: EIO, not ENOENT.
	err := os.WriteFile(filepath.Join(mnt, "load", "during-outage"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("write through the mount during the outage: %v; want EIO", err)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Log("PostgreSQL back")
	mu.Lock()
	up := len(results)
	mu.Unlock()
	waitFor("PUTs answered 200 after the database came back", up, func(rs []result) bool {
		n := 0
		for _, r := range rs {
			if r.err == nil {
				n++
			}
		}
		return n >= 40
	})
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(outageBound)
	for readyz(t, p.Metrics) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still not 200 %v after the database came back", outageBound)
		}
		time.Sleep(50 * time.Millisecond) // polling a probe, not waiting for an event
	}

	// Every answer was a 200 or a 503 SlowDown; every 200 reads back.
	var acked, slowDowns int
	other := map[string]int{}
	for _, r := range results {
		switch {
		case r.err == nil:
			acked++
		case slow(r):
			slowDowns++
		default:
			other[fmt.Sprintf("%s/%d: %v", r.code, r.status, r.err)]++
		}
	}
	for e, n := range other {
		t.Errorf("%d PUTs failed otherwise than 503 SlowDown: %s", n, e)
	}
	for _, r := range results {
		if r.err != nil {
			continue
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("load"), Key: aws.String(r.key)})
		if err != nil {
			t.Errorf("acknowledged %s: %v", r.key, err)
			continue
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || sha256.Sum256(b) != r.sum {
			t.Errorf("acknowledged %s reads back %d bytes, other content (%v)", r.key, len(b), err)
		}
	}
	t.Logf("%d PUTs: %d answered 200 and read back, %d 503 SlowDown (%d begun before the stop, %d while down, %d after the restart)",
		len(results), acked, slowDowns, down, up-down, len(results)-up)
}

// readyz is the status of the daemon's /readyz.
func readyz(t *testing.T, metrics string) int {
	t.Helper()
	resp, err := http.Get(metrics + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Package s3 keeps chunk files as objects in any S3-compatible object store
// (AWS S3, Ceph RGW, MinIO, Garage, another excd), so several excd nodes can
// share one chunk store (docs/scale-out.md).
//
// An object holds exactly the bytes of the local backend's chunk file, under
// the key PREFIX/<name[0:2]>/<name[2:4]>/<name>: the same fan-out as the
// chunk directory, so a store can be migrated with any copying tool and
// back (exc chunks migrate does it and verifies).
//
// A Put is one PutObject with a known Content-Length and If-None-Match: *.
// Names are content addresses, so an existing object already holds the
// chunk; the condition keeps two nodes that store the same chunk at once
// from replacing one sealing (its random salt) by another under a reader
// that has read the first one's header. A store that ignores the condition
// (older MinIO and Ceph releases) replaces the object instead; the chunk
// store then sees a reader's header and segments disagree, which fails
// authentication (ErrCorrupt, never wrong bytes), and rereads the header.
package s3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"excloud.dev/buckets/chunkstore"
)

// Options says where the chunks are and how to reach them.
type Options struct {
	// URL is s3://BUCKET or s3://BUCKET/PREFIX.
	URL string
	// Endpoint is the store's base URL (https://host:port); empty means
	// AWS S3 in Region.
	Endpoint string
	// Region is the signing region; many stores check it. Default us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (host/bucket/key) rather
	// than the host name (bucket.host/key); most self-hosted stores need it.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, are the credentials;
	// otherwise CredentialsFile, otherwise AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY.
	AccessKeyID, SecretAccessKey string
	// CredentialsFile is an AWS shared credentials file (INI, the [default]
	// section or the only one: aws_access_key_id, aws_secret_access_key,
	// optionally aws_session_token).
	CredentialsFile string
	// Concurrency bounds the requests in flight; default 64.
	Concurrency int
	// MaxAttempts bounds the tries of one request (throttling, 5xx,
	// timeouts and broken connections are retried with exponential backoff
	// and full jitter); default 6. MaxBackoff bounds one wait; default 5 s.
	MaxAttempts int
	MaxBackoff  time.Duration
	// HTTPClient, when set, replaces the default client (tests count
	// requests with it).
	HTTPClient *http.Client
}

// Backend is a chunkstore.Backend on an S3 bucket.
type Backend struct {
	client *s3api.Client
	bucket string
	prefix string // "" or ending in "/"
	sem    chan struct{}
	desc   string
}

var _ chunkstore.Backend = (*Backend)(nil)

// ParseURL splits s3://BUCKET/PREFIX. The prefix loses its surrounding
// slashes; empty means the bucket's root.
func ParseURL(v string) (bucket, prefix string, err error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("invalid chunk store %q: want s3://BUCKET or s3://BUCKET/PREFIX", v)
	}
	prefix = strings.Trim(u.Path, "/")
	if strings.Contains(prefix, "//") {
		return "", "", fmt.Errorf("invalid chunk store %q: empty path segment in the prefix", v)
	}
	return u.Host, prefix, nil
}

// New checks the options and that the bucket answers (a wrong endpoint,
// bucket or key fails here, with the store's own error, rather than at the
// first upload).
func New(ctx context.Context, o Options) (*Backend, error) {
	bucket, prefix, err := ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	creds, err := o.credentials()
	if err != nil {
		return nil, err
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient(o.Concurrency)
	}
	s3o := s3api.Options{
		Region:       o.Region,
		UsePathStyle: o.PathStyle,
		Credentials:  creds,
		HTTPClient:   hc,
		// The chunk's own AEAD authenticates every byte; SigV4's payload
		// hash (plain HTTP) or TLS covers the transport. Trailing CRCs
		// would add aws-chunked encoding that not every store speaks.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = o.MaxAttempts
			so.MaxBackoff = o.MaxBackoff
			// The SDK's client-side retry quota would fail requests fast
			// once a store throttles for a while; a chunk store should
			// rather wait, within MaxAttempts.
			so.RateLimiter = ratelimit.None
			so.Retryables = append(so.Retryables, retry.IsErrorRetryableFunc(extraRetryable))
		}),
	}
	if o.Endpoint != "" {
		if _, err := url.ParseRequestURI(o.Endpoint); err != nil || !strings.HasPrefix(o.Endpoint, "http") {
			return nil, fmt.Errorf("invalid chunk store endpoint %q: want http(s)://host[:port]", o.Endpoint)
		}
		s3o.BaseEndpoint = aws.String(o.Endpoint)
	}
	b := &Backend{
		client: s3api.New(s3o),
		bucket: bucket,
		sem:    make(chan struct{}, o.Concurrency),
		desc:   "s3://" + bucket + "/" + prefix,
	}
	if prefix != "" {
		b.prefix = prefix + "/"
	}
	if err := b.acquire(ctx); err != nil {
		return nil, err
	}
	_, err = b.client.HeadBucket(ctx, &s3api.HeadBucketInput{Bucket: aws.String(bucket)})
	b.release()
	if err != nil {
		return nil, fmt.Errorf("s3: chunk store %s at %s: %w", b.desc, endpointName(o), err)
	}
	return b, nil
}

func endpointName(o Options) string {
	if o.Endpoint != "" {
		return o.Endpoint
	}
	return "AWS " + o.Region
}

// String names the store for logs.
func (b *Backend) String() string { return b.desc }

// defaultHTTPClient keeps enough idle connections for the concurrency and
// bounds the waits that would otherwise hang a request on a dead store: a
// store that does not accept the connection, or does not answer a request
// it has received, is a failed attempt (retried), not a stuck upload.
func defaultHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// extraRetryable adds what the SDK's standard retryer leaves out: 429
// without a modeled code (some gateways), and AWS's 409
// ConditionalRequestConflict, which a conditional PUT racing another on the
// same key may get.
func extraRetryable(err error) aws.Ternary {
	var st interface{ HTTPStatusCode() int }
	if errors.As(err, &st) && st.HTTPStatusCode() == http.StatusTooManyRequests {
		return aws.TrueTernary
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict" {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

func (o Options) credentials() (aws.CredentialsProvider, error) {
	id, secret, token := o.AccessKeyID, o.SecretAccessKey, ""
	switch {
	case id != "" || secret != "":
	case o.CredentialsFile != "":
		var err error
		if id, secret, token, err = readCredentialsFile(o.CredentialsFile); err != nil {
			return nil, err
		}
	default:
		id, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	if id == "" || secret == "" {
		return nil, errors.New("s3: chunk store credentials: want an access key id and a secret (EXC_CHUNKS_ACCESS_KEY_ID and EXC_CHUNKS_SECRET_ACCESS_KEY, the chunks_credentials file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	return credentials.NewStaticCredentialsProvider(id, secret, token), nil
}

// readCredentialsFile reads the [default] section of an AWS shared
// credentials file, or its only section, or keys before any section.
func readCredentialsFile(path string) (id, secret, token string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", "", fmt.Errorf("s3: chunk store credentials: %w", err)
	}
	defer f.Close()
	sections := map[string]map[string]string{}
	var order []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			cur = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			// The line may hold the secret: do not quote it.
			return "", "", "", fmt.Errorf("s3: chunk store credentials %s: a line is not key = value", path)
		}
		if sections[cur] == nil {
			sections[cur] = map[string]string{}
			order = append(order, cur)
		}
		sections[cur][strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return "", "", "", fmt.Errorf("s3: chunk store credentials %s: %w", path, err)
	}
	s := sections["default"]
	if s == nil && len(order) == 1 {
		s = sections[order[0]]
	}
	if s == nil {
		return "", "", "", fmt.Errorf("s3: chunk store credentials %s: no [default] section", path)
	}
	return s["aws_access_key_id"], s["aws_secret_access_key"], s["aws_session_token"], nil
}

// Key returns the object key for name.
func (b *Backend) Key(name string) string {
	return b.prefix + name[0:2] + "/" + name[2:4] + "/" + name
}

// checkName admits the names the local backend admits, so a store can move
// between the two.
func checkName(name string) error {
	if len(name) < 4 || len(name) > 255 || name[0] == '.' {
		return fmt.Errorf("s3: bad name %q: %w", name, fs.ErrInvalid)
	}
	for _, c := range []byte(name) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("s3: bad name %q: %w", name, fs.ErrInvalid)
		}
	}
	return nil
}

func (b *Backend) acquire(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) release() { <-b.sem }

// notFound reports whether err says the key does not exist. A missing
// bucket is not a missing chunk: it is a broken configuration, and must not
// let the store conclude that chunks are gone (a PUT would recreate them,
// a scrub would report them all lost).
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	return false
}

// wrap adds the operation and maps a missing key to fs.ErrNotExist.
func (b *Backend) wrap(op, name string, err error) error {
	if notFound(err) {
		return fmt.Errorf("s3: %s %s: %w", op, name, fs.ErrNotExist)
	}
	if unavailable(err) {
		return fmt.Errorf("s3: %s %s in %s: %w: %w", op, name, b.desc, chunkstore.ErrUnavailable, err)
	}
	return fmt.Errorf("s3: %s %s in %s: %w", op, name, b.desc, err)
}

// unavailable reports whether err, after the retries, still says the store
// is down or overloaded (5xx, 429, no answer at all) rather than that the
// request was refused (403 for a wrong key, 400).
func unavailable(err error) bool {
	var st interface{ HTTPStatusCode() int }
	if errors.As(err, &st) {
		c := st.HTTPStatusCode()
		return c >= 500 || c == http.StatusTooManyRequests || c == 0
	}
	return true // no HTTP answer: connection refused, reset, timeout
}

// maxBuffered bounds what Put buffers for a reader of unknown length: one
// chunk file of the largest chunk, with room for a different segment size.
var maxBuffered = chunkstore.SealedSize(chunkstore.MaxChunkSize) + 1<<20

// sizedReader is a body whose length is known up front: the chunk store's
// sealing reader, a bytes.Reader.
type sizedReader interface {
	io.ReadSeeker
	Size() int64
}

// Put uploads r as one object if none exists under name. A reader that
// cannot say its length and rewind (for retries and the SigV4 payload
// hash) is read into memory first, at most one chunk file.
func (b *Backend) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	body, size, err := putBody(ctx, r)
	if err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	if err := b.acquire(ctx); err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	defer b.release()
	_, err = b.client.PutObject(ctx, &s3api.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(b.Key(name)),
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
		IfNoneMatch:   aws.String("*"),
	})
	if err != nil {
		if isStatus(err, http.StatusPreconditionFailed) {
			return nil // the chunk is there already
		}
		if ctx.Err() != nil {
			return fmt.Errorf("s3: put %s: %w", name, ctx.Err())
		}
		return b.wrap("put", name, err)
	}
	return nil
}

func putBody(ctx context.Context, r io.Reader) (io.ReadSeeker, int64, error) {
	switch v := r.(type) {
	case sizedReader:
		pos, err := v.Seek(0, io.SeekCurrent)
		if err == nil {
			return v, v.Size() - pos, nil
		}
	}
	var buf bytes.Buffer
	p := make([]byte, 128<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		n, err := r.Read(p)
		buf.Write(p[:n])
		if int64(buf.Len()) > maxBuffered {
			return nil, 0, fmt.Errorf("more than %d bytes: not a chunk file", maxBuffered)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil
}

func isStatus(err error, code int) bool {
	var st interface{ HTTPStatusCode() int }
	return errors.As(err, &st) && st.HTTPStatusCode() == code
}

// Open is one GET, ranged unless it reads a whole object.
func (b *Backend) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("s3: open %s: negative offset %d: %w", name, off, fs.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", name, err)
	}
	if length == 0 {
		// No range says "no bytes"; the name must still exist.
		if _, err := b.Stat(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &s3api.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.Key(name))}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if err := b.acquire(ctx); err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", name, err)
	}
	out, err := b.client.GetObject(ctx, in)
	b.release()
	if err != nil {
		if isStatus(err, http.StatusRequestedRangeNotSatisfiable) {
			// The object exists and ends before off: a short read.
			return io.NopCloser(strings.NewReader("")), nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("s3: open %s: %w", name, ctx.Err())
		}
		return nil, b.wrap("get", name, err)
	}
	return &bodyReader{ctx: ctx, body: out.Body}, nil
}

// bodyReader reports a cancelled context as such, whatever error the
// transport makes of it.
type bodyReader struct {
	ctx  context.Context
	body io.ReadCloser
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF && r.ctx.Err() != nil {
		return n, r.ctx.Err()
	}
	return n, err
}

func (r *bodyReader) Close() error { return r.body.Close() }

// Stat is a HEAD.
func (b *Backend) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if err := b.acquire(ctx); err != nil {
		return 0, fmt.Errorf("s3: stat %s: %w", name, err)
	}
	defer b.release()
	out, err := b.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.Key(name))})
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("s3: stat %s: %w", name, ctx.Err())
		}
		return 0, b.wrap("stat", name, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Delete is a HEAD then a DELETE: S3 answers 204 to the deletion of a
// missing key, and the contract wants fs.ErrNotExist. A concurrent Delete
// of the same name can make both succeed; only the collector deletes.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if _, err := b.Stat(ctx, name); err != nil {
		return err
	}
	if err := b.acquire(ctx); err != nil {
		return fmt.Errorf("s3: delete %s: %w", name, err)
	}
	defer b.release()
	_, err := b.client.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.Key(name))})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("s3: delete %s: %w", name, ctx.Err())
		}
		return b.wrap("delete", name, err)
	}
	return nil
}

// listPrefix is the key prefix under which every name starting with
// prefix lies, given the fan-out.
func (b *Backend) listPrefix(prefix string) string {
	switch {
	case len(prefix) <= 2:
		return b.prefix + prefix
	case len(prefix) <= 4:
		return b.prefix + prefix[0:2] + "/" + prefix[2:]
	default:
		return b.prefix + prefix[0:2] + "/" + prefix[2:4] + "/" + prefix
	}
}

// List pages through ListObjectsV2, skipping keys that are not a name
// under its own shard (a stray object, a tool's marker).
func (b *Backend) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: list: %w", err)
	}
	p := s3api.NewListObjectsV2Paginator(b.client, &s3api.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.listPrefix(prefix)),
	})
	for p.HasMorePages() {
		if err := b.acquire(ctx); err != nil {
			return fmt.Errorf("s3: list: %w", err)
		}
		page, err := p.NextPage(ctx)
		b.release()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("s3: list: %w", ctx.Err())
			}
			return b.wrap("list", b.desc, err)
		}
		for _, o := range page.Contents {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("s3: list: %w", err)
			}
			rest, ok := strings.CutPrefix(aws.ToString(o.Key), b.prefix)
			if !ok || len(rest) < 10 || rest[2] != '/' || rest[5] != '/' {
				continue
			}
			name := rest[6:]
			if name[0:2] != rest[0:2] || name[2:4] != rest[3:5] || !strings.HasPrefix(name, prefix) || checkName(name) != nil {
				continue
			}
			if err := fn(name, aws.ToInt64(o.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

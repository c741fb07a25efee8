// Package testutil holds the small helpers that tests across the module
// share: a log buffer safe for a daemon and a test at once, the S3 clients
// pointed at a gateway under test, and the S3 error code of an SDK error.
// It imports nothing of this module, so any package's tests can use it.
package testutil

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// LogBuffer collects a log written by one goroutine (a daemon's handler
// logs after its response is sent, a child's stderr is copied by a reader)
// while the test reads it.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Contains reports whether the log holds s.
func (l *LogBuffer) Contains(s string) bool { return strings.Contains(l.String(), s) }

// S3 is aws-sdk-go-v2 for endpoint (http://host:port), path style, with the
// SDK's default settings (retries and request checksums included) unless
// optFns change them. us-east-1: for an unknown region the SDK compiles a
// regexp per request.
func S3(endpoint, accessKey, secretKey string, optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	}, optFns...)
}

// NoRetries is an S3 option for tests that check the first answer.
func NoRetries(o *s3.Options) { o.RetryMaxAttempts = 1 }

// WithHeader is an S3 option that adds a header to every request after it
// is signed, as a proxy on the way would (X-Forwarded-For); an x-amz-*
// header added so fails authentication.
func WithHeader(name, value string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("testutil.WithHeader",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set(name, value)
					}
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

// Minio is minio-go for hostPort, path style, plain HTTP.
func Minio(tb testing.TB, hostPort, accessKey, secretKey string) *minio.Client {
	tb.Helper()
	c, err := minio.New(strings.TrimPrefix(hostPort, "http://"), &minio.Options{
		Creds:        miniocreds.NewStaticV4(accessKey, secretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// APICode is the S3 error code of an aws-sdk-go-v2 error, "" for an error
// that is not an S3 error answer (a transport error, nil).
func APICode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// MountsAt returns the per-mount options (the sixth field of
// /proc/self/mountinfo) of every mount at dir in this mount namespace, the
// topmost last; none if dir is not a mount point.
func MountsAt(tb testing.TB, dir string) []string {
	tb.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	var opts []string
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == dir {
			opts = append(opts, f[5])
		}
	}
	return opts
}

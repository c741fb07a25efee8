// Command presign prints a presigned PUT URL. It exists for .ci/smoke.sh:
// Debian's aws CLI (2.9) can presign only GET, and the smoke test must show
// that a plain `curl -T` to a presigned PUT URL stores an object.
//
//	presign -endpoint http://127.0.0.1:PORT -bucket B -key K [-expires 5m]
//
// The access key and secret come from -access-key / -secret-key, or else
// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (which the smoke script
// exports). The default AWS config is deliberately not loaded: CI machines
// set AWS_CA_BUNDLE and profiles that have nothing to do with this endpoint.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint, e.g. http://127.0.0.1:9000")
	bucket := flag.String("bucket", "", "bucket name")
	key := flag.String("key", "", "object key")
	expires := flag.Duration("expires", 5*time.Minute, "how long the URL is valid")
	accessKey := flag.String("access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key id")
	secretKey := flag.String("secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret access key")
	region := flag.String("region", envOr("AWS_DEFAULT_REGION", "us-east-1"), "region to sign for")
	flag.Parse()
	if *endpoint == "" || *bucket == "" || *key == "" || *accessKey == "" || *secretKey == "" {
		fmt.Fprintln(os.Stderr, "presign: -endpoint, -bucket, -key and credentials are required")
		flag.Usage()
		os.Exit(2)
	}

	client := s3.New(s3.Options{
		Region:       *region,
		BaseEndpoint: aws.String(*endpoint),
		UsePathStyle: true, // the gateway is path-style only
		Credentials:  credentials.NewStaticCredentialsProvider(*accessKey, *secretKey, ""),
	})
	req, err := s3.NewPresignClient(client).PresignPutObject(context.Background(),
		&s3.PutObjectInput{Bucket: bucket, Key: key}, s3.WithPresignExpires(*expires))
	if err != nil {
		fmt.Fprintf(os.Stderr, "presign: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(req.URL)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

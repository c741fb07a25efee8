package console

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxShare is S3's bound on a presigned URL's life (X-Amz-Expires).
const maxShare = 7 * 24 * time.Hour

// share answers a presigned S3 GET of the object, signed with the
// session's own key: the link is worth what that key is worth, and dies
// with it (deleting the key voids every link it signed). Presigning is
// local computation; nothing is sent to S3.
func (s *Server) share(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Key     string `json:"key"`
		Expires int64  `json:"expires"`
	}
	if err := readJSON(r, &in, 8<<10); err != nil {
		return err
	}
	if err := checkKey(in.Key); err != nil {
		return err
	}
	if in.Expires < 1 || time.Duration(in.Expires)*time.Second > maxShare {
		return badRequest("expires must be between 1 second and 7 days (604800).")
	}
	bucket := r.PathValue("b")
	if _, err := s.cfg.Objects.Head(r.Context(), c.org(), bucket, in.Key); err != nil {
		return err
	}
	endpoint := s.cfg.S3URL(r)
	if endpoint == "" {
		return apiErr(http.StatusServiceUnavailable, "NoEndpoint", "The S3 endpoint's address is not known, so no link can be made.")
	}
	exp := time.Duration(in.Expires) * time.Second
	now := s.cfg.Now()
	u, err := presignGet(r.Context(), endpoint, s.cfg.Region, c.key.ID, c.key.Secret, bucket, in.Key, exp)
	if err != nil {
		return err
	}
	s.log.Info("console: share link made", "access_key", c.key.ID, "org", c.org(), "bucket", bucket, "expires_in", exp.String())
	return writeJSON(w, http.StatusOK, map[string]any{"url": u, "expires_at": now.Add(exp).UTC()})
}

func presignGet(ctx context.Context, endpoint, region, id, secret, bucket, key string, exp time.Duration) (string, error) {
	client := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true, // the gateway is path-style only
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
	req, err := s3.NewPresignClient(client, s3.WithPresignExpires(exp)).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

package s3gw

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"excloud.dev/buckets/s3gw/checksum"
)

func minioClient(t *testing.T, st *stack) *minio.Client {
	t.Helper()
	mc, err := minio.New(strings.TrimPrefix(st.srv.URL, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(st.key.ID, st.key.Secret, ""),
		Region:       "auto",
		BucketLookup: minio.BucketLookupPath,
		// Required by minio-go for PutObjectOptions.Checksum.
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// TestMinioMultipartChecksums: minio-go's multipart PutObject with each
// checksum it offers stores the object and reports a checksum.
func TestMinioMultipartChecksums(t *testing.T) {
	st := newStack(t)
	mc := minioClient(t, st)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "mcsum", minio.MakeBucketOptions{Region: "auto"}); err != nil {
		t.Fatal(err)
	}
	data := randBytes(404, 30*mib)
	for _, ct := range []minio.ChecksumType{minio.ChecksumCRC32C, minio.ChecksumCRC32, minio.ChecksumSHA1, minio.ChecksumSHA256, minio.ChecksumCRC64NVME,
		minio.ChecksumFullObjectCRC32C, minio.ChecksumFullObjectCRC32} {
		name := ct.String()
		if ct.FullObjectRequested() {
			name += "-full"
		}
		t.Run(name, func(t *testing.T) {
			key := "obj-" + name
			info, err := mc.PutObject(ctx, "mcsum", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{PartSize: 5 * mib, Checksum: ct})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			obj, err := mc.GetObject(ctx, "mcsum", key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
			// What the upload reported is what the object keeps.
			sums := func(i minio.UploadInfo) string {
				return i.ChecksumCRC32 + i.ChecksumCRC32C + i.ChecksumCRC64NVME + i.ChecksumSHA1 + i.ChecksumSHA256
			}
			stat, err := mc.StatObject(ctx, "mcsum", key, minio.StatObjectOptions{Checksum: true})
			if err != nil {
				t.Fatal(err)
			}
			stored := stat.ChecksumCRC32 + stat.ChecksumCRC32C + stat.ChecksumCRC64NVME + stat.ChecksumSHA1 + stat.ChecksumSHA256
			if sums(info) == "" || stored != sums(info) {
				t.Errorf("upload reported checksum %q, stat says %q", sums(info), stored)
			}
		})
	}
}

// TestCompleteChecksumForms: every algorithm and checksum type S3 allows
// for a multipart upload accepts the object checksum on
// CompleteMultipartUpload in each form clients send it (a composite with or
// without its "-N" part count), and a wrong one is BadDigest with nothing
// stored.
func TestCompleteChecksumForms(t *testing.T) {
	st := newStack(t)
	c := st.client(st.key)
	ctx := context.Background()
	mustBucket(t, c, "forms")
	p1, p2 := randBytes(21, 5*mib), randBytes(22, 1000)
	for _, tc := range []struct {
		alg  types.ChecksumAlgorithm
		full bool
	}{
		{types.ChecksumAlgorithmCrc32, false}, {types.ChecksumAlgorithmCrc32c, false}, {types.ChecksumAlgorithmSha1, false}, {types.ChecksumAlgorithmSha256, false},
		{types.ChecksumAlgorithmCrc32, true}, {types.ChecksumAlgorithmCrc32c, true}, {types.ChecksumAlgorithmCrc64nvme, true},
	} {
		a, _ := checksum.Parse(string(tc.alg))
		typ := types.ChecksumTypeComposite
		var want string
		var forms []string
		if tc.full {
			typ = types.ChecksumTypeFullObject
			raw, err := checksum.FullObject(a, []checksum.Part{{Sum: checksum.Sum(a, p1), Size: int64(len(p1))}, {Sum: checksum.Sum(a, p2), Size: int64(len(p2))}})
			if err != nil {
				t.Fatal(err)
			}
			want = checksum.Encode(raw)
			forms = []string{want}
		} else {
			v, err := checksum.Composite(a, [][]byte{checksum.Sum(a, p1), checksum.Sum(a, p2)})
			if err != nil {
				t.Fatal(err)
			}
			want = v
			forms = []string{strings.TrimSuffix(v, "-2"), v}
		}
		for i, form := range forms {
			key := fmt.Sprintf("%s-%s-%d", tc.alg, typ, i)
			t.Run(key, func(t *testing.T) {
				cr, parts := uploadChecksumParts(t, c, "forms", key, tc.alg, typ, p1, p2)
				complete := func(value string) (*s3.CompleteMultipartUploadOutput, error) {
					in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("forms"), Key: aws.String(key), UploadId: cr.UploadId,
						MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, ChecksumType: typ}
					switch a {
					case checksum.CRC32:
						in.ChecksumCRC32 = aws.String(value)
					case checksum.CRC32C:
						in.ChecksumCRC32C = aws.String(value)
					case checksum.CRC64NVME:
						in.ChecksumCRC64NVME = aws.String(value)
					case checksum.SHA1:
						in.ChecksumSHA1 = aws.String(value)
					case checksum.SHA256:
						in.ChecksumSHA256 = aws.String(value)
					}
					return c.CompleteMultipartUpload(ctx, in)
				}
				wrong := checksum.Encode(checksum.Sum(a, p2))
				if _, err := complete(wrong); apiCode(err) != "BadDigest" || sdkStatus(err) != 400 {
					t.Errorf("wrong checksum: %v, want 400 BadDigest", err)
				}
				if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String(key)}); err == nil {
					t.Error("a completion with a wrong checksum stored the object")
				}
				out, err := complete(form)
				if err != nil {
					t.Fatalf("checksum %s: %v", form, err)
				}
				got := aws.ToString(out.ChecksumCRC32) + aws.ToString(out.ChecksumCRC32C) + aws.ToString(out.ChecksumCRC64NVME) + aws.ToString(out.ChecksumSHA1) + aws.ToString(out.ChecksumSHA256)
				if got != want || out.ChecksumType != typ {
					t.Errorf("completion reports %s %s, want %s %s", got, out.ChecksumType, want, typ)
				}
			})
		}
	}
}

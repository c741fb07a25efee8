package catalog

import (
	"strings"
	"testing"
)

func TestValidBucketName(t *testing.T) {
	valid := []string{
		"abc", "my-bucket", "my.bucket", "a1b2", "123", "a-b.c-d",
		strings.Repeat("a", 63), "1.2.3", "1.2.3.4.5",
	}
	invalid := []string{
		"", "ab", strings.Repeat("a", 64),
		"MyBucket", "my_bucket", "my bucket", "bücket",
		"-abc", "abc-", ".abc", "abc.", "a..b",
		"192.168.1.1", "10.0.0.1", "10.0.00.1", "0.0.00.0", "999.1.1.1",
		"xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3", "abc--x-s3",
		"my-.bucket", "my.-bucket", "a-.-b",
	}
	for _, n := range valid {
		if err := ValidBucketName(n); err != nil {
			t.Errorf("ValidBucketName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range invalid {
		if err := ValidBucketName(n); err == nil {
			t.Errorf("ValidBucketName(%q) = nil, want error", n)
		}
	}
}

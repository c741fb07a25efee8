package catalog

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// bucketRule is AWS's general-purpose bucket naming rule written
// independently of validBucketName, as the documentation states it.
var bucketRule = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ipShapedRule is "formatted as an IP address": four dot-separated decimal
// numbers, leading zeros or not.
var ipShapedRule = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)

// FuzzBucketName checks that every bucket name ValidBucketName accepts
// obeys the AWS rules, checked here a second, independent way, and that
// names from minio-go's own validator (s3utils.CheckValidBucketNameStrict)
// and ours agree on the shape rules both implement.
func FuzzBucketName(f *testing.F) {
	for _, s := range []string{"abc", "my-bucket.example", "a", "ab", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"Abc", "a..b", "-ab", "ab-", "192.168.1.1", "1.2.3", "xn--ab", "sthree-x", "amzn-s3-demo-x", "b-s3alias",
		"b--ol-s3", "b.mrap", "b--x-s3", "b--table-s3", "a_b", "a b", "ab\x00", "ü12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidBucketName(name)
		if err != nil {
			return
		}
		switch {
		case !bucketRule.MatchString(name):
			t.Fatalf("accepted %q: not 3-63 of [a-z0-9.-] with alphanumeric ends", name)
		case strings.Contains(name, ".."):
			t.Fatalf("accepted %q with adjacent periods", name)
		case ipShapedRule.MatchString(name) || net.ParseIP(name) != nil:
			t.Fatalf("accepted IP-shaped %q", name)
		case strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") || strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3"):
			t.Fatalf("accepted reserved %q", name)
		}
		if err := s3utils.CheckValidBucketNameStrict(name); err != nil && !strings.Contains(name, ".-") && !strings.Contains(name, "-.") {
			// minio-go additionally refuses ".-" and "-." (older rules);
			// anything else it refuses, we must too.
			t.Fatalf("accepted %q, which minio-go refuses: %v", name, err)
		}
	})
}

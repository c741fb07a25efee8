package clientconf

import (
	"fmt"
	"regexp"
	"strconv"
)

// AWSCLIVersion is a parsed `aws --version`. The zero value is "unknown".
type AWSCLIVersion struct {
	Major, Minor, Patch int
	Text                string // "aws-cli/2.9.19", as printed
}

var awsVersionRE = regexp.MustCompile(`(?:^|\s)(aws-cli/(\d+)\.(\d+)(?:\.(\d+))?)`)

// ParseAWSCLIVersion reads the output of `aws --version` (v1 prints it on
// stderr, v2 on stdout: pass both), e.g.
// "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 source/x86_64.debian.12 prompt/off".
func ParseAWSCLIVersion(out string) (AWSCLIVersion, bool) {
	m := awsVersionRE.FindStringSubmatch(out)
	if m == nil {
		return AWSCLIVersion{}, false
	}
	v := AWSCLIVersion{Text: m[1]}
	v.Major, _ = strconv.Atoi(m[2])
	v.Minor, _ = strconv.Atoi(m[3])
	if m[4] != "" {
		v.Patch, _ = strconv.Atoi(m[4])
	}
	return v, true
}

// ReadsEndpointURL reports whether this aws CLI honours endpoint_url in a
// profile: added in 2.13.0 and, for v1, 1.29.0 (July 2023). Older ones —
// Debian 12 ships 2.9 — ignore the setting without a word and talk to AWS.
func (v AWSCLIVersion) ReadsEndpointURL() bool {
	switch {
	case v.Major == 1:
		return v.Minor >= 29
	case v.Major == 2:
		return v.Minor >= 13
	default: // 0: unknown
		return v.Major > 2
	}
}

// AWSHint is the command to try after writing profile for endpoint, for
// the aws CLI v found on PATH (the zero value: none found, or its version
// unreadable). Unless v is known to read endpoint_url from the profile, the
// hint passes --endpoint-url, which every version honours.
func AWSHint(profile, endpoint string, v AWSCLIVersion) string {
	if v.ReadsEndpointURL() {
		return fmt.Sprintf("try: aws --profile %s s3 ls\n", profile)
	}
	why := "aws CLI version unknown; before 2.13 it ignores endpoint_url in a profile"
	if v.Text != "" {
		why = v.Text + " ignores endpoint_url in a profile (2.13 and later read it)"
	}
	return fmt.Sprintf("try: aws --profile %s --endpoint-url %s s3 ls\n(%s)\n", profile, endpoint, why)
}

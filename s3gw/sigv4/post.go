package sigv4

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"time"
)

// PostForm is the authentication of a browser POST upload (S3's "POST
// Object" with a policy document): the x-amz-* form fields as sent.
type PostForm struct {
	Algorithm  string // x-amz-algorithm
	Credential string // x-amz-credential
	Date       string // x-amz-date
	Signature  string // x-amz-signature
	Policy     string // policy, base64 as sent: it is what is signed
}

// PostAuth is an authenticated POST form.
type PostAuth struct {
	AccessKeyID string
	Region      string
	Date        time.Time
}

// VerifyPost checks a POST form's signature: the hex HMAC of the base64
// policy under the credential's signing key. The time checks are the
// policy's own (its expiration), so the date is only checked against the
// credential scope. Errors wrap the package's sentinels (ErrMalformedAuth,
// ErrUnsupportedAlgorithm, ErrInvalidAccessKeyID, ErrSignatureMismatch).
func VerifyPost(ctx context.Context, f PostForm, lookup SecretFunc) (*PostAuth, error) {
	if f.Algorithm != Algorithm {
		return nil, fmt.Errorf("%w: x-amz-algorithm %.40q", ErrUnsupportedAlgorithm, f.Algorithm)
	}
	cred, err := ParseCredential(f.Credential)
	if err != nil {
		return nil, err
	}
	t, err := parseAmzDate(f.Date)
	if err != nil {
		return nil, err
	}
	if t.Format(scopeDateFormat) != cred.Date {
		return nil, fmt.Errorf("%w: credential date %s differs from x-amz-date day", ErrMalformedAuth, cred.Date)
	}
	sig, err := parseSignature(f.Signature)
	if err != nil {
		return nil, err
	}
	secret, err := lookup(ctx, cred.AccessKeyID)
	if err != nil {
		return nil, fmt.Errorf("access key %q: %w", cred.AccessKeyID, err)
	}
	key := signingKeys.signingKey(secret, cred)
	var got [64]byte
	hex.Encode(got[:], hmacSHA256(key, f.Policy))
	if !hmac.Equal(got[:], []byte(sig)) {
		return nil, fmt.Errorf("%w: POST policy, access key %q, scope %s", ErrSignatureMismatch, cred.AccessKeyID, cred.Scope())
	}
	return &PostAuth{AccessKeyID: cred.AccessKeyID, Region: cred.Region, Date: t}, nil
}

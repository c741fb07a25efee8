package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// EncodeURIPath encodes a decoded request path the way S3 canonicalizes it:
// every byte except the unreserved characters A-Z a-z 0-9 - . _ ~ and '/'
// becomes %XX (upper-case hex). S3 encodes once, unlike other services
// which encode the already-escaped path a second time.
func EncodeURIPath(p string) string {
	return encode(p, false)
}

// EncodeQueryComponent encodes a decoded query key or value for the
// canonical query string: like EncodeURIPath but '/' is encoded too.
func EncodeQueryComponent(s string) string {
	return encode(s, true)
}

func encode(s string, slash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (slash || s[i] != '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (!slash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// canonicalURIs returns the canonical URI S3 uses (the decoded path encoded
// once) and, if it differs, the path exactly as the client escaped it.
// Clients that follow S3 (aws-sdk-go-v2's S3 client, minio-go) sign the
// first; the second accepts clients that sign the path as they sent it
// without normalizing, at the cost of one more HMAC on a mismatch only.
// Both denote the same decoded path, so accepting either cannot change
// which object a signature covers.
func canonicalURIs(u *url.URL) (primary, alt string) {
	p := u.Path
	if p == "" {
		p = "/"
	}
	primary = EncodeURIPath(p)
	if raw := u.EscapedPath(); raw != "" && raw != primary {
		alt = raw
	}
	return primary, alt
}

// canonicalQuery builds the canonical query string from the raw query:
// pairs decoded (as net/url does, '+' meaning space), re-encoded, sorted by
// key then value, "k=" for empty values. skip names a parameter left out
// (X-Amz-Signature for presigned URLs).
func canonicalQuery(raw, skip string) (string, error) {
	if raw == "" {
		return "", nil
	}
	type kv struct{ k, v string }
	pairs := make([]kv, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return "", fmt.Errorf("query key %.40q: %v", k, err)
		}
		if skip != "" && dk == skip {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", fmt.Errorf("query value of %.40q: %v", dk, err)
		}
		pairs = append(pairs, kv{EncodeQueryComponent(dk), EncodeQueryComponent(dv)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

// writeCanonicalHeaders writes "name:value\n" for each signed header.
// host comes from r.Host (net/http moves it out of r.Header); several
// values of one header are joined by ','; each value is trimmed and its
// runs of spaces collapsed, as the SigV4 spec and aws-sdk-go-v2 do.
func writeCanonicalHeaders(b *strings.Builder, r *http.Request, signed []string) {
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		default:
			vals = r.Header.Values(name)
			if len(vals) == 0 {
				// net/http removes these from the map when reading a request.
				switch name {
				case "content-length":
					if r.ContentLength >= 0 {
						vals = []string{strconv.FormatInt(r.ContentLength, 10)}
					}
				case "transfer-encoding":
					if len(r.TransferEncoding) > 0 {
						vals = []string{strings.Join(r.TransferEncoding, ",")}
					}
				}
			}
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTrimmed(b, v)
		}
		b.WriteByte('\n')
	}
}

// writeTrimmed writes v without leading/trailing whitespace and with runs
// of spaces collapsed to one.
func writeTrimmed(b *strings.Builder, v string) {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
}

// canonicalRequest assembles the canonical request for one URI candidate.
func canonicalRequest(r *http.Request, uri, query string, signed []string, payloadHash string) string {
	var b strings.Builder
	b.Grow(256 + len(uri) + len(query))
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	writeCanonicalHeaders(&b, r, signed)
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// stringToSign is the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// keyCache keeps derived signing keys so a steady client costs one HMAC per
// request instead of five. Entries are keyed by a hash of the secret (so a
// rotated secret never hits an old key) and scope; the map is cleared when
// full, which bounds memory without bookkeeping: a day has few scopes.
type keyCache struct {
	mu sync.Mutex
	m  map[keyCacheKey][]byte
}

type keyCacheKey struct {
	secret       [32]byte
	date, region string
}

const keyCacheMax = 1024

var signingKeys = keyCache{m: make(map[keyCacheKey][]byte)}

// signingKey derives (or fetches) HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date),
// region), "s3"), "aws4_request").
func (c *keyCache) signingKey(secret string, cred Credential) []byte {
	k := keyCacheKey{secret: sha256.Sum256([]byte(secret)), date: cred.Date, region: cred.Region}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = hmacSHA256([]byte("AWS4"+secret), cred.Date)
	key = hmacSHA256(key, cred.Region)
	key = hmacSHA256(key, cred.Service)
	key = hmacSHA256(key, scopeTerminator)
	c.mu.Lock()
	if len(c.m) >= keyCacheMax {
		clear(c.m)
	}
	c.m[k] = key
	c.mu.Unlock()
	return key
}

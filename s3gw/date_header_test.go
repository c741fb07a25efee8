package s3gw

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"excloud.dev/buckets/catalog"
)

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// signWithDateHeader signs req with SigV4 the way botocore does when the
// caller set a Date header: X-Amz-Date is dropped, Date carries the time
// (formatted as dateValue) and is signed. aws-sdk-go-v2's signer always
// adds X-Amz-Date, so this one is written out.
func signWithDateHeader(req *http.Request, body []byte, k catalog.AccessKey, at time.Time, dateValue string) {
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("Date", dateValue)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	amzDate, day := at.UTC().Format("20060102T150405Z"), at.UTC().Format("20060102")
	signed := "date;host;x-amz-content-sha256"
	canonical := strings.Join([]string{
		req.Method, req.URL.EscapedPath(), req.URL.RawQuery,
		"date:" + strings.Join(strings.Fields(dateValue), " ") + "\nhost:" + req.URL.Host + "\nx-amz-content-sha256:" + payload + "\n",
		signed, payload,
	}, "\n")
	ch := sha256.Sum256([]byte(canonical))
	scope := day + "/auto/s3/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	key := hmacSHA256([]byte("AWS4"+k.Secret), day)
	for _, s := range []string{"auto", "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+k.ID+"/"+scope+", SignedHeaders="+signed+
		", Signature="+hex.EncodeToString(hmacSHA256(key, toSign)))
}

// TestDateHeaderForms: a request timed by its Date header alone is accepted
// in each HTTP-date form clients write, including the "-0000" zone botocore
// uses (email.utils.formatdate) when a caller passed Date, or Date and
// X-Amz-Date, as request headers.
func TestDateHeaderForms(t *testing.T) {
	st := newStack(t)
	mustBucket(t, st.client(st.key), "dated")
	now := time.Now().UTC().Truncate(time.Second)
	for name, v := range map[string]string{
		"IMF-fixdate": now.Format(http.TimeFormat),
		"-0000 zone":  now.Format("Mon, 02 Jan 2006 15:04:05 -0000"),
		"+0000 zone":  now.Format("Mon, 02 Jan 2006 15:04:05 +0000"),
		"RFC 850":     now.Format("Monday, 02-Jan-06 15:04:05 GMT"),
		"asctime":     now.Format(time.ANSIC),
	} {
		body := []byte("dated " + name)
		req, err := http.NewRequest(http.MethodPut, st.srv.URL+"/dated/obj", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		signWithDateHeader(req, body, st.key, now, v)
		resp, err := st.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("Date %q (%s): %d %s", v, name, resp.StatusCode, out)
		}
	}
	// A Date far from the server's clock is still refused.
	old := now.Add(-time.Hour)
	req, _ := http.NewRequest(http.MethodPut, st.srv.URL+"/dated/old", bytes.NewReader(nil))
	signWithDateHeader(req, nil, st.key, old, old.Format("Mon, 02 Jan 2006 15:04:05 -0000"))
	resp, err := st.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	wantError(t, resp, 403, "RequestTimeTooSkewed")
}

package s3gw

import (
	"net/url"
	"testing"

	"excloud.dev/buckets/catalog"
	"excloud.dev/buckets/s3gw/sigv4"
)

func TestParseListParams(t *testing.T) {
	q, _ := url.ParseQuery("list-type=2&prefix=a%2Fb&delimiter=%2F&max-keys=5000&start-after=x&fetch-owner=true&encoding-type=url")
	p, err := parseListParams(q, true)
	if err != nil || p.Prefix != "a/b" || p.Delimiter != "/" || p.MaxKeys != 1000 || p.StartAfter != "x" || !p.FetchOwner || !p.EncodingURL {
		t.Fatalf("parseListParams = %+v, %v", p, err)
	}
	q, _ = url.ParseQuery("list-type=2")
	if p, err := parseListParams(q, true); err != nil || p.MaxKeys != 1000 {
		t.Errorf("defaults: %+v, %v", p, err)
	}
	q, _ = url.ParseQuery("list-type=2&max-keys=0")
	if p, err := parseListParams(q, true); err != nil || p.MaxKeys != 0 {
		t.Errorf("max-keys=0: %+v, %v", p, err)
	}
	for _, bad := range []string{"max-keys=-1", "max-keys=abc", "encoding-type=base64", "continuation-token=%21%21"} {
		q, _ := url.ParseQuery(bad)
		if _, err := parseListParams(q, true); toS3Error(err).Code != ErrInvalidArgument {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// An empty token lists from the start; it is echoed, not refused.
	q, _ = url.ParseQuery("list-type=2&continuation-token=")
	if p, err := parseListParams(q, true); err != nil || !p.TokenSent || p.ContinueAfter != "" {
		t.Errorf("empty continuation-token: %+v, %v", p, err)
	}
	q, _ = url.ParseQuery("marker=m&max-keys=7")
	if p, err := parseListParams(q, false); err != nil || p.Marker != "m" || p.MaxKeys != 7 {
		t.Errorf("v1: %+v, %v", p, err)
	}
}

func TestContinuationTokenRoundTrip(t *testing.T) {
	for _, k := range []string{"a", "photos/2024/", "ключ+/ %", "\x00\xff"} {
		tok := encodeToken(k)
		if url.QueryEscape(tok) != tok {
			t.Errorf("token %q needs escaping", tok)
		}
		q := url.Values{"continuation-token": {tok}}
		p, err := parseListParams(q, true)
		if err != nil || p.ContinueAfter != k || p.ContinuationToken != tok {
			t.Errorf("round trip of %q: %+v, %v", k, p, err)
		}
	}
}

func TestS3URLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a/b c+d": "a/b%20c%2Bd",
		"é":       "%C3%A9",
		"x~y_z-.": "x~y_z-.",
		"a&b=c?":  "a%26b%3Dc%3F",
		"\x01":    "%01",
	} {
		got := sigv4.EncodeURIPath(in)
		if got != want {
			t.Errorf("EncodeURIPath(%q) = %q, want %q", in, got, want)
		}
		// Both decoders SDKs use must give the key back.
		if d, err := url.QueryUnescape(got); err != nil || d != in {
			t.Errorf("QueryUnescape(%q) = %q, %v", got, d, err)
		}
		if d, err := url.PathUnescape(got); err != nil || d != in {
			t.Errorf("PathUnescape(%q) = %q, %v", got, d, err)
		}
	}
}

func TestBuildListEncoding(t *testing.T) {
	res := catalog.ListResult{
		Objects:        []catalog.ListEntry{{Key: "a b"}},
		CommonPrefixes: []string{"c d/"},
		IsTruncated:    true,
		Next:           "c d/",
	}
	p := listParams{Prefix: "p q", Delimiter: " ", StartAfter: "s t", MaxKeys: 2, EncodingURL: true}
	v2 := buildListV2("b", p, res, "o")
	if v2.Prefix != "p%20q" || v2.Delimiter != "%20" || v2.StartAfter != "s%20t" || v2.Contents[0].Key != "a%20b" ||
		v2.CommonPrefixes[0].Prefix != "c%20d/" || v2.EncodingType != "url" || v2.KeyCount != 2 ||
		v2.NextContinuationToken != encodeToken("c d/") || v2.Contents[0].Owner != nil {
		t.Errorf("v2 = %+v", v2)
	}
	p.FetchOwner = true
	if v2 := buildListV2("b", p, res, "o"); v2.Contents[0].Owner == nil {
		t.Error("fetch-owner=true: no owner")
	}

	p = listParams{Marker: "m n", MaxKeys: 2, EncodingURL: true}
	v1 := buildListV1("b", p, res, "o")
	if v1.NextMarker != "" || v1.Marker != "m%20n" || v1.Contents[0].Owner == nil {
		t.Errorf("v1 without delimiter = %+v", v1)
	}
	p.Delimiter = "/"
	if v1 := buildListV1("b", p, res, "o"); v1.NextMarker != "c%20d/" {
		t.Errorf("v1 with delimiter: NextMarker = %q", v1.NextMarker)
	}
}

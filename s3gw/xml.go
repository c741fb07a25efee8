package s3gw

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// s3NS is the namespace of every S3 response document except Error.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3Time is the timestamp format inside S3 XML bodies (millisecond
// precision, always UTC).
const s3Time = "2006-01-02T15:04:05.000Z"

// xmlTime formats t in s3Time. It writes the digits itself: a listing
// formats a thousand timestamps per page, and time.Format took 7 % of the
// daemon's CPU in a listing walk.
func xmlTime(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(s3Time)
	}
	h, mi, s := t.Clock()
	b := []byte("0000-00-00T00:00:00.000Z")
	digits := func(at, v, n int) {
		for i := at + n - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	digits(0, y, 4)
	digits(5, int(mo), 2)
	digits(8, d, 2)
	digits(11, h, 2)
	digits(14, mi, 2)
	digits(17, s, 2)
	digits(20, t.Nanosecond()/1e6, 3)
	return string(b)
}

// errorBody is the S3 error document; unlike the others it has no namespace.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             owner          `xml:"Owner"`
	Buckets           []bucketXMLRow `xml:"Buckets>Bucket"`
	ContinuationToken string         `xml:"ContinuationToken,omitempty"`
	Prefix            string         `xml:"Prefix,omitempty"`
}

type bucketXMLRow struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// createBucketConfiguration is the optional CreateBucket body. Any location
// is accepted: there is one site, and SDKs send whatever region they use.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type listObject struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listBucketResultV2 is the ListObjectsV2 response. Prefix is always present
// (S3 sends it empty); the other optional elements only when meaningful.
type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	KeyCount              int            `xml:"KeyCount"`
	IsTruncated           bool           `xml:"IsTruncated"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	TokenSent             bool           `xml:"-"` // echo ContinuationToken even when empty
	StartAfter            string         `xml:"StartAfter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []listObject   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// listBucketResultV1 is the ListObjects (version 1) response.
type listBucketResultV1 struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []listObject   `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

// deleteRequest is the DeleteObjects body. The element names are matched
// without regard to namespace, since clients differ in sending one.
type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deletedObject struct {
	Key string `xml:"Key"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

// encodeXML renders v with the XML declaration S3 sends. The types above
// always marshal; a failure is a programming error and panics (the handler
// adapter turns it into InternalError).
func encodeXML(v any) []byte {
	if a, ok := v.(xmlAppender); ok {
		return a.appendXML(append(make([]byte, 0, len(xml.Header)+a.sizeHint()), xml.Header...))
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		panic(fmt.Sprintf("s3gw: encode %T: %v", v, err))
	}
	return b.Bytes()
}

// writeXML sends a 200 response with an XML body.
func writeXML(w http.ResponseWriter, v any) error {
	body := encodeXML(v)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// decodeXML decodes a small request body into v. Bodies larger than limit, and
// anything that does not parse, are MalformedXML, as S3 reports them.
func decodeXML(data []byte, limit int64, v any) error {
	if int64(len(data)) > limit {
		return s3Err(ErrMalformedXML, "The XML body exceeds %d bytes.", limit)
	}
	if err := xml.Unmarshal(data, v); err != nil {
		return &Error{Code: ErrMalformedXML, Err: err}
	}
	return nil
}

// tooManyChildren reports whether the root element of data has more than max
// child elements named name (any namespace prefix), scanning only as far
// as the max+1st. It runs before decodeXML on bodies that hold a list:
// 8 MiB of "<Part/>" is 1.2 million list entries, which xml.Unmarshal
// would build (about 900 MiB of allocation and over a second of CPU)
// before the count could be checked. Syntax errors are left to
// decodeXML to report.
func tooManyChildren(data []byte, name string, max int) bool {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, n := 0, 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == name {
				if n++; n > max {
					return true
				}
			}
		case xml.EndElement:
			depth--
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func fmtAny(v any) string { return fmt.Sprint(v) }

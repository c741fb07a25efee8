package s3gw

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"testing"

	"excloud.dev/buckets/objects"
)

func TestParseCopySourceRange(t *testing.T) {
	for v, want := range map[string][2]int64{
		"":               {0, -1},
		"bytes=0-0":      {0, 1},
		"bytes=10-19":    {10, 10},
		" bytes=5-5 ":    {5, 1},
		"bytes=0-999999": {0, 1000000},
	} {
		off, n, err := parseCopySourceRange(v)
		if err != nil || off != want[0] || n != want[1] {
			t.Errorf("%q: %d, %d, %v", v, off, n, err)
		}
	}
	for _, v := range []string{"bytes=", "bytes=1", "bytes=-1", "bytes=1-", "bytes=2-1", "bytes=a-b", "bytes=+1-2", "bytes=0-1,2-3", "bits=0-1", "bytes=99999999999999999999-1"} {
		if _, _, err := parseCopySourceRange(v); toS3Error(err).Code != ErrInvalidArgument {
			t.Errorf("%q: %v", v, err)
		}
	}
}

func TestParseChecksumAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		alg, typ, wantAlg, wantTyp string
		ok                         bool
	}{
		{"", "", "", "", true},
		{"crc32", "", "CRC32", "COMPOSITE", true},
		{"CRC32C", "full_object", "CRC32C", "FULL_OBJECT", true},
		{"CRC64NVME", "", "CRC64NVME", "FULL_OBJECT", true},
		{"SHA256", "", "SHA256", "COMPOSITE", true},
		{"CRC64NVME", "COMPOSITE", "", "", false},
		{"SHA1", "FULL_OBJECT", "", "", false},
		{"", "COMPOSITE", "", "", false},
		{"MD5", "", "", "", false},
		{"CRC32", "PARTIAL", "", "", false},
	} {
		h := http.Header{}
		if tc.alg != "" {
			h.Set("x-amz-checksum-algorithm", tc.alg)
		}
		if tc.typ != "" {
			h.Set("x-amz-checksum-type", tc.typ)
		}
		a, typ, err := parseChecksumAlgorithm(h)
		if (err == nil) != tc.ok || string(a) != tc.wantAlg || typ != tc.wantTyp {
			t.Errorf("%q %q: %q %q %v", tc.alg, tc.typ, a, typ, err)
		}
	}
}

func TestCompleteRequestParsing(t *testing.T) {
	req, err := parseCompleteRequest([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>"a"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
  <Part><ETag>b</ETag><PartNumber>2</PartNumber></Part>
</CompleteMultipartUpload>`))
	if err != nil || len(req.Parts) != 2 || req.Parts[0].ETag != `"a"` || req.Parts[1].PartNumber != 2 || req.Parts[0].values()["CRC32"] != "AAAAAA==" {
		t.Fatalf("parsed %+v, %v", req, err)
	}
	var many bytes.Buffer
	many.WriteString("<CompleteMultipartUpload>")
	for i := range 10001 {
		fmt.Fprintf(&many, "<Part><PartNumber>%d</PartNumber><ETag>x</ETag></Part>", i+1)
	}
	many.WriteString("</CompleteMultipartUpload>")
	for name, b := range map[string][]byte{
		"empty":       nil,
		"garbage":     []byte("not xml"),
		"wrong root":  []byte("<Delete><Part><PartNumber>1</PartNumber></Part></Delete>"),
		"no parts":    []byte("<CompleteMultipartUpload/>"),
		"bad number":  []byte("<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>"),
		"10001 parts": many.Bytes(),
		"too big":     bytes.Repeat([]byte("<"), maxCompleteBody+1),
	} {
		if _, err := parseCompleteRequest(b); toS3Error(err).Code != ErrMalformedXML {
			t.Errorf("%s: err = %v, want MalformedXML", name, err)
		}
	}
}

func FuzzCompleteMultipartXML(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>10000</PartNumber><ETag>b</ETag><ChecksumSHA256>x</ChecksumSHA256></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part><Part/></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber></Part>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseCompleteRequest(body)
		if err != nil {
			if c := toS3Error(err).Code; c != ErrMalformedXML && c != ErrInvalidArgument {
				t.Fatalf("error %v is not MalformedXML or InvalidArgument", err)
			}
			return
		}
		if n := len(req.Parts); n < 1 || n > 10000 {
			t.Fatalf("accepted %d parts", n)
		}
		for _, p := range req.Parts {
			if p.PartNumber < 1 || p.PartNumber > 10000 {
				t.Fatalf("accepted part number %d", p.PartNumber)
			}
		}
	})
}

func FuzzDeleteObjectsXML(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object></Delete>`))
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>b &amp; c</Key><VersionId>null</VersionId></Object></Delete>`))
	f.Add([]byte(`<Delete><Quiet>maybe</Quiet><Object/></Delete>`))
	f.Add([]byte(`<Delete><Object><Key><![CDATA[x]]></Key></Object>`))
	f.Add([]byte("\x00<"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseDeleteRequest(body)
		if err != nil {
			if c := toS3Error(err).Code; c != ErrMalformedXML {
				t.Fatalf("error %v is not MalformedXML", err)
			}
			return
		}
		if n := len(req.Objects); n < 1 || n > maxDeleteKeys {
			t.Fatalf("accepted %d keys", n)
		}
	})
}

func TestGoldenMultipart(t *testing.T) {
	o := ownerOf("oabcdefghijkl")
	golden(t, "initiate_multipart_upload.xml", encodeXML(initiateMultipartUploadResult{Bucket: "media", Key: "videos/a b+c.mp4", UploadID: "18eb637bb4efb1b6bfc6aa66d18571dc"}))
	comp := completeMultipartUploadResult{Location: "https://buckets.excloud.dev/media/videos/a%20b%2Bc.mp4", Bucket: "media", Key: "videos/a b+c.mp4",
		ETag: `"3858f62230ac3c915f300c664312c11f-2"`, ChecksumType: "COMPOSITE"}
	comp.set(map[string]string{"CRC32C": "yZRlqg==-2"})
	golden(t, "complete_multipart_upload.xml", encodeXML(comp))
	golden(t, "copy_part_result.xml", encodeXML(copyPartResult{ETag: `"0123456789abcdef0123456789abcdef"`, LastModified: xmlTime(testTime)}))
	golden(t, "list_multipart_uploads.xml", encodeXML(listMultipartUploadsResult{
		Bucket: "media", KeyMarker: "", UploadIDMarker: "", NextKeyMarker: "videos/", NextUploadIDMarker: "",
		Prefix: "", Delimiter: "/", MaxUploads: 2, IsTruncated: true,
		Uploads: []uploadXML{{Key: "a.bin", UploadID: "18eb637bb4efb1b6bfc6aa66d18571dc", Initiator: o, Owner: o, StorageClass: "STANDARD",
			Initiated: xmlTime(testTime), ChecksumAlgorithm: "CRC64NVME", ChecksumType: "FULL_OBJECT"}},
		CommonPrefixes: []commonPrefix{{Prefix: "videos/"}},
	}))
	p := partXML{PartNumber: 2, LastModified: xmlTime(testTime), ETag: `"0123456789abcdef0123456789abcdef"`, Size: 5 << 20}
	p.set(map[string]string{"SHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="})
	golden(t, "list_parts.xml", encodeXML(listPartsResult{
		Bucket: "media", Key: "a.bin", UploadID: "18eb637bb4efb1b6bfc6aa66d18571dc", PartNumberMarker: 1, NextPartNumberMarker: 2,
		MaxParts: 1, IsTruncated: true, Parts: []partXML{p}, Initiator: o, Owner: o, StorageClass: "STANDARD",
	}))
	golden(t, "error_invalidpart.xml", renderError(t, "POST", "/media/a.bin?uploadId=x", fmt.Errorf("complete: %w", objects.ErrInvalidPart)).Body.Bytes())
	// Every response must decode with the field names SDKs use.
	var back listPartsResult
	if err := xml.Unmarshal(encodeXML(listPartsResult{Parts: []partXML{p}}), &back); err != nil || back.Parts[0].ChecksumSHA256 == "" {
		t.Errorf("list parts round trip: %+v, %v", back, err)
	}
}

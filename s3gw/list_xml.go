package s3gw

import (
	"strconv"
	"unicode/utf8"
)

// xmlAppender is a response document that renders itself. The listings do:
// a page holds up to a thousand entries, and encoding/xml's reflection over
// them was the gateway's largest CPU cost in a listing, on cores the client
// shares when both run on one machine. The output is what encoding/xml
// writes for the same struct (element order, omitempty, escaping), except
// that quotes in text stay quotes: every ETag has two, and &#34; made each
// one five bytes for the client to decode back.
type xmlAppender interface {
	appendXML(b []byte) []byte
	// sizeHint is a guess at the rendered size, to allocate once.
	sizeHint() int
}

func (r listBucketResultV2) sizeHint() int { return listSizeHint(r.Contents, r.CommonPrefixes) }
func (r listBucketResultV1) sizeHint() int { return listSizeHint(r.Contents, r.CommonPrefixes) }

func listSizeHint(objs []listObject, cps []commonPrefix) int {
	n := 1024
	for i := range objs {
		n += 160 + len(objs[i].Key) + len(objs[i].ETag)
		if objs[i].Owner != nil {
			n += 64 + len(objs[i].Owner.ID) + len(objs[i].Owner.DisplayName)
		}
	}
	for _, cp := range cps {
		n += 48 + len(cp.Prefix)
	}
	return n
}

func (r listBucketResultV2) appendXML(b []byte) []byte {
	b = append(b, `<ListBucketResult xmlns="`+s3NS+`">`...)
	b = appendElem(b, "Name", r.Name)
	b = appendElem(b, "Prefix", r.Prefix)
	b = appendElemOmit(b, "Delimiter", r.Delimiter)
	b = appendInt(b, "MaxKeys", int64(r.MaxKeys))
	b = appendInt(b, "KeyCount", int64(r.KeyCount))
	b = appendBool(b, "IsTruncated", r.IsTruncated)
	if r.TokenSent {
		b = appendElem(b, "ContinuationToken", r.ContinuationToken)
	} else {
		b = appendElemOmit(b, "ContinuationToken", r.ContinuationToken)
	}
	b = appendElemOmit(b, "NextContinuationToken", r.NextContinuationToken)
	b = appendElemOmit(b, "StartAfter", r.StartAfter)
	b = appendElemOmit(b, "EncodingType", r.EncodingType)
	b = appendContents(b, r.Contents, r.CommonPrefixes)
	return append(b, "</ListBucketResult>"...)
}

func (r listBucketResultV1) appendXML(b []byte) []byte {
	b = append(b, `<ListBucketResult xmlns="`+s3NS+`">`...)
	b = appendElem(b, "Name", r.Name)
	b = appendElem(b, "Prefix", r.Prefix)
	b = appendElem(b, "Marker", r.Marker)
	b = appendElemOmit(b, "NextMarker", r.NextMarker)
	b = appendInt(b, "MaxKeys", int64(r.MaxKeys))
	b = appendElemOmit(b, "Delimiter", r.Delimiter)
	b = appendBool(b, "IsTruncated", r.IsTruncated)
	b = appendElemOmit(b, "EncodingType", r.EncodingType)
	b = appendContents(b, r.Contents, r.CommonPrefixes)
	return append(b, "</ListBucketResult>"...)
}

func appendContents(b []byte, objs []listObject, cps []commonPrefix) []byte {
	for i := range objs {
		o := &objs[i]
		b = append(b, "<Contents>"...)
		b = appendElem(b, "Key", o.Key)
		b = appendElem(b, "LastModified", o.LastModified)
		b = appendElem(b, "ETag", o.ETag)
		b = appendInt(b, "Size", o.Size)
		b = appendElem(b, "StorageClass", o.StorageClass)
		if o.Owner != nil {
			b = append(b, "<Owner>"...)
			b = appendElem(b, "ID", o.Owner.ID)
			b = appendElem(b, "DisplayName", o.Owner.DisplayName)
			b = append(b, "</Owner>"...)
		}
		b = append(b, "</Contents>"...)
	}
	for _, cp := range cps {
		b = append(b, "<CommonPrefixes>"...)
		b = appendElem(b, "Prefix", cp.Prefix)
		b = append(b, "</CommonPrefixes>"...)
	}
	return b
}

func appendElem(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendText(b, text)
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

func appendElemOmit(b []byte, name, text string) []byte {
	if text == "" {
		return b
	}
	return appendElem(b, name, text)
}

func appendInt(b []byte, name string, v int64) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendInt(b, v, 10)
	b = append(b, '<', '/')
	b = append(b, name...)
	return append(b, '>')
}

func appendBool(b []byte, name string, v bool) []byte {
	return appendElem(b, name, strconv.FormatBool(v))
}

// appendText escapes s as xml.EscapeText does, but for quotes (legal as
// they are in text): markup characters become entities; tab, newline and
// carriage return become character references, so that a parser's line-end
// normalization cannot change a key; bytes that are not valid UTF-8 and
// characters XML 1.0 forbids become U+FFFD.
func appendText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && c >= 0x20 && c != '&' && c != '<' && c != '>' {
			i++ // the common case: printable ASCII that needs nothing
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch r {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlChar(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			b = append(b, s[last:i]...)
			b = append(b, esc...)
			last = i + width
		}
		i += width
	}
	return append(b, s[last:]...)
}

// xmlChar is the Char production of XML 1.0, less the three control
// characters (tab, LF, CR) appendText escapes before asking.
func xmlChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

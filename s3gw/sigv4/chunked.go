package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"

	"excloud.dev/buckets/s3gw/checksum"
)

// aws-chunked framing, as the SDKs send it:
//
//	signed:    hex-size ";chunk-signature=" sig CRLF data CRLF ... 0;chunk-signature=sig CRLF
//	unsigned:  hex-size CRLF data CRLF ... 0 CRLF
//
// then, without trailers, a final CRLF; with trailers, lines "name:value"
// (CRLF or LF terminated), for the signed form a line
// "x-amz-trailer-signature:sig", and a blank line.
//
// Each chunk signature is an HMAC, under the request's signing key, of
//
//	"AWS4-HMAC-SHA256-PAYLOAD" \n date \n scope \n previous-sig \n sha256("") \n sha256(data)
//
// chained from the seed (the Authorization header's) signature; the trailer
// signature is an HMAC of
//
//	"AWS4-HMAC-SHA256-TRAILER" \n date \n scope \n previous-sig \n sha256(trailer lines, each "name:value\n")
//
// Chunk data is streamed to the caller as it arrives and its signature is
// checked when the chunk ends, so memory stays bounded by the bufio buffer
// whatever the chunk size; a bad chunk surfaces as an error from Read
// before io.EOF.

const (
	chunkBufSize    = 4 << 10 // also the longest accepted header or trailer line
	maxHexSizeLen   = 16
	trailerSigName  = "x-amz-trailer-signature"
	chunkSigPrefix  = ";chunk-signature="
	payloadSTSAlg   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerSTSAlg   = "AWS4-HMAC-SHA256-TRAILER"
	maxBlankLines   = 2 // tolerated around the trailer block (clients differ)
	maxTrailerLines = maxTrailers + maxBlankLines + 1
)

// streamPlan is what Verify learned from the headers about an aws-chunked
// body; attach turns it into Result.Body.
type streamPlan struct {
	signed, trailer bool
	declared        int64
	announced       []string
	checksum        checksum.Algorithm
	checksumName    string

	key                  []byte
	amzDate, scope, seed string
}

func (p *streamPlan) attach(r *http.Request, res *Result) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	cr := newChunkedReader(body, p)
	res.Body = cr
	res.DecodedLength = p.declared
	res.TrailerChecksum = string(p.checksum)
	res.Trailers = cr.trailerMap
}

type chunkState int

const (
	stHeader chunkState = iota
	stData
	stDone
)

// chunkedReader decodes (and for the signed forms, verifies) an
// aws-chunked body.
type chunkedReader struct {
	br    *bufio.Reader
	plan  *streamPlan
	state chunkState
	err   error // sticky; io.EOF after a clean end

	remaining int64 // bytes left in the current chunk
	decoded   int64
	claimed   [64]byte // signature of the current chunk
	prevSig   [64]byte
	data      hash.Hash // sha256 of the current chunk (signed forms)
	sum       hash.Hash // trailer checksum over all data, if announced

	// Per-chunk signing state, built once so a chunk costs no allocation.
	mac       hash.Hash // HMAC-SHA256 under the signing key
	stsPrefix []byte    // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
	macBuf    [sha256.Size]byte

	trailers map[string]string
}

func newChunkedReader(r io.Reader, p *streamPlan) *chunkedReader {
	c := &chunkedReader{br: bufio.NewReaderSize(r, chunkBufSize), plan: p}
	if p.signed {
		c.data = sha256.New()
		copy(c.prevSig[:], p.seed)
		c.mac = hmac.New(sha256.New, p.key)
		c.stsPrefix = []byte(payloadSTSAlg + "\n" + p.amzDate + "\n" + p.scope + "\n")
	}
	if p.checksum != "" {
		c.sum = checksum.New(p.checksum)
	}
	return c
}

// trailerMap returns the trailing headers once the body has ended cleanly.
func (c *chunkedReader) trailerMap() map[string]string {
	if c.err != io.EOF {
		return nil
	}
	return c.trailers
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch c.state {
		case stHeader:
			c.err = c.readHeader()
		case stData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.remaining {
				p = p[:c.remaining]
			}
			n, err := c.br.Read(p)
			if n > 0 {
				if c.data != nil {
					c.data.Write(p[:n])
				}
				if c.sum != nil {
					c.sum.Write(p[:n])
				}
				c.remaining -= int64(n)
				c.decoded += int64(n)
				if c.remaining == 0 {
					c.err = c.endChunk()
				}
				return n, c.err
			}
			c.err = c.readErr(err, "chunk data")
		case stDone:
			c.err = io.EOF
		}
	}
	return 0, c.err
}

// readErr turns a failed read into the error to report: a truncated body
// is malformed framing; anything else (a network error) passes through.
func (c *chunkedReader) readErr(err error, where string) error {
	if err == nil {
		err = io.ErrNoProgress
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: body ends inside %s after %d decoded bytes: %w", ErrMalformedChunk, where, c.decoded, io.ErrUnexpectedEOF)
	}
	return err
}

// readLine returns one line without its LF (and CR, if crlf is false the
// CR is optional). Lines longer than the buffer are malformed.
func (c *chunkedReader) readLine(where string, crlf bool) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: %s longer than %d bytes", ErrMalformedChunk, where, chunkBufSize)
	}
	if err != nil {
		return nil, c.readErr(err, where)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1], nil
	}
	if crlf {
		return nil, fmt.Errorf("%w: %s not terminated by CRLF", ErrMalformedChunk, where)
	}
	return line, nil
}

func (c *chunkedReader) readHeader() error {
	line, err := c.readLine("chunk header", true)
	if err != nil {
		return err
	}
	sizeHex := line
	if c.plan.signed {
		i := bytes.IndexByte(line, ';')
		if i < 0 || !bytes.HasPrefix(line[i:], []byte(chunkSigPrefix)) {
			return fmt.Errorf("%w: chunk header %.100q lacks %q", ErrMalformedChunk, line, chunkSigPrefix)
		}
		sig := line[i+len(chunkSigPrefix):]
		if len(sig) != 64 || !isLowerHex(sig) {
			return fmt.Errorf("%w: chunk signature is not 64 lowercase hex digits", ErrMalformedChunk)
		}
		copy(c.claimed[:], sig)
		sizeHex = line[:i]
	}
	if len(sizeHex) == 0 || len(sizeHex) > maxHexSizeLen {
		return fmt.Errorf("%w: chunk size %.40q", ErrMalformedChunk, sizeHex)
	}
	size, ok := parseHexSize(sizeHex)
	if !ok {
		return fmt.Errorf("%w: chunk size %.40q is not hex", ErrMalformedChunk, sizeHex)
	}
	if left := c.plan.declared - c.decoded; int64(size) > left {
		return fmt.Errorf("%w: chunk of %d bytes exceeds the %d left of x-amz-decoded-content-length %d", ErrDecodedLength, size, left, c.plan.declared)
	}
	if size == 0 {
		return c.finish()
	}
	c.remaining = int64(size)
	c.state = stData
	if c.data != nil {
		c.data.Reset()
	}
	return nil
}

// parseHexSize parses at most maxHexSizeLen hex digits (either case) into
// a non-negative int64.
func parseHexSize(b []byte) (uint64, bool) {
	var n uint64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	return n, n <= 1<<63-1
}

// endChunk checks the CRLF after the data and the chunk signature.
func (c *chunkedReader) endChunk() error {
	if err := c.expectCRLF("chunk data"); err != nil {
		return err
	}
	if err := c.checkChunkSig(); err != nil {
		return err
	}
	c.state = stHeader
	return nil
}

func (c *chunkedReader) expectCRLF(after string) error {
	var b [2]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		return c.readErr(err, "CRLF after "+after)
	}
	if b != [2]byte{'\r', '\n'} {
		return fmt.Errorf("%w: no CRLF after %s (chunk longer than its size?)", ErrMalformedChunk, after)
	}
	return nil
}

func (c *chunkedReader) checkChunkSig() error {
	if c.data == nil {
		return nil
	}
	var dataHex [64]byte
	hex.Encode(dataHex[:], c.data.Sum(c.macBuf[:0]))
	c.mac.Reset()
	c.mac.Write(c.stsPrefix)
	c.mac.Write(c.prevSig[:])
	c.mac.Write(emptyLine[:])
	c.mac.Write(dataHex[:])
	if !c.macMatches(c.claimed[:]) {
		return fmt.Errorf("%w: chunk ending at decoded byte %d", ErrChunkSignature, c.decoded)
	}
	c.prevSig = c.claimed
	return nil
}

// emptyLine is "\n" + sha256("") + "\n", the fixed middle of a chunk's
// string to sign.
var emptyLine = [66]byte([]byte("\n" + emptySHA256 + "\n"))

// macMatches compares the hex of c.mac's sum with claimed in constant time.
func (c *chunkedReader) macMatches(claimed []byte) bool {
	var got [64]byte
	hex.Encode(got[:], c.mac.Sum(c.macBuf[:0]))
	return hmac.Equal(got[:], claimed)
}

// finish handles the zero-length chunk: its signature, the decoded length,
// the trailers, and that nothing follows.
func (c *chunkedReader) finish() error {
	if c.data != nil {
		c.data.Reset()
		if err := c.checkChunkSig(); err != nil {
			return err
		}
	}
	if c.decoded != c.plan.declared {
		return fmt.Errorf("%w: got %d bytes, x-amz-decoded-content-length is %d", ErrDecodedLength, c.decoded, c.plan.declared)
	}
	if !c.plan.trailer {
		if err := c.expectCRLF("final chunk"); err != nil {
			return err
		}
	} else {
		if err := c.readTrailers(); err != nil {
			return err
		}
		// minio-go ends the block with one CRLF more than the AWS SDKs.
		if b, _ := c.br.Peek(2); string(b) == "\r\n" {
			c.br.Discard(2)
		}
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: data after the final chunk", ErrMalformedChunk)
	}
	c.state = stDone
	return nil
}

// readTrailers reads the trailer block after the zero-length chunk. It
// tolerates the blank-line variations of real clients (minio-go ends each
// trailer with LF then a CRLF line; the AWS SDKs use CRLF) but nothing
// else: unannounced or repeated names, a missing announced checksum, a
// malformed or wrong checksum value, and (signed form) a missing or wrong
// trailer signature are errors.
func (c *chunkedReader) readTrailers() error {
	c.trailers = make(map[string]string, len(c.plan.announced))
	var signed bytes.Buffer // "name:value\n" lines, as hashed by signers
	sawSig := false
	blank := 0
	for lines := 0; ; lines++ {
		if lines > maxTrailerLines {
			return fmt.Errorf("%w: more than %d trailer lines", ErrBadTrailer, maxTrailerLines)
		}
		line, err := c.readLine("trailer", false)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			blank++
			if blank > maxBlankLines {
				return fmt.Errorf("%w: too many blank lines in trailer", ErrMalformedChunk)
			}
			// Unsigned, a blank line ends the block. Signed, it ends the
			// block only after the trailer signature: clients differ in
			// the blank lines they put before it.
			if !c.plan.signed || sawSig {
				break
			}
			continue
		}
		if sawSig {
			return fmt.Errorf("%w: trailer line after %s", ErrBadTrailer, trailerSigName)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return fmt.Errorf("%w: trailer line %.80q lacks ':'", ErrBadTrailer, line)
		}
		n := string(bytes.ToLower(bytes.TrimSpace(name)))
		v := string(bytes.TrimSpace(value))
		if n == trailerSigName && c.plan.signed {
			if len(v) != 64 || !isLowerHex(v) {
				return fmt.Errorf("%w: %s is not 64 lowercase hex digits", ErrChunkSignature, trailerSigName)
			}
			sum := sha256.Sum256(signed.Bytes())
			c.mac.Reset()
			io.WriteString(c.mac, trailerSTSAlg+"\n"+c.plan.amzDate+"\n"+c.plan.scope+"\n")
			c.mac.Write(c.prevSig[:])
			io.WriteString(c.mac, "\n"+hex.EncodeToString(sum[:]))
			if !c.macMatches([]byte(v)) {
				return fmt.Errorf("%w: trailer signature", ErrChunkSignature)
			}
			sawSig = true
			continue
		}
		if !c.announced(n) {
			return fmt.Errorf("%w: trailer %.60q not announced in x-amz-trailer", ErrBadTrailer, n)
		}
		if _, dup := c.trailers[n]; dup {
			return fmt.Errorf("%w: trailer %q repeated", ErrBadTrailer, n)
		}
		c.trailers[n] = v
		signed.Write(line)
		signed.WriteByte('\n')
	}
	if len(c.trailers) != len(c.plan.announced) {
		for _, n := range c.plan.announced {
			if _, ok := c.trailers[n]; !ok {
				return fmt.Errorf("%w: announced trailer %q missing", ErrBadTrailer, n)
			}
		}
	}
	if c.sum != nil {
		return c.checkTrailerChecksum()
	}
	return nil
}

func (c *chunkedReader) announced(n string) bool {
	for _, a := range c.plan.announced {
		if a == n {
			return true
		}
	}
	return false
}

func (c *chunkedReader) checkTrailerChecksum() error {
	v := c.trailers[c.plan.checksumName]
	want, err := checksum.Decode(c.plan.checksum, v)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadTrailer, c.plan.checksumName, err)
	}
	if got := c.sum.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %w: %s is %s, data has %s", ErrBadTrailer, checksum.ErrMismatch,
			c.plan.checksumName, v, checksum.Encode(got))
	}
	return nil
}

package receiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"

	"github.com/otlpgw/otlpgw/gateway/internal/grpczstd"
)

// bodyEncoding is a supported Content-Encoding.
type bodyEncoding uint8

const (
	encIdentity bodyEncoding = iota
	encGzip
	encZstd
	// encZlib is "deflate" and "zlib": RFC 9110 defines deflate as the
	// zlib format (RFC 1950), and the Collector's receivers read both
	// names that way.
	encZlib
	// encSnappy is the snappy block format, as the Collector's exporters
	// send it since v0.125; a body that starts with the framing format's
	// stream identifier is read as framed, as the Collector also does,
	// for senders from before the change.
	encSnappy
	// encSnappyFramed is the snappy framing format.
	encSnappyFramed
)

// supportedEncodings is what a 415 for Content-Encoding lists.
const supportedEncodings = "gzip, zstd, deflate, zlib, snappy, x-snappy-framed or identity"

func parseContentEncoding(v string) (bodyEncoding, bool) {
	v = strings.TrimSpace(v)
	switch {
	case v == "", strings.EqualFold(v, "identity"):
		return encIdentity, true
	case strings.EqualFold(v, "gzip"), strings.EqualFold(v, "x-gzip"):
		return encGzip, true
	case strings.EqualFold(v, grpczstd.Name):
		return encZstd, true
	case strings.EqualFold(v, "deflate"), strings.EqualFold(v, "zlib"):
		return encZlib, true
	case strings.EqualFold(v, "snappy"):
		return encSnappy, true
	case strings.EqualFold(v, "x-snappy-framed"):
		return encSnappyFramed, true
	}
	return 0, false
}

// zlibReaders and snappyReaders hold decoders for reuse; each owns a
// window or chunk buffer that is worth keeping.
var zlibReaders, snappyReaders sync.Pool

func getZlibReader(r io.Reader) (io.ReadCloser, error) {
	if zr, ok := zlibReaders.Get().(io.ReadCloser); ok {
		if err := zr.(zlib.Resetter).Reset(r, nil); err != nil {
			zlibReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return zlib.NewReader(r)
}

func putZlibReader(zr io.ReadCloser) {
	// Reset on an empty stream fails harmlessly and drops the request.
	_ = zr.(zlib.Resetter).Reset(emptyGzip{}, nil)
	zlibReaders.Put(zr)
}

func getSnappyReader(r io.Reader) *snappy.Reader {
	if sr, ok := snappyReaders.Get().(*snappy.Reader); ok {
		sr.Reset(r)
		return sr
	}
	return snappy.NewReader(r)
}

func putSnappyReader(sr *snappy.Reader) {
	sr.Reset(nil)
	snappyReaders.Put(sr)
}

// snappyStreamID starts every snappy framed stream: the stream identifier
// chunk (type 0xff, length 6, "sNaPpY").
var snappyStreamID = []byte("\xff\x06\x00\x00sNaPpY")

// readSnappy reads a snappy body into buf (from its length on). A framed
// stream (it starts with the stream identifier) is inflated as it
// arrives, within the limit. The block format has no streaming decoder:
// the compressed block is read whole (within the limit), and its header,
// which states the decoded length, is checked against the limit before
// anything is inflated, so a block bomb costs no more than its compressed
// size.
func (h *HTTP) readSnappy(buf []byte, src io.Reader) ([]byte, error) {
	var head [10]byte // len(snappyStreamID)
	n, err := io.ReadFull(src, head[:])
	switch {
	case err == nil && bytes.Equal(head[:], snappyStreamID):
		sr := getSnappyReader(io.MultiReader(bytes.NewReader(head[:]), src))
		defer putSnappyReader(sr)
		buf, err = readAll(buf, &limitedReader{r: sr, n: h.limit}, h.limit)
		if err != nil && !errors.Is(err, errTooLarge) {
			return buf, fmt.Errorf("decompressing: snappy: %w", err)
		}
		return buf, err
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return buf, err // a read error, or errTooLarge under a limit below 10 bytes
	}

	cp := bodyBuffers.Get().(*[]byte)
	defer func() {
		if cap(*cp) <= maxPooledBuffer {
			*cp = (*cp)[:0]
			bodyBuffers.Put(cp)
		}
	}()
	compressed := append((*cp)[:0], head[:n]...)
	if err == nil { // more may follow the first 10 bytes
		compressed, err = readAll(compressed, src, h.limit)
	}
	*cp = compressed[:0]
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return buf, err
	}
	size, err := snappy.DecodedLen(compressed)
	if errors.Is(err, snappy.ErrTooLarge) {
		return buf, errTooLarge // over 2 GiB on a 32-bit platform
	}
	if err != nil {
		return buf, fmt.Errorf("decompressing: snappy: %w", err)
	}
	if int64(size) > h.limit {
		return buf, errTooLarge
	}
	if free := cap(buf) - len(buf); free < size {
		grown := make([]byte, len(buf), len(buf)+size)
		copy(grown, buf)
		buf = grown
	}
	out, err := snappy.Decode(buf[len(buf):len(buf)+size], compressed)
	if err != nil {
		return buf, fmt.Errorf("decompressing: snappy: %w", err)
	}
	return buf[:len(buf)+len(out)], nil
}

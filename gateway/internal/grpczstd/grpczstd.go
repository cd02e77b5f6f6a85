// Package grpczstd registers a zstd compressor with grpc-go under the name
// "zstd", for both the OTLP receiver (which must decode zstd requests) and
// the OTLP exporter (which may send them). Import it for its side effect;
// use Name with grpc.UseCompressor.
//
// Encoders and decoders are pooled and run synchronously (concurrency 1):
// they allocate large tables, and goroutine-per-stream zstd would multiply
// that by every in-flight RPC.
package grpczstd

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// Name is the grpc-encoding value for zstd.
const Name = "zstd"

// MaxWindow caps the back-reference window a compressed message may ask the
// decoder to allocate: 32 MiB. It keeps a hostile frame header from
// reserving hundreds of megabytes; ordinary encoders use at most 8 MiB.
// gRPC separately caps the decompressed size at the receive message limit.
const MaxWindow = 32 << 20

func init() {
	encoding.RegisterCompressor(&compressor{})
}

type compressor struct {
	encoders sync.Pool // *writer
	decoders sync.Pool // *reader
}

func (c *compressor) Name() string { return Name }

type writer struct {
	enc  *zstd.Encoder
	pool *sync.Pool
}

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if z, ok := c.encoders.Get().(*writer); ok {
		z.enc.Reset(w)
		return z, nil
	}
	enc, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	return &writer{enc: enc, pool: &c.encoders}, nil
}

func (z *writer) Write(p []byte) (int, error) { return z.enc.Write(p) }

// Close finishes the frame and returns the encoder to the pool; the
// encoder drops its reference to the destination on the next Reset.
func (z *writer) Close() error {
	err := z.enc.Close()
	z.enc.Reset(nil)
	z.pool.Put(z)
	return err
}

type reader struct {
	dec  *zstd.Decoder
	pool *sync.Pool
}

func (c *compressor) Decompress(r io.Reader) (io.Reader, error) {
	if z, ok := c.decoders.Get().(*reader); ok {
		if err := z.dec.Reset(r); err != nil {
			c.decoders.Put(z)
			return nil, err
		}
		return z, nil
	}
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxWindow))
	if err != nil {
		return nil, err
	}
	return &reader{dec: dec, pool: &c.decoders}, nil
}

func (z *reader) Read(p []byte) (int, error) { return z.dec.Read(p) }

// Close is called by gRPC exactly once; it detaches the source and
// returns the decoder to the pool.
func (z *reader) Close() error {
	if err := z.dec.Reset(nil); err != nil {
		// A decoder that cannot be reset is closed instead of pooled.
		z.dec.Close()
		return nil
	}
	z.pool.Put(z)
	return nil
}

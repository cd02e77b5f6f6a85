package grpczstd

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// TestRoundTripPooled checks that the registered compressor produces
// standard zstd frames and decodes them, twice, so the second pass runs on
// pooled encoders and decoders.
func TestRoundTripPooled(t *testing.T) {
	c := encoding.GetCompressor(Name)
	if c == nil {
		t.Fatal("zstd compressor not registered")
	}
	msg := bytes.Repeat([]byte("otlp payload "), 4096)
	for pass := range 2 {
		var frame bytes.Buffer
		w, err := c.Compress(&frame)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if frame.Len() >= len(msg) {
			t.Fatalf("pass %d: frame of %d bytes is not smaller than %d input bytes", pass, frame.Len(), len(msg))
		}

		// Independent decoder: the frame is plain zstd.
		ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := ref.DecodeAll(frame.Bytes(), nil)
		ref.Close()
		if err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("pass %d: reference decode: err=%v equal=%v", pass, err, bytes.Equal(plain, msg))
		}

		r, err := c.Decompress(bytes.NewReader(frame.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.(io.Closer).Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("pass %d: round trip differs: got %d bytes, want %d", pass, len(got), len(msg))
		}
	}
}

// TestDecompressRejectsGarbage checks that a corrupt body is an error, not
// a panic or an empty message.
func TestDecompressRejectsGarbage(t *testing.T) {
	c := encoding.GetCompressor(Name)
	r, err := c.Decompress(bytes.NewReader([]byte("definitely not zstd")))
	if err == nil {
		_, err = io.ReadAll(r)
		r.(io.Closer).Close()
	}
	if err == nil {
		t.Fatal("garbage decoded without error")
	}
}

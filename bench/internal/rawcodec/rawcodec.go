// Package rawcodec is a gRPC codec that moves encoded protobuf bytes through
// untouched, so the benchmark's load generator and sink spend their CPU on
// the network rather than on (de)serialising messages they never look at.
package rawcodec

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// Name is the codec's content-subtype. It is "proto" so peers see the
// ordinary application/grpc+proto content type.
const Name = "proto"

// Walker receives a message's encoded bytes on Unmarshal. The slice is valid
// only during the call: gRPC reuses the buffer afterwards.
type Walker interface {
	Walk(b []byte) error
}

// Discard is a Walker that ignores the message, for responses whose content
// the caller does not need.
type Discard struct{}

// Walk implements Walker.
func (Discard) Walk([]byte) error { return nil }

// Codec implements encoding.CodecV2. Marshal accepts []byte or *[]byte and
// sends it as is; Unmarshal hands the bytes to a Walker.
type Codec struct{}

// Name implements encoding.CodecV2.
func (Codec) Name() string { return Name }

// Marshal implements encoding.CodecV2 without copying: the caller must not
// change the slice while the call is in flight.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	default:
		return nil, fmt.Errorf("rawcodec: marshal %T: want []byte", v)
	}
}

// Unmarshal implements encoding.CodecV2. A message that arrived in one
// buffer is walked in place; otherwise it is joined into a pooled buffer so
// the walk never allocates per message.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	w, ok := v.(Walker)
	if !ok {
		return fmt.Errorf("rawcodec: unmarshal into %T: want a Walker", v)
	}
	if len(data) == 1 {
		return w.Walk(data[0].ReadOnlyData())
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return w.Walk(buf.ReadOnlyData())
}

package receiver

import (
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/otlpgw/otlpgw/gateway/internal/bufpool"
)

// rawMessage is an encoded protobuf message that grpc-go moves without
// decoding: the OTLP Export request in, the Export response out.
type rawMessage struct {
	b []byte
	// buf, for a received request, is the pooled buffer b lies in; the
	// handler hands its reference to the consumer.
	buf *bufpool.Buf
}

// emptyReply is the full-success Export*ServiceResponse (the empty message),
// shared by every request so the common answer allocates nothing. Never
// modified.
var emptyReply = &rawMessage{}

// passThroughCodec is forced on the whole gRPC server. grpc-go picks one
// codec per server (or per content-subtype), not per method, so it cannot
// be confined to the OTLP methods; instead it moves *rawMessage values as
// raw bytes and hands every other value (the grpc.health.v1 messages) to the
// standard proto codec. Registering it under the name "proto" globally
// would instead change every gRPC client in the process, the exporters
// included.
type passThroughCodec struct {
	proto encoding.CodecV2
}

// newPassThroughCodec wraps the proto codec, which the protocodec import
// registers during initialisation, so it is always there.
func newPassThroughCodec() passThroughCodec {
	return passThroughCodec{proto: encoding.GetCodecV2(protocodec.Name)}
}

// Name is "proto" so the response content-type stays application/grpc+proto.
func (passThroughCodec) Name() string { return protocodec.Name }

func (c passThroughCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*rawMessage); ok {
		if len(m.b) == 0 {
			return nil, nil
		}
		// SliceBuffer's Free is a no-op: grpc-go never recycles our bytes.
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal copies the request out of grpc-go's buffers. The copy is
// required, not an oversight: grpc-go frees (recycles) data as soon as
// Unmarshal returns, while the pipeline keeps the accepted bytes in its
// queues for as long as export takes. One exact-size copy per request is
// the receiver's whole share of the work.
func (c passThroughCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*rawMessage); ok {
		// One copy out of gRPC's buffers (which it recycles as soon as
		// Unmarshal returns) into a pooled buffer the pipeline may keep.
		m.buf = bufpool.Get(data.Len())
		data.CopyTo(m.buf.B)
		m.b = m.buf.B
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

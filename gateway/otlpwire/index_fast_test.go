package otlpwire

import (
	"math"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// kvFastSeeds are KeyValue bodies: the shapes keyValueFast takes, and
// near misses it must leave to keyValueFields.
func kvFastSeeds(tb testing.TB) (taken, left [][]byte) {
	enc := func(kv *commonpb.KeyValue) []byte {
		b, err := proto.Marshal(kv)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	long := string(make([]byte, 200))
	huge := string(make([]byte, 20000)) // a three-byte length
	taken = [][]byte{
		enc(&commonpb.KeyValue{Key: long, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "v"}}}),
		enc(&commonpb.KeyValue{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: long}}}),
		enc(&commonpb.KeyValue{Key: "port", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 443}}}),
		enc(&commonpb.KeyValue{Key: "big", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: math.MaxInt64}}}),
		enc(&commonpb.KeyValue{Key: "http.method", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET"}}}),
		enc(&commonpb.KeyValue{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: ""}}}),
		enc(&commonpb.KeyValue{Key: "ok", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}}),
		enc(&commonpb.KeyValue{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 42}}}),
		enc(&commonpb.KeyValue{Key: "d", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Pi}}}),
		enc(&commonpb.KeyValue{Key: "empty", Value: &commonpb.AnyValue{}}),
		enc(&commonpb.KeyValue{Key: "novalue"}),
		{0x0a, 0x00}, // empty key, no value
	}
	left = [][]byte{
		{}, // no key
		enc(&commonpb.KeyValue{Key: huge, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "v"}}}),
		enc(&commonpb.KeyValue{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: huge}}}),
		enc(&commonpb.KeyValue{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -1}}}), // 10 varint bytes
		enc(&commonpb.KeyValue{Key: "b", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1}}}}),
		enc(&commonpb.KeyValue{Key: "a", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}}}),
		// value before key
		append(enc(&commonpb.KeyValue{Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "v"}}}), 0x0a, 0x01, 'k'),
		// two values: the last wins
		append(enc(&commonpb.KeyValue{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}}}), 0x12, 0x03, 0x0a, 0x01, 'b'),
		// a continuation byte where a one-byte length would match the rest
		{0x0a, 0x01, 'k', 0x12, 0x85, 0x01},
		// an int whose varint is cut off by the end of the value
		{0x0a, 0x01, 'k', 0x12, 0x02, 0x18, 0x80},
		// an int varint that ends before the value does
		{0x0a, 0x01, 'k', 0x12, 0x03, 0x18, 0x01, 0x01},
		// truncated: key length past the end
		{0x0a, 0x05, 'k'},
	}
	return taken, left
}

// TestKeyValueFastPathTakesCommonShapes guards the speed-up itself: the
// shapes SDKs send must not silently fall back to the field walk.
func TestKeyValueFastPathTakesCommonShapes(t *testing.T) {
	taken, left := kvFastSeeds(t)
	for _, b := range taken {
		p := parser{b: b}
		if _, _, _, _, _, ok := p.keyValueFast(0, len(b), 0); !ok {
			t.Errorf("% x: fast path not taken", b)
		}
		checkKeyValueFast(t, b, 0)
	}
	for _, b := range left {
		p := parser{b: b}
		if _, _, _, _, _, ok := p.keyValueFast(0, len(b), 0); ok {
			t.Errorf("% x: fast path taken", b)
		}
	}
	// At the nesting limit the value must reach anyValue's depth check.
	p := parser{b: taken[0]}
	if _, _, _, _, _, ok := p.keyValueFast(0, len(taken[0]), MaxAnyValueDepth); ok {
		t.Errorf("fast path taken at depth %d", MaxAnyValueDepth)
	}
}

// checkKeyValueFast fails t when keyValueFast accepts b but keyValueFields
// rejects it or finds something else.
func checkKeyValueFast(t *testing.T, b []byte, depth int) {
	t.Helper()
	p := parser{b: b}
	ko, ke, vt, vs, ve, ok := p.keyValueFast(0, len(b), depth)
	if !ok {
		return
	}
	wko, wke, wvt, wvs, wve, err := p.keyValueFields(0, len(b), depth)
	if err != nil {
		t.Fatalf("% x (depth %d): fast path accepts what the field walk rejects: %v", b, depth, err)
	}
	if ko != wko || ke != wke || vt != wvt || vs != wvs || ve != wve {
		t.Fatalf("% x (depth %d): fast path key %d:%d value %d %d:%d, field walk key %d:%d value %d %d:%d",
			b, depth, ko, ke, vt, vs, ve, wko, wke, wvt, wvs, wve)
	}
}

// FuzzKeyValueFastPath: whatever keyValueFast accepts, keyValueFields
// accepts with the same key, value type and value bounds.
func FuzzKeyValueFastPath(f *testing.F) {
	taken, left := kvFastSeeds(f)
	for _, b := range append(taken, left...) {
		f.Add(b, uint8(0))
		f.Add(b, uint8(MaxAnyValueDepth-1))
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		checkKeyValueFast(t, b, int(depth))
	})
}

package otlpwire

import (
	"math"
	"slices"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
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

// spanFastSeeds are encoded Span bodies: what SDKs send, the fields span
// decodes inline in unusual forms, and broken ones.
func spanFastSeeds(tb testing.TB) [][]byte {
	enc := func(sp *tracepb.Span) []byte {
		b, err := proto.Marshal(sp)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	attrs := []*commonpb.KeyValue{
		kv("http.method", str("GET")),
		{Key: "port", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 443}}},
		{Key: "nested", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("a", str("b"))}}}}},
	}
	full := &tracepb.Span{
		TraceId: id(16, 1), SpanId: id(8, 2), ParentSpanId: id(8, 3), TraceState: "k=v",
		Name: "GET /x", Kind: tracepb.Span_SPAN_KIND_SERVER,
		StartTimeUnixNano: 1700000000000000000, EndTimeUnixNano: 1700000000000100000,
		Attributes: attrs, DroppedAttributesCount: 300,
		Events:             []*tracepb.Span_Event{{Name: "e", TimeUnixNano: 1, Attributes: attrs[:1]}},
		DroppedEventsCount: 2,
		Links:              []*tracepb.Span_Link{{TraceId: id(16, 4), SpanId: id(8, 5), Flags: 1}},
		DroppedLinksCount:  3,
		Status:             &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
		Flags:              0x301,
	}
	long := &tracepb.Span{Name: string(make([]byte, 300)), Kind: 1 << 20}
	// Attribute values nested to the limit and one past it (depth 1 is
	// the attribute's value).
	deep := func(levels int) *tracepb.Span {
		v := str("x")
		for range levels - 1 {
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{v}}}}
		}
		return &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("k", v)}}
	}
	seeds := [][]byte{
		enc(deep(MaxAnyValueDepth)),
		enc(deep(MaxAnyValueDepth + 1)),
		enc(full),
		enc(&tracepb.Span{TraceId: id(16, 1), SpanId: id(8, 2), Name: "n", Attributes: attrs[:2]}),
		enc(long),
		{},
		{0x0a, 0x07, 1, 2, 3, 4, 5, 6, 7},       // trace_id of 7 bytes
		{0x12, 0x03, 1, 2, 3},                   // span_id of 3 bytes
		{0x0a, 0x10, 1, 2},                      // trace_id cut off
		{0x39, 1, 2, 3},                         // fixed64 cut off
		{0x85, 0x01, 1, 2},                      // flags cut off
		{0x85, 0x02, 1, 2, 3, 4},                // field 32, fixed32: unknown
		{0x30, 0x80, 0x80, 0x01},                // a three-byte varint
		{0x4a, 0x03, 0x0a, 0x05, 'k'},           // attribute with a key past its end
		{0x7a, 0x02, 0x18, 0x80},                // status with a cut-off code
		{0x8a, 0x00},                            // trace_id under a two-byte tag
		{0x2a, 0x01, 'n', 0x2a, 0x02, 'n', 'm'}, // name twice
		{0x0a, 0x00, 0x0a, 0x10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	b := enc(full)
	for cut := 1; cut < len(b); cut += 7 {
		seeds = append(seeds, b[:cut])
	}
	return seeds
}

// checkSpanFast fails t when span and the generic walk disagree on b as a
// span's body: the error, or what they record for the item.
func checkSpanFast(t *testing.T, b []byte) {
	t.Helper()
	checkItemFast(t, mSpan, (*parser).span, b)
}

// checkItemFast fails t when fast and the generic walk disagree on b as the
// body of an item of message type m.
func checkItemFast(t *testing.T, m msgID, fastWalk func(p *parser, s, e int, owner AttrOwner, parent int32) *WireError, b []byte) {
	t.Helper()
	run := func(fast bool) (string, Item, []Attr) {
		ix := &Index{ItemsAt: []Item{{NameOff: -1, NameEnd: -1, TraceIDOff: -1}}}
		p := parser{b: b, ix: ix, sig: Traces}
		var err *WireError
		if fast {
			err = fastWalk(&p, 0, len(b), OwnerItem, 0)
		} else {
			err = p.walk(m, 0, len(b), OwnerItem, 0, 0)
		}
		msg := ""
		if err != nil {
			msg = err.finish(Traces).Error()
			return msg, Item{}, nil // the index is not to be used after an error
		}
		return msg, ix.ItemsAt[0], ix.Attrs
	}
	fe, fi, fa := run(true)
	we, wi, wa := run(false)
	if fe != we {
		t.Fatalf("% x: fast path says %q, walk %q", b, fe, we)
	}
	if fi != wi || !slices.Equal(fa, wa) {
		t.Fatalf("% x: fast path records %+v %+v, walk %+v %+v", b, fi, fa, wi, wa)
	}
	// Validation alone (CountItems) takes the same path.
	p := parser{b: b, sig: Traces}
	if err := fastWalk(&p, 0, len(b), 0, -1); (err == nil) != (fe == "") {
		t.Fatalf("% x: fast path without an index says %v, with one %q", b, err, fe)
	}
}

func TestSpanFastPathAgreesWithWalk(t *testing.T) {
	for _, b := range spanFastSeeds(t) {
		checkSpanFast(t, b)
	}
}

// FuzzSpanFastPath: span accepts and rejects what the generic walk does,
// with the same error and the same item and attributes recorded.
func FuzzSpanFastPath(f *testing.F) {
	for _, b := range spanFastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSpanFast(t, b)
	})
}

// logFastSeeds are encoded LogRecord bodies, as spanFastSeeds.
func logFastSeeds(tb testing.TB) [][]byte {
	enc := func(lr *logspb.LogRecord) []byte {
		b, err := proto.Marshal(lr)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	attrs := []*commonpb.KeyValue{
		kv("http.method", str("GET")),
		{Key: "size", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 4000}}},
	}
	full := &logspb.LogRecord{
		TimeUnixNano: 1700000000000000000, ObservedTimeUnixNano: 1700000000000000001,
		SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARN",
		Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET /healthz 200"}},
		Attributes: attrs, DroppedAttributesCount: 200, Flags: 1,
		TraceId: id(16, 1), SpanId: id(8, 2), EventName: "access",
	}
	nested := &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: attrs}}}}
	// Bodies nested to the limit and one past it: the body is at depth 1.
	deep := func(levels int) *logspb.LogRecord {
		v := str("x")
		for range levels - 1 {
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{v}}}}
		}
		return &logspb.LogRecord{Body: v}
	}
	seeds := [][]byte{
		enc(full),
		enc(nested),
		enc(deep(MaxAnyValueDepth)),
		enc(deep(MaxAnyValueDepth + 1)),
		enc(&logspb.LogRecord{Body: str(string(make([]byte, 300)))}),
		{},
		{0x4a, 0x07, 1, 2, 3, 4, 5, 6, 7}, // trace_id of 7 bytes
		{0x52, 0x03, 1, 2, 3},             // span_id of 3 bytes
		{0x09, 1, 2, 3},                   // fixed64 cut off
		{0x45, 1, 2},                      // flags cut off
		{0x2a, 0x02, 0x18, 0x80},          // body with a cut-off int
		{0x2a, 0x02, 0x0a, 0x05},          // body with a string past its end
		{0x10, 0x80, 0x80, 0x01},          // a three-byte varint
		{0x62, 0x01, 'e', 0x62, 0x02, 'e', 'v'},
	}
	b := enc(full)
	for cut := 1; cut < len(b); cut += 5 {
		seeds = append(seeds, b[:cut])
	}
	return seeds
}

func TestLogRecordFastPathAgreesWithWalk(t *testing.T) {
	for _, b := range logFastSeeds(t) {
		checkItemFast(t, mLogRecord, (*parser).logRecord, b)
	}
}

// FuzzLogRecordFastPath: logRecord accepts and rejects what the generic
// walk does, with the same error and the same item and attributes recorded.
func FuzzLogRecordFastPath(f *testing.F) {
	for _, b := range logFastSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkItemFast(t, mLogRecord, (*parser).logRecord, b)
	})
}

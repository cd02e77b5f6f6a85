package otlpwire

import (
	"fmt"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// benchSpans is the request the design's figures use: one resource, one
// scope, n spans with 10 string attributes each, about 550 bytes per span.
func benchSpans(resources, spansPer int) *coltrace.ExportTraceServiceRequest {
	req := &coltrace.ExportTraceServiceRequest{}
	for r := 0; r < resources; r++ {
		ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "io.opentelemetry.http", Version: "1.2.3"}}
		for i := 0; i < spansPer; i++ {
			attrs := make([]*commonpb.KeyValue, 10)
			for a := range attrs {
				attrs[a] = kv(fmt.Sprintf("http.req.hdr.x-%02d", a), str(fmt.Sprintf("val-%08d-abcde", i*10+a)))
			}
			ss.Spans = append(ss.Spans, &tracepb.Span{
				TraceId: id(16, byte(i)), SpanId: id(8, byte(i)), ParentSpanId: id(8, byte(i+1)),
				Name: fmt.Sprintf("GET /api/v1/items/%06d", i), Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: 1700000000000000000, EndTimeUnixNano: 1700000000000100000,
				Attributes: attrs, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
			})
		}
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
			Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str(fmt.Sprintf("checkout-%d", r))), kv("host.name", str("node-17"))}},
			ScopeSpans: []*tracepb.ScopeSpans{ss},
		})
	}
	return req
}

func perSpan(b *testing.B, spans int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(spans), "ns/span")
}

func TestBenchRequestShape(t *testing.T) {
	req := mustMarshal(t, benchSpans(1, 100))
	if per := len(req) / 100; per < 500 || per > 600 {
		t.Fatalf("benchmark request has %d bytes per span, want about 550", per)
	}
}

func BenchmarkParse(b *testing.B) {
	req := mustMarshal(b, benchSpans(1, 100))
	var ix Index
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ix.Parse(Traces, req); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, 100)
}

func BenchmarkCountItems(b *testing.B) {
	req := mustMarshal(b, benchSpans(1, 100))
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CountItems(Traces, req); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, 100)
}

// BenchmarkProtoUnmarshal is the baseline the index replaces: decoding the
// same request into the generated types.
func BenchmarkProtoUnmarshal(b *testing.B) {
	req := mustMarshal(b, benchSpans(1, 100))
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		var m coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(req, &m); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, 100)
}

func BenchmarkJSONToProto(b *testing.B) {
	j, err := ProtoToJSON(Traces, mustMarshal(b, benchSpans(1, 100)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(j)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JSONToProto(Traces, j); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, 100)
}

func BenchmarkProtoToJSON(b *testing.B) {
	req := mustMarshal(b, benchSpans(1, 100))
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ProtoToJSON(Traces, req); err != nil {
			b.Fatal(err)
		}
	}
	perSpan(b, 100)
}

// BenchmarkSplit cuts 100 resources of 10 spans into batches of 64 spans.
func BenchmarkSplit(b *testing.B) {
	req := mustMarshal(b, benchSpans(100, 10))
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		b.Fatal(err)
	}
	dst := make([][]byte, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		dst = Split(&ix, req, 64, 0, dst[:0])
	}
	b.ReportMetric(float64(len(dst)), "pieces")
}

package wasmhost

import (
	"context"
	"fmt"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// benchSpans is a batch of n spans with 8 attributes each, as an
// instrumented HTTP server would send.
func benchSpans(n int) *coltrace.ExportTraceServiceRequest {
	ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "net/http", Version: "1.0"}}
	for i := range n {
		ss.Spans = append(ss.Spans, &tracepb.Span{
			TraceId:           []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)},
			SpanId:            []byte{1, 2, 3, 4, 5, 6, 7, byte(i)},
			Name:              fmt.Sprintf("GET /api/v1/items/%d", i),
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1700000000000000000 + uint64(i),
			EndTimeUnixNano:   1700000000001000000 + uint64(i),
			Attributes: []*commonpb.KeyValue{
				kv("http.request.method", "GET"), kv("url.path", "/api/v1/items"), kv("http.route", "/api/v1/items/{id}"),
				kv("server.address", "api.example.com"), kv("user_agent.original", "curl/8.0"),
				kv("client.address", "10.0.0.1"), kv("network.protocol.version", "1.1"), kv("user", "bob"),
			},
		})
	}
	return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", "api"), kv("host.name", "node-1")}},
		ScopeSpans: []*tracepb.ScopeSpans{ss},
	}}}
}

// BenchmarkProcess measures one call on a 100-span batch that the filter
// leaves unchanged: the cost of the host's round trip (alloc call, request
// and index copied in, process call, deadline). noop returns at once; good
// walks every attribute key looking for "password" and yields to its
// scheduler, as an SDK filter does. Each runs with the deadline
// instrumentation (production) and without it (to measure what it costs).
func BenchmarkProcess(b *testing.B) {
	const spans = 100
	req, ix := batch(b, otlpwire.Traces, benchSpans(spans))
	for _, module := range []string{"noop", "good"} {
		for _, deadline := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/deadline=%v", module, deadline), func(b *testing.B) {
				rt, err := NewRuntime(context.Background(), RuntimeConfig{CacheDir: cacheDir, noDeadline: !deadline})
				if err != nil {
					b.Fatal(err)
				}
				defer rt.Close(context.Background())
				f, err := rt.Load(context.Background(), LoadConfig{Name: module, Module: modules[module], Instances: 1, Timeout: time.Second}, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				b.SetBytes(int64(len(req)))
				b.ResetTimer()
				for b.Loop() {
					res, err := f.Process(ctx, otlpwire.Traces, req, ix)
					if err != nil || res.Req != nil {
						b.Fatalf("%+v, %v", res, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/spans, "ns/span")
			})
		}
	}
}

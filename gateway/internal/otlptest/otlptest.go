// Package otlptest builds encoded OTLP requests for tests across the
// gateway's packages, with the generated OTLP types (never on a hot path).
package otlptest

import (
	"encoding/binary"
	"fmt"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Str is a string attribute.
func Str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// ID returns an n-byte identifier derived from seed, never all zero.
func ID(n int, seed uint64) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b[n-8:], seed+1)
	if n > 8 {
		binary.BigEndian.PutUint64(b, ^seed)
	}
	return b
}

func resource(i int) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{Str("service.name", fmt.Sprintf("svc-%d", i)), Str("host.name", "host-a")}}
}

// Traces builds a request of `resources` resources holding `spans` spans
// each, with `attrs` string attributes per span; seed makes IDs unique.
func Traces(resources, spans, attrs int, seed uint64) *coltrace.ExportTraceServiceRequest {
	req := &coltrace.ExportTraceServiceRequest{}
	n := seed * 1_000_000
	for r := range resources {
		ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "otlptest"}}
		for s := range spans {
			n++
			sp := &tracepb.Span{
				TraceId: ID(16, n), SpanId: ID(8, n), Name: fmt.Sprintf("op-%d-%d", r, s),
				Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: 1_700_000_000_000_000_000 + n, EndTimeUnixNano: 1_700_000_000_100_000_000 + n,
			}
			for a := range attrs {
				sp.Attributes = append(sp.Attributes, Str(fmt.Sprintf("attr.%d", a), fmt.Sprintf("value-%d-%d", n, a)))
			}
			ss.Spans = append(ss.Spans, sp)
		}
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{Resource: resource(r), ScopeSpans: []*tracepb.ScopeSpans{ss}})
	}
	return req
}

// Metrics builds a request with one gauge per resource holding `points` data points.
func Metrics(resources, points int, seed uint64) *colmetrics.ExportMetricsServiceRequest {
	req := &colmetrics.ExportMetricsServiceRequest{}
	for r := range resources {
		g := &metricspb.Gauge{}
		for p := range points {
			g.DataPoints = append(g.DataPoints, &metricspb.NumberDataPoint{
				TimeUnixNano: 1_700_000_000_000_000_000 + seed*1000 + uint64(p),
				Value:        &metricspb.NumberDataPoint_AsInt{AsInt: int64(p)},
				Attributes:   []*commonpb.KeyValue{Str("point", fmt.Sprint(p))},
			})
		}
		req.ResourceMetrics = append(req.ResourceMetrics, &metricspb.ResourceMetrics{
			Resource:     resource(r),
			ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{Name: fmt.Sprintf("m.%d", r), Data: &metricspb.Metric_Gauge{Gauge: g}}}}},
		})
	}
	return req
}

// Logs builds a request of `resources` resources with `records` log records each.
func Logs(resources, records int, seed uint64) *collogs.ExportLogsServiceRequest {
	req := &collogs.ExportLogsServiceRequest{}
	for r := range resources {
		sl := &logspb.ScopeLogs{}
		for i := range records {
			sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{
				TimeUnixNano:   1_700_000_000_000_000_000 + seed*1000 + uint64(i),
				SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
				Body:           &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("log %d/%d", seed, i)}},
			})
		}
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{Resource: resource(r), ScopeLogs: []*logspb.ScopeLogs{sl}})
	}
	return req
}

// Marshal encodes m or panics (test input is always valid).
func Marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

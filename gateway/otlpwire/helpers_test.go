package otlpwire

import (
	"fmt"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Requests for tests are built with the generated types and proto.Marshal,
// so the index is checked against the reference encoder, not against itself.

func str(v string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
}

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// attrsOfEveryType returns n attributes cycling through every AnyValue kind.
func attrsOfEveryType(prefix string, n int) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, n)
	for i := range out {
		var v *commonpb.AnyValue
		switch i % 8 {
		case 0:
			v = str(fmt.Sprintf("value-%d", i))
		case 1:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}
		case 2:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -int64(i) * 1000003}}
		case 3:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: float64(i) + 0.5}}
		case 4:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("a"), str("b")}}}}
		case 5:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("in", str("ner"))}}}}
		case 6:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2, 0xff}}}
		case 7:
			v = nil // a KeyValue without a value
		}
		out[i] = kv(fmt.Sprintf("%s.attr%d", prefix, i), v)
	}
	return out
}

func id(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func resourceWith(i int) *resourcepb.Resource {
	return &resourcepb.Resource{
		Attributes:             append([]*commonpb.KeyValue{kv("service.name", str(fmt.Sprintf("svc-%d", i)))}, attrsOfEveryType("res", i%3)...),
		DroppedAttributesCount: 1,
		EntityRefs:             []*commonpb.EntityRef{{Type: "service", IdKeys: []string{"service.name"}, DescriptionKeys: []string{"a", "b"}}},
	}
}

func scopeWith(i int) *commonpb.InstrumentationScope {
	return &commonpb.InstrumentationScope{Name: fmt.Sprintf("lib-%d", i), Version: "1.0", Attributes: attrsOfEveryType("scope", i%2)}
}

// makeTraces builds resources × scopes × spans spans with attrs attributes each.
func makeTraces(resources, scopes, spans, attrs int) *coltrace.ExportTraceServiceRequest {
	req := &coltrace.ExportTraceServiceRequest{}
	for r := 0; r < resources; r++ {
		rs := &tracepb.ResourceSpans{Resource: resourceWith(r), SchemaUrl: "https://opentelemetry.io/schemas/1.26.0"}
		for s := 0; s < scopes; s++ {
			ss := &tracepb.ScopeSpans{Scope: scopeWith(s), SchemaUrl: "u"}
			for k := 0; k < spans; k++ {
				n := r*1000 + s*100 + k
				sp := &tracepb.Span{
					TraceId:           id(16, byte(n)),
					SpanId:            id(8, byte(n+1)),
					ParentSpanId:      id(8, byte(n+2)),
					TraceState:        "k=v",
					Name:              fmt.Sprintf("span-%d", n),
					Kind:              tracepb.Span_SpanKind(k % 6),
					StartTimeUnixNano: 1700000000000000000 + uint64(n),
					EndTimeUnixNano:   1700000000000001000 + uint64(n),
					Attributes:        attrsOfEveryType("span", attrs),
					Flags:             0x301,
				}
				if k%3 == 0 {
					sp.Events = []*tracepb.Span_Event{{TimeUnixNano: 5, Name: "ev", Attributes: attrsOfEveryType("ev", 2)}}
					sp.Links = []*tracepb.Span_Link{{TraceId: id(16, 9), SpanId: id(8, 9), Attributes: attrsOfEveryType("link", 1), Flags: 1}}
					sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "bad"}
				}
				if k%4 == 1 {
					sp.TraceId, sp.ParentSpanId = nil, nil // empty IDs are allowed
				}
				ss.Spans = append(ss.Spans, sp)
			}
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		req.ResourceSpans = append(req.ResourceSpans, rs)
	}
	return req
}

func numberPoints(n int, seed int) []*metricspb.NumberDataPoint {
	out := make([]*metricspb.NumberDataPoint, n)
	for i := range out {
		dp := &metricspb.NumberDataPoint{Attributes: attrsOfEveryType("dp", i%4), StartTimeUnixNano: 1, TimeUnixNano: uint64(2 + i), Flags: 1}
		if i%2 == 0 {
			dp.Value = &metricspb.NumberDataPoint_AsInt{AsInt: int64(seed + i)}
		} else {
			dp.Value = &metricspb.NumberDataPoint_AsDouble{AsDouble: float64(seed) + 0.25}
			dp.Exemplars = []*metricspb.Exemplar{{
				FilteredAttributes: attrsOfEveryType("ex", 1), TimeUnixNano: 3,
				Value: &metricspb.Exemplar_AsDouble{AsDouble: 1}, SpanId: id(8, 1), TraceId: id(16, 2),
			}}
		}
		out[i] = dp
	}
	return out
}

// makeMetrics builds one metric of every type per scope; points sets how
// many data points each has.
func makeMetrics(resources, scopes, points int) *colmetrics.ExportMetricsServiceRequest {
	req := &colmetrics.ExportMetricsServiceRequest{}
	sum := 12.5
	for r := 0; r < resources; r++ {
		rm := &metricspb.ResourceMetrics{Resource: resourceWith(r)}
		for s := 0; s < scopes; s++ {
			sm := &metricspb.ScopeMetrics{Scope: scopeWith(s)}
			hist := &metricspb.Histogram{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA}
			exph := &metricspb.ExponentialHistogram{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}
			summ := &metricspb.Summary{}
			for i := 0; i < points; i++ {
				hist.DataPoints = append(hist.DataPoints, &metricspb.HistogramDataPoint{
					Attributes: attrsOfEveryType("h", i%3), Count: 3, Sum: &sum, Min: &sum, Max: &sum,
					BucketCounts: []uint64{1, 1, 1}, ExplicitBounds: []float64{1, 10},
					Exemplars: []*metricspb.Exemplar{{Value: &metricspb.Exemplar_AsInt{AsInt: 4}, TraceId: id(16, 3)}},
				})
				exph.DataPoints = append(exph.DataPoints, &metricspb.ExponentialHistogramDataPoint{
					Attributes: attrsOfEveryType("e", i%3), Count: 6, Scale: -3, ZeroCount: 1, ZeroThreshold: 0.001,
					Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: -2, BucketCounts: []uint64{1, 300, 70000}},
					Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 1, BucketCounts: []uint64{2}},
				})
				summ.DataPoints = append(summ.DataPoints, &metricspb.SummaryDataPoint{
					Attributes: attrsOfEveryType("s", i%3), Count: 2, Sum: 3,
					QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 1}, {Quantile: 0.99, Value: 2}},
				})
			}
			sm.Metrics = []*metricspb.Metric{
				{Name: fmt.Sprintf("gauge.%d", s), Unit: "1", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: numberPoints(points, r)}}},
				{Name: "sum", Description: "d", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: numberPoints(points, s), IsMonotonic: true, AggregationTemporality: 2}},
					Metadata: attrsOfEveryType("md", 2)},
				{Name: "histogram", Data: &metricspb.Metric_Histogram{Histogram: hist}},
				{Name: "exphistogram", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: exph}},
				{Name: "summary", Data: &metricspb.Metric_Summary{Summary: summ}},
				{Name: "no-data"},
			}
			rm.ScopeMetrics = append(rm.ScopeMetrics, sm)
		}
		req.ResourceMetrics = append(req.ResourceMetrics, rm)
	}
	return req
}

func makeLogs(resources, scopes, records, attrs int) *collogs.ExportLogsServiceRequest {
	req := &collogs.ExportLogsServiceRequest{}
	for r := 0; r < resources; r++ {
		rl := &logspb.ResourceLogs{Resource: resourceWith(r)}
		for s := 0; s < scopes; s++ {
			sl := &logspb.ScopeLogs{Scope: scopeWith(s)}
			for k := 0; k < records; k++ {
				lr := &logspb.LogRecord{
					TimeUnixNano: 1, ObservedTimeUnixNano: 2, SeverityNumber: logspb.SeverityNumber(k % 25), SeverityText: "INFO",
					Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: attrsOfEveryType("body", 3)}}},
					Attributes: attrsOfEveryType("log", attrs), Flags: 1, EventName: fmt.Sprintf("event-%d", k),
				}
				if k%2 == 0 {
					lr.TraceId, lr.SpanId = id(16, byte(k)), id(8, byte(k))
					lr.Body = str("plain")
				}
				sl.LogRecords = append(sl.LogRecords, lr)
			}
			rl.ScopeLogs = append(rl.ScopeLogs, sl)
		}
		req.ResourceLogs = append(req.ResourceLogs, rl)
	}
	return req
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRequest returns an empty generated request message for sig.
func newRequest(sig Signal) proto.Message {
	switch sig {
	case Traces:
		return &coltrace.ExportTraceServiceRequest{}
	case Metrics:
		return &colmetrics.ExportMetricsServiceRequest{}
	}
	return &collogs.ExportLogsServiceRequest{}
}

// countGenerated counts items the way OTLP partial success does.
func countGenerated(m proto.Message) int {
	n := 0
	switch r := m.(type) {
	case *coltrace.ExportTraceServiceRequest:
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
	case *collogs.ExportLogsServiceRequest:
		for _, rl := range r.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				n += len(sl.LogRecords)
			}
		}
	case *colmetrics.ExportMetricsServiceRequest:
		for _, rm := range r.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					n += metricPoints(m)
				}
			}
		}
	}
	return n
}

func metricPoints(m *metricspb.Metric) int {
	switch d := m.Data.(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

// Hand encoding, for inputs the generated encoder cannot produce.

func fld(num int, body ...[]byte) []byte {
	b := protowire.AppendTag(nil, protowire.Number(num), protowire.BytesType)
	var all []byte
	for _, x := range body {
		all = append(all, x...)
	}
	return protowire.AppendBytes(b, all)
}

func varintField(num int, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, protowire.Number(num), protowire.VarintType), v)
}

func raw(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// wrap puts an item body (span, log record, or a Metric body for metrics)
// into request → resource entry → scope entry.
func wrap(item []byte) []byte { return fld(1, fld(2, fld(2, item))) }

package otlpwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
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

type sample struct {
	name string
	sig  Signal
	msg  proto.Message
}

func samples() []sample {
	return []sample{
		{"traces 1x1x1", Traces, makeTraces(1, 1, 1, 0)},
		{"traces 3x2x7", Traces, makeTraces(3, 2, 7, 10)},
		{"traces empty scopes", Traces, &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{}, {ScopeSpans: []*tracepb.ScopeSpans{{}}}}}},
		{"metrics 1x1x1", Metrics, makeMetrics(1, 1, 1)},
		{"metrics 2x2x3", Metrics, makeMetrics(2, 2, 3)},
		{"logs 1x1x1", Logs, makeLogs(1, 1, 1, 0)},
		{"logs 2x3x5", Logs, makeLogs(2, 3, 5, 9)},
	}
}

// entryBody checks that req[off:end] is exactly one length-delimited field
// numbered num and returns its body.
func entryBody(t *testing.T, req []byte, off, end int32, num protowire.Number) []byte {
	t.Helper()
	if off < 0 || end > int32(len(req)) || off > end {
		t.Fatalf("entry [%d:%d] out of bounds (len %d)", off, end, len(req))
	}
	b := req[off:end]
	n, typ, k := protowire.ConsumeTag(b)
	if k < 0 || n != num || typ != protowire.BytesType {
		t.Fatalf("entry [%d:%d] starts with field %d type %d, want field %d bytes", off, end, n, typ, num)
	}
	body, m := protowire.ConsumeBytes(b[k:])
	if m < 0 || k+m != len(b) {
		t.Fatalf("entry [%d:%d] is not exactly one field", off, end)
	}
	return body
}

func unmarshalEqual(t *testing.T, what string, body []byte, want proto.Message) {
	t.Helper()
	got := want.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(body, got); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s: indexed bytes decode to %v, want %v", what, got, want)
	}
}

// checkAttrs verifies ix.Attrs[start:end] against the generated attributes.
func checkAttrs(t *testing.T, what string, req []byte, ix *Index, start, end int32, owner AttrOwner, parent int32, want []*commonpb.KeyValue) {
	t.Helper()
	if int(end-start) != len(want) {
		t.Fatalf("%s: %d attributes indexed, want %d", what, end-start, len(want))
	}
	for k, a := range ix.Attrs[start:end] {
		w := want[k]
		if a.Owner != owner || a.Parent != parent {
			t.Fatalf("%s attr %d: owner %d/%d, want %d/%d", what, k, a.Owner, a.Parent, owner, parent)
		}
		unmarshalEqual(t, what+" attr entry", entryBody(t, req, a.Off, a.End, protowire.Number(a.fieldNum(t, req))), w)
		if got := string(req[a.KeyOff:a.KeyEnd]); got != w.Key {
			t.Fatalf("%s attr %d: key %q, want %q", what, k, got, w.Key)
		}
		val := req[a.ValOff:a.ValEnd]
		switch v := w.GetValue().GetValue().(type) {
		case nil:
			if a.ValType != ValueEmpty {
				t.Fatalf("%s attr %d: type %d, want empty", what, k, a.ValType)
			}
		case *commonpb.AnyValue_StringValue:
			if a.ValType != ValueString || string(val) != v.StringValue {
				t.Fatalf("%s attr %d: %d %q, want string %q", what, k, a.ValType, val, v.StringValue)
			}
		case *commonpb.AnyValue_BytesValue:
			if a.ValType != ValueBytes || !bytes.Equal(val, v.BytesValue) {
				t.Fatalf("%s attr %d: %d %x, want bytes %x", what, k, a.ValType, val, v.BytesValue)
			}
		case *commonpb.AnyValue_BoolValue:
			x, n := protowire.ConsumeVarint(val)
			if a.ValType != ValueBool || n != len(val) || (x != 0) != v.BoolValue {
				t.Fatalf("%s attr %d: bad bool", what, k)
			}
		case *commonpb.AnyValue_IntValue:
			x, n := protowire.ConsumeVarint(val)
			if a.ValType != ValueInt || n != len(val) || int64(x) != v.IntValue {
				t.Fatalf("%s attr %d: bad int %d", what, k, int64(x))
			}
		case *commonpb.AnyValue_DoubleValue:
			if a.ValType != ValueDouble || len(val) != 8 || math.Float64frombits(binary.LittleEndian.Uint64(val)) != v.DoubleValue {
				t.Fatalf("%s attr %d: bad double", what, k)
			}
		case *commonpb.AnyValue_ArrayValue:
			if a.ValType != ValueArray {
				t.Fatalf("%s attr %d: type %d, want array", what, k, a.ValType)
			}
			unmarshalEqual(t, what+" array", val, v.ArrayValue)
		case *commonpb.AnyValue_KvlistValue:
			if a.ValType != ValueKvlist {
				t.Fatalf("%s attr %d: type %d, want kvlist", what, k, a.ValType)
			}
			unmarshalEqual(t, what+" kvlist", val, v.KvlistValue)
		}
	}
}

// fieldNum reads the field number of the attribute's entry.
func (a Attr) fieldNum(t *testing.T, req []byte) int {
	n, _, k := protowire.ConsumeTag(req[a.Off:a.End])
	if k < 0 {
		t.Fatalf("attr entry has no tag")
	}
	return int(n)
}

type genScope struct {
	scope *commonpb.InstrumentationScope
	items []proto.Message
}

type genResource struct {
	msg    proto.Message // the ResourceSpans|ResourceMetrics|ResourceLogs
	res    *resourcepb.Resource
	scopes []genScope
}

// flatten lists the generated request's structure in wire order.
func flatten(m proto.Message) []genResource {
	var out []genResource
	switch r := m.(type) {
	case *coltrace.ExportTraceServiceRequest:
		for _, rs := range r.ResourceSpans {
			g := genResource{msg: rs, res: rs.Resource}
			for _, ss := range rs.ScopeSpans {
				s := genScope{scope: ss.Scope}
				for _, sp := range ss.Spans {
					s.items = append(s.items, sp)
				}
				g.scopes = append(g.scopes, s)
			}
			out = append(out, g)
		}
	case *collogs.ExportLogsServiceRequest:
		for _, rl := range r.ResourceLogs {
			g := genResource{msg: rl, res: rl.Resource}
			for _, sl := range rl.ScopeLogs {
				s := genScope{scope: sl.Scope}
				for _, lr := range sl.LogRecords {
					s.items = append(s.items, lr)
				}
				g.scopes = append(g.scopes, s)
			}
			out = append(out, g)
		}
	case *colmetrics.ExportMetricsServiceRequest:
		for _, rm := range r.ResourceMetrics {
			g := genResource{msg: rm, res: rm.Resource}
			for _, sm := range rm.ScopeMetrics {
				s := genScope{scope: sm.Scope}
				for _, mt := range sm.Metrics {
					switch d := mt.Data.(type) {
					case *metricspb.Metric_Gauge:
						for _, dp := range d.Gauge.DataPoints {
							s.items = append(s.items, dp)
						}
					case *metricspb.Metric_Sum:
						for _, dp := range d.Sum.DataPoints {
							s.items = append(s.items, dp)
						}
					case *metricspb.Metric_Histogram:
						for _, dp := range d.Histogram.DataPoints {
							s.items = append(s.items, dp)
						}
					case *metricspb.Metric_ExponentialHistogram:
						for _, dp := range d.ExponentialHistogram.DataPoints {
							s.items = append(s.items, dp)
						}
					case *metricspb.Metric_Summary:
						for _, dp := range d.Summary.DataPoints {
							s.items = append(s.items, dp)
						}
					}
				}
				g.scopes = append(g.scopes, s)
			}
			out = append(out, g)
		}
	}
	return out
}

func itemAttrs(m proto.Message) []*commonpb.KeyValue {
	switch v := m.(type) {
	case *tracepb.Span:
		return v.Attributes
	case *logspb.LogRecord:
		return v.Attributes
	case *metricspb.NumberDataPoint:
		return v.Attributes
	case *metricspb.HistogramDataPoint:
		return v.Attributes
	case *metricspb.ExponentialHistogramDataPoint:
		return v.Attributes
	case *metricspb.SummaryDataPoint:
		return v.Attributes
	}
	return nil
}

// TestParseIndexesEveryEntry checks every offset and range the index records
// against the generated types' own decoding of those bytes.
func TestParseIndexesEveryEntry(t *testing.T) {
	var ix Index // reused across samples on purpose
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			req := mustMarshal(t, s.msg)
			if err := ix.Parse(s.sig, req); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := countGenerated(s.msg)
			if ix.Items != want || len(ix.ItemsAt) != want {
				t.Fatalf("Items = %d (%d indexed), want %d", ix.Items, len(ix.ItemsAt), want)
			}
			if n, err := CountItems(s.sig, req); err != nil || n != want {
				t.Fatalf("CountItems = %d, %v; want %d", n, err, want)
			}
			gen := flatten(s.msg)
			if len(ix.Resources) != len(gen) {
				t.Fatalf("%d resources indexed, want %d", len(ix.Resources), len(gen))
			}
			itemNum := protowire.Number(2)
			scopeIdx, itemIdx, attrsSeen := int32(0), int32(0), 0
			for ri, gr := range gen {
				r := ix.Resources[ri]
				unmarshalEqual(t, "resource entry", entryBody(t, req, r.Off, r.End, 1), gr.msg)
				if gr.res != nil {
					unmarshalEqual(t, "resource", entryBody(t, req, r.ResOff, r.ResEnd, 1), gr.res)
				} else if r.ResOff != 0 || r.ResEnd != 0 {
					t.Fatalf("absent resource indexed at %d", r.ResOff)
				}
				checkAttrs(t, "resource", req, &ix, r.AttrStart, r.AttrEnd, OwnerResource, int32(ri), gr.res.GetAttributes())
				attrsSeen += int(r.AttrEnd - r.AttrStart)
				if r.ScopeStart != scopeIdx || int(r.ScopeEnd-r.ScopeStart) != len(gr.scopes) {
					t.Fatalf("resource %d scopes [%d:%d], want %d from %d", ri, r.ScopeStart, r.ScopeEnd, len(gr.scopes), scopeIdx)
				}
				resItemStart := itemIdx
				for _, gs := range gr.scopes {
					sc := ix.Scopes[scopeIdx]
					if sc.Resource != int32(ri) {
						t.Fatalf("scope %d resource = %d, want %d", scopeIdx, sc.Resource, ri)
					}
					entryBody(t, req, sc.Off, sc.End, 2)
					if gs.scope != nil {
						unmarshalEqual(t, "scope", entryBody(t, req, sc.ScopeOff, sc.ScopeEnd, 1), gs.scope)
					}
					checkAttrs(t, "scope", req, &ix, sc.AttrStart, sc.AttrEnd, OwnerScope, scopeIdx, gs.scope.GetAttributes())
					attrsSeen += int(sc.AttrEnd - sc.AttrStart)
					if sc.ItemStart != itemIdx || int(sc.ItemEnd-sc.ItemStart) != len(gs.items) {
						t.Fatalf("scope %d items [%d:%d], want %d from %d", scopeIdx, sc.ItemStart, sc.ItemEnd, len(gs.items), itemIdx)
					}
					for _, gi := range gs.items {
						it := ix.ItemsAt[itemIdx]
						if it.Resource != int32(ri) || it.Scope != scopeIdx {
							t.Fatalf("item %d parents %d/%d, want %d/%d", itemIdx, it.Resource, it.Scope, ri, scopeIdx)
						}
						if s.sig == Metrics {
							itemNum = 1 // data_points
						}
						unmarshalEqual(t, "item", entryBody(t, req, it.Off, it.End, itemNum), gi)
						checkAttrs(t, "item", req, &ix, it.AttrStart, it.AttrEnd, OwnerItem, itemIdx, itemAttrs(gi))
						attrsSeen += int(it.AttrEnd - it.AttrStart)
						name := string(req[it.NameOff:it.NameEnd])
						var wantName string
						var wantTID []byte
						switch v := gi.(type) {
						case *tracepb.Span:
							wantName, wantTID = v.Name, v.TraceId
						case *logspb.LogRecord:
							wantName, wantTID = v.EventName, v.TraceId
						default:
							m := ix.Metrics[it.Metric]
							if it.Metric < 0 || itemIdx < m.ItemStart || itemIdx >= m.ItemEnd {
								t.Fatalf("item %d: metric %d does not hold it", itemIdx, it.Metric)
							}
							wantName = string(req[m.NameOff:m.NameEnd])
						}
						if name != wantName {
							t.Fatalf("item %d name %q, want %q", itemIdx, name, wantName)
						}
						if s.sig != Metrics {
							if it.Metric != -1 {
								t.Fatalf("item %d: Metric = %d, want -1", itemIdx, it.Metric)
							}
							if len(wantTID) == 0 && it.TraceIDOff != 0 || len(wantTID) == 16 && !bytes.Equal(req[it.TraceIDOff:it.TraceIDOff+16], wantTID) {
								t.Fatalf("item %d trace_id at %d wrong", itemIdx, it.TraceIDOff)
							}
						}
						itemIdx++
					}
					scopeIdx++
				}
				if r.ItemStart != resItemStart || r.ItemEnd != itemIdx {
					t.Fatalf("resource %d items [%d:%d], want [%d:%d]", ri, r.ItemStart, r.ItemEnd, resItemStart, itemIdx)
				}
			}
			if int(scopeIdx) != len(ix.Scopes) || attrsSeen != len(ix.Attrs) {
				t.Fatalf("%d scopes / %d attrs indexed, %d / %d accounted for", len(ix.Scopes), len(ix.Attrs), scopeIdx, attrsSeen)
			}
			if s.sig == Metrics {
				checkMetrics(t, req, &ix, s.msg.(*colmetrics.ExportMetricsServiceRequest))
			} else if len(ix.Metrics) != 0 {
				t.Fatalf("%d metrics indexed for %s", len(ix.Metrics), s.sig)
			}
		})
	}
}

func checkMetrics(t *testing.T, req []byte, ix *Index, m *colmetrics.ExportMetricsServiceRequest) {
	t.Helper()
	mi := 0
	scope := int32(0)
	for _, rm := range m.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			sc := ix.Scopes[scope]
			if int(sc.MetricEnd-sc.MetricStart) != len(sm.Metrics) || sc.MetricStart != int32(mi) {
				t.Fatalf("scope %d metrics [%d:%d], want %d from %d", scope, sc.MetricStart, sc.MetricEnd, len(sm.Metrics), mi)
			}
			for _, gm := range sm.Metrics {
				x := ix.Metrics[mi]
				unmarshalEqual(t, "metric", entryBody(t, req, x.Off, x.End, 2), gm)
				if x.Scope != scope || string(req[x.NameOff:x.NameEnd]) != gm.Name || int(x.ItemEnd-x.ItemStart) != metricPoints(gm) {
					t.Fatalf("metric %d (%s): scope %d name %q items %d", mi, gm.Name, x.Scope, req[x.NameOff:x.NameEnd], x.ItemEnd-x.ItemStart)
				}
				var wantType MetricType
				var data proto.Message
				switch d := gm.Data.(type) {
				case *metricspb.Metric_Gauge:
					wantType, data = MetricGauge, d.Gauge
				case *metricspb.Metric_Sum:
					wantType, data = MetricSum, d.Sum
				case *metricspb.Metric_Histogram:
					wantType, data = MetricHistogram, d.Histogram
				case *metricspb.Metric_ExponentialHistogram:
					wantType, data = MetricExponentialHistogram, d.ExponentialHistogram
				case *metricspb.Metric_Summary:
					wantType, data = MetricSummary, d.Summary
				}
				if x.Type != wantType {
					t.Fatalf("metric %d type %d, want %d", mi, x.Type, wantType)
				}
				if data != nil {
					unmarshalEqual(t, "metric data", entryBody(t, req, x.DataOff, x.DataEnd, protowire.Number(wantType)), data)
				}
				for k := x.ItemStart; k < x.ItemEnd; k++ {
					if ix.ItemsAt[k].Metric != int32(mi) {
						t.Fatalf("item %d metric %d, want %d", k, ix.ItemsAt[k].Metric, mi)
					}
				}
				mi++
			}
			scope++
		}
	}
	if mi != len(ix.Metrics) {
		t.Fatalf("%d metrics indexed, want %d", len(ix.Metrics), mi)
	}
}

func TestParseEmptyRequest(t *testing.T) {
	for _, sig := range Signals {
		var ix Index
		if err := ix.Parse(sig, nil); err != nil || ix.Items != 0 || len(ix.Resources) != 0 {
			t.Errorf("%s: Parse(empty) = %v, %d items", sig, err, ix.Items)
		}
		if n, err := CountItems(sig, []byte{}); err != nil || n != 0 {
			t.Errorf("%s: CountItems(empty) = %d, %v", sig, n, err)
		}
	}
}

func nestedArray(levels int) *commonpb.AnyValue {
	v := str("leaf")
	for i := 1; i < levels; i++ {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{v}}}}
	}
	return v
}

func nestedKvlist(levels int) *commonpb.AnyValue {
	v := str("leaf")
	for i := 1; i < levels; i++ {
		v = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", v)}}}}
	}
	return v
}

// TestParseAcceptsWhatOTLPAllows covers encodings the generated encoder does
// not produce but other encoders may, and that proto decoding accepts.
func TestParseAcceptsWhatOTLPAllows(t *testing.T) {
	span := mustMarshal(t, &tracepb.Span{Name: "s", TraceId: id(16, 1), SpanId: id(8, 1)})
	group := raw(protowire.AppendTag(nil, 99, protowire.StartGroupType), varintField(1, 5), fld(2, []byte("x")),
		protowire.AppendTag(nil, 7, protowire.StartGroupType), protowire.AppendTag(nil, 7, protowire.EndGroupType),
		protowire.AppendTag(nil, 99, protowire.EndGroupType))
	unknowns := raw(varintField(50, 1), fld(51, []byte("junk")), protowire.AppendFixed32(protowire.AppendTag(nil, 52, protowire.Fixed32Type), 1),
		protowire.AppendFixed64(protowire.AppendTag(nil, 53, protowire.Fixed64Type), 1), group)
	unpackedBuckets := raw(
		protowire.AppendFixed64(protowire.AppendTag(nil, 6, protowire.Fixed64Type), 3),
		protowire.AppendFixed64(protowire.AppendTag(nil, 6, protowire.Fixed64Type), 4),
		varintField(10, 1))
	unpackedExpBuckets := fld(8, varintField(2, 7), varintField(2, 300))
	deep := mustMarshal(t, &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("deep", nestedArray(MaxAnyValueDepth))}})
	deepKV := mustMarshal(t, &logspb.LogRecord{Body: nestedKvlist(MaxAnyValueDepth)})
	for _, tc := range []struct {
		name  string
		sig   Signal
		req   []byte
		items int
	}{
		{"unknown fields at every level", Traces, raw(unknowns, fld(1, unknowns, fld(2, unknowns, fld(2, span, unknowns), unknowns)), unknowns), 1},
		{"unknown fields in attributes", Traces, wrap(raw(fld(9, fld(1, []byte("k")), fld(2, fld(1, []byte("v")), unknowns), unknowns))), 1},
		{"unpacked fixed64 repeated", Metrics, wrap(fld(9, fld(1, unpackedBuckets))), 1},
		{"unpacked varint repeated", Metrics, wrap(fld(10, fld(1, unpackedExpBuckets), fld(1))), 2},
		{"anyvalue at max depth", Traces, wrap(deep), 1},
		{"log body at max depth", Logs, wrap(deepKV), 1},
		{"repeated data field of one type is still one field", Metrics, wrap(fld(5, fld(1), fld(1), fld(1))), 3},
		{"resource entry with only unknowns", Logs, fld(1, unknowns), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ix Index
			if err := ix.Parse(tc.sig, tc.req); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ix.Items != tc.items {
				t.Fatalf("Items = %d, want %d", ix.Items, tc.items)
			}
			m := newRequest(tc.sig)
			if err := proto.Unmarshal(tc.req, m); err != nil {
				t.Fatalf("generated decoder rejects the case: %v", err)
			}
			if n := countGenerated(m); n != tc.items {
				t.Fatalf("generated decoder counts %d, want %d", n, tc.items)
			}
		})
	}
}

type malformedCase struct {
	name   string
	sig    Signal
	req    []byte
	path   string
	reason string
}

// malformedCases are invalid requests with the error each must produce;
// FuzzParse seeds its corpus from them too.
func malformedCases(t testing.TB) []malformedCase {
	traces := func(edit func(*coltrace.ExportTraceServiceRequest)) []byte {
		r := makeTraces(3, 2, 6, 2)
		edit(r)
		return mustMarshal(t, r)
	}
	valid := mustMarshal(t, makeTraces(1, 1, 2, 1))
	deepPath := "resource_spans[0].scope_spans[0].spans[0].attributes[0].value" + strings.Repeat(".array_value.values[0]", MaxAnyValueDepth)
	bigTag := protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.VarintType)
	bigTag[len(bigTag)-1]++ // field number 2^29
	return []malformedCase{
		{"trace_id length 7", Traces, traces(func(r *coltrace.ExportTraceServiceRequest) {
			r.ResourceSpans[2].ScopeSpans[0].Spans[5].TraceId = id(7, 0)
		}), "resource_spans[2].scope_spans[0].spans[5].trace_id", "length 7, want 16"},
		{"span_id length 3", Traces, traces(func(r *coltrace.ExportTraceServiceRequest) {
			r.ResourceSpans[0].ScopeSpans[1].Spans[2].SpanId = id(3, 0)
		}), "resource_spans[0].scope_spans[1].spans[2].span_id", "length 3, want 8"},
		{"parent_span_id length 9", Traces, traces(func(r *coltrace.ExportTraceServiceRequest) {
			r.ResourceSpans[1].ScopeSpans[0].Spans[0].ParentSpanId = id(9, 0)
		}), "resource_spans[1].scope_spans[0].spans[0].parent_span_id", "length 9, want 8"},
		{"link trace_id length 15", Traces, traces(func(r *coltrace.ExportTraceServiceRequest) {
			sp := r.ResourceSpans[0].ScopeSpans[0].Spans[3]
			sp.Links = append(sp.Links, &tracepb.Span_Link{TraceId: id(15, 0)})
		}), "resource_spans[0].scope_spans[0].spans[3].links[1].trace_id", "length 15, want 16"},
		{"log trace_id length 1", Logs, mustMarshal(t, &collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}, {TraceId: []byte{1}}}}}}}}),
			"resource_logs[0].scope_logs[0].log_records[1].trace_id", "length 1, want 16"},
		{"exemplar span_id length 4", Metrics, wrap(fld(5, fld(1, fld(5, fld(4, id(4, 0)))))),
			"resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[0].span_id", "length 4, want 8"},
		{"truncated request", Traces, valid[:len(valid)-1], "resource_spans[0]", "exceeds"},
		{"truncated inside span", Traces, wrap(raw(varintField(6, 1), []byte{0x2a, 0x05, 'a'})), "resource_spans[0].scope_spans[0].spans[0].name", "length 5 exceeds the 1 bytes left"},
		{"span name as varint", Traces, wrap(varintField(5, 3)), "resource_spans[0].scope_spans[0].spans[0].name", "wire type varint, want length-delimited"},
		{"resource entry as varint", Metrics, raw(fld(1), varintField(1, 5)), "resource_metrics[1]", "wire type varint"},
		{"scope entry as fixed32", Logs, fld(1, protowire.AppendFixed32(protowire.AppendTag(nil, 2, protowire.Fixed32Type), 0)), "resource_logs[0].scope_logs[0]", "wire type fixed32"},
		{"attribute key as varint", Traces, wrap(fld(9, varintField(1, 1))), "resource_spans[0].scope_spans[0].spans[0].attributes[0].key", "wire type varint"},
		{"kind as bytes", Traces, wrap(fld(6, []byte{1})), "resource_spans[0].scope_spans[0].spans[0].kind", "want varint"},
		{"field number 0", Traces, []byte{0x02, 0x00}, "", "field number 0"},
		{"field number 2^29", Logs, bigTag, "", "out of range"},
		{"truncated tag", Traces, []byte{0x80}, "", "tag: truncated varint"},
		{"varint overflow", Traces, wrap(raw([]byte{0x30}, bytes.Repeat([]byte{0xff}, 10), []byte{0x01})), "resource_spans[0].scope_spans[0].spans[0].kind", "overflows 64 bits"},
		{"truncated fixed64", Traces, wrap([]byte{0x39, 1, 2, 3}), "resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano", "truncated fixed64"},
		{"truncated fixed32", Traces, wrap([]byte{0x85, 0x01, 1}), "resource_spans[0].scope_spans[0].spans[0].flags", "truncated fixed32"},
		{"anyvalue too deep", Traces, wrap(mustMarshal(t, &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("deep", nestedArray(MaxAnyValueDepth+1))}})), deepPath, "nested deeper than 64"},
		{"log body too deep", Logs, wrap(mustMarshal(t, &logspb.LogRecord{Body: nestedKvlist(10000)})),
			"resource_logs[0].scope_logs[0].log_records[0].body" + strings.Repeat(".kvlist_value.values[0].value", MaxAnyValueDepth), "nested deeper than 64"},
		{"packed fixed64 length 7", Metrics, wrap(fld(9, fld(1, fld(6, id(7, 0))))),
			"resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].bucket_counts[0]", "not a multiple of 8"},
		{"packed varint truncated", Metrics, wrap(fld(10, fld(1, fld(8, fld(2, []byte{0x01, 0x80}))))),
			"resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0].positive.bucket_counts[0]", "truncated varint"},
		{"bucket_counts as fixed32", Metrics, wrap(fld(9, fld(1, protowire.AppendFixed32(protowire.AppendTag(nil, 6, protowire.Fixed32Type), 0)))),
			"resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].bucket_counts[0]", "want fixed64 or length-delimited"},
		{"gauge and sum in one metric", Metrics, wrap(raw(fld(5), fld(7))), "resource_metrics[0].scope_metrics[0].metrics[0].sum", "second data field (gauge already set)"},
		{"temporality as bytes", Metrics, wrap(fld(7, fld(2))), "resource_metrics[0].scope_metrics[0].metrics[0].sum.aggregation_temporality", "want varint"},
		{"two resources in one entry", Traces, fld(1, fld(1), fld(1)), "resource_spans[0].resource", "repeated, want at most one"},
		{"two scopes in one entry", Logs, fld(1, fld(2, fld(1), fld(1))), "resource_logs[0].scope_logs[0].scope", "repeated, want at most one"},
		{"stray end group", Traces, fld(1, protowire.AppendTag(nil, 100, protowire.EndGroupType)), "resource_spans[0]", "unknown field 100 (end-group)"},
		{"unterminated group", Traces, protowire.AppendTag(nil, 100, protowire.StartGroupType), "", "unknown field 100 (start-group)"},
		{"reserved wire type", Metrics, fld(1, fld(2, protowire.AppendTag(nil, 20, 6))), "resource_metrics[0].scope_metrics[0]", "reserved 6"},
		{"bad status", Traces, wrap(fld(15, varintField(2, 1))), "resource_spans[0].scope_spans[0].spans[0].status.message", "wire type varint"},
		{"bad event attribute", Traces, wrap(raw(fld(11), fld(11, fld(3), fld(3, fld(2, []byte{0x18}))))), "resource_spans[0].scope_spans[0].spans[0].events[1].attributes[1].value.int_value", "truncated varint"},
		{"bad entity ref", Logs, fld(1, fld(1, fld(3, varintField(3, 1)))), "resource_logs[0].resource.entity_refs[0].id_keys[0]", "wire type varint"},
		{"bad metric metadata", Metrics, wrap(raw(fld(12), fld(12, []byte{0x0a, 0x05}))), "resource_metrics[0].scope_metrics[0].metrics[0].metadata[1].key", "exceeds"},
		{"bad scope attribute", Traces, fld(1, fld(2, fld(1, fld(3, fld(2, fld(5, fld(1, varintField(4, 1)))))))), "resource_spans[0].scope_spans[0].scope.attributes[0].value.array_value.values[0].double_value", "want fixed64"},
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, tc := range malformedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var ix Index
			err := ix.Parse(tc.sig, tc.req)
			var we *WireError
			if !errors.As(err, &we) {
				t.Fatalf("Parse = %v, want a *WireError", err)
			}
			if we.Path != tc.path || !strings.Contains(we.Reason, tc.reason) {
				t.Fatalf("got path %q reason %q\nwant path %q reason ~%q", we.Path, we.Reason, tc.path, tc.reason)
			}
			if we.Signal != tc.sig || we.Offset < 0 || we.Offset > len(tc.req) {
				t.Fatalf("signal %s offset %d", we.Signal, we.Offset)
			}
			if !strings.Contains(err.Error(), we.Path) || !strings.Contains(err.Error(), tc.sig.String()) {
				t.Fatalf("Error() = %q lacks path or signal", err)
			}
			_, cerr := CountItems(tc.sig, tc.req)
			if cerr == nil || cerr.Error() != err.Error() {
				t.Fatalf("CountItems error %v differs from Parse error %v", cerr, err)
			}
		})
	}
}

func TestParseUnknownSignal(t *testing.T) {
	var ix Index
	var we *WireError
	if err := ix.Parse(NumSignals, nil); !errors.As(err, &we) {
		t.Fatalf("Parse with an unknown signal = %v", err)
	}
}

func TestParseZeroAllocs(t *testing.T) {
	for _, s := range samples() {
		req := mustMarshal(t, s.msg)
		var ix Index
		if err := ix.Parse(s.sig, req); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(20, func() { _ = ix.Parse(s.sig, req) }); a != 0 {
			t.Errorf("%s: Parse with a reused Index allocates %.1f times", s.name, a)
		}
		if a := testing.AllocsPerRun(20, func() { _, _ = CountItems(s.sig, req) }); a != 0 {
			t.Errorf("%s: CountItems allocates %.1f times", s.name, a)
		}
	}
}

// TestAttrRangesWhenResourceAndScopeComeLast: protobuf allows fields in any
// order; a resource (or scope) encoded after its scopes (or spans) must
// still own only its own attributes.
func TestAttrRangesWhenResourceAndScopeComeLast(t *testing.T) {
	kv := func(field int, k string) []byte { return fld(field, fld(1, []byte(k)), fld(2, fld(1, []byte("v")))) }
	span := fld(2, fld(1, id(16, 1)), fld(2, id(8, 1)), kv(9, "s"))
	scope := fld(1, kv(3, "sk"))
	resource := fld(1, kv(1, "rk"))
	// ResourceSpans{scope_spans{spans, scope}, resource}
	req := fld(1, fld(2, span, scope), resource)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	key := func(a Attr) string { return string(req[a.KeyOff:a.KeyEnd]) }
	r, s := ix.Resources[0], ix.Scopes[0]
	if r.AttrEnd-r.AttrStart != 1 || key(ix.Attrs[r.AttrStart]) != "rk" {
		t.Errorf("resource owns attrs %d..%d, want only rk", r.AttrStart, r.AttrEnd)
	}
	if s.AttrEnd-s.AttrStart != 1 || key(ix.Attrs[s.AttrStart]) != "sk" {
		t.Errorf("scope owns attrs %d..%d, want only sk", s.AttrStart, s.AttrEnd)
	}
}

package otlpwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Every expected result is built with the generated types from the same
// source message, and the applied output is decoded with proto.Unmarshal,
// so the applier is checked against the reference codec, not itself.

func encodeEdits(eds ...Edit) []byte {
	var b []byte
	for _, e := range eds {
		b = AppendEdit(b, e)
	}
	return b
}

// anyBody encodes v as the body of an AnyValue, SET_ATTR's b.
func anyBody(t testing.TB, v *commonpb.AnyValue) []byte {
	t.Helper()
	b, err := proto.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func intVal(v int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}
}

func bytesVal(v []byte) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: v}}
}

func u64le(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func del[T any](s []T, i int) []T { return append(s[:i:i], s[i+1:]...) }

// applyChecked runs Decode and Apply on msg and checks what every output
// must satisfy: Parse accepts it and its item count is before - dropped.
// It returns the output decoded with the generated types.
func applyChecked(t *testing.T, sig Signal, req []byte, ix *Index, eds []Edit) (proto.Message, int) {
	t.Helper()
	var e Edits
	if err := e.Decode(encodeEdits(eds...), ix); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	out, dropped, err := Apply(ix, req, &e, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var oix Index
	if err := oix.Parse(sig, out); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if oix.Items != ix.Items-dropped {
		t.Fatalf("output has %d items, want %d - %d dropped", oix.Items, ix.Items, dropped)
	}
	got := newRequest(sig)
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatalf("output does not unmarshal: %v", err)
	}
	return got, dropped
}

// finder looks targets up in a parsed request by what they hold.
type finder struct {
	t   *testing.T
	ix  *Index
	req []byte
}

// item finds the span or log record whose name (event_name) is name.
func (f finder) item(name string) uint32 {
	f.t.Helper()
	for i, it := range f.ix.ItemsAt {
		if string(f.req[it.NameOff:it.NameEnd]) == name {
			return uint32(i)
		}
	}
	f.t.Fatalf("no item named %q", name)
	return 0
}

// attr finds the attribute key of the owner/parent.
func (f finder) attr(owner AttrOwner, parent uint32, key string) uint32 {
	f.t.Helper()
	for i, a := range f.ix.Attrs {
		if a.Owner == owner && a.Parent == int32(parent) && string(f.req[a.KeyOff:a.KeyEnd]) == key {
			return uint32(i)
		}
	}
	f.t.Fatalf("no attribute %q on owner %d/%d", key, owner, parent)
	return 0
}

// point is the item index of data point p of metric m.
func (f finder) point(m, p int) uint32 { return uint32(int(f.ix.Metrics[m].ItemStart) + p) }

type editCase struct {
	name    string
	sig     Signal
	msg     func() proto.Message
	edits   func(f finder) []Edit
	want    func(m proto.Message) // turns a clone of msg() into the expected result
	dropped int
}

func runEditCases(t *testing.T, cases []editCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.msg()
			req := mustMarshal(t, src)
			var ix Index
			if err := ix.Parse(tc.sig, req); err != nil {
				t.Fatal(err)
			}
			got, dropped := applyChecked(t, tc.sig, req, &ix, tc.edits(finder{t, &ix, req}))
			want := proto.Clone(src)
			tc.want(want)
			if !proto.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
			}
			if dropped != tc.dropped {
				t.Fatalf("dropped %d, want %d", dropped, tc.dropped)
			}
		})
	}
}

func tr(m proto.Message) *coltrace.ExportTraceServiceRequest {
	return m.(*coltrace.ExportTraceServiceRequest)
}
func lg(m proto.Message) *collogs.ExportLogsServiceRequest {
	return m.(*collogs.ExportLogsServiceRequest)
}
func mt(m proto.Message) *colmetrics.ExportMetricsServiceRequest {
	return m.(*colmetrics.ExportMetricsServiceRequest)
}

func span(m proto.Message, r, s, k int) *tracepb.Span {
	return tr(m).ResourceSpans[r].ScopeSpans[s].Spans[k]
}

// spanName is the name makeTraces gives span k of scope s of resource r.
func spanName(r, s, k int) string { return fmt.Sprintf("span-%d", r*1000+s*100+k) }

func traces() proto.Message { return makeTraces(2, 2, 3, 4) }

func TestApplyTraces(t *testing.T) {
	utf := func() proto.Message {
		m := makeTraces(1, 1, 1, 0)
		sp := span(m, 0, 0, 0)
		sp.Attributes = []*commonpb.KeyValue{kv("u", str("é€😀")), kv("b", bytesVal([]byte{0, 1, 2, 0xff})), kv("i", intVal(7))}
		sp.EndTimeUnixNano = 0
		return m
	}
	bare := func() proto.Message { // no Resource, no InstrumentationScope
		return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "only"}}}},
		}}}
	}
	cases := []editCase{
		{
			name: "drop one span", sig: Traces, msg: traces, dropped: 1,
			edits: func(f finder) []Edit {
				return []Edit{{Op: OpDropItem, Target: f.item(spanName(0, 0, 1)), A: []byte("noise")}}
			},
			want: func(m proto.Message) {
				ss := tr(m).ResourceSpans[0].ScopeSpans[0]
				ss.Spans = del(ss.Spans, 1)
			},
		},
		{
			name: "the same span dropped twice counts once", sig: Traces, msg: traces, dropped: 1,
			edits: func(f finder) []Edit {
				i := f.item(spanName(1, 1, 2))
				return []Edit{{Op: OpDropItem, Target: i}, {Op: OpDropItem, Target: i, A: []byte("again")}}
			},
			want: func(m proto.Message) {
				ss := tr(m).ResourceSpans[1].ScopeSpans[1]
				ss.Spans = del(ss.Spans, 2)
			},
		},
		{
			name: "a scope left with no spans is removed", sig: Traces, msg: traces, dropped: 3,
			edits: func(f finder) []Edit {
				var eds []Edit
				for k := range 3 {
					eds = append(eds, Edit{Op: OpDropItem, Target: f.item(spanName(0, 1, k))})
				}
				return eds
			},
			want: func(m proto.Message) {
				rs := tr(m).ResourceSpans[0]
				rs.ScopeSpans = del(rs.ScopeSpans, 1)
			},
		},
		{
			name: "a resource left with no scopes is removed", sig: Traces, msg: traces, dropped: 6,
			edits: func(f finder) []Edit {
				var eds []Edit
				for s := range 2 {
					for k := range 3 {
						eds = append(eds, Edit{Op: OpDropItem, Target: f.item(spanName(1, s, k))})
					}
				}
				return eds
			},
			want: func(m proto.Message) { tr(m).ResourceSpans = tr(m).ResourceSpans[:1] },
		},
		{
			name: "dropping every span leaves an empty request", sig: Traces, msg: traces, dropped: 12,
			edits: func(f finder) []Edit {
				var eds []Edit
				for i := range f.ix.ItemsAt {
					eds = append(eds, Edit{Op: OpDropItem, Target: uint32(i)})
				}
				return eds
			},
			want: func(m proto.Message) { tr(m).ResourceSpans = nil },
		},
		{
			name: "delete span, scope and resource attributes", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpDeleteAttr, Target: f.attr(OwnerItem, f.item(spanName(0, 0, 0)), "span.attr1")},
					{Op: OpDeleteAttr, Target: f.attr(OwnerResource, 1, "service.name")},
					{Op: OpDeleteAttr, Target: f.attr(OwnerScope, 1, "scope.attr0")},
				}
			},
			want: func(m proto.Message) {
				sp := span(m, 0, 0, 0)
				sp.Attributes = del(sp.Attributes, 1)
				res := tr(m).ResourceSpans[1].Resource
				res.Attributes = del(res.Attributes, 0)
				tr(m).ResourceSpans[0].ScopeSpans[1].Scope.Attributes = nil
			},
		},
		{
			name: "set attributes: replace, append, on resource and scope", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				it := f.item(spanName(0, 0, 2))
				return []Edit{
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("span.attr0"), B: anyBody(f.t, intVal(42))},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("new.key"), B: anyBody(f.t, str("abc"))},
					{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("deployment.environment"), B: anyBody(f.t, str("prod"))},
					{Op: OpSetAttr, Owner: 1, Target: 1, A: []byte("service.name"), B: anyBody(f.t, str("renamed-svc"))},
					{Op: OpSetAttr, Owner: 2, Target: 0, A: []byte("scope.new"), B: anyBody(f.t, &commonpb.AnyValue{})},
				}
			},
			want: func(m proto.Message) {
				sp := span(m, 0, 0, 2)
				sp.Attributes[0].Value = intVal(42)
				sp.Attributes = append(sp.Attributes, kv("new.key", str("abc")))
				r0 := tr(m).ResourceSpans[0].Resource
				r0.Attributes = append(r0.Attributes, kv("deployment.environment", str("prod")))
				tr(m).ResourceSpans[1].Resource.Attributes[0].Value = str("renamed-svc")
				sc := tr(m).ResourceSpans[0].ScopeSpans[0].Scope
				sc.Attributes = append(sc.Attributes, kv("scope.new", &commonpb.AnyValue{}))
			},
		},
		{
			name: "set attributes where there is no resource or scope message", sig: Traces, msg: bare,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("service.name"), B: anyBody(f.t, str("x"))},
					{Op: OpSetAttr, Owner: 2, Target: 0, A: []byte("lib"), B: anyBody(f.t, intVal(1))},
				}
			},
			want: func(m proto.Message) {
				rs := tr(m).ResourceSpans[0]
				rs.Resource = &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("x"))}}
				rs.ScopeSpans[0].Scope = &commonpb.InstrumentationScope{Attributes: []*commonpb.KeyValue{kv("lib", intVal(1))}}
			},
		},
		{
			name: "truncate strings, bytes and not others", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				it := f.item(spanName(0, 0, 0))
				return []Edit{
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, it, "span.attr0"), Arg: 3},
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, it, "span.attr2"), Arg: 0}, // int: left alone
					{Op: OpTruncateAttr, Target: f.attr(OwnerResource, 0, "service.name"), Arg: 3},
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, f.item(spanName(1, 0, 0)), "span.attr0"), Arg: 100}, // fits
				}
			},
			want: func(m proto.Message) {
				span(m, 0, 0, 0).Attributes[0].Value = str("val")
				tr(m).ResourceSpans[0].Resource.Attributes[0].Value = str("svc")
			},
		},
		{
			name: "truncate at a UTF-8 boundary", sig: Traces, msg: utf,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "u"), Arg: 4}, // é(2) €(3): 4 falls inside €
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "b"), Arg: 2},
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "i"), Arg: 0},
				}
			},
			want: func(m proto.Message) {
				sp := span(m, 0, 0, 0)
				sp.Attributes[0].Value = str("é")
				sp.Attributes[1].Value = bytesVal([]byte{0, 1})
			},
		},
		{
			name: "truncate to zero inside the first rune", sig: Traces, msg: utf,
			edits: func(f finder) []Edit {
				return []Edit{{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "u"), Arg: 1}}
			},
			want: func(m proto.Message) { span(m, 0, 0, 0).Attributes[0].Value = str("") },
		},
		{
			name: "rename attributes", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpRenameAttr, Target: f.attr(OwnerItem, f.item(spanName(0, 1, 1)), "span.attr3"), A: []byte("renamed")},
					{Op: OpRenameAttr, Target: f.attr(OwnerResource, 1, "res.attr0"), A: []byte("res.renamed")},
				}
			},
			want: func(m proto.Message) {
				span(m, 0, 1, 1).Attributes[3].Key = "renamed"
				tr(m).ResourceSpans[1].Resource.Attributes[1].Key = "res.renamed"
			},
		},
		{
			name: "set span names", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetName, Owner: 3, Target: f.item(spanName(0, 0, 0)), A: []byte("GET /users/{id}")},
					{Op: OpSetName, Owner: 3, Target: f.item(spanName(1, 1, 1)), A: nil},
				}
			},
			want: func(m proto.Message) {
				span(m, 0, 0, 0).Name = "GET /users/{id}"
				span(m, 1, 1, 1).Name = ""
			},
		},
		{
			name: "set span status, replacing one and adding one", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetStatus, Target: f.item(spanName(0, 0, 0)), Arg: 1, A: []byte("fine")},
					{Op: OpSetStatus, Target: f.item(spanName(0, 0, 1)), Arg: 2},
					{Op: OpSetStatus, Target: f.item(spanName(0, 0, 2)), Arg: 0},
				}
			},
			want: func(m proto.Message) {
				span(m, 0, 0, 0).Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK, Message: "fine"}
				span(m, 0, 0, 1).Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
				span(m, 0, 0, 2).Status = &tracepb.Status{}
			},
		},
		{
			name: "set fixed64 fields, replacing one and adding one", sig: Traces, msg: utf,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetFixed64, Target: 0, Arg: 7, A: u64le(11)},
					{Op: OpSetFixed64, Target: 0, Arg: 8, A: u64le(12)},
					{Op: OpSetFixed64, Target: 0, Arg: 7, A: u64le(13)}, // in order: the last wins
				}
			},
			want: func(m proto.Message) {
				sp := span(m, 0, 0, 0)
				sp.StartTimeUnixNano, sp.EndTimeUnixNano = 13, 12
			},
		},
		{
			name: "edits on one target apply in list order", sig: Traces, msg: traces,
			edits: func(f finder) []Edit {
				it := f.item(spanName(0, 1, 2))
				a0 := f.attr(OwnerItem, it, "span.attr0")
				a1 := f.attr(OwnerItem, it, "span.attr1")
				a2 := f.attr(OwnerItem, it, "span.attr2")
				return []Edit{
					// renamed, then found under its new key
					{Op: OpRenameAttr, Target: a0, A: []byte("x")},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("x"), B: anyBody(f.t, intVal(1))},
					// deleted, then set: appended, not resurrected
					{Op: OpDeleteAttr, Target: a1},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("span.attr1"), B: anyBody(f.t, str("back"))},
					// set, then truncated: the new value is cut
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("span.attr2"), B: anyBody(f.t, str("abcdef"))},
					{Op: OpTruncateAttr, Target: a2, Arg: 2},
					// an appended key set twice: once, last value
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("y"), B: anyBody(f.t, str("first"))},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("y"), B: anyBody(f.t, str("second"))},
					// a delete after a delete, and a rename of a deleted one, change nothing more
					{Op: OpDeleteAttr, Target: a1},
					{Op: OpRenameAttr, Target: a1, A: []byte("ghost")},
				}
			},
			want: func(m proto.Message) {
				sp := span(m, 0, 1, 2)
				sp.Attributes[0] = kv("x", intVal(1))
				sp.Attributes[2].Value = str("ab")
				sp.Attributes = del(sp.Attributes, 1)
				sp.Attributes = append(sp.Attributes, kv("span.attr1", str("back")), kv("y", str("second")))
			},
		},
		{
			name: "drop wins over other edits to the item", sig: Traces, msg: traces, dropped: 1,
			edits: func(f finder) []Edit {
				it := f.item(spanName(1, 0, 1))
				return []Edit{
					{Op: OpSetName, Owner: 3, Target: it, A: []byte("renamed")},
					{Op: OpDropItem, Target: it},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("k"), B: anyBody(f.t, str("v"))},
					{Op: OpDeleteAttr, Target: f.attr(OwnerItem, it, "span.attr0")},
					{Op: OpSetName, Owner: 3, Target: f.item(spanName(1, 0, 2)), A: []byte("kept")},
				}
			},
			want: func(m proto.Message) {
				ss := tr(m).ResourceSpans[1].ScopeSpans[0]
				ss.Spans[2].Name = "kept"
				ss.Spans = del(ss.Spans, 1)
			},
		},
		{
			name: "a duplicated key is replaced everywhere", sig: Traces,
			msg: func() proto.Message {
				m := makeTraces(1, 1, 1, 0)
				span(m, 0, 0, 0).Attributes = []*commonpb.KeyValue{kv("password", str("a")), kv("other", str("b")), kv("password", str("c"))}
				return m
			},
			edits: func(f finder) []Edit {
				return []Edit{{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("password"), B: anyBody(f.t, str("***"))}}
			},
			want: func(m proto.Message) {
				a := span(m, 0, 0, 0).Attributes
				a[0].Value, a[2].Value = str("***"), str("***")
			},
		},
	}
	runEditCases(t, cases)
}

func logs() proto.Message {
	m := makeLogs(2, 2, 3, 3)
	// Give every record a distinct event_name so the finder can tell them apart.
	for r, rl := range m.ResourceLogs {
		for s, sl := range rl.ScopeLogs {
			for k, lr := range sl.LogRecords {
				lr.EventName = fmt.Sprintf("ev-%d-%d-%d", r, s, k)
			}
		}
	}
	return m
}

func logRec(m proto.Message, r, s, k int) *logspb.LogRecord {
	return lg(m).ResourceLogs[r].ScopeLogs[s].LogRecords[k]
}

func TestApplyLogs(t *testing.T) {
	name := func(r, s, k int) string { return fmt.Sprintf("ev-%d-%d-%d", r, s, k) }
	cases := []editCase{
		{
			name: "drop records; a scope left empty goes", sig: Logs, msg: logs, dropped: 4,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpDropItem, Target: f.item(name(0, 0, 0))},
					{Op: OpDropItem, Target: f.item(name(1, 1, 0))},
					{Op: OpDropItem, Target: f.item(name(1, 1, 1))},
					{Op: OpDropItem, Target: f.item(name(1, 1, 2))},
				}
			},
			want: func(m proto.Message) {
				sl := lg(m).ResourceLogs[0].ScopeLogs[0]
				sl.LogRecords = del(sl.LogRecords, 0)
				rl := lg(m).ResourceLogs[1]
				rl.ScopeLogs = rl.ScopeLogs[:1]
			},
		},
		{
			name: "set event_name and times", sig: Logs, msg: logs,
			edits: func(f finder) []Edit {
				it := f.item(name(0, 1, 1))
				return []Edit{
					{Op: OpSetName, Owner: 3, Target: it, A: []byte("user.login")},
					{Op: OpSetFixed64, Target: it, Arg: 1, A: u64le(1 << 62)},
					{Op: OpSetFixed64, Target: it, Arg: 11, A: u64le(99)},
				}
			},
			want: func(m proto.Message) {
				lr := logRec(m, 0, 1, 1)
				lr.EventName, lr.TimeUnixNano, lr.ObservedTimeUnixNano = "user.login", 1<<62, 99
			},
		},
		{
			name: "attribute edits", sig: Logs, msg: logs,
			edits: func(f finder) []Edit {
				it := f.item(name(1, 0, 2))
				return []Edit{
					{Op: OpTruncateAttr, Target: f.attr(OwnerItem, it, "log.attr0"), Arg: 5},
					{Op: OpRenameAttr, Target: f.attr(OwnerItem, it, "log.attr1"), A: []byte("flag")},
					{Op: OpDeleteAttr, Target: f.attr(OwnerItem, it, "log.attr2")},
					{Op: OpSetAttr, Owner: 3, Target: it, A: []byte("k"), B: anyBody(f.t, bytesVal([]byte("v")))},
					{Op: OpSetAttr, Owner: 2, Target: 3, A: []byte("scope.attr0"), B: anyBody(f.t, str("s"))},
				}
			},
			want: func(m proto.Message) {
				lr := logRec(m, 1, 0, 2)
				lr.Attributes[0].Value = str("value")
				lr.Attributes[1].Key = "flag"
				lr.Attributes = append(lr.Attributes[:2], kv("k", bytesVal([]byte("v"))))
				lg(m).ResourceLogs[1].ScopeLogs[1].Scope.Attributes[0].Value = str("s")
			},
		},
	}
	runEditCases(t, cases)
}

// Metrics: makeMetrics(1, 2, 2) gives each scope gauge, sum, histogram,
// exphistogram, summary and no-data metrics, two points each; point 1 has
// one attribute, "<prefix>.attr0" = "value-0".
func metrics() proto.Message { return makeMetrics(1, 2, 2) }

var metricTypes = []struct {
	name   string
	prefix string
}{{"gauge", "dp"}, {"sum", "dp"}, {"histogram", "h"}, {"exphistogram", "e"}, {"summary", "s"}}

func metricAt(m proto.Message, s, j int) *metricspb.Metric {
	return mt(m).ResourceMetrics[0].ScopeMetrics[s].Metrics[j]
}

// points gives access to a metric's data points whatever their type.
type points struct{ m *metricspb.Metric }

func (p points) drop(i int) {
	switch d := p.m.Data.(type) {
	case *metricspb.Metric_Gauge:
		d.Gauge.DataPoints = del(d.Gauge.DataPoints, i)
	case *metricspb.Metric_Sum:
		d.Sum.DataPoints = del(d.Sum.DataPoints, i)
	case *metricspb.Metric_Histogram:
		d.Histogram.DataPoints = del(d.Histogram.DataPoints, i)
	case *metricspb.Metric_ExponentialHistogram:
		d.ExponentialHistogram.DataPoints = del(d.ExponentialHistogram.DataPoints, i)
	case *metricspb.Metric_Summary:
		d.Summary.DataPoints = del(d.Summary.DataPoints, i)
	}
}

func (p points) attrs(i int) *[]*commonpb.KeyValue {
	switch d := p.m.Data.(type) {
	case *metricspb.Metric_Gauge:
		return &d.Gauge.DataPoints[i].Attributes
	case *metricspb.Metric_Sum:
		return &d.Sum.DataPoints[i].Attributes
	case *metricspb.Metric_Histogram:
		return &d.Histogram.DataPoints[i].Attributes
	case *metricspb.Metric_ExponentialHistogram:
		return &d.ExponentialHistogram.DataPoints[i].Attributes
	case *metricspb.Metric_Summary:
		return &d.Summary.DataPoints[i].Attributes
	}
	return nil
}

func (p points) setTime(i int, v uint64) {
	switch d := p.m.Data.(type) {
	case *metricspb.Metric_Gauge:
		d.Gauge.DataPoints[i].TimeUnixNano = v
	case *metricspb.Metric_Sum:
		d.Sum.DataPoints[i].TimeUnixNano = v
	case *metricspb.Metric_Histogram:
		d.Histogram.DataPoints[i].TimeUnixNano = v
	case *metricspb.Metric_ExponentialHistogram:
		d.ExponentialHistogram.DataPoints[i].TimeUnixNano = v
	case *metricspb.Metric_Summary:
		d.Summary.DataPoints[i].TimeUnixNano = v
	}
}

func TestApplyMetrics(t *testing.T) {
	var cases []editCase
	for j, typ := range metricTypes {
		mi := 6 + j // scope 1's metric j
		key := typ.prefix + ".attr0"
		cases = append(cases,
			editCase{
				name: typ.name + ": drop a point", sig: Metrics, msg: metrics, dropped: 1,
				edits: func(f finder) []Edit { return []Edit{{Op: OpDropItem, Target: f.point(mi, 0)}} },
				want:  func(m proto.Message) { points{metricAt(m, 1, j)}.drop(0) },
			},
			editCase{
				name: typ.name + ": a metric left with no points is removed", sig: Metrics, msg: metrics, dropped: 2,
				edits: func(f finder) []Edit {
					return []Edit{{Op: OpDropItem, Target: f.point(mi, 1)}, {Op: OpDropItem, Target: f.point(mi, 0)}}
				},
				want: func(m proto.Message) {
					sm := mt(m).ResourceMetrics[0].ScopeMetrics[1]
					sm.Metrics = del(sm.Metrics, j)
				},
			},
			editCase{
				name: typ.name + ": point attributes and time", sig: Metrics, msg: metrics,
				edits: func(f finder) []Edit {
					a := f.attr(OwnerItem, f.point(mi, 1), key)
					return []Edit{
						{Op: OpTruncateAttr, Target: a, Arg: 3},
						{Op: OpRenameAttr, Target: a, A: []byte("short")},
						{Op: OpSetAttr, Owner: 3, Target: f.point(mi, 0), A: []byte("host"), B: anyBody(f.t, str("h1"))},
						{Op: OpSetFixed64, Target: f.point(mi, 0), Arg: 3, A: u64le(777)},
					}
				},
				want: func(m proto.Message) {
					p := points{metricAt(m, 1, j)}
					(*p.attrs(1))[0] = kv("short", str("val"))
					*p.attrs(0) = append(*p.attrs(0), kv("host", str("h1")))
					p.setTime(0, 777)
				},
			},
			editCase{
				name: typ.name + ": delete a point attribute", sig: Metrics, msg: metrics,
				edits: func(f finder) []Edit {
					return []Edit{{Op: OpDeleteAttr, Target: f.attr(OwnerItem, f.point(mi, 1), key)}}
				},
				want: func(m proto.Message) { *points{metricAt(m, 1, j)}.attrs(1) = nil },
			},
		)
	}
	cases = append(cases,
		editCase{
			name: "set metric names", sig: Metrics, msg: metrics,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetName, Owner: 4, Target: 0, A: []byte("gauge.renamed")},
					{Op: OpSetName, Owner: 4, Target: 5, A: []byte("still-no-data")},
					{Op: OpSetName, Owner: 4, Target: 7, A: []byte("sum.renamed")},
					{Op: OpDropItem, Target: f.point(7, 0)}, // renamed and changed inside
				}
			},
			dropped: 1,
			want: func(m proto.Message) {
				metricAt(m, 0, 0).Name = "gauge.renamed"
				metricAt(m, 0, 5).Name = "still-no-data"
				metricAt(m, 1, 1).Name = "sum.renamed"
				points{metricAt(m, 1, 1)}.drop(0)
			},
		},
		editCase{
			name: "a scope left with no points is removed", sig: Metrics, msg: metrics, dropped: 10,
			edits: func(f finder) []Edit {
				var eds []Edit
				for mi := 0; mi < 5; mi++ {
					eds = append(eds, Edit{Op: OpDropItem, Target: f.point(mi, 0)}, Edit{Op: OpDropItem, Target: f.point(mi, 1)})
				}
				return eds
			},
			want: func(m proto.Message) {
				rm := mt(m).ResourceMetrics[0]
				rm.ScopeMetrics = rm.ScopeMetrics[1:]
			},
		},
		editCase{
			name: "dropping every point leaves an empty request", sig: Metrics, msg: metrics, dropped: 20,
			edits: func(f finder) []Edit {
				var eds []Edit
				for i := range f.ix.ItemsAt {
					eds = append(eds, Edit{Op: OpDropItem, Target: uint32(i)})
				}
				return eds
			},
			want: func(m proto.Message) { mt(m).ResourceMetrics = nil },
		},
		editCase{
			name: "number value oneof: setting one member clears the other", sig: Metrics, msg: metrics,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetFixed64, Target: f.point(0, 0), Arg: 4, A: u64le(math.Float64bits(2.5))}, // was as_int
					{Op: OpSetFixed64, Target: f.point(1, 1), Arg: 6, A: u64le(uint64(1<<64 - 3))},     // was as_double: -3
				}
			},
			want: func(m proto.Message) {
				metricAt(m, 0, 0).GetGauge().DataPoints[0].Value = &metricspb.NumberDataPoint_AsDouble{AsDouble: 2.5}
				metricAt(m, 0, 1).GetSum().DataPoints[1].Value = &metricspb.NumberDataPoint_AsInt{AsInt: -3}
			},
		},
		editCase{
			name: "histogram sum and exponential zero_threshold", sig: Metrics, msg: metrics,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetFixed64, Target: f.point(2, 1), Arg: 5, A: u64le(math.Float64bits(99.5))},
					{Op: OpSetFixed64, Target: f.point(3, 0), Arg: 14, A: u64le(math.Float64bits(0.5))},
				}
			},
			want: func(m proto.Message) {
				s := 99.5
				metricAt(m, 0, 2).GetHistogram().DataPoints[1].Sum = &s
				metricAt(m, 0, 3).GetExponentialHistogram().DataPoints[0].ZeroThreshold = 0.5
			},
		},
		editCase{
			name: "resource attributes on metrics", sig: Metrics, msg: metrics,
			edits: func(f finder) []Edit {
				return []Edit{{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("service.name"), B: anyBody(f.t, str("m"))}}
			},
			want: func(m proto.Message) { mt(m).ResourceMetrics[0].Resource.Attributes[0].Value = str("m") },
		},
	)
	runEditCases(t, cases)
}

// TestApplyLengthPrefixes makes every enclosing length prefix change size:
// growing across 128 bytes and shrinking from three bytes to one.
func TestApplyLengthPrefixes(t *testing.T) {
	small := func() proto.Message {
		return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("a", str("b"))}},
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "s", Attributes: []*commonpb.KeyValue{kv("k", str("v"))}}}}},
		}}}
	}
	big := strings.Repeat("x", 20000)
	runEditCases(t, []editCase{
		{
			name: "grow past 128 and 16384 bytes", sig: Traces, msg: small,
			edits: func(f finder) []Edit {
				return []Edit{
					{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("k"), B: anyBody(f.t, str(big))},
					{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("long"), B: anyBody(f.t, str(big[:200]))},
				}
			},
			want: func(m proto.Message) {
				span(m, 0, 0, 0).Attributes[0].Value = str(big)
				r := tr(m).ResourceSpans[0].Resource
				r.Attributes = append(r.Attributes, kv("long", str(big[:200])))
			},
		},
		{
			name: "shrink from three-byte to two-byte prefixes", sig: Traces, msg: func() proto.Message { return benchSpans(1, 100) },
			dropped: 99,
			edits: func(f finder) []Edit {
				var eds []Edit
				for i := 1; i < 100; i++ {
					eds = append(eds, Edit{Op: OpDropItem, Target: uint32(i)})
				}
				return eds
			},
			want: func(m proto.Message) {
				ss := tr(m).ResourceSpans[0].ScopeSpans[0]
				ss.Spans = ss.Spans[:1]
			},
		},
	})
}

// TestApplyCopiesUntouchedBytes checks that what no edit touches comes out
// byte for byte, unknown fields included.
func TestApplyCopiesUntouchedBytes(t *testing.T) {
	src := makeTraces(3, 1, 2, 2)
	req := mustMarshal(t, src)
	// An unknown top-level field between the first two resources must
	// survive where it is.
	unknown := varintField(9, 7)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	cut := ix.Resources[1].Off
	req = raw(req[:cut], unknown, req[cut:])
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	var e Edits
	if err := e.Decode(nil, &ix); err != nil {
		t.Fatal(err)
	}
	out, dropped, err := Apply(&ix, req, &e, nil)
	if err != nil || dropped != 0 || !bytes.Equal(out, req) {
		t.Fatalf("no edits: output differs from input (err %v, dropped %d)", err, dropped)
	}

	// One edit in the last resource: everything before it is a plain copy.
	last := ix.Resources[2]
	a := finder{t, &ix, req}.attr(OwnerItem, uint32(ix.Scopes[last.ScopeStart].ItemStart), "span.attr1")
	if err := e.Decode(encodeEdits(Edit{Op: OpDeleteAttr, Target: a}), &ix); err != nil {
		t.Fatal(err)
	}
	out, _, err = Apply(&ix, req, &e, out[:0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:last.Off], req[:last.Off]) {
		t.Fatal("bytes before the edited resource changed")
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if u := got.ResourceSpans[0].ProtoReflect().GetUnknown(); len(u) != 0 {
		// The unknown top-level field sits between entries, so the decoder
		// files it on the request, not the first resource.
		t.Fatalf("unknown field landed in the first resource: % x", u)
	}
	if u := got.ProtoReflect().GetUnknown(); !bytes.Equal(u, unknown) {
		t.Fatalf("unknown top-level field is % x, want % x", u, unknown)
	}
}

// TestABIWorkedExample runs sdk/ABI.md §4's example byte for byte.
func TestABIWorkedExample(t *testing.T) {
	src := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			Name:       "login",
			Attributes: []*commonpb.KeyValue{kv("password", str("hunter2")), kv("user", str("bob"))},
		}}}},
	}}}
	req := mustMarshal(t, src)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	list := raw(
		[]byte{0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		[]byte{0x06, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0},
		[]byte("redacted"),
	)
	// The two records are 20 and 28 bytes: 48 in all.
	if len(list) != 48 {
		t.Fatalf("list is %d bytes", len(list))
	}
	if !bytes.Equal(list, encodeEdits(Edit{Op: OpDeleteAttr}, Edit{Op: OpSetName, Owner: 3, A: []byte("redacted")})) {
		t.Fatal("AppendEdit disagrees with the ABI's example")
	}
	var e Edits
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	out, _, err := Apply(&ix, req, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	sp := src.ResourceSpans[0].ScopeSpans[0].Spans[0]
	sp.Name, sp.Attributes = "redacted", sp.Attributes[1:]
	if !proto.Equal(got, src) {
		t.Fatalf("got %s", prototext.Format(got))
	}
}

func TestItemFieldNumbers(t *testing.T) {
	for _, m := range []msgID{mSpan, mLogRecord, mNumberDP, mHistogramDP, mExpHistogramDP, mSummaryDP} {
		for num, f := range schemas[m] {
			if (f.kind == fkAttr) != (num == int(itemAttrField[m])) {
				t.Errorf("%s: field %d (%s) kind %d, itemAttrField says %d", msgNames[m], num, f.name, f.kind, itemAttrField[m])
			}
			if (f.kind == fkName) != (num == int(itemNameField[m]) && num != 0) {
				t.Errorf("%s: field %d (%s) kind %d, itemNameField says %d", msgNames[m], num, f.name, f.kind, itemNameField[m])
			}
		}
	}
	if f := schemas[mSpan][spanStatusField]; f.name != "status" {
		t.Errorf("span field %d is %q", spanStatusField, f.name)
	}
	if a, b := schemas[mNumberDP][numberAsDouble].name, schemas[mNumberDP][numberAsInt].name; a != "as_double" || b != "as_int" {
		t.Errorf("number data point fields %q %q", a, b)
	}
}

func TestDecodeRejects(t *testing.T) {
	tix, _ := parsed(t, Traces, makeTraces(1, 1, 2, 2))
	mix, _ := parsed(t, Metrics, makeMetrics(1, 1, 1))
	lix, _ := parsed(t, Logs, makeLogs(1, 1, 1, 1))
	good := Edit{Op: OpDeleteAttr}
	header := func(op, owner byte, reserved uint16, target, arg, la, lb uint32) []byte {
		b := []byte{op, owner}
		b = binary.LittleEndian.AppendUint16(b, reserved)
		for _, v := range []uint32{target, arg, la, lb} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	cases := []struct {
		name   string
		ix     *Index
		list   []byte
		record int
		reason string
	}{
		{"header cut short", tix, raw(encodeEdits(good), make([]byte, 8)), 1, "a record header needs 20"},
		{"reserved set", tix, header(2, 0, 1, 0, 0, 0, 0), 0, "reserved field is 1"},
		{"a and b past the end", tix, raw(header(1, 0, 0, 0, 0, 4, 1), []byte("abcd")), 0, "runs past the list's end"},
		{"length overflow", tix, header(1, 0, 0, 0, 0, math.MaxUint32, math.MaxUint32), 0, "runs past the list's end"},
		{"padding missing", tix, raw(header(1, 0, 0, 0, 0, 3, 0), []byte("abc")), 0, "runs past the list's end"},
		{"padding not zero", tix, raw(header(1, 0, 0, 0, 0, 3, 0), []byte("abcX")), 0, "padding is not zero"},
		{"op 0", tix, header(0, 0, 0, 0, 0, 0, 0), 0, "unknown op 0"},
		{"op 24", tix, raw(encodeEdits(good), header(24, 0, 0, 0, 0, 0, 0)), 1, "unknown op 24"},
		{"DROP_MATCH without conditions", tix, header(18, 0, 0, 0, 0, 0, 0), 0, "no conditions"},
		{"DROP_NAMED without a name", tix, raw(encodeEdits(good), header(13, 0, 0, 0, 0, 0, 0)), 1, "empty name"},
		{"DELETE_KEY without an owner mask", tix, raw(encodeEdits(good), header(11, 0, 0, 0, 0, 0, 0)), 1, "owner mask 0"},
		{"TRUNCATE_VALUES with mask 8", tix, raw(encodeEdits(good), header(12, 8, 0, 0, 0, 0, 0)), 1, "owner mask 8"},
		{"drop: item out of range", tix, encodeEdits(Edit{Op: OpDropItem, Target: 2}), 0, "target 2 out of range (2 items)"},
		{"drop: owner set", tix, encodeEdits(Edit{Op: OpDropItem, Owner: 3}), 0, "owner 3, want 0"},
		{"drop: arg set", tix, encodeEdits(Edit{Op: OpDropItem, Arg: 1}), 0, "unused target/arg is 1"},
		{"drop: reason not UTF-8", tix, encodeEdits(Edit{Op: OpDropItem, A: []byte{0xff}}), 0, "reason is not valid UTF-8"},
		{"delete: attr out of range", tix, encodeEdits(Edit{Op: OpDeleteAttr, Target: uint32(len(tix.Attrs))}), 0, "out of range"},
		{"delete: b set", tix, encodeEdits(Edit{Op: OpDeleteAttr, B: []byte{1}}), 0, "unused b has 1 bytes"},
		{"truncate: a set", tix, encodeEdits(Edit{Op: OpTruncateAttr, A: []byte{1}}), 0, "unused a has 1 bytes"},
		{"rename: empty key", tix, encodeEdits(Edit{Op: OpRenameAttr}), 0, "key is empty"},
		{"rename: key not UTF-8", tix, encodeEdits(Edit{Op: OpRenameAttr, A: []byte{0xc3}}), 0, "key is not valid UTF-8"},
		{"set attr: owner 0", tix, encodeEdits(Edit{Op: OpSetAttr, A: []byte("k")}), 0, "owner 0, want 1"},
		{"set attr: owner 4", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 4, A: []byte("k")}), 0, "owner 4, want 1"},
		{"set attr: resource out of range", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 1, Target: 1, A: []byte("k")}), 0, "(1 resources)"},
		{"set attr: scope out of range", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 2, Target: 1, A: []byte("k")}), 0, "(1 scopes)"},
		{"set attr: empty key", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 3}), 0, "key is empty"},
		{"set attr: bad value", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 3, A: []byte("k"), B: []byte{0x0a, 5, 'a'}}), 0, "not a valid AnyValue body"},
		{"set attr: value too deep", tix, encodeEdits(Edit{Op: OpSetAttr, Owner: 3, A: []byte("k"), B: deepArray(MaxAnyValueDepth)}), 0, "nested deeper"},
		{"set name: owner 3 on metrics", mix, encodeEdits(Edit{Op: OpSetName, Owner: 3}), 0, "name the metric (owner 4)"},
		{"set name: owner 4 on traces", tix, encodeEdits(Edit{Op: OpSetName, Owner: 4}), 0, "owner 4 (metric) on traces"},
		{"set name: metric out of range", mix, encodeEdits(Edit{Op: OpSetName, Owner: 4, Target: 6}), 0, "(6 metrics)"},
		{"set name: owner 0", tix, encodeEdits(Edit{Op: OpSetName}), 0, "owner 0, want 3"},
		{"set name: not UTF-8", lix, encodeEdits(Edit{Op: OpSetName, Owner: 3, A: []byte{0xff}}), 0, "name is not valid UTF-8"},
		{"set status: on logs", lix, encodeEdits(Edit{Op: OpSetStatus}), 0, "batch is logs"},
		{"set status: code 3", tix, encodeEdits(Edit{Op: OpSetStatus, Arg: 3}), 0, "status code 3"},
		{"set fixed64: 7 bytes", tix, encodeEdits(Edit{Op: OpSetFixed64, Arg: 7, A: make([]byte, 7)}), 0, "value is 7 bytes"},
		{"set fixed64: name field", tix, encodeEdits(Edit{Op: OpSetFixed64, Arg: 5, A: make([]byte, 8)}), 0, "field 5 is not a fixed64 field of Span"},
		{"set fixed64: flags (fixed32)", tix, encodeEdits(Edit{Op: OpSetFixed64, Arg: 16, A: make([]byte, 8)}), 0, "field 16 is not"},
		{"set fixed64: bucket_counts (repeated)", mix, encodeEdits(Edit{Op: OpSetFixed64, Target: 2, Arg: 6, A: make([]byte, 8)}), 0, "of HistogramDataPoint"},
		{"set fixed64: huge field", tix, encodeEdits(Edit{Op: OpSetFixed64, Arg: 1 << 31, A: make([]byte, 8)}), 0, "is not a fixed64"},
		{"reject after an edit", tix, encodeEdits(good, Edit{Op: OpReject}), 1, "REJECT must be the only record"},
		{"an edit after reject", tix, encodeEdits(Edit{Op: OpReject, A: []byte("no")}, good), 1, "REJECT must be the only record"},
		{"replace after an edit", tix, encodeEdits(good, Edit{Op: OpReplace}), 1, "REPLACE must be the only record"},
		{"reject with a target", tix, encodeEdits(Edit{Op: OpReject, Target: 1}), 0, "unused target/arg is 1"},
		{"replace: not a request", tix, encodeEdits(Edit{Op: OpReplace, A: []byte{0x0a, 9}}), 0, "replacement: otlp traces"},
		{"replace: wrong signal", tix, encodeEdits(Edit{Op: OpReplace, A: mustMarshal(t, makeLogs(1, 1, 1, 0))}), 0, "replacement"},
	}
	var e Edits
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decode(tc.list, tc.ix)
			var ee *EditError
			if !errors.As(err, &ee) {
				t.Fatalf("Decode = %v, want an *EditError", err)
			}
			if ee.Record != tc.record || !strings.Contains(ee.Reason, tc.reason) {
				t.Fatalf("record %d %q, want record %d containing %q", ee.Record, ee.Reason, tc.record, tc.reason)
			}
		})
	}
}

// deepArray is an AnyValue body nesting arrays depth levels below it.
func deepArray(depth int) []byte {
	b := []byte{}
	for range depth {
		b = fld(5, fld(1, b))
	}
	return b
}

func parsed(t testing.TB, sig Signal, m proto.Message) (*Index, []byte) {
	t.Helper()
	req := mustMarshal(t, m)
	ix := &Index{}
	if err := ix.Parse(sig, req); err != nil {
		t.Fatal(err)
	}
	return ix, req
}

func TestDecodeLimits(t *testing.T) {
	ix, _ := parsed(t, Traces, makeTraces(1, 1, 1, 1))
	var e Edits
	err := e.Decode(make([]byte, MaxEditListSize+4), ix)
	var ee *EditError
	if !errors.As(err, &ee) || ee.Record != -1 || !strings.Contains(err.Error(), "exceeds the 67108864-byte limit") {
		t.Fatalf("oversized list: %v", err)
	}
	rec := encodeEdits(Edit{Op: OpDeleteAttr})
	list := bytes.Repeat(rec, MaxEditRecords)
	if err := e.Decode(list, ix); err != nil || len(e.List) != MaxEditRecords {
		t.Fatalf("%d records: %v", MaxEditRecords, err)
	}
	err = e.Decode(append(list, rec...), ix)
	if !errors.As(err, &ee) || ee.Record != MaxEditRecords || !strings.Contains(ee.Reason, "more than 1000000 records") {
		t.Fatalf("one record too many: %v", err)
	}
	if want := fmt.Sprintf("edit list: record 1000000 (byte %d): more than 1000000 records", len(list)); err.Error() != want {
		t.Fatalf("error text %q, want %q", err, want)
	}

	// Bulk edits are bounded apart, per list: each walks the whole batch.
	bulk := encodeEdits(Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("k")})
	list = bytes.Repeat(bulk, MaxBulkEdits)
	if err := e.Decode(list, ix); err != nil {
		t.Fatalf("%d bulk edits: %v", MaxBulkEdits, err)
	}
	if err := e.DecodeMore(list, ix); err != nil {
		t.Fatalf("%d more in a second list: %v", MaxBulkEdits, err)
	}
	err = e.Decode(append(list, bulk...), ix)
	if !errors.As(err, &ee) || ee.Record != MaxBulkEdits || !strings.Contains(ee.Reason, "more than 1024 bulk edits") {
		t.Fatalf("one bulk edit too many: %v", err)
	}
	// And so are the patterns the host must compile.
	var pats []Edit
	for i := range MaxPatternBytes/1000 + 1 {
		p := fmt.Sprintf("^%04d", i) + strings.Repeat("x", 1000-len(`^0000`)-3)
		pats = append(pats, Edit{Op: OpDropMatch, A: cond1(CondName, p), B: []byte("r")})
	}
	err = e.Decode(encodeEdits(pats...), ix)
	if !errors.As(err, &ee) || ee.Record != MaxPatternBytes/1000 || !strings.Contains(ee.Reason, "patterns exceed 65536 bytes") {
		t.Fatalf("too many pattern bytes: %v", err)
	}
}

func TestEditErrorText(t *testing.T) {
	ix, _ := parsed(t, Traces, makeTraces(1, 1, 1, 1))
	var e Edits
	err := e.Decode(encodeEdits(Edit{Op: OpDeleteAttr}, Edit{Op: OpDeleteAttr}, Edit{Op: OpSetAttr, Owner: 3}), ix)
	if want := "edit list: record 2 (SET_ATTR, byte 40): key is empty"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestDecodeVerdicts(t *testing.T) {
	ix, req := parsed(t, Traces, makeTraces(1, 2, 3, 1))
	var e Edits

	if err := e.Decode(nil, ix); err != nil || e.Verdict != VerdictEdit || len(e.List) != 0 {
		t.Fatalf("empty list: %v, verdict %d, %d edits", err, e.Verdict, len(e.List))
	}

	if err := e.Decode(encodeEdits(Edit{Op: OpDropItem}, Edit{Op: OpDropItem, Target: 1, A: []byte("pii")}, Edit{Op: OpDropItem, Target: 2, A: []byte("later")}), ix); err != nil {
		t.Fatal(err)
	}
	if string(e.DropReason) != "pii" || len(e.List) != 3 {
		t.Fatalf("drop reason %q, %d edits", e.DropReason, len(e.List))
	}

	if err := e.Decode(encodeEdits(Edit{Op: OpReject, A: []byte("quota exceeded")}), ix); err != nil {
		t.Fatal(err)
	}
	if e.Verdict != VerdictReject || string(e.RejectReason) != "quota exceeded" || len(e.List) != 0 {
		t.Fatalf("reject: verdict %d reason %q", e.Verdict, e.RejectReason)
	}
	if _, _, err := Apply(ix, req, &e, nil); err == nil {
		t.Fatal("Apply accepted a REJECT list")
	}

	repl := mustMarshal(t, makeTraces(1, 1, 2, 0))
	if err := e.Decode(encodeEdits(Edit{Op: OpReplace, A: repl}), ix); err != nil {
		t.Fatal(err)
	}
	if e.Verdict != VerdictReplace || !bytes.Equal(e.Replacement, repl) || e.ReplaceItems != 2 {
		t.Fatalf("replace: verdict %d, %d items", e.Verdict, e.ReplaceItems)
	}
	out, dropped, err := Apply(ix, req, &e, []byte("x"))
	if err != nil || !bytes.Equal(out, append([]byte("x"), repl...)) || dropped != 4 {
		t.Fatalf("replace: err %v, dropped %d", err, dropped)
	}

	// Decoded against one index, applied with another: refused.
	other, oreq := parsed(t, Traces, makeTraces(1, 1, 1, 1))
	if err := e.Decode(encodeEdits(Edit{Op: OpDeleteAttr}), ix); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Apply(other, oreq, &e, nil); err == nil {
		t.Fatal("Apply accepted edits decoded against another index")
	}

	// A list that failed to decode is refused, even though its first
	// records were fine.
	if err := e.Decode(encodeEdits(Edit{Op: OpDropItem}, Edit{Op: OpDropItem, Target: 99}), ix); err == nil {
		t.Fatal("Decode accepted an out-of-range target")
	}
	if _, _, err := Apply(ix, req, &e, nil); err == nil {
		t.Fatal("Apply accepted edits whose Decode failed")
	}
}

// benchEdits builds the benchmark request and an edit list per scenario.
func benchEdits(b testing.TB, scenario string) (*Index, []byte, []byte) {
	ix, req := parsed(b, Traces, benchSpans(1, 100))
	var eds []Edit
	for i := range ix.ItemsAt {
		it := ix.ItemsAt[i]
		switch scenario {
		case "delete-1-attr":
			eds = append(eds, Edit{Op: OpDeleteAttr, Target: uint32(it.AttrStart + 3)})
		case "drop-10pct":
			if i%10 == 0 {
				eds = append(eds, Edit{Op: OpDropItem, Target: uint32(i), A: []byte("sampled out")})
			}
		case "truncate-all":
			for a := it.AttrStart; a < it.AttrEnd; a++ {
				eds = append(eds, Edit{Op: OpTruncateAttr, Target: uint32(a), Arg: 8})
			}
		}
	}
	return ix, req, encodeEdits(eds...)
}

func TestApplyNoAllocs(t *testing.T) {
	for _, sc := range []string{"none", "delete-1-attr", "drop-10pct", "truncate-all"} {
		ix, req, list := benchEdits(t, sc)
		var e Edits
		dst := make([]byte, 0, 2*len(req))
		run := func() {
			if err := e.Decode(list, ix); err != nil {
				t.Fatal(err)
			}
			var err error
			if dst, _, err = Apply(ix, req, &e, dst[:0]); err != nil {
				t.Fatal(err)
			}
		}
		run()
		if n := testing.AllocsPerRun(50, run); n != 0 {
			t.Errorf("%s: Decode+Apply allocate %.1f times per call in steady state", sc, n)
		}
	}
	// Every op at once, on every signal.
	for _, s := range samples() {
		ix, req := parsed(t, s.sig, s.msg)
		list := everyOp(t, ix)
		var e Edits
		dst := make([]byte, 0, 2*len(req))
		run := func() {
			if err := e.Decode(list, ix); err != nil {
				t.Fatal(err)
			}
			var err error
			if dst, _, err = Apply(ix, req, &e, dst[:0]); err != nil {
				t.Fatal(err)
			}
		}
		run()
		if n := testing.AllocsPerRun(20, run); n != 0 {
			t.Errorf("%s: Decode+Apply of every op allocate %.1f times per call", s.name, n)
		}
	}
}

// everyOp is a valid list touching every target with every op that fits.
func everyOp(t testing.TB, ix *Index) []byte {
	var b []byte
	for i := range ix.Resources {
		b = AppendEdit(b, Edit{Op: OpSetAttr, Owner: 1, Target: uint32(i), A: []byte("r"), B: anyBody(t, str("v"))})
	}
	for i := range ix.Scopes {
		b = AppendEdit(b, Edit{Op: OpSetAttr, Owner: 2, Target: uint32(i), A: []byte("s"), B: anyBody(t, str("v"))})
	}
	for i := range ix.Metrics {
		b = AppendEdit(b, Edit{Op: OpSetName, Owner: 4, Target: uint32(i), A: []byte("m")})
	}
	for i := range ix.Attrs {
		switch i % 3 {
		case 0:
			b = AppendEdit(b, Edit{Op: OpTruncateAttr, Target: uint32(i), Arg: 2})
		case 1:
			b = AppendEdit(b, Edit{Op: OpRenameAttr, Target: uint32(i), A: []byte("renamed")})
		default:
			b = AppendEdit(b, Edit{Op: OpDeleteAttr, Target: uint32(i)})
		}
	}
	for i := range ix.ItemsAt {
		b = AppendEdit(b, Edit{Op: OpSetAttr, Owner: 3, Target: uint32(i), A: []byte("i"), B: anyBody(t, intVal(1))})
		switch ix.Signal {
		case Traces:
			b = AppendEdit(b, Edit{Op: OpSetName, Owner: 3, Target: uint32(i), A: []byte("n")})
			b = AppendEdit(b, Edit{Op: OpSetStatus, Target: uint32(i), Arg: 2, A: []byte("e")})
			b = AppendEdit(b, Edit{Op: OpSetFixed64, Target: uint32(i), Arg: 7, A: u64le(1)})
		case Logs:
			b = AppendEdit(b, Edit{Op: OpSetName, Owner: 3, Target: uint32(i), A: []byte("n")})
			b = AppendEdit(b, Edit{Op: OpSetFixed64, Target: uint32(i), Arg: 11, A: u64le(1)})
		case Metrics:
			b = AppendEdit(b, Edit{Op: OpSetFixed64, Target: uint32(i), Arg: 3, A: u64le(1)})
		}
		if i%4 == 1 {
			b = AppendEdit(b, Edit{Op: OpDropItem, Target: uint32(i)})
		}
	}
	return b
}

func BenchmarkApply(b *testing.B) {
	for _, sc := range []string{"none", "delete-1-attr", "drop-10pct", "truncate-all"} {
		b.Run(sc, func(b *testing.B) {
			ix, req, list := benchEdits(b, sc)
			var e Edits
			if err := e.Decode(list, ix); err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, len(req))
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, _, err = Apply(ix, req, &e, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
			perSpan(b, 100)
		})
	}
}

func BenchmarkDecodeEdits(b *testing.B) {
	for _, sc := range []string{"delete-1-attr", "truncate-all"} {
		b.Run(sc, func(b *testing.B) {
			ix, _, list := benchEdits(b, sc)
			var e Edits
			b.SetBytes(int64(len(list)))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Decode(list, ix); err != nil {
					b.Fatal(err)
				}
			}
			perSpan(b, 100)
		})
	}
}

// TestApplyNumberOneofOnTheWire checks that the other member of the value
// oneof is gone from the bytes, not merely overridden by field order (which
// the generated decoder would hide).
func TestApplyNumberOneofOnTheWire(t *testing.T) {
	ix, req := parsed(t, Metrics, makeMetrics(1, 1, 2))
	f := finder{t, ix, req}
	var e Edits
	list := encodeEdits(
		Edit{Op: OpSetFixed64, Target: f.point(0, 0), Arg: numberAsDouble, A: u64le(math.Float64bits(2.5))}, // as_int before
		Edit{Op: OpSetFixed64, Target: f.point(1, 1), Arg: numberAsInt, A: u64le(7)},                        // as_double before
	)
	if err := e.Decode(list, ix); err != nil {
		t.Fatal(err)
	}
	out, _, err := Apply(ix, req, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	var oix Index
	if err := oix.Parse(Metrics, out); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		item      uint32
		want, not protowire.Number
	}{{f.point(0, 0), numberAsDouble, numberAsInt}, {f.point(1, 1), numberAsInt, numberAsDouble}} {
		it := oix.ItemsAt[tc.item]
		body := entryBody(t, out, it.Off, it.End, 1)
		seen := map[protowire.Number]int{}
		for b := body; len(b) > 0; {
			num, typ, n := protowire.ConsumeTag(b)
			m := protowire.ConsumeFieldValue(num, typ, b[n:])
			seen[num]++
			b = b[n+m:]
		}
		if seen[tc.want] != 1 || seen[tc.not] != 0 {
			t.Errorf("point %d holds field %d %d times and field %d %d times, want 1 and 0", tc.item, tc.want, seen[tc.want], tc.not, seen[tc.not])
		}
	}
}

// TestApplyUnusualKeyValues covers KeyValues no generated encoder writes:
// value before key, unknown fields, a value field twice (merged), no key.
// They take the applier's general path, which must keep unknown fields.
func TestApplyUnusualKeyValues(t *testing.T) {
	span := raw(fld(5, []byte("s")),
		fld(9, fld(2, fld(1, []byte("v1"))), fld(1, []byte("k1"))),
		fld(9, fld(1, []byte("k2")), fld(2, fld(1, []byte("v2"))), varintField(5, 1)),
		fld(9, fld(1, []byte("k3")), fld(2, fld(1, []byte("a"))), fld(2, fld(1, []byte("bcd")))),
		fld(9, fld(1, []byte("k4"))),
		fld(9, fld(2, fld(1, []byte("v5")))),
	)
	req := wrap(span)
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	src := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(req, src); err != nil {
		t.Fatal(err)
	}
	got, _ := applyChecked(t, Traces, req, &ix, []Edit{
		{Op: OpTruncateAttr, Target: 0, Arg: 1},
		{Op: OpRenameAttr, Target: 1, A: []byte("K2")},
		{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("K2"), B: anyBody(t, intVal(2))},
		{Op: OpTruncateAttr, Target: 2, Arg: 2},
		{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("k4"), B: anyBody(t, str("four"))},
		{Op: OpRenameAttr, Target: 4, A: []byte("k5")},
	})
	want := proto.Clone(src).(*coltrace.ExportTraceServiceRequest)
	a := want.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes
	a[0].Value = str("v")
	a[1].Key, a[1].Value = "K2", intVal(2) // its unknown field 5 stays
	a[2].Value = str("bc")
	a[3].Value = str("four")
	a[4].Key = "k5"
	if len(a[1].ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("test setup: the KeyValue has no unknown field")
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", prototext.Format(got), prototext.Format(want))
	}
}

// TestApplyFieldsOutOfOrder puts the Resource after the scopes and the
// InstrumentationScope after the spans, as a sender may.
func TestApplyFieldsOutOfOrder(t *testing.T) {
	span := func(name string) []byte {
		return raw(fld(5, []byte(name)), fld(9, fld(1, []byte("k")), fld(2, fld(1, []byte("v")))))
	}
	scope := fld(1, fld(1, []byte("lib")), fld(3, fld(1, []byte("sk")), fld(2, fld(1, []byte("sv")))))
	resource := fld(1, fld(1, fld(1, []byte("rk")), fld(2, fld(1, []byte("rv")))))
	req := fld(1, raw(
		fld(2, raw(fld(2, span("a")), fld(2, span("b")), scope)),
		resource,
		fld(3, []byte("schema")),
	))
	var ix Index
	if err := ix.Parse(Traces, req); err != nil {
		t.Fatal(err)
	}
	src := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(req, src); err != nil {
		t.Fatal(err)
	}
	f := finder{t, &ix, req}
	got, dropped := applyChecked(t, Traces, req, &ix, []Edit{
		{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("rk"), B: anyBody(t, str("RV"))},
		{Op: OpSetAttr, Owner: 2, Target: 0, A: []byte("sk2"), B: anyBody(t, str("SV2"))},
		{Op: OpDropItem, Target: f.item("a")},
		{Op: OpDeleteAttr, Target: f.attr(OwnerItem, f.item("b"), "k")},
	})
	want := proto.Clone(src).(*coltrace.ExportTraceServiceRequest)
	rs := want.ResourceSpans[0]
	rs.Resource.Attributes[0].Value = str("RV")
	ss := rs.ScopeSpans[0]
	ss.Scope.Attributes = append(ss.Scope.Attributes, kv("sk2", str("SV2")))
	ss.Spans = ss.Spans[1:]
	ss.Spans[0].Attributes = nil
	if !proto.Equal(got, want) || dropped != 1 {
		t.Fatalf("dropped %d; got\n%s\nwant\n%s", dropped, prototext.Format(got), prototext.Format(want))
	}
}

// TestBulkEditsDeleteKeyAndTruncateValues: one DELETE_KEY or
// TRUNCATE_VALUES record covers every attribute of the owners its mask
// names, and nothing else.
func TestBulkEditsDeleteKeyAndTruncateValues(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes: cuts must land on a rune start
	req := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("password", str("r")), kv("host", str(long))}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "s", Attributes: []*commonpb.KeyValue{kv("PassWord", str("s"))}},
			Spans: []*tracepb.Span{
				{TraceId: id(16, 1), SpanId: id(8, 1), Name: "a", Attributes: []*commonpb.KeyValue{kv("password", str("x")), kv("q", str(long)), kv("n", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}})}},
				{TraceId: id(16, 2), SpanId: id(8, 2), Name: "b", Attributes: []*commonpb.KeyValue{kv("user", str("bob"))}},
			},
		}},
	}}}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	run := func(edits ...Edit) *coltrace.ExportTraceServiceRequest {
		t.Helper()
		var buf []byte
		for _, e := range edits {
			buf = AppendEdit(buf, e)
		}
		var e Edits
		if err := e.Decode(buf, &ix); err != nil {
			t.Fatal(err)
		}
		out, _, err := Apply(&ix, b, &e, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		return got
	}
	keys := func(kvs []*commonpb.KeyValue) string {
		var ks []string
		for _, a := range kvs {
			ks = append(ks, a.Key)
		}
		return strings.Join(ks, ",")
	}

	// Case-insensitive, every owner.
	got := run(Edit{Op: OpDeleteKey, Owner: EditOwnersResource | EditOwnersScope | EditOwnersItem, Arg: 1, A: []byte("password")})
	rs := got.ResourceSpans[0]
	if k := keys(rs.Resource.Attributes) + "|" + keys(rs.ScopeSpans[0].Scope.Attributes) + "|" + keys(rs.ScopeSpans[0].Spans[0].Attributes); k != "host||q,n" {
		t.Errorf("after DELETE_KEY password (fold, everywhere): %s", k)
	}
	// Exact case, items only: the resource's and the scope's stay.
	got = run(Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("password")})
	rs = got.ResourceSpans[0]
	if k := keys(rs.Resource.Attributes) + "|" + keys(rs.ScopeSpans[0].Scope.Attributes) + "|" + keys(rs.ScopeSpans[0].Spans[0].Attributes); k != "password,host|PassWord|q,n" {
		t.Errorf("after DELETE_KEY password (exact, items): %s", k)
	}
	// Truncate everywhere to 5 bytes: "éé" (4 bytes, the cut backs off to a
	// rune start); short, non-string values stay.
	got = run(Edit{Op: OpTruncateValues, Owner: EditOwnersResource | EditOwnersItem, Arg: 5})
	rs = got.ResourceSpans[0]
	if v := rs.Resource.Attributes[1].Value.GetStringValue(); v != "éé" {
		t.Errorf("resource value truncated to %q, want %q", v, "éé")
	}
	sp := rs.ScopeSpans[0].Spans[0]
	if v := sp.Attributes[1].Value.GetStringValue(); v != "éé" || sp.Attributes[0].Value.GetStringValue() != "x" || sp.Attributes[2].Value.GetIntValue() != 7 {
		t.Errorf("span values after TRUNCATE_VALUES 5: %v", sp.Attributes)
	}
	// Both in one list, with a per-attribute edit before them.
	got = run(
		Edit{Op: OpSetAttr, Owner: uint8(OwnerItem), Target: 1, A: []byte("user"), B: []byte("\x0a\x0alongername")},
		Edit{Op: OpTruncateValues, Owner: EditOwnersItem, Arg: 4},
		Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("q")},
	)
	sp2 := got.ResourceSpans[0].ScopeSpans[0].Spans[1]
	if v := sp2.Attributes[0].Value.GetStringValue(); v != "long" {
		t.Errorf("a value set earlier in the list is truncated to %q, want %q", v, "long")
	}
	if k := keys(got.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes); k != "password,n" {
		t.Errorf("span 0 keys after DELETE_KEY q: %s", k)
	}
}

// TestBulkDropNamed: one DROP_NAMED record drops every item of that name.
func TestBulkDropNamed(t *testing.T) {
	req := makeTraces(2, 1, 6, 0)
	names := []string{"GET /healthz", "keep", "GET /healthz", "keep", "GET /healthzz", "GET /healthz"}
	i := 0
	for _, rs := range req.ResourceSpans {
		for _, sp := range rs.ScopeSpans[0].Spans {
			sp.Name = names[i%len(names)]
			i++
		}
	}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	if err := e.Decode(AppendEdit(nil, Edit{Op: OpDropNamed, A: []byte("GET /healthz"), B: []byte("health check")}), &ix); err != nil {
		t.Fatal(err)
	}
	out, dropped, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 6 || string(e.DropReason) != "health check" {
		t.Fatalf("dropped %d (reason %q), want 6 (health check)", dropped, e.DropReason)
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	for _, rs := range got.ResourceSpans {
		for _, sp := range rs.ScopeSpans[0].Spans {
			if sp.Name == "GET /healthz" {
				t.Errorf("a span named %q survived", sp.Name)
			}
		}
	}
}

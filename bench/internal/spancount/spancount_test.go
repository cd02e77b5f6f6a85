package spancount

import (
	"bytes"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func spans(n int) []*tracepb.Span {
	s := make([]*tracepb.Span, n)
	for i := range s {
		s[i] = &tracepb.Span{
			TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)}, Name: "op",
			StartTimeUnixNano: 1, EndTimeUnixNano: 2, Kind: tracepb.Span_SPAN_KIND_SERVER,
			Attributes: []*commonpb.KeyValue{{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}}},
		}
	}
	return s
}

func encode(t testing.TB, req proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTracesCountsSpansAcrossResourcesAndScopes(t *testing.T) {
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}}}}}
	scope := &commonpb.InstrumentationScope{Name: "lib", Version: "1"}
	tests := []struct {
		name string
		req  *coltracepb.ExportTraceServiceRequest
		want int
	}{
		{"empty request", &coltracepb.ExportTraceServiceRequest{}, 0},
		{"resource without scopes", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{Resource: res}}}, 0},
		{"one scope", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{Resource: res, ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: spans(100)}}, SchemaUrl: "s"},
		}}, 100},
		{"empty spans count", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{}, {}, {}}}}},
		}}, 3},
		{"several resources and scopes", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{Resource: res, ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: spans(3)}, {Spans: spans(4), SchemaUrl: "x"}}},
			{ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: spans(5)}}},
		}}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Traces(encode(t, tt.req))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Traces = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTracesSkipsUnknownFieldsOfEveryWireType(t *testing.T) {
	b := encode(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(2)}}},
	}})
	// Field 9 as varint, fixed64, fixed32, bytes and a nested group, before and after.
	unknown := []byte{9 << 3, 0x96, 0x01, 9<<3 | 1, 1, 2, 3, 4, 5, 6, 7, 8, 9<<3 | 5, 1, 2, 3, 4, 9<<3 | 2, 2, 0xaa, 0xbb,
		9<<3 | 3, 7<<3 | 3, 1 << 3, 5, 7<<3 | 4, 9<<3 | 4} // group holding a group
	in := append(append(append([]byte{}, unknown...), b...), unknown...)
	got, err := Traces(in)
	if err != nil {
		t.Fatal(err)
	}
	if got != 2 {
		t.Fatalf("Traces = %d, want 2", got)
	}
}

func TestTracesRejectsMalformedInput(t *testing.T) {
	good := encode(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(2)}}},
	}})
	tests := map[string][]byte{
		"truncated payload":  good[:len(good)-3],
		"unterminated tag":   {0x80},
		"length past end":    {1<<3 | 2, 10, 0},
		"field number zero":  {0 << 3, 1},
		"unclosed group":     {1<<3 | 3},
		"stray end group":    {1<<3 | 4},
		"mismatched group":   {1<<3 | 3, 2<<3 | 4},
		"groups too deep":    bytes.Repeat([]byte{9<<3 | 3}, 200),
		"short fixed64":      {9<<3 | 1, 1, 2},
		"short fixed32":      {9<<3 | 5, 1},
		"bad nested message": {1<<3 | 2, 2, 2<<3 | 2, 5},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if n, err := Traces(in); err == nil {
				t.Fatalf("Traces = %d, nil error; want an error", n)
			}
		})
	}
}

func TestTracesDoesNotAllocate(t *testing.T) {
	b := encode(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(100)}}},
	}})
	if a := testing.AllocsPerRun(100, func() { _, _ = Traces(b) }); a != 0 {
		t.Fatalf("Traces allocates %v times per call, want 0", a)
	}
}

// FuzzTraces checks that the walk never panics and, for input that protobuf
// decodes, agrees with the generated types.
func FuzzTraces(f *testing.F) {
	f.Add(encode(f, &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(2)}, {Spans: spans(1)}}},
	}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Traces(b)
		var req coltracepb.ExportTraceServiceRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		if err != nil {
			t.Fatalf("Traces failed on input protobuf accepts: %v", err)
		}
		want := 0
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				want += len(ss.Spans)
			}
		}
		if got != want {
			t.Fatalf("Traces = %d, protobuf counts %d", got, want)
		}
	})
}

func records(n int) []*logspb.LogRecord {
	r := make([]*logspb.LogRecord, n)
	for i := range r {
		r[i] = &logspb.LogRecord{
			TimeUnixNano: 1, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
			Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "request done"}},
			Attributes: []*commonpb.KeyValue{{Key: "k", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(i)}}}},
			TraceId:    make([]byte, 16), SpanId: make([]byte, 8), EventName: "e",
		}
	}
	return r
}

func TestLogsCountsRecordsAcrossResourcesAndScopes(t *testing.T) {
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}}}}}
	scope := &commonpb.InstrumentationScope{Name: "lib", Version: "1"}
	tests := []struct {
		name string
		req  *collogspb.ExportLogsServiceRequest
		want int
	}{
		{"empty request", &collogspb.ExportLogsServiceRequest{}, 0},
		{"resource without scopes", &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{Resource: res}}}, 0},
		{"one scope", &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
			{Resource: res, ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: records(100)}}, SchemaUrl: "s"},
		}}, 100},
		{"empty records count", &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
			{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}, {}}}}},
		}}, 2},
		{"several resources and scopes", &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
			{Resource: res, ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: records(3)}, {LogRecords: records(4)}}},
			{ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: records(5)}}},
		}}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Logs(encode(t, tt.req))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Logs = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLogsRejectsMalformedInput(t *testing.T) {
	good := encode(t, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: records(2)}}},
	}})
	for name, in := range map[string][]byte{
		"truncated payload": good[:len(good)-3],
		"length past end":   {1<<3 | 2, 10, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if n, err := Logs(in); err == nil {
				t.Fatalf("Logs = %d, nil error; want an error", n)
			}
		})
	}
}

func TestLogsDoesNotAllocate(t *testing.T) {
	b := encode(t, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: records(100)}}},
	}})
	if a := testing.AllocsPerRun(100, func() { _, _ = Logs(b) }); a != 0 {
		t.Fatalf("Logs allocates %v times per call, want 0", a)
	}
}

// FuzzLogs checks the log walk the same way FuzzTraces checks the span walk.
func FuzzLogs(f *testing.F) {
	f.Add(encode(f, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: records(2)}, {LogRecords: records(1)}}},
	}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Logs(b)
		var req collogspb.ExportLogsServiceRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		if err != nil {
			t.Fatalf("Logs failed on input protobuf accepts: %v", err)
		}
		want := 0
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				want += len(sl.LogRecords)
			}
		}
		if got != want {
			t.Fatalf("Logs = %d, protobuf counts %d", got, want)
		}
	})
}

package otlpwire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func traceFromJSON(t *testing.T, body string) *coltrace.ExportTraceServiceRequest {
	t.Helper()
	pb, err := JSONToProto(Traces, []byte(body))
	if err != nil {
		t.Fatalf("JSONToProto: %v", err)
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(pb, &req); err != nil {
		t.Fatalf("proto.Unmarshal of JSONToProto output: %v", err)
	}
	return &req
}

func onlySpan(t *testing.T, req *coltrace.ExportTraceServiceRequest) *tracepb.Span {
	t.Helper()
	if len(req.ResourceSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans[0].Spans) != 1 {
		t.Fatalf("want exactly one span, got %v", req)
	}
	return req.ResourceSpans[0].ScopeSpans[0].Spans[0]
}

const (
	hexTraceID = "5b8efff798038103d269b633813fc60c"
	hexSpanID  = "eee19b7ec3c1b174"
)

func TestJSONToProtoHexIDs(t *testing.T) {
	sp := onlySpan(t, traceFromJSON(t, `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"`+hexTraceID+`","spanId":"`+hexSpanID+`","parentSpanId":"0102030405060708","name":"x"}]}]}]}`))
	if got := hex.EncodeToString(sp.TraceId); got != hexTraceID {
		t.Errorf("trace_id = %s, want %s", got, hexTraceID)
	}
	if got := hex.EncodeToString(sp.SpanId); got != hexSpanID {
		t.Errorf("span_id = %s, want %s", got, hexSpanID)
	}
	if got := hex.EncodeToString(sp.ParentSpanId); got != "0102030405060708" {
		t.Errorf("parent_span_id = %s", got)
	}
}

func TestJSONToProtoSnakeCaseKeys(t *testing.T) {
	sp := onlySpan(t, traceFromJSON(t, `{"resource_spans":[{"scope_spans":[{"spans":[
		{"trace_id":"`+hexTraceID+`","span_id":"`+hexSpanID+`","name":"snake","start_time_unix_nano":"7"}]}]}]}`))
	if hex.EncodeToString(sp.TraceId) != hexTraceID || sp.Name != "snake" || sp.StartTimeUnixNano != 7 {
		t.Errorf("snake_case keys not honoured: %v", sp)
	}
}

func TestJSONToProtoInt64AsNumberAndString(t *testing.T) {
	const v = 1544712660300000000 // above 2^53: a float64 detour would corrupt it
	sp := onlySpan(t, traceFromJSON(t, `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"name":"x","startTimeUnixNano":"1544712660300000000","endTimeUnixNano":1544712660300000001}]}]}]}`))
	if sp.StartTimeUnixNano != v {
		t.Errorf("int64 as string: got %d, want %d", sp.StartTimeUnixNano, uint64(v))
	}
	if sp.EndTimeUnixNano != v+1 {
		t.Errorf("int64 as number: got %d, want %d", sp.EndTimeUnixNano, uint64(v+1))
	}
}

func TestJSONToProtoEnumAsInt(t *testing.T) {
	sp := onlySpan(t, traceFromJSON(t, `{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"name":"x","kind":2,"status":{"code":2,"message":"boom"}}]}]}]}`))
	if sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("kind = %v, want SERVER", sp.Kind)
	}
	if sp.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("status.code = %v, want ERROR", sp.Status.GetCode())
	}

	pb, err := JSONToProto(Metrics, []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
		{"name":"m","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"5"}]}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var mreq colmetrics.ExportMetricsServiceRequest
	if err := proto.Unmarshal(pb, &mreq); err != nil {
		t.Fatal(err)
	}
	sum := mreq.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetSum()
	if sum.GetAggregationTemporality() != 2 || sum.DataPoints[0].GetAsInt() != 5 {
		t.Errorf("metric enum/int64: %v", sum)
	}

	pb, err = JSONToProto(Logs, []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":9,"body":{"stringValue":"hi"}}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var lreq collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(pb, &lreq); err != nil {
		t.Fatal(err)
	}
	lr := lreq.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	if lr.SeverityNumber != 9 || lr.Body.GetStringValue() != "hi" {
		t.Errorf("log enum: %v", lr)
	}
}

func TestJSONToProtoIgnoresUnknownFields(t *testing.T) {
	sp := onlySpan(t, traceFromJSON(t, `{"futureField":{"a":[1,2]},"resourceSpans":[{"scopeSpans":[{"spans":[
		{"name":"x","notInOTLP":"y"}]}]}]}`))
	if sp.Name != "x" {
		t.Errorf("name = %q", sp.Name)
	}
}

func TestJSONToProtoMalformedIsError(t *testing.T) {
	for _, tc := range []struct {
		sig  Signal
		body string
	}{
		{Traces, `{"resourceSpans":[`},
		{Metrics, `not json`},
		{Logs, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"abc"}]}]}]}`},
		{Traces, `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`},
		{Metrics, `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":`},
		{Logs, `{"resourceLogs":{}`},
		{Traces, ``},
	} {
		if _, err := JSONToProto(tc.sig, []byte(tc.body)); err == nil {
			t.Errorf("%s: JSONToProto(%q) accepted malformed JSON", tc.sig, tc.body)
		}
	}
}

func TestProtoToJSONSingleLineHexIDs(t *testing.T) {
	in := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"` + hexTraceID + `","spanId":"` + hexSpanID + `","name":"x","kind":3,"startTimeUnixNano":"1544712660300000000"}]}]}]}`
	pb, err := JSONToProto(Traces, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ProtoToJSON(Traces, pb)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(out, "\n\r") {
		t.Errorf("output is not one line: %q", out)
	}
	for _, want := range []string{`"traceId":"` + hexTraceID + `"`, `"spanId":"` + hexSpanID + `"`, `"kind":3`, `"startTimeUnixNano":"1544712660300000000"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output %s lacks %s", out, want)
		}
	}
	pb2, err := JSONToProto(Traces, out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pb, pb2) {
		t.Errorf("JSON round trip changed the protobuf")
	}
}

func TestProtoToJSONMalformedIsError(t *testing.T) {
	for _, sig := range Signals {
		if _, err := ProtoToJSON(sig, []byte{0x0a, 0x05, 0x01}); err == nil {
			t.Errorf("%s: truncated protobuf accepted", sig)
		}
	}
}

func TestEncodeExportResponse(t *testing.T) {
	cases := []struct {
		rejected int64
		msg      string
	}{{0, ""}, {3, ""}, {0, "warning only"}, {7, `filter[redact]: dropped "x"`}, {-1, "negative is encoded as protobuf does"}}
	for _, c := range cases {
		for _, sig := range Signals {
			dst := []byte("prefix")
			out := EncodeExportResponse(sig, c.rejected, c.msg, dst)
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("dst not appended to")
			}
			body := out[len("prefix"):]
			if c.rejected == 0 && c.msg == "" && len(body) != 0 {
				t.Errorf("full success should be the empty message, got %x", body)
			}
			var gotRej int64
			var gotMsg string
			var want proto.Message
			switch sig {
			case Traces:
				var r coltrace.ExportTraceServiceResponse
				if err := proto.Unmarshal(body, &r); err != nil {
					t.Fatal(err)
				}
				gotRej, gotMsg = r.GetPartialSuccess().GetRejectedSpans(), r.GetPartialSuccess().GetErrorMessage()
				want = &coltrace.ExportTraceServiceResponse{PartialSuccess: &coltrace.ExportTracePartialSuccess{RejectedSpans: c.rejected, ErrorMessage: c.msg}}
			case Metrics:
				var r colmetrics.ExportMetricsServiceResponse
				if err := proto.Unmarshal(body, &r); err != nil {
					t.Fatal(err)
				}
				gotRej, gotMsg = r.GetPartialSuccess().GetRejectedDataPoints(), r.GetPartialSuccess().GetErrorMessage()
				want = &colmetrics.ExportMetricsServiceResponse{PartialSuccess: &colmetrics.ExportMetricsPartialSuccess{RejectedDataPoints: c.rejected, ErrorMessage: c.msg}}
			case Logs:
				var r collogs.ExportLogsServiceResponse
				if err := proto.Unmarshal(body, &r); err != nil {
					t.Fatal(err)
				}
				gotRej, gotMsg = r.GetPartialSuccess().GetRejectedLogRecords(), r.GetPartialSuccess().GetErrorMessage()
				want = &collogs.ExportLogsServiceResponse{PartialSuccess: &collogs.ExportLogsPartialSuccess{RejectedLogRecords: c.rejected, ErrorMessage: c.msg}}
			}
			if gotRej != c.rejected || gotMsg != c.msg {
				t.Errorf("%s %+v: decoded (%d, %q)", sig, c, gotRej, gotMsg)
			}
			if c.rejected != 0 || c.msg != "" {
				// Byte-identical to the generated encoder (deterministic for this shape).
				wb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(want)
				if !bytes.Equal(wb, body) {
					t.Errorf("%s %+v: encoded %x, generated %x", sig, c, body, wb)
				}
			}
			r, m, err := DecodeExportResponse(body)
			if err != nil || r != c.rejected || m != c.msg {
				t.Errorf("%s %+v: DecodeExportResponse = (%d, %q, %v)", sig, c, r, m, err)
			}
		}
	}
}

func TestEncodeExportResponseJSON(t *testing.T) {
	if got := string(EncodeExportResponseJSON(Traces, 0, "")); got != "{}" {
		t.Errorf("full success = %s, want {}", got)
	}
	if got := string(EncodeExportResponseJSON(Traces, 3, "why")); got != `{"partialSuccess":{"rejectedSpans":"3","errorMessage":"why"}}` {
		t.Errorf("traces = %s", got)
	}
	keys := map[Signal]string{Traces: "rejectedSpans", Metrics: "rejectedDataPoints", Logs: "rejectedLogRecords"}
	msgs := []string{"", "plain", "quote \" back \\ nl \n tab \t ctl \x01 ünï €", "bad utf8 \xff\xfe end"}
	for _, sig := range Signals {
		for _, msg := range msgs {
			for _, rej := range []int64{0, 5, 1 << 60} {
				out := EncodeExportResponseJSON(sig, rej, msg)
				if !json.Valid(out) {
					t.Fatalf("%s: invalid JSON %q", sig, out)
				}
				if rej != 0 && !bytes.Contains(out, []byte(`"`+keys[sig]+`":"`)) {
					t.Errorf("%s: %s lacks key %s as a string", sig, out, keys[sig])
				}
				wantMsg := string([]rune(msg)) // one U+FFFD per invalid byte
				var gotRej int64
				var gotMsg string
				switch sig {
				case Traces:
					var r coltrace.ExportTraceServiceResponse
					if err := protojson.Unmarshal(out, &r); err != nil {
						t.Fatalf("%s: protojson: %v (%s)", sig, err, out)
					}
					gotRej, gotMsg = r.GetPartialSuccess().GetRejectedSpans(), r.GetPartialSuccess().GetErrorMessage()
				case Metrics:
					var r colmetrics.ExportMetricsServiceResponse
					if err := protojson.Unmarshal(out, &r); err != nil {
						t.Fatalf("%s: protojson: %v (%s)", sig, err, out)
					}
					gotRej, gotMsg = r.GetPartialSuccess().GetRejectedDataPoints(), r.GetPartialSuccess().GetErrorMessage()
				case Logs:
					var r collogs.ExportLogsServiceResponse
					if err := protojson.Unmarshal(out, &r); err != nil {
						t.Fatalf("%s: protojson: %v (%s)", sig, err, out)
					}
					gotRej, gotMsg = r.GetPartialSuccess().GetRejectedLogRecords(), r.GetPartialSuccess().GetErrorMessage()
				}
				if gotRej != rej || gotMsg != wantMsg {
					t.Errorf("%s: %s decoded as (%d, %q), want (%d, %q)", sig, out, gotRej, gotMsg, rej, wantMsg)
				}
			}
		}
	}
}

type decodeResponseCase struct {
	name    string
	in      []byte
	rej     int64
	msg     string
	wantErr bool
}

// decodeResponseCases also seed FuzzDecodeExportResponse.
func decodeResponseCases() []decodeResponseCase {
	// A known field with the wrong wire type is an error here, although the
	// generated Go decoder files it under unknown fields: an upstream that
	// sends it is broken, and guessing would misreport rejected counts.
	return []decodeResponseCase{
		{"empty", nil, 0, "", false},
		{"merge", append(EncodeExportResponse(Logs, 4, "", nil), EncodeExportResponse(Logs, 0, "m", nil)...), 4, "m", false},
		{"unknown top-level", append([]byte{0x10, 0x01}, EncodeExportResponse(Metrics, 2, "x", nil)...), 2, "x", false},
		{"unknown nested", []byte{0x0a, 0x04, 0x18, 0x05, 0x08, 0x06}, 6, "", false},
		{"truncated", EncodeExportResponse(Traces, 4, "abc", nil)[:5], 0, "", true},
		{"wrong wire type partial_success", []byte{0x08, 0x01}, 0, "", true},
		{"wrong wire type rejected", []byte{0x0a, 0x02, 0x0a, 0x00}, 0, "", true},
		{"bad tag", []byte{0x80}, 0, "", true},
		{"field number 2^29", []byte{0xc8, 0x80, 0xe2, 0x94, 0x30}, 0, "", true},
	}
}

func TestDecodeExportResponse(t *testing.T) {
	for _, tc := range decodeResponseCases() {
		rej, msg, err := DecodeExportResponse(tc.in)
		if (err != nil) != tc.wantErr || rej != tc.rej || msg != tc.msg {
			t.Errorf("%s: got (%d, %q, %v), want (%d, %q, err=%v)", tc.name, rej, msg, err, tc.rej, tc.msg, tc.wantErr)
		}
		// Whatever we accept, the generated type accepts with the same values.
		var r coltrace.ExportTraceServiceResponse
		perr := proto.Unmarshal(tc.in, &r)
		if err == nil && (perr != nil || r.GetPartialSuccess().GetRejectedSpans() != rej || r.GetPartialSuccess().GetErrorMessage() != msg) {
			t.Errorf("%s: generated decoder disagrees: %v, %v", tc.name, perr, &r)
		}
	}
}

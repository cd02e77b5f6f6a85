package otlpwire

import (
	"bytes"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// pdataCount decodes req with pdata, which (like Parse) does not check
// UTF-8, and counts its items.
func pdataCount(sig Signal, req []byte) (int, error) {
	switch sig {
	case Traces:
		var u ptrace.ProtoUnmarshaler
		td, err := u.UnmarshalTraces(req)
		return td.SpanCount(), err
	case Metrics:
		var u pmetric.ProtoUnmarshaler
		md, err := u.UnmarshalMetrics(req)
		return md.DataPointCount(), err
	}
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(req)
	return ld.LogRecordCount(), err
}

func FuzzParse(f *testing.F) {
	// Seeds stay small: the fuzzer minimises every new interesting input,
	// and minimising a 10 KB one can take its whole time budget.
	const maxSeed = 2 << 10
	extra := []sample{
		{"traces 2x2x1", Traces, makeTraces(2, 2, 1, 0)},
		{"logs 2x1x2", Logs, makeLogs(2, 1, 2, 0)},
	}
	for _, s := range append(samples(), extra...) {
		if req := mustMarshal(f, s.msg); len(req) <= maxSeed {
			f.Add(uint8(s.sig), req)
			f.Add(uint8(s.sig), req[:len(req)/2])
		}
	}
	for _, tc := range malformedCases(f) {
		if len(tc.req) <= maxSeed {
			f.Add(uint8(tc.sig), tc.req)
		}
	}
	var ix Index
	f.Fuzz(func(t *testing.T, sigByte uint8, req []byte) {
		sig := Signal(sigByte % uint8(NumSignals))
		err := ix.Parse(sig, req)
		n, cerr := CountItems(sig, req)
		if (err == nil) != (cerr == nil) || err == nil && n != ix.Items {
			t.Fatalf("Parse (%v, %d items) and CountItems (%v, %d) disagree", err, ix.Items, cerr, n)
		}
		if err != nil {
			if _, ok := err.(*WireError); !ok {
				t.Fatalf("error %T is not a *WireError", err)
			}
			return
		}
		// Whatever Parse accepts, the generated decoder accepts with the same
		// count. The one documented difference is UTF-8, which Parse does not
		// check; there pdata, which does not either, is the reference.
		m := newRequest(sig)
		if perr := proto.Unmarshal(req, m); perr != nil {
			if !strings.Contains(perr.Error(), "invalid UTF-8") {
				t.Fatalf("Parse accepts what proto.Unmarshal rejects: %v", perr)
			}
			pn, pderr := pdataCount(sig, req)
			if pderr != nil || pn != ix.Items {
				t.Fatalf("Parse accepts %d items; pdata says %d, %v", ix.Items, pn, pderr)
			}
		} else if want := countGenerated(m); want != ix.Items {
			t.Fatalf("Parse counts %d items, proto.Unmarshal %d", ix.Items, want)
		}
		checkIndexBounds(t, &ix, req)
		pieces := Split(&ix, req, 3, 200, nil)
		if !bytes.Equal(bytes.Join(pieces, nil), req) {
			t.Fatalf("Split pieces do not rejoin")
		}
	})
}

// checkIndexBounds checks that every recorded offset lies inside req and
// every range inside its slice.
func checkIndexBounds(t *testing.T, ix *Index, req []byte) {
	n := int32(len(req))
	in := func(what string, off, end int32) {
		if off < 0 || end < off || end > n {
			t.Fatalf("%s [%d:%d] outside request of %d bytes", what, off, end, n)
		}
	}
	rng := func(what string, start, end int32, l int) {
		if start < 0 || end < start || int(end) > l {
			t.Fatalf("%s range [%d:%d] outside %d", what, start, end, l)
		}
	}
	if len(ix.ItemsAt) != ix.Items {
		t.Fatalf("Items %d, %d indexed", ix.Items, len(ix.ItemsAt))
	}
	for _, r := range ix.Resources {
		in("resource", r.Off, r.End)
		in("resource.resource", r.ResOff, r.ResEnd)
		rng("resource scopes", r.ScopeStart, r.ScopeEnd, len(ix.Scopes))
		rng("resource attrs", r.AttrStart, r.AttrEnd, len(ix.Attrs))
		rng("resource items", r.ItemStart, r.ItemEnd, len(ix.ItemsAt))
	}
	for _, s := range ix.Scopes {
		in("scope", s.Off, s.End)
		in("scope.scope", s.ScopeOff, s.ScopeEnd)
		rng("scope attrs", s.AttrStart, s.AttrEnd, len(ix.Attrs))
		rng("scope items", s.ItemStart, s.ItemEnd, len(ix.ItemsAt))
		rng("scope metrics", s.MetricStart, s.MetricEnd, len(ix.Metrics))
	}
	for _, m := range ix.Metrics {
		in("metric", m.Off, m.End)
		in("metric data", m.DataOff, m.DataEnd)
		in("metric name", m.NameOff, m.NameEnd)
		rng("metric items", m.ItemStart, m.ItemEnd, len(ix.ItemsAt))
	}
	for _, it := range ix.ItemsAt {
		in("item", it.Off, it.End)
		in("item name", it.NameOff, it.NameEnd)
		rng("item attrs", it.AttrStart, it.AttrEnd, len(ix.Attrs))
		if it.TraceIDOff != 0 {
			in("trace_id", it.TraceIDOff, it.TraceIDOff+16)
		}
	}
	for _, a := range ix.Attrs {
		in("attr", a.Off, a.End)
		in("attr key", a.KeyOff, a.KeyEnd)
		in("attr value", a.ValOff, a.ValEnd)
	}
}

var jsonSeeds = []string{
	`{}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":2,"startTimeUnixNano":"1544712660300000000","endTimeUnixNano":1544712660300000001}]}]}]}`,
	`{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5b8efff798038103d269b633813fc60c","name":"snake"}]}]}]}`,
	`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"5"}]}}]}]}]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":9,"body":{"stringValue":"hi"}}]}]}]}`,
	`{"resourceSpans":[`,
}

func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range samples() {
		j, err := ProtoToJSON(s.sig, mustMarshal(f, s.msg))
		if err != nil {
			f.Fatal(err)
		}
		if len(j) <= 2<<10 { // small seeds: see FuzzParse
			f.Add(uint8(s.sig), j)
		}
	}
	for _, j := range jsonSeeds {
		for _, sig := range Signals {
			f.Add(uint8(sig), []byte(j))
		}
	}
	f.Fuzz(func(t *testing.T, sigByte uint8, body []byte) {
		sig := Signal(sigByte % uint8(NumSignals))
		p1, err := JSONToProto(sig, body)
		if err != nil {
			return
		}
		j1, err := ProtoToJSON(sig, p1)
		if err != nil {
			t.Fatalf("ProtoToJSON of JSONToProto output: %v", err)
		}
		p2, err := JSONToProto(sig, j1)
		if err != nil {
			t.Fatalf("JSONToProto of ProtoToJSON output %s: %v", j1, err)
		}
		if !bytes.Equal(p1, p2) {
			t.Fatalf("JSON->proto->JSON->proto changed the protobuf:\n%x\n%x\nvia %s", p1, p2, j1)
		}
		j2, err := ProtoToJSON(sig, p2)
		if err != nil || !bytes.Equal(j1, j2) {
			t.Fatalf("second JSON differs (%v):\n%s\n%s", err, j1, j2)
		}
	})
}

func FuzzDecodeExportResponse(f *testing.F) {
	for _, tc := range decodeResponseCases() {
		f.Add(tc.in)
	}
	for _, sig := range Signals {
		f.Add(EncodeExportResponse(sig, 42, "filter[redact]: dropped", nil))
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		rej, msg, err := DecodeExportResponse(resp)
		if err != nil {
			return
		}
		var r coltrace.ExportTraceServiceResponse
		if perr := proto.Unmarshal(resp, &r); perr != nil {
			if !strings.Contains(perr.Error(), "invalid UTF-8") {
				t.Fatalf("DecodeExportResponse accepts what proto.Unmarshal rejects: %v", perr)
			}
		} else if r.GetPartialSuccess().GetRejectedSpans() != rej || r.GetPartialSuccess().GetErrorMessage() != msg {
			t.Fatalf("decoded (%d, %q); generated decoder (%d, %q)", rej, msg, r.GetPartialSuccess().GetRejectedSpans(), r.GetPartialSuccess().GetErrorMessage())
		}
		// Re-encoding what was decoded decodes to the same values.
		again := EncodeExportResponse(Traces, rej, msg, nil)
		if rej2, msg2, err := DecodeExportResponse(again); err != nil || rej2 != rej || msg2 != msg {
			t.Fatalf("re-encoded response decodes to (%d, %q, %v), want (%d, %q)", rej2, msg2, err, rej, msg)
		}
	})
}

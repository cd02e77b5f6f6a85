package otlpwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// checkApplied checks what every applied output must satisfy: Parse
// accepts it with the expected item count. (FuzzParse shows that whatever
// Parse accepts the generated decoder accepts, UTF-8 aside; decoding here
// too would only steer the fuzzer into protobuf's own code.)
func checkApplied(t *testing.T, sig Signal, out []byte, wantItems int) {
	t.Helper()
	var oix Index
	if err := oix.Parse(sig, out); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if oix.Items != wantItems {
		t.Fatalf("output has %d items, want %d", oix.Items, wantItems)
	}
}

// fuzzRequests are the fixed requests FuzzDecodeEdits aims edit lists at.
func fuzzRequests(t testing.TB) [NumSignals]struct {
	ix  *Index
	req []byte
} {
	var out [NumSignals]struct {
		ix  *Index
		req []byte
	}
	// Small on purpose: the fuzzer minimises every new interesting input,
	// and with kilobyte-sized lists that eats the whole time budget.
	out[Traces].ix, out[Traces].req = parsed(t, Traces, makeTraces(1, 2, 1, 2))
	out[Metrics].ix, out[Metrics].req = parsed(t, Metrics, makeMetrics(1, 1, 1))
	out[Logs].ix, out[Logs].req = parsed(t, Logs, makeLogs(1, 1, 2, 2))
	return out
}

func FuzzDecodeEdits(f *testing.F) {
	reqs := fuzzRequests(f)
	// One short valid list per op: every new interesting input is
	// minimised, and each run of the instrumented binary is slow (the test
	// binary links pdata), so long seeds stall the fuzzer for seconds.
	for sig := range reqs {
		ix := reqs[sig].ix
		last := uint32(len(ix.ItemsAt) - 1)
		seeds := [][]Edit{
			{{Op: OpDropItem, Target: last, A: []byte("why")}},
			{{Op: OpDeleteAttr, Target: 1}},
			{{Op: OpSetAttr, Owner: uint8(1 + sig), A: []byte("k"), B: anyBody(f, str("v"))}},
			{{Op: OpTruncateAttr, Target: 0, Arg: 1}},
			{{Op: OpRenameAttr, Target: 2, A: []byte("r")}},
			{{Op: OpSetFixed64, Target: last, Arg: [NumSignals]uint32{7, 3, 1}[sig], A: u64le(5)}},
			{{Op: OpReject, A: []byte("no")}},
			{{Op: OpReplace, A: reqs[sig].req[:min(len(reqs[sig].req), 40)]}},
			{{Op: OpDropItem}, {Op: OpDeleteAttr, Target: 0}},
			{{Op: OpDropMatch, A: raw(cond1(CondName, `^(a|b)$`), condString("k", "v")), B: []byte("m")}},
			{{Op: OpDropMatch, A: raw(cond1(CondBody, "x"), condNumber("k", 1), condBool("k", true), cond1(CondAttrExists, "k"), condMatch("k", "v+"))}},
			{{Op: OpHashValues, Owner: 7, Arg: 1, A: []byte("k"), B: []byte("s")}},
			{{Op: OpNormalizeKey, Owner: 7, A: []byte("K")}},
			{{Op: OpMaskValues, Owner: 7, Arg: 2 | MaskExceptKeys, A: maskA("", "k"), B: []byte("*")}},
			{{Op: OpMaskValues, Owner: 4, A: maskA("v+"), B: []byte("*")}, {Op: OpDeleteKey, Owner: 4, A: []byte("k")}},
		}
		if sig != int(Metrics) {
			seeds = append(seeds, []Edit{{Op: OpSample, A: u64le(1 << 55), B: []byte("s")}})
		}
		if sig == int(Logs) {
			seeds = append(seeds, []Edit{{Op: OpDropSeverity, Arg: 9, B: []byte("d")}})
		}
		if sig == int(Metrics) {
			seeds = append(seeds, []Edit{{Op: OpSetName, Owner: EditOwnerMetric, Target: 1, A: []byte("m")}})
		} else {
			seeds = append(seeds, []Edit{{Op: OpSetName, Owner: uint8(OwnerItem), A: []byte("n")}})
		}
		if sig == int(Traces) {
			seeds = append(seeds, []Edit{{Op: OpSetStatus, Arg: 2, A: []byte("e")}})
		}
		for _, eds := range seeds {
			f.Add(uint8(sig), encodeEdits(eds...))
		}
	}
	f.Add(uint8(Traces), []byte{})
	f.Add(uint8(Traces), make([]byte, 19))
	var e Edits
	var dst []byte
	f.Fuzz(func(t *testing.T, sigByte uint8, list []byte) {
		sig := Signal(sigByte % uint8(NumSignals))
		ix, req := reqs[sig].ix, reqs[sig].req
		err := e.Decode(list, ix)
		if err != nil {
			var ee *EditError
			if !errors.As(err, &ee) {
				t.Fatalf("Decode error %T is not an *EditError: %v", err, err)
			}
			return
		}
		out, dropped, err := Apply(ix, req, &e, dst[:0])
		if e.Verdict == VerdictReject {
			if err == nil {
				t.Fatal("Apply accepted a REJECT list")
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode accepted the list but Apply failed: %v", err)
		}
		dst = out
		want := ix.Items - dropped
		if e.Verdict == VerdictReplace {
			want = e.ReplaceItems
		}
		checkApplied(t, sig, out, want)
	})
}

// fuzzValues are AnyValue bodies for SET_ATTR: every kind, empty, and one
// long enough to change the size of length prefixes around it.
func fuzzValues(t testing.TB) [][]byte {
	return [][]byte{
		anyBody(t, str("x")),
		anyBody(t, str(strings.Repeat("é", 100))),
		anyBody(t, intVal(-1)),
		anyBody(t, &commonpb.AnyValue{}),
		anyBody(t, bytesVal([]byte{0, 0xff})),
		anyBody(t, &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: attrsOfEveryType("kv", 3)}}}),
	}
}

// fuzzEdits derives a valid edit list for ix from ops: each 4 bytes pick an
// op, a target and an argument. Keys are drawn from the request's own keys
// as often as from new ones, so SET_ATTR both replaces and appends.
func fuzzEdits(ix *Index, req []byte, ops []byte, values [][]byte) []Edit {
	var eds []Edit
	names := [][]byte{[]byte("k"), []byte("new.key"), []byte(strings.Repeat("n", 130)), []byte("")}
	for ; len(ops) >= 4; ops = ops[4:] {
		sel, t16, arg := ops[0], int(binary.LittleEndian.Uint16(ops[1:])), ops[3]
		key := names[int(arg)%3]
		if len(ix.Attrs) > 0 && arg&1 == 1 {
			a := ix.Attrs[t16%len(ix.Attrs)]
			key = req[a.KeyOff:a.KeyEnd]
		}
		if len(key) == 0 || !utf8.Valid(key) { // Parse does not check UTF-8; Decode does
			key = names[0]
		}
		n := len(ix.ItemsAt)
		switch op := Op(sel%23 + 1); op {
		case OpDropMatch:
			var a []byte
			switch arg % 4 {
			case 0: // an item's name, in a literal set
				name := "b"
				if n > 0 {
					it := ix.ItemsAt[t16%n]
					if nm := req[it.NameOff:it.NameEnd]; len(nm) > 0 && len(nm) < 200 && utf8.Valid(nm) {
						name = string(nm)
					}
				}
				a = cond1(CondName, "^("+regexp.QuoteMeta(name)+"|x)$")
			case 1:
				a = cond1(CondAttrExists, string(key))
			case 2:
				a = condString(string(key), "vv")
			default:
				a = raw(cond1(CondBody, `^b`), condMatch(string(key), `v+`))
			}
			if arg&4 != 0 {
				a = raw(a, condNumber(string(key), 1))
			}
			eds = append(eds, Edit{Op: op, A: a, B: names[1]})
		case OpSample:
			if ix.Signal != Metrics {
				eds = append(eds, Edit{Op: op, A: u64le(uint64(t16) << (arg % 48)), B: names[1]})
			}
		case OpDropSeverity:
			if ix.Signal == Logs {
				eds = append(eds, Edit{Op: op, Arg: 1 + uint32(arg%24)})
			}
		case OpHashValues:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, Arg: uint32(arg>>3) & 1, A: key, B: names[0]})
		case OpNormalizeKey:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, A: bytes.ToUpper(key)})
		case OpMaskValues:
			det := uint32(t16 % 5)
			a := maskA("")
			if det == 0 {
				a = maskA([]string{`v+`, `\w`, `x*`, `(?i)K`}[arg%4])
			}
			if arg&8 != 0 {
				a = lenField(a, key)
			}
			if arg&16 != 0 {
				det |= MaskExceptKeys
			}
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, Arg: det, A: a, B: []byte("*")})
		case OpDropInvalid:
			lim := uint64(t16) << 40
			eds = append(eds, Edit{Op: op, Arg: uint32(arg % 32), A: append(binary.LittleEndian.AppendUint64(nil, lim>>8), binary.LittleEndian.AppendUint64(nil, lim)...),
				B: []byte("a\x00b\x00c\x00d\x00e\x00f\x00g\x00h\x00i\x00j\x00")})
		case OpClampFuture:
			lim := uint64(t16) << 8
			eds = append(eds, Edit{Op: op, A: append(binary.LittleEndian.AppendUint64(nil, lim), binary.LittleEndian.AppendUint64(nil, lim>>uint(arg%9))...)})
		case OpCapAttrs:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, Arg: uint32(t16 % 5)})
		case OpDeleteKey:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, Arg: uint32(arg>>3) & 1, A: key})
		case OpTruncateValues:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, Arg: uint32(t16 % 9)})
		case OpSetDefault:
			eds = append(eds, Edit{Op: op, Owner: 1 + arg%7, A: key, B: values[int(sel/16)%len(values)]})
		case OpDropNamed:
			ed := Edit{Op: op, A: []byte("b"), B: names[1]}
			if n > 0 {
				it := ix.ItemsAt[t16%n]
				if nm := req[it.NameOff:it.NameEnd]; len(nm) > 0 && utf8.Valid(nm) {
					ed.A = nm
				}
			}
			if ix.Signal == Logs && arg&1 == 1 {
				ed.Arg = DropNamedBody
				if n > 0 {
					if off, end, ok := logBody(req, &ix.ItemsAt[t16%n]); ok && end > off && utf8.Valid(req[off:end]) {
						ed.A = req[off:end]
					}
				}
			}
			eds = append(eds, ed)
		case OpDropItem:
			if n > 0 {
				eds = append(eds, Edit{Op: op, Target: uint32(t16 % n), A: names[1]})
			}
		case OpDeleteAttr, OpTruncateAttr, OpRenameAttr:
			if len(ix.Attrs) == 0 {
				continue
			}
			ed := Edit{Op: op, Target: uint32(t16 % len(ix.Attrs))}
			switch op {
			case OpTruncateAttr:
				ed.Arg = uint32(arg % 12)
			case OpRenameAttr:
				ed.A = key
			}
			eds = append(eds, ed)
		case OpSetAttr:
			owner, size := uint8(OwnerItem), n
			switch arg % 3 {
			case 0:
				owner, size = uint8(OwnerResource), len(ix.Resources)
			case 1:
				owner, size = uint8(OwnerScope), len(ix.Scopes)
			}
			if size > 0 {
				eds = append(eds, Edit{Op: op, Owner: owner, Target: uint32(t16 % size), A: key, B: values[int(sel/8)%len(values)]})
			}
		case OpSetName:
			name := names[int(arg)%len(names)]
			if ix.Signal == Metrics && len(ix.Metrics) > 0 {
				eds = append(eds, Edit{Op: op, Owner: EditOwnerMetric, Target: uint32(t16 % len(ix.Metrics)), A: name})
			} else if ix.Signal != Metrics && n > 0 {
				eds = append(eds, Edit{Op: op, Owner: uint8(OwnerItem), Target: uint32(t16 % n), A: name})
			}
		case OpSetStatus:
			if ix.Signal == Traces && n > 0 {
				eds = append(eds, Edit{Op: op, Target: uint32(t16 % n), Arg: uint32(arg % 3), A: names[int(arg)%len(names)]})
			}
		case OpSetFixed64:
			if n == 0 {
				continue
			}
			it := uint32(t16 % n)
			var fields []uint32
			for num, fd := range schemas[ix.itemMsg(it)] {
				if fd.kind == fkFixed64 {
					fields = append(fields, uint32(num))
				}
			}
			val := binary.LittleEndian.AppendUint64(nil, uint64(t16)<<20|uint64(arg))
			eds = append(eds, Edit{Op: op, Target: it, Arg: fields[int(arg)%len(fields)], A: val})
		}
	}
	return eds
}

// tinyRequests are FuzzApply's seeds: every level and a few attributes in
// about a hundred bytes. The minimiser tries removing every byte range of a
// new interesting input (quadratic in its size), so seeds of several
// hundred bytes stall the fuzzer for seconds at a time.
func tinyRequests() []sample {
	a := func(k, v string) []*commonpb.KeyValue { return []*commonpb.KeyValue{kv(k, str(v))} }
	res := &resourcepb.Resource{Attributes: a("s", "v")}
	scope := &commonpb.InstrumentationScope{Name: "l", Attributes: a("q", "w")}
	return []sample{
		{"traces", Traces, &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			Resource: res,
			ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: []*tracepb.Span{
				{Name: "a", Attributes: append(a("k", "vv"), kv("i", intVal(1))), StartTimeUnixNano: 1, Status: &tracepb.Status{Code: 1}},
				{Name: "b", Attributes: a("k", "ü")},
			}}},
		}}}},
		{"metrics", Metrics, &colmetrics.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
			Resource: res,
			ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: scope, Metrics: []*metricspb.Metric{
				{Name: "g", Data: &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{
					{Attributes: a("k", "v"), Value: &metricspb.NumberDataPoint_AsInt{AsInt: 1}}, {TimeUnixNano: 2},
				}}}},
				{Name: "h", Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{DataPoints: []*metricspb.HistogramDataPoint{
					{Attributes: a("k", "v"), Count: 1},
				}}}},
			}}},
		}}}},
		{"logs", Logs, &collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
			Resource: res,
			ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: []*logspb.LogRecord{
				{EventName: "e", Attributes: a("k", "vv"), TimeUnixNano: 1}, {Body: str("b"), Attributes: a("x", "y")},
			}}},
		}}}},
	}
}

func FuzzApply(f *testing.F) {
	for _, s := range tinyRequests() {
		req := mustMarshal(f, s.msg)
		f.Add(uint8(s.sig), req, []byte{0, 1, 0, 3, 1, 2, 0, 1, 2, 0, 0, 2, 3, 4, 0, 5, 5, 1, 0, 7, 6, 0, 0, 1, 7, 3, 0, 2})
		f.Add(uint8(s.sig), req, []byte{})
		// Ops 18-22: DROP_MATCH, SAMPLE, DROP_SEVERITY, HASH_VALUES,
		// MASK_VALUES (a run of the last two with DELETE_KEY).
		f.Add(uint8(s.sig), req, []byte{17, 0, 0, 0, 17, 1, 0, 6, 18, 0, 0, 3, 19, 0, 0, 9, 20, 1, 0, 9, 10, 0, 0, 1, 21, 2, 0, 26, 21, 0, 0, 1})
	}
	values := fuzzValues(f)
	var ix Index
	var e Edits
	var dst, list []byte
	f.Fuzz(func(t *testing.T, sigByte uint8, req, ops []byte) {
		sig := Signal(sigByte % uint8(NumSignals))
		if ix.Parse(sig, req) != nil {
			return
		}
		eds := fuzzEdits(&ix, req, ops, values)
		list = list[:0]
		for _, ed := range eds {
			list = AppendEdit(list, ed)
		}
		if err := e.Decode(list, &ix); err != nil {
			t.Fatalf("Decode refused a valid list: %v", err)
		}
		out, dropped, err := Apply(&ix, req, &e, dst[:0])
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		dst = out
		if len(eds) == 0 && string(out) != string(req) {
			t.Fatal("no edits, yet the output differs from the input")
		}
		checkApplied(t, sig, out, ix.Items-dropped)
		checkDrops(t, &e, dropped)
		checkResources(t, &ix, req, &e, sig)
	})
}

// checkDrops checks that e.Drops accounts for every dropped item, list by
// list, within its bound on reasons.
func checkDrops(t *testing.T, e *Edits, dropped int) {
	t.Helper()
	bySeg := make([]int, e.Segments)
	reasons, total := 0, 0
	for _, d := range e.Drops {
		bySeg[d.Segment] += d.Items
		total += d.Items
		if !d.Other {
			reasons++
		}
	}
	if total != dropped || reasons > MaxReasonDrops {
		t.Fatalf("Drops count %d items under %d reasons; Apply dropped %d: %+v", total, reasons, dropped, e.Drops)
	}
	for k, n := range bySeg {
		if n != e.SegmentDrops[k] {
			t.Fatalf("list %d: Drops count %d, SegmentDrops %d", k, n, e.SegmentDrops[k])
		}
	}
}

// checkResources checks that ApplyResources gives the same bytes as Apply
// and, when it changed them, a resource-level index equal to a full Parse's.
func checkResources(t *testing.T, ix *Index, req []byte, e *Edits, sig Signal) {
	t.Helper()
	var outIx, full Index
	out, _, changed, err := ApplyResources(ix, req, e, nil, &outIx)
	if err != nil {
		t.Fatalf("ApplyResources: %v", err)
	}
	if !changed {
		return
	}
	if err := full.Parse(sig, out); err != nil {
		t.Fatalf("ApplyResources output does not parse: %v", err)
	}
	if outIx.Items != full.Items || len(outIx.Resources) != len(full.Resources) {
		t.Fatalf("ApplyResources index: %d items in %d resources; Parse: %d in %d", outIx.Items, len(outIx.Resources), full.Items, len(full.Resources))
	}
	for k, r := range full.Resources {
		o := outIx.Resources[k]
		if o.Off != r.Off || o.End != r.End || o.ItemStart != r.ItemStart || o.ItemEnd != r.ItemEnd {
			t.Fatalf("resource %d: ApplyResources %d..%d items %d..%d; Parse %d..%d items %d..%d", k, o.Off, o.End, o.ItemStart, o.ItemEnd, r.Off, r.End, r.ItemStart, r.ItemEnd)
		}
	}
}

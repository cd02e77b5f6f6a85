package otlpwire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire/internal/match"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Tests of the bulk edits that read what items and values hold:
// DROP_MATCH, SAMPLE, DROP_SEVERITY, HASH_VALUES and MASK_VALUES. Requests
// are built with the generated types and outputs decoded with
// proto.Unmarshal, as in edit_test.go.

// lenField appends f to b with its uvarint length prefix.
func lenField(b []byte, f []byte) []byte {
	b = protowire.AppendVarint(b, uint64(len(f)))
	return append(b, f...)
}

// cond1 is a one-field DROP_MATCH condition (CondName, CondBody,
// CondAttrExists).
func cond1(kind byte, f string) []byte { return lenField([]byte{kind}, []byte(f)) }

// cond2 is a two-field DROP_MATCH condition (key, then v).
func cond2(kind byte, key string, v []byte) []byte {
	return lenField(lenField([]byte{kind}, []byte(key)), v)
}

func condString(key, v string) []byte { return cond2(CondAttrString, key, []byte(v)) }
func condMatch(key, p string) []byte  { return cond2(CondAttrMatch, key, []byte(p)) }
func condNumber(key string, v float64) []byte {
	return cond2(CondAttrNumber, key, u64le(math.Float64bits(v)))
}
func condBool(key string, v bool) []byte {
	b := byte(0)
	if v {
		b = 1
	}
	return cond2(CondAttrBool, key, []byte{b})
}

// maskA is MASK_VALUES's A: the pattern, then the keys, each
// length-prefixed.
func maskA(pattern string, keys ...string) []byte {
	b := lenField(nil, []byte(pattern))
	for _, k := range keys {
		b = lenField(b, []byte(k))
	}
	return b
}

// hashHex is what HASH_VALUES makes of a value whose text is text.
func hashHex(salt, text string) string {
	sum := sha256.Sum256([]byte(salt + text))
	return hex.EncodeToString(sum[:])
}

func boolVal(v bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}
}

func dblVal(v float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v}}
}

func arrVal(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}

func mapVal(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}

// oneScopeTraces is a request of one resource and one scope holding spans.
func oneScopeTraces(res, scope []*commonpb.KeyValue, spans ...*tracepb.Span) *coltrace.ExportTraceServiceRequest {
	return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: res},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "lib", Attributes: scope},
			Spans: spans,
		}},
	}}}
}

// oneScopeLogs is a request of one resource and one scope holding records.
func oneScopeLogs(records ...*logspb.LogRecord) *collogs.ExportLogsServiceRequest {
	return &collogs.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("svc"))}},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "lib"}, LogRecords: records}},
	}}}
}

type contentResult struct {
	got     proto.Message
	dropped int
	changed bool
	e       *Edits
}

// runContent decodes the list edits builds against m's index, applies it
// with ApplyChanged, checks the output parses with the expected item count
// (and that ApplyResources agrees), and returns the output decoded.
func runContent(t *testing.T, sig Signal, m proto.Message, edits func(f finder) []Edit) contentResult {
	t.Helper()
	req := mustMarshal(t, m)
	var ix Index
	if err := ix.Parse(sig, req); err != nil {
		t.Fatal(err)
	}
	e := &Edits{}
	if err := e.Decode(encodeEdits(edits(finder{t, &ix, req})...), &ix); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	out, dropped, changed, err := ApplyChanged(&ix, req, e, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !changed {
		if out != nil || dropped != 0 {
			t.Fatalf("ApplyChanged: no change, yet %d bytes out and %d dropped", len(out), dropped)
		}
		out = req
	}
	checkApplied(t, sig, out, ix.Items-dropped)
	checkResources(t, &ix, req, e, sig)
	got := newRequest(sig)
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatalf("output does not unmarshal: %v", err)
	}
	return contentResult{got, dropped, changed, e}
}

// only is a list of fixed edits, for runContent.
func only(eds ...Edit) func(finder) []Edit { return func(finder) []Edit { return eds } }

func spanNames(m proto.Message) string {
	var ns []string
	for _, rs := range tr(m).ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				ns = append(ns, sp.Name)
			}
		}
	}
	return strings.Join(ns, ",")
}

func eventNames(m proto.Message) string {
	var ns []string
	for _, rl := range lg(m).ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				ns = append(ns, lr.EventName)
			}
		}
	}
	return strings.Join(ns, ",")
}

// attrOf is the value of the first attribute key in kvs, nil when none.
func attrOf(kvs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, a := range kvs {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

func hasAttr(kvs []*commonpb.KeyValue, key string) bool {
	for _, a := range kvs {
		if a.Key == key {
			return true
		}
	}
	return false
}

func sameValue(t *testing.T, what string, got, want *commonpb.AnyValue) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s = %s, want %s", what, prototext.Format(got), prototext.Format(want))
	}
}

// matchSpans are DROP_MATCH's test spans, named A..F by the first word of
// their comments.
func matchSpans() *coltrace.ExportTraceServiceRequest {
	return oneScopeTraces(nil, nil,
		// A: every kind of attribute.
		&tracepb.Span{Name: "GET /healthz", Attributes: []*commonpb.KeyValue{
			kv("method", str("GET")), kv("code", intVal(200)), kv("ratio", dblVal(0.5)), kv("ok", boolVal(true)), kv("user", str("alice@example.com")),
			kv("raw", bytesVal([]byte("GET"))),
		}},
		// B
		&tracepb.Span{Name: "HEAD /healthz", Attributes: []*commonpb.KeyValue{
			kv("method", str("HEAD")), kv("code", intVal(404)), kv("ratio", dblVal(200)), kv("ok", boolVal(false)),
		}},
		// C: the same values under the wrong types.
		&tracepb.Span{Name: "POST /healthz", Attributes: []*commonpb.KeyValue{
			kv("method", str("POST")), kv("code", str("200")), kv("ratio", intVal(1)), kv("ok", str("true")),
		}},
		// D: no attributes.
		&tracepb.Span{Name: "GET /healthz/deep"},
		// E: code as a double.
		&tracepb.Span{Name: "GET /api/v1/users/42", Attributes: []*commonpb.KeyValue{
			kv("method", str("GET")), kv("code", dblVal(200)),
		}},
		// F: lower case, and the key twice: the first one counts.
		&tracepb.Span{Name: "get /healthz", Attributes: []*commonpb.KeyValue{
			kv("method", str("get")), kv("method", str("GET")),
		}},
	)
}

const (
	spanA = "GET /healthz"
	spanB = "HEAD /healthz"
	spanC = "POST /healthz"
	spanD = "GET /healthz/deep"
	spanE = "GET /api/v1/users/42"
	spanF = "get /healthz"
)

func names(ns ...string) string { return strings.Join(ns, ",") }

// TestDropMatchConditions: each condition kind, matching and not, alone
// and together (all must hold).
func TestDropMatchConditions(t *testing.T) {
	healthz := `^(GET|HEAD) /healthz$`
	users := `^GET /api/v\d+/users/\d+$`
	for p, want := range map[string]match.Mode{healthz: match.ModeExact, users: match.ModeRegexp, `^GET `: match.ModePrefix, `^(GET|HEAD)$`: match.ModeExact} {
		m, err := compiled([]byte(p))
		if err != nil || m.Mode() != want {
			t.Fatalf("pattern %s compiles to mode %v (%v), want %v: the test means to cover that path", p, m.Mode(), err, want)
		}
	}
	all := names(spanA, spanB, spanC, spanD, spanE, spanF)
	cases := []struct {
		name  string
		conds []byte
		kept  string
	}{
		{"name: literal set", cond1(CondName, healthz), names(spanC, spanD, spanE, spanF)},
		{"name: regexp", cond1(CondName, users), names(spanA, spanB, spanC, spanD, spanF)},
		{"name: unanchored regexp", cond1(CondName, `healthz`), names(spanE)},
		{"name: prefix", cond1(CondName, `^GET `), names(spanB, spanC, spanF)},
		{"name: case-insensitive regexp", cond1(CondName, `(?i)^get /healthz$`), names(spanB, spanC, spanD, spanE)},
		{"name: no match", cond1(CondName, `^PUT `), all},
		{"string: equal", condString("method", "GET"), names(spanB, spanC, spanD, spanF)},
		{"string: not a number's text", condString("code", "200"), names(spanA, spanB, spanD, spanE, spanF)},
		{"string: no match", condString("method", "DELETE"), all},
		{"string: not bytes", condString("raw", "GET"), all},
		{"string: empty matches no value here", condString("method", ""), all},
		{"number: int and double", condNumber("code", 200), names(spanB, spanC, spanD, spanF)},
		{"number: double", condNumber("ratio", 0.5), names(spanB, spanC, spanD, spanE, spanF)},
		{"number: whole double", condNumber("ratio", 200), names(spanA, spanC, spanD, spanE, spanF)},
		{"number: int", condNumber("ratio", 1), names(spanA, spanB, spanD, spanE, spanF)},
		{"number: no match", condNumber("code", 200.5), all},
		{"number: not a string", condNumber("method", 0), all},
		{"bool: true", condBool("ok", true), names(spanB, spanC, spanD, spanE, spanF)},
		{"bool: false", condBool("ok", false), names(spanA, spanC, spanD, spanE, spanF)},
		{"exists", cond1(CondAttrExists, "ok"), names(spanD, spanE, spanF)},
		{"exists: no such key", cond1(CondAttrExists, "nope"), all},
		{"exists: keys are case-sensitive", cond1(CondAttrExists, "OK"), all},
		{"attr regexp", condMatch("user", `@example\.com$`), names(spanB, spanC, spanD, spanE, spanF)},
		{"attr regexp: strings only", condMatch("code", `^200$`), names(spanA, spanB, spanD, spanE, spanF)},
		{"attr regexp: not bytes", condMatch("raw", `GET`), all},
		{"attr regexp: literal set", condMatch("method", `^(GET|HEAD)$`), names(spanC, spanD, spanF)},
		{"body on traces never matches", cond1(CondBody, `healthz`), all},
		{"and: prefix and number", raw(cond1(CondName, `^GET `), condNumber("code", 200)), names(spanB, spanC, spanD, spanF)},
		{"and: three", raw(cond1(CondName, `^GET `), condNumber("code", 200), cond1(CondAttrExists, "ok")), names(spanB, spanC, spanD, spanE, spanF)},
		{"and: set and bool", raw(cond1(CondName, healthz), condBool("ok", false)), names(spanA, spanC, spanD, spanE, spanF)},
		{"and: one fails", raw(cond1(CondName, users), condString("method", "POST")), all},
		{"and: body fails on traces", raw(cond1(CondName, healthz), cond1(CondBody, `.`)), all},
	}
	total := strings.Count(all, ",") + 1
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runContent(t, Traces, matchSpans(), only(Edit{Op: OpDropMatch, A: tc.conds, B: []byte("matched")}))
			if got := spanNames(r.got); got != tc.kept {
				t.Fatalf("kept %q, want %q", got, tc.kept)
			}
			want := total - (strings.Count(tc.kept, ",") + 1)
			if r.dropped != want || r.e.SegmentDrops[0] != want {
				t.Errorf("dropped %d (segment %v), want %d", r.dropped, r.e.SegmentDrops, want)
			}
			if r.changed != (want > 0) {
				t.Errorf("changed %v with %d dropped", r.changed, want)
			}
			wantReason := ""
			if want > 0 {
				wantReason = "matched"
			}
			if string(r.e.DropReason) != wantReason || string(r.e.SegmentReasons[0]) != wantReason {
				t.Errorf("reason %q (segment %q), want %q", r.e.DropReason, r.e.SegmentReasons[0], wantReason)
			}
		})
	}
}

// TestDropMatchCountsEachItemOnce: an item an earlier edit dropped is not
// dropped, or counted, again; each list counts the drops it made first,
// with the reason of its first edit that dropped something.
func TestDropMatchCountsEachItemOnce(t *testing.T) {
	healthz := cond1(CondName, `^(GET|HEAD) /healthz$`)
	get := cond1(CondName, `^GET `)
	r := runContent(t, Traces, matchSpans(), func(f finder) []Edit {
		return []Edit{
			{Op: OpDropMatch, A: cond1(CondName, `^PUT`), B: []byte("none")}, // drops nothing: its reason is not used
			{Op: OpDropItem, Target: f.item(spanA)},
			{Op: OpDropMatch, A: healthz, B: []byte("health")},
			{Op: OpDropMatch, A: get, B: []byte("get")},
			{Op: OpDropMatch, A: healthz, B: []byte("again")},
		}
	})
	if got := spanNames(r.got); got != names(spanC, spanF) {
		t.Fatalf("kept %q, want %q", got, names(spanC, spanF))
	}
	if r.dropped != 4 || r.e.SegmentDrops[0] != 4 {
		t.Errorf("dropped %d (segment %v), want 4", r.dropped, r.e.SegmentDrops)
	}
	if string(r.e.DropReason) != "health" {
		t.Errorf("reason %q, want health (DROP_ITEM gave none, the first DROP_MATCH dropped nothing)", r.e.DropReason)
	}

	// Several lists applied together.
	b := mustMarshal(t, matchSpans())
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	if err := e.Decode(encodeEdits(Edit{Op: OpDropMatch, A: healthz, B: []byte("a")}), &ix); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][]byte{
		encodeEdits(Edit{Op: OpDropMatch, A: get, B: []byte("b")}),
		encodeEdits(Edit{Op: OpDropMatch, A: healthz, B: []byte("c")}, Edit{Op: OpDropMatch, A: get, B: []byte("c")}),
		encodeEdits(Edit{Op: OpDropMatch, A: cond1(CondName, `healthz`), B: []byte("d")}),
	} {
		if err := e.DecodeMore(l, &ix); err != nil {
			t.Fatal(err)
		}
	}
	out, dropped, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	if dropped != 6 || spanNames(got) != "" {
		t.Fatalf("dropped %d, kept %q; want 6, none", dropped, spanNames(got))
	}
	if d := e.SegmentDrops; len(d) != 4 || d[0] != 2 || d[1] != 2 || d[2] != 0 || d[3] != 2 {
		t.Errorf("per-list drops %v, want [2 2 0 2]", d)
	}
	if rs := e.SegmentReasons; string(rs[0]) != "a" || string(rs[1]) != "b" || rs[2] != nil || string(rs[3]) != "d" {
		t.Errorf("per-list reasons %q, want a, b, none, d", rs)
	}
	if string(e.DropReason) != "a" {
		t.Errorf("reason %q, want a", e.DropReason)
	}
}

// TestDropMatchSeesEarlierEdits: conditions on attributes see them as the
// edits before in the list leave them: renamed, deleted, appended, set,
// truncated, hashed.
func TestDropMatchSeesEarlierEdits(t *testing.T) {
	r := runContent(t, Traces, matchSpans(), func(f finder) []Edit {
		a, b, c, d, e, ff := f.item(spanA), f.item(spanB), f.item(spanC), f.item(spanD), f.item(spanE), f.item(spanF)
		return []Edit{
			{Op: OpRenameAttr, Target: f.attr(OwnerItem, b, "method"), A: []byte("verb")},
			{Op: OpDeleteAttr, Target: f.attr(OwnerItem, a, "method")},
			{Op: OpSetAttr, Owner: 3, Target: e, A: []byte("verb"), B: anyBody(t, str("GET"))},
			{Op: OpSetAttr, Owner: 3, Target: c, A: []byte("method"), B: anyBody(t, str("GET"))},
			{Op: OpTruncateAttr, Target: f.attr(OwnerItem, ff, "method"), Arg: 2},
			{Op: OpSetAttr, Owner: 3, Target: d, A: []byte("tmp"), B: anyBody(t, str("x"))},
			{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("tmp")},
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("user"), B: []byte("salt")},
			// B (renamed) and E (appended).
			{Op: OpDropMatch, A: cond1(CondAttrExists, "verb"), B: []byte("r")},
			// C (set); not A (deleted), nor E (dropped already).
			{Op: OpDropMatch, A: condString("method", "GET"), B: []byte("r")},
			// F (truncated).
			{Op: OpDropMatch, A: condString("method", "ge"), B: []byte("r")},
			// Nothing: the appended key was deleted.
			{Op: OpDropMatch, A: cond1(CondAttrExists, "tmp"), B: []byte("r")},
			// Nothing: the value is hashed now.
			{Op: OpDropMatch, A: condMatch("user", "@"), B: []byte("r")},
		}
	})
	if got := spanNames(r.got); got != names(spanA, spanD) || r.dropped != 4 {
		t.Fatalf("kept %q (%d dropped), want %q (4)", got, r.dropped, names(spanA, spanD))
	}

	// And a condition on the hashed value matches it.
	r = runContent(t, Traces, matchSpans(), only(
		Edit{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("user"), B: []byte("salt")},
		Edit{Op: OpDropMatch, A: condString("user", hashHex("salt", "alice@example.com"))},
	))
	if got := spanNames(r.got); got != names(spanB, spanC, spanD, spanE, spanF) {
		t.Fatalf("after hashing user, dropping on its hash kept %q", got)
	}
}

// TestDropMatchLogs: CondBody matches a log record's string body only;
// CondName matches its event_name.
func TestDropMatchLogs(t *testing.T) {
	msg := func() proto.Message {
		return oneScopeLogs(
			&logspb.LogRecord{EventName: "r0", Body: str("GET /healthz ok")},
			&logspb.LogRecord{EventName: "r1", Body: str("POST /x")},
			&logspb.LogRecord{EventName: "r2", Body: bytesVal([]byte("GET /healthz"))},
			&logspb.LogRecord{EventName: "r3", Body: mapVal(kv("msg", str("GET /healthz")))},
			&logspb.LogRecord{EventName: "GET /healthz"},
			&logspb.LogRecord{EventName: "r5", Body: str("GET /healthz"), Attributes: []*commonpb.KeyValue{kv("level", str("debug"))}},
		)
	}
	cases := []struct {
		name  string
		conds []byte
		kept  string
	}{
		{"body prefix", cond1(CondBody, `^GET /healthz`), "r1,r2,r3,GET /healthz"},
		{"body exact", cond1(CondBody, `^GET /healthz$`), "r0,r1,r2,r3,GET /healthz"},
		{"body regexp", cond1(CondBody, `\bok$`), "r1,r2,r3,GET /healthz,r5"},
		{"body and attribute", raw(cond1(CondBody, `healthz`), condString("level", "debug")), "r0,r1,r2,r3,GET /healthz"},
		{"name is event_name", cond1(CondName, `^GET /healthz$`), "r0,r1,r2,r3,r5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runContent(t, Logs, msg(), only(Edit{Op: OpDropMatch, A: tc.conds, B: []byte("noise")}))
			if got := eventNames(r.got); got != tc.kept {
				t.Fatalf("kept %q, want %q", got, tc.kept)
			}
			if want := 6 - (strings.Count(tc.kept, ",") + 1); r.dropped != want || string(r.e.DropReason) != "noise" {
				t.Errorf("dropped %d (reason %q), want %d (noise)", r.dropped, r.e.DropReason, want)
			}
		})
	}
}

// TestDropMatchDataPoints: a data point's name is its metric's; a metric
// left with no points goes.
func TestDropMatchDataPoints(t *testing.T) {
	// makeMetrics(1, 1, 2): gauge.0, sum, histogram, exphistogram, summary
	// and no-data, two points each (none for no-data); point 1 has one
	// attribute, "<prefix>.attr0" = "value-0".
	shape := func(m proto.Message) string {
		var ms []string
		for _, met := range mt(m).ResourceMetrics[0].ScopeMetrics[0].Metrics {
			ms = append(ms, met.Name+":"+string(rune('0'+metricPoints(met))))
		}
		return strings.Join(ms, ",")
	}
	cases := []struct {
		name    string
		conds   []byte
		want    string
		dropped int
	}{
		{"literal set", cond1(CondName, `^(sum|histogram)$`), "gauge.0:2,exphistogram:2,summary:2,no-data:0", 4},
		{"regexp", cond1(CondName, `gauge`), "sum:2,histogram:2,exphistogram:2,summary:2,no-data:0", 2},
		{"name and attribute", raw(cond1(CondName, `^sum$`), condString("dp.attr0", "value-0")), "gauge.0:2,sum:1,histogram:2,exphistogram:2,summary:2,no-data:0", 1},
		{"attribute alone", condString("h.attr0", "value-0"), "gauge.0:2,sum:2,histogram:1,exphistogram:2,summary:2,no-data:0", 1},
		{"body never matches", cond1(CondBody, `.`), "gauge.0:2,sum:2,histogram:2,exphistogram:2,summary:2,no-data:0", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runContent(t, Metrics, makeMetrics(1, 1, 2), only(Edit{Op: OpDropMatch, A: tc.conds, B: []byte("m")}))
			if got := shape(r.got); got != tc.want || r.dropped != tc.dropped {
				t.Fatalf("metrics %s (%d dropped), want %s (%d)", got, r.dropped, tc.want, tc.dropped)
			}
		})
	}
}

// TestDropMatchBodyOnlyOnLogs: a span whose name happens to encode an
// AnyValue string (field 5, like LogRecord.body) does not have a body.
func TestDropMatchBodyOnlyOnLogs(t *testing.T) {
	r := runContent(t, Traces, oneScopeTraces(nil, nil, &tracepb.Span{Name: "\n\x07healthz"}, &tracepb.Span{Name: "x"}),
		only(Edit{Op: OpDropMatch, A: cond1(CondBody, `healthz`)}))
	if r.dropped != 0 || r.changed {
		t.Fatalf("CondBody on traces dropped %d (changed %v), want none", r.dropped, r.changed)
	}
}

// traceID is a trace ID whose bytes 0..8 are hi and whose low 56 bits
// (bytes 9..15, big-endian) are r.
func traceID(hi byte, r uint64) []byte {
	b := make([]byte, 16)
	for i := range 9 {
		b[i] = hi
	}
	for i := 15; i >= 9; i-- {
		b[i] = byte(r)
		r >>= 8
	}
	return b
}

// TestSample: SAMPLE drops the spans and log records whose trace ID's low
// 56 bits are below the threshold, and keeps those with an all-zero or no
// trace ID.
func TestSample(t *testing.T) {
	const half = 1 << 55
	type idCase struct {
		name string
		id   []byte
	}
	ids := []idCase{
		{"low", traceID(0xaa, 0x10)},
		{"below", traceID(0xaa, half-1)},
		{"at", traceID(0xaa, half)},
		{"above", traceID(0xaa, half+1)},
		{"max", traceID(0xaa, 1<<56-1)},
		{"hi-ignored", traceID(0xff, 1)}, // byte 8 is not part of the random bits
		{"low-zero", traceID(0x01, 0)},   // not all zero: 0 is below
		{"big-endian", append(make([]byte, 9), 0x7f, 0, 0, 0, 0, 0, 0xff)},
		{"all-zero", make([]byte, 16)},
		{"none", nil},
	}
	spans := func() proto.Message {
		var sps []*tracepb.Span
		for _, c := range ids {
			sps = append(sps, &tracepb.Span{Name: c.name, TraceId: c.id, SpanId: id(8, 1)})
		}
		return oneScopeTraces(nil, nil, sps...)
	}
	records := func() proto.Message {
		var lrs []*logspb.LogRecord
		for _, c := range ids {
			lrs = append(lrs, &logspb.LogRecord{EventName: c.name, TraceId: c.id})
		}
		return oneScopeLogs(lrs...)
	}
	keptAtHalf := "at,above,max,all-zero,none"
	cases := []struct {
		threshold uint64
		kept      string
	}{
		{half, keptAtHalf},
		{0, "low,below,at,above,max,hi-ignored,low-zero,big-endian,all-zero,none"},
		{1, "low,below,at,above,max,hi-ignored,big-endian,all-zero,none"},
		{1 << 56, "all-zero,none"},
		{math.MaxUint64, "all-zero,none"},
	}
	for _, tc := range cases {
		want := 10 - (strings.Count(tc.kept, ",") + 1)
		r := runContent(t, Traces, spans(), only(Edit{Op: OpSample, A: u64le(tc.threshold), B: []byte("sampled")}))
		if got := spanNames(r.got); got != tc.kept || r.dropped != want || r.e.SegmentDrops[0] != want {
			t.Errorf("traces, threshold %#x: kept %q (%d dropped), want %q (%d)", tc.threshold, got, r.dropped, tc.kept, want)
		}
		if r.changed != (want > 0) || (want > 0) != (string(r.e.DropReason) == "sampled") {
			t.Errorf("traces, threshold %#x: changed %v, reason %q", tc.threshold, r.changed, r.e.DropReason)
		}
		r = runContent(t, Logs, records(), only(Edit{Op: OpSample, A: u64le(tc.threshold), B: []byte("sampled")}))
		if got := eventNames(r.got); got != tc.kept || r.dropped != want {
			t.Errorf("logs, threshold %#x: kept %q (%d dropped), want %q (%d)", tc.threshold, got, r.dropped, tc.kept, want)
		}
	}

	// An item dropped before is not counted again.
	r := runContent(t, Traces, spans(), func(f finder) []Edit {
		return []Edit{{Op: OpDropItem, Target: f.item("low")}, {Op: OpSample, A: u64le(half), B: []byte("sampled")}}
	})
	if got := spanNames(r.got); got != keptAtHalf || r.dropped != 5 || r.e.SegmentDrops[0] != 5 {
		t.Errorf("DROP_ITEM then SAMPLE: kept %q, %d dropped (segment %v), want 5", got, r.dropped, r.e.SegmentDrops)
	}

	// makeLogs gives every other record a trace ID; the rest are kept.
	r = runContent(t, Logs, makeLogs(1, 1, 4, 0), only(Edit{Op: OpSample, A: u64le(1 << 56)}))
	if r.dropped != 2 {
		t.Errorf("logs half without trace IDs: %d dropped, want 2", r.dropped)
	}
}

// TestDropSeverity: DROP_SEVERITY drops log records of severity 1..Arg and
// keeps unspecified (0) and higher ones.
func TestDropSeverity(t *testing.T) {
	// makeLogs(1, 1, 25, 0): record k, event-k, has severity k.
	kept := func(m proto.Message) string {
		var ks []string
		for _, lr := range lg(m).ResourceLogs[0].ScopeLogs[0].LogRecords {
			ks = append(ks, strings.TrimPrefix(lr.EventName, "event-"))
		}
		return strings.Join(ks, ",")
	}
	for _, tc := range []struct {
		max  uint32
		kept string
	}{
		{1, "0,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24"},
		{9, "0,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24"},
		{24, "0"},
	} {
		r := runContent(t, Logs, makeLogs(1, 1, 25, 0), only(Edit{Op: OpDropSeverity, Arg: tc.max, B: []byte("debug")}))
		if got := kept(r.got); got != tc.kept || r.dropped != int(tc.max) || r.e.SegmentDrops[0] != int(tc.max) || string(r.e.DropReason) != "debug" {
			t.Errorf("max %d: kept %s, %d dropped, reason %q; want %s, %d, debug", tc.max, got, r.dropped, r.e.DropReason, tc.kept, tc.max)
		}
	}

	// A negative severity is not low; records dropped before are not
	// counted again; a list that drops nothing changes nothing.
	msg := oneScopeLogs(
		&logspb.LogRecord{EventName: "neg", SeverityNumber: -1},
		&logspb.LogRecord{EventName: "debug", SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_DEBUG},
		&logspb.LogRecord{EventName: "info", SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO},
		&logspb.LogRecord{EventName: "unset"},
	)
	r := runContent(t, Logs, msg, func(f finder) []Edit {
		return []Edit{{Op: OpDropItem, Target: f.item("debug")}, {Op: OpDropSeverity, Arg: 9}}
	})
	if got := eventNames(r.got); got != "neg,unset" || r.dropped != 2 {
		t.Errorf("kept %q (%d dropped), want neg,unset (2)", got, r.dropped)
	}
	r = runContent(t, Logs, msg, only(Edit{Op: OpDropSeverity, Arg: 5}))
	if got := eventNames(r.got); got != "neg,info,unset" || r.dropped != 1 {
		t.Errorf("max 5: kept %q (%d dropped), want neg,info,unset (1)", got, r.dropped)
	}
	r = runContent(t, Logs, oneScopeLogs(&logspb.LogRecord{EventName: "x", SeverityNumber: 20}), only(Edit{Op: OpDropSeverity, Arg: 19}))
	if r.changed || r.dropped != 0 {
		t.Errorf("nothing at or below 19: changed %v, %d dropped", r.changed, r.dropped)
	}
}

// hashKinds are values of every kind with the text HASH_VALUES hashes for
// them, spelled out.
var hashKinds = []struct {
	name string
	v    *commonpb.AnyValue
	text string
}{
	{"string", str("hunter2"), "hunter2"},
	{"unicode string", str("pâté"), "pâté"},
	{"empty string", str(""), ""},
	{"bytes", bytesVal([]byte{0, 0xff, 'a'}), "\x00\xffa"},
	{"int", intVal(-42), "-42"},
	{"big int", intVal(math.MaxInt64), "9223372036854775807"},
	{"double", dblVal(0.1), "0.1"},
	{"whole double", dblVal(3), "3"},
	{"huge double", dblVal(1e21), "1e+21"},
	{"true", boolVal(true), "true"},
	{"false", boolVal(false), "false"},
	{"array", arrVal(str("a"), intVal(1), boolVal(false), dblVal(2.5), bytesVal([]byte("b")), bytesVal([]byte{0xff}), str(`q"é`), arrVal(str("x")), mapVal(kv("a", str("b"))), &commonpb.AnyValue{}),
		`["a",1,false,2.5,"b","\xff","q\"é",["x"],{"a":"b"},null]`},
	{"map", mapVal(kv("k", str("v")), kv("n", intVal(3)), kv("q", str(`say "hi"`)), kv("e", nil), kv("m", arrVal()), kv("d", dblVal(-1.25))),
		`{"k":"v","n":3,"q":"say \"hi\"","e":null,"m":[],"d":-1.25}`},
	{"empty array", arrVal(), "[]"},
	{"empty map", mapVal(), "{}"},
	{"no value", nil, "null"},
	{"empty AnyValue", &commonpb.AnyValue{}, "null"},
}

// TestHashValues: every kind of value becomes the hex SHA-256 of the salt
// and its text; other keys are untouched.
func TestHashValues(t *testing.T) {
	var spans []*tracepb.Span
	for _, k := range hashKinds {
		spans = append(spans, &tracepb.Span{Name: k.name, Attributes: []*commonpb.KeyValue{kv("secret", k.v), kv("keep", str("hunter2"))}})
	}
	for _, salt := range []string{"pepper", ""} {
		r := runContent(t, Traces, oneScopeTraces(nil, nil, spans...), only(Edit{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("secret"), B: []byte(salt)}))
		for i, sp := range tr(r.got).ResourceSpans[0].ScopeSpans[0].Spans {
			k := hashKinds[i]
			if len(sp.Attributes) != 2 || sp.Attributes[0].Key != "secret" {
				t.Fatalf("%s: attributes %v", k.name, sp.Attributes)
			}
			sameValue(t, "salt "+salt+": "+k.name, sp.Attributes[0].Value, str(hashHex(salt, k.text)))
			sameValue(t, k.name+": keep", sp.Attributes[1].Value, str("hunter2"))
		}
	}
}

// TestHashValuesScope: the case-insensitive flag, the owner mask, and
// attributes as earlier edits leave them.
func TestHashValuesScope(t *testing.T) {
	msg := func() proto.Message {
		return oneScopeTraces(
			[]*commonpb.KeyValue{kv("secret", str("r")), kv("other", str("r"))},
			[]*commonpb.KeyValue{kv("secret", str("s"))},
			&tracepb.Span{Name: "a", Attributes: []*commonpb.KeyValue{kv("secret", str("1")), kv("Secret", str("2")), kv("SECRET", str("3")), kv("secrets", str("4"))}},
			&tracepb.Span{Name: "b", Attributes: []*commonpb.KeyValue{kv("keep", str("5")), kv("gone", str("6"))}},
		)
	}
	h := func(text string) *commonpb.AnyValue { return str(hashHex("k", text)) }
	type where struct{ res, scope, a, b []*commonpb.KeyValue }
	parts := func(m proto.Message) where {
		rs := tr(m).ResourceSpans[0]
		sps := rs.ScopeSpans[0].Spans
		return where{rs.Resource.Attributes, rs.ScopeSpans[0].Scope.Attributes, sps[0].Attributes, sps[1].Attributes}
	}

	// Case: exact by default, ASCII case ignored with Arg 1.
	w := parts(runContent(t, Traces, msg(), only(Edit{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("Secret"), B: []byte("k")})).got)
	for i, want := range []*commonpb.AnyValue{str("1"), h("2"), str("3"), str("4")} {
		sameValue(t, "exact key: span a attr "+w.a[i].Key, w.a[i].Value, want)
	}
	w = parts(runContent(t, Traces, msg(), only(Edit{Op: OpHashValues, Owner: EditOwnersItem, Arg: 1, A: []byte("sEcReT"), B: []byte("k")})).got)
	for i, want := range []*commonpb.AnyValue{h("1"), h("2"), h("3"), str("4")} {
		sameValue(t, "folded key: span a attr "+w.a[i].Key, w.a[i].Value, want)
	}
	sameValue(t, "items only: resource secret", attrOf(w.res, "secret"), str("r"))
	sameValue(t, "items only: scope secret", attrOf(w.scope, "secret"), str("s"))

	// The owner mask.
	w = parts(runContent(t, Traces, msg(), only(Edit{Op: OpHashValues, Owner: EditOwnersResource, A: []byte("secret"), B: []byte("k")})).got)
	sameValue(t, "resources only: resource secret", attrOf(w.res, "secret"), h("r"))
	sameValue(t, "resources only: resource other", attrOf(w.res, "other"), str("r"))
	sameValue(t, "resources only: scope secret", attrOf(w.scope, "secret"), str("s"))
	sameValue(t, "resources only: span secret", attrOf(w.a, "secret"), str("1"))
	w = parts(runContent(t, Traces, msg(), only(Edit{Op: OpHashValues, Owner: EditOwnersResource | EditOwnersScope, A: []byte("secret"), B: []byte("k")})).got)
	sameValue(t, "resources and scopes: resource secret", attrOf(w.res, "secret"), h("r"))
	sameValue(t, "resources and scopes: scope secret", attrOf(w.scope, "secret"), h("s"))
	sameValue(t, "resources and scopes: span secret", attrOf(w.a, "secret"), str("1"))

	// Appended, set, renamed, deleted and hashed-before attributes.
	r := runContent(t, Traces, msg(), func(f finder) []Edit {
		a, b := f.item("a"), f.item("b")
		return []Edit{
			{Op: OpSetAttr, Owner: 3, Target: b, A: []byte("secret"), B: anyBody(t, intVal(7))},       // appended
			{Op: OpSetAttr, Owner: 3, Target: a, A: []byte("secret"), B: anyBody(t, str("set"))},      // replaced
			{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("secret2"), B: anyBody(t, str("res-add"))}, // appended to the resource: not in the mask
			{Op: OpRenameAttr, Target: f.attr(OwnerItem, b, "keep"), A: []byte("secret2")},            // renamed to a hashed key
			{Op: OpRenameAttr, Target: f.attr(OwnerItem, a, "Secret"), A: []byte("plain")},            // renamed away
			{Op: OpDeleteAttr, Target: f.attr(OwnerItem, b, "gone")},                                  // deleted, not brought back
			{Op: OpSetAttr, Owner: 3, Target: b, A: []byte("twice"), B: anyBody(t, str("t"))},         // hashed twice
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("secret"), B: []byte("k")},
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("secret2"), B: []byte("k")},
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("gone"), B: []byte("k")},
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("twice"), B: []byte("k")},
			{Op: OpHashValues, Owner: EditOwnersItem, A: []byte("twice"), B: []byte("k")},
		}
	})
	w = parts(r.got)
	sameValue(t, "span a secret (set)", attrOf(w.a, "secret"), h("set"))
	sameValue(t, "span a plain (renamed away)", attrOf(w.a, "plain"), str("2"))
	sameValue(t, "span b secret (appended)", attrOf(w.b, "secret"), h("7"))
	sameValue(t, "span b secret2 (renamed)", attrOf(w.b, "secret2"), h("5"))
	sameValue(t, "span b twice", attrOf(w.b, "twice"), h(hashHex("k", "t")))
	sameValue(t, "resource secret2 (not in the mask)", attrOf(w.res, "secret2"), str("res-add"))
	if hasAttr(w.b, "gone") {
		t.Errorf("span b: a deleted attribute came back: %v", w.b)
	}
}

// maskOne applies one MASK_VALUES (Arg arg, A a, B "***") to a span
// attribute "msg" holding in, and returns what it holds after.
func maskOne(t *testing.T, arg uint32, a []byte, in *commonpb.AnyValue) *commonpb.AnyValue {
	t.Helper()
	r := runContent(t, Traces, oneScopeTraces(nil, nil, &tracepb.Span{Name: "s", Attributes: []*commonpb.KeyValue{kv("msg", in)}}),
		only(Edit{Op: OpMaskValues, Owner: EditOwnersItem, Arg: arg, A: a, B: []byte("***")}))
	got := tr(r.got).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value
	if r.changed == proto.Equal(got, in) {
		t.Errorf("changed %v, but the value went from %s to %s", r.changed, prototext.Format(in), prototext.Format(got))
	}
	return got
}

// TestMaskValuesDetectors: each detector and patterns on representative
// strings: every match is replaced, the rest of the string kept.
func TestMaskValuesDetectors(t *testing.T) {
	const (
		pattern = 0
		card    = 1
		email   = 2
		bearer  = 3
		jwt     = 4
	)
	cases := []struct {
		detector uint32
		pattern  string
		in, want string
	}{
		{card, "", "card 4111 1111 1111 1111 ok", "card *** ok"},
		{card, "", "4111-1111-1111-1111", "***"},
		{card, "", "4111111111111111", "***"},
		{card, "", "pay 4111111111111111 and 5500-0000-0000-0004.", "pay *** and ***."},
		{card, "", "4111111111111112", "4111111111111112"},                     // fails Luhn
		{card, "", "id 41111111111111110000000", "id 41111111111111110000000"}, // too long
		{card, "", "call 555-1234", "call 555-1234"},
		{email, "", "contact alice@example.com today", "contact *** today"},
		{email, "", "a.b+tag@mail.example.org, c_d@x.io", "***, ***"},
		{email, "", "root@localhost", "root@localhost"},
		{email, "", "no address here", "no address here"},
		{bearer, "", "Authorization: Bearer tok", "Authorization: Bearer ***"},
		{bearer, "", "authorization: bearer abc.DEF-123== rest", "authorization: bearer *** rest"},
		{bearer, "", "Bearer", "Bearer"},
		{bearer, "", "unbearer tok", "unbearer tok"},
		{jwt, "", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln end", "token *** end"},
		{jwt, "", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "***"},
		{jwt, "", "eyJonly.two", "eyJonly.two"},
		{pattern, `\d{3}-\d{2}-\d{4}`, "ssn 123-45-6789 and 987-65-4321", "ssn *** and ***"},
		{pattern, `x*`, "axxbx", "a***b***"},
		{pattern, `x*`, "abc", "abc"}, // empty matches hide nothing
		{pattern, `(?i)secret`, "Secret and SECRET", "*** and ***"},
		{pattern, `^(foo|bar)$`, "foo", "***"},
		{pattern, `^(foo|bar)$`, "food", "food"},
		{pattern, `é+`, "caféé!", "caf***!"},
	}
	for _, tc := range cases {
		got := maskOne(t, tc.detector, maskA(tc.pattern), str(tc.in))
		sameValue(t, "mask "+tc.pattern+" "+string(rune('0'+tc.detector))+" of "+tc.in, got, str(tc.want))
	}

	// An empty replacement removes the match.
	r := runContent(t, Traces, oneScopeTraces(nil, nil, &tracepb.Span{Name: "s", Attributes: []*commonpb.KeyValue{kv("msg", str("a 4111111111111111 b"))}}),
		only(Edit{Op: OpMaskValues, Owner: EditOwnersItem, Arg: card, A: maskA("")}))
	sameValue(t, "empty replacement", tr(r.got).ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Value, str("a  b"))

	// Arrays and maps holding a match anywhere become the replacement;
	// other kinds are not looked into.
	for _, tc := range []struct {
		name    string
		in      *commonpb.AnyValue
		changed bool
	}{
		{"array", arrVal(str("ok"), str("mail alice@example.com")), true},
		{"deep map", mapVal(kv("a", mapVal(kv("b", arrVal(str("x"), str("alice@example.com")))))), true},
		{"array without a match", arrVal(str("ok"), intVal(1), bytesVal([]byte("alice@example.com"))), false},
		{"map with the address as a key", mapVal(kv("alice@example.com", str("x"))), false},
		{"bytes", bytesVal([]byte("alice@example.com")), false},
		{"int", intVal(4111111111111111), false},
		{"empty", nil, false},
	} {
		want := tc.in
		if tc.changed {
			want = str("***")
		}
		sameValue(t, tc.name, maskOne(t, email, maskA(""), tc.in), want)
	}
}

// TestMaskValuesScope: key lists (inclusive, exclusive, ignoring ASCII
// case), the owner mask, chained records and values set earlier.
func TestMaskValuesScope(t *testing.T) {
	const email = 2
	msg := func() proto.Message {
		return oneScopeTraces(
			[]*commonpb.KeyValue{kv("owner", str("res@example.com"))},
			nil,
			&tracepb.Span{Name: "s", Attributes: []*commonpb.KeyValue{
				kv("user.email", str("a@example.com")),
				kv("contact", str("b@example.com")),
				kv("safe", str("c@example.com")),
				kv("note", str("my secret")),
				kv("long", str("bob@example.com trailing text")),
				kv("cut", str("alice@example.com")),
			}},
		)
	}
	get := func(m proto.Message) (res, span []*commonpb.KeyValue) {
		rs := tr(m).ResourceSpans[0]
		return rs.Resource.Attributes, rs.ScopeSpans[0].Spans[0].Attributes
	}
	// masked lists the keys whose values hold a "***".
	masked := func(span []*commonpb.KeyValue) string {
		var ks []string
		for _, a := range span {
			if strings.Contains(a.Value.GetStringValue(), "***") {
				ks = append(ks, a.Key)
			}
		}
		return strings.Join(ks, ",")
	}
	for _, tc := range []struct {
		name string
		arg  uint32
		keys []string
		want string
	}{
		{"every key", email, nil, "user.email,contact,safe,long,cut"},
		{"one key, case ignored", email, []string{"User.Email"}, "user.email"},
		{"two keys", email, []string{"CONTACT", "user.email"}, "user.email,contact"},
		{"all but one", email | MaskExceptKeys, []string{"SAFE"}, "user.email,contact,long,cut"},
		{"all but two", email | MaskExceptKeys, []string{"safe", "Long"}, "user.email,contact,cut"},
		{"all but none", email | MaskExceptKeys, nil, "user.email,contact,safe,long,cut"},
		{"a key not there", email, []string{"nope"}, ""},
	} {
		r := runContent(t, Traces, msg(), only(Edit{Op: OpMaskValues, Owner: EditOwnersItem, Arg: tc.arg, A: maskA("", tc.keys...), B: []byte("***")}))
		res, span := get(r.got)
		if got := masked(span); got != tc.want {
			t.Errorf("%s: masked %q, want %q", tc.name, got, tc.want)
		}
		sameValue(t, tc.name+": resource (not in the mask)", attrOf(res, "owner"), str("res@example.com"))
		sameValue(t, tc.name+": long", attrOf(span, "long"), str(map[bool]string{true: "*** trailing text", false: "bob@example.com trailing text"}[strings.Contains(tc.want, "long")]))
	}

	// The owner mask.
	res, span := get(runContent(t, Traces, msg(), only(Edit{Op: OpMaskValues, Owner: EditOwnersResource, Arg: email, A: maskA(""), B: []byte("<e>")})).got)
	sameValue(t, "resources only: resource", attrOf(res, "owner"), str("<e>"))
	if m := masked(span); m != "" || attrOf(span, "contact").GetStringValue() != "b@example.com" {
		t.Errorf("resources only: span attributes masked: %v", span)
	}

	// Chained: the second record sees the first's output; values set,
	// appended and truncated earlier are masked as they are then.
	r := runContent(t, Traces, msg(), func(f finder) []Edit {
		return []Edit{
			{Op: OpMaskValues, Owner: EditOwnersItem, A: maskA(`secret`, "note"), B: []byte("x@example.com")},
			{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "long"), Arg: 15},
			{Op: OpTruncateAttr, Target: f.attr(OwnerItem, 0, "cut"), Arg: 13},
			{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("safe"), B: anyBody(t, arrVal(str("d@example.com")))},
			{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("added"), B: anyBody(t, str("to e@example.com."))},
			{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("res.added"), B: anyBody(t, str("f@example.com"))},
			{Op: OpMaskValues, Owner: EditOwnersItem, Arg: email, A: maskA("", "note", "long", "cut", "safe", "added", "res.added"), B: []byte("<e>")},
		}
	})
	res, span = get(r.got)
	for key, want := range map[string]*commonpb.AnyValue{
		"note":       str("my <e>"),        // the first record's replacement
		"long":       str("<e>"),           // truncated to the address
		"cut":        str("alice@example"), // truncated: no address left
		"safe":       str("<e>"),           // set to an array holding one
		"added":      str("to <e>."),       // appended
		"user.email": str("a@example.com"),
	} {
		sameValue(t, "chained: "+key, attrOf(span, key), want)
	}
	sameValue(t, "chained: resource addition (not in the mask)", attrOf(res, "res.added"), str("f@example.com"))
}

// TestMaskValuesNoMatchNoChange: MASK_VALUES that matches nothing leaves
// the request as it was, and ApplyChanged says so.
func TestMaskValuesNoMatchNoChange(t *testing.T) {
	b := mustMarshal(t, makeTraces(2, 2, 3, 8))
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	list := encodeEdits(
		Edit{Op: OpMaskValues, Owner: 7, Arg: 1, A: maskA(""), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, Arg: 2, A: maskA(""), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, Arg: 3, A: maskA(""), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, Arg: 4, A: maskA(""), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, A: maskA(`\d{3}-\d{2}-\d{4}`), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, A: maskA(`z*`), B: []byte("***")}, // only empty matches
		Edit{Op: OpMaskValues, Owner: 7, A: maskA(`value`, "nope"), B: []byte("***")},
		Edit{Op: OpMaskValues, Owner: 7, Arg: MaskExceptKeys, A: maskA(`value-\d+`, "SPAN.ATTR0", "res.attr0", "scope.attr0", "service.name"), B: []byte("***")},
		Edit{Op: OpDropMatch, A: cond1(CondName, `^nothing$`)},
		Edit{Op: OpSample, A: u64le(0)},
	)
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	out, dropped, changed, err := ApplyChanged(&ix, b, &e, nil)
	if err != nil || changed || dropped != 0 || out != nil {
		t.Fatalf("ApplyChanged = %d bytes, %d dropped, changed %v, %v; want nothing changed", len(out), dropped, changed, err)
	}
	// The same pattern on the keys left out does change something.
	list = encodeEdits(Edit{Op: OpMaskValues, Owner: 7, A: maskA(`value-\d+`), B: []byte("***")})
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	if _, _, changed, err := ApplyChanged(&ix, b, &e, nil); err != nil || !changed {
		t.Fatalf("masking value-N: changed %v, %v; want a change", changed, err)
	}
}

// TestValueOpRun: consecutive DELETE_KEY, HASH_VALUES and MASK_VALUES
// records, applied in one pass over the attributes, each see what the
// ones before them left, on indexed and appended attributes alike.
func TestValueOpRun(t *testing.T) {
	const email = 2
	msg := oneScopeTraces(
		[]*commonpb.KeyValue{kv("a", str("res"))},
		nil,
		&tracepb.Span{Name: "s", Attributes: []*commonpb.KeyValue{
			kv("a", str("one")), kv("b", str("two")), kv("c", str("mail x@example.com")), kv("e", str("drop me")),
		}},
	)
	r := runContent(t, Traces, msg, func(f finder) []Edit {
		return []Edit{
			{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("d"), B: anyBody(t, str("z@example.com"))},
			{Op: OpSetAttr, Owner: 3, Target: 0, A: []byte("f"), B: anyBody(t, str("f"))},
			// The run.
			{Op: OpHashValues, Owner: 7, A: []byte("a"), B: []byte("s")},
			{Op: OpMaskValues, Owner: 4, A: maskA(`^[0-9a-f]{64}$`, "a"), B: []byte("<hash>")},
			{Op: OpDeleteKey, Owner: 4, A: []byte("b")},
			{Op: OpHashValues, Owner: 4, A: []byte("b"), B: []byte("s")}, // deleted: nothing to hash
			{Op: OpMaskValues, Owner: 4, Arg: email, A: maskA("", "c", "d"), B: []byte("u@example.org")},
			{Op: OpMaskValues, Owner: 4, Arg: email, A: maskA("", "c", "d"), B: []byte("***")},
			{Op: OpMaskValues, Owner: 4, A: maskA(`drop`, "e"), B: []byte("keep")},
			{Op: OpDeleteKey, Owner: 4, A: []byte("E"), Arg: 1},
			{Op: OpHashValues, Owner: 4, A: []byte("f"), B: []byte("s")},
			{Op: OpDeleteKey, Owner: 4, A: []byte("f")},
		}
	})
	rs := tr(r.got).ResourceSpans[0]
	span := rs.ScopeSpans[0].Spans[0].Attributes
	var ks []string
	for _, a := range span {
		ks = append(ks, a.Key)
	}
	if strings.Join(ks, ",") != "a,c,d" {
		t.Fatalf("span keys %v, want a, c, d", ks)
	}
	sameValue(t, "a (hashed, then masked as a hash)", attrOf(span, "a"), str("<hash>"))
	sameValue(t, "c (masked twice)", attrOf(span, "c"), str("mail ***"))
	sameValue(t, "d (appended, masked twice)", attrOf(span, "d"), str("***"))
	sameValue(t, "resource a (hashed, not in the mask's owners)", attrOf(rs.Resource.Attributes, "a"), str(hashHex("s", "res")))
}

// TestValueOpRunMatchesOneByOne: a list of DELETE_KEY, HASH_VALUES,
// MASK_VALUES (and SET_DEFAULT, which appends and ends a run) applied at
// once gives what applying its records one at a time gives, re-parsing
// between; runs longer than the one-pass batch of 64 records included.
func TestValueOpRunMatchesOneByOne(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := []string{"span.attr0", "SPAN.ATTR0", "span.attr4", "span.attr5", "span.attr6", "res.attr0", "service.name", "scope.attr0", "user", "USER", "list", "new"}
	patterns := []string{`value-\d`, `[0-9a-f]{8}`, `x*`, `^(a|b)$`, `@`, `(?i)ALICE`}
	repls := []string{"***", "bob@example.org", "", "4111 1111 1111 1111"}
	randomOp := func(appends bool) Edit {
		key := []byte(keys[r.IntN(len(keys))])
		owner := uint8(1 + r.IntN(7))
		switch n := r.IntN(6); {
		case n == 0:
			return Edit{Op: OpDeleteKey, Owner: owner, Arg: uint32(r.IntN(2)), A: key}
		case n <= 2:
			return Edit{Op: OpHashValues, Owner: owner, Arg: uint32(r.IntN(2)), A: key, B: []byte("salt")}
		case n == 3 && appends:
			return Edit{Op: OpSetDefault, Owner: owner, A: key, B: anyBody(t, str("to alice@example.com"))}
		}
		det := uint32(r.IntN(5))
		a := maskA("")
		if det == 0 {
			a = maskA(patterns[r.IntN(len(patterns))])
		}
		for range r.IntN(3) {
			a = lenField(a, []byte(keys[r.IntN(len(keys))]))
		}
		if r.IntN(3) == 0 {
			det |= MaskExceptKeys
		}
		return Edit{Op: OpMaskValues, Owner: owner, Arg: det, A: a, B: []byte(repls[r.IntN(len(repls))])}
	}
	for round := range 150 {
		m := makeTraces(1+r.IntN(2), 1+r.IntN(2), 1+r.IntN(3), r.IntN(8))
		for _, rs := range m.ResourceSpans {
			rs.Resource.Attributes = append(rs.Resource.Attributes, kv("user", str("alice@example.com")))
			for _, sp := range rs.ScopeSpans[0].Spans {
				sp.Attributes = append(sp.Attributes, kv("user", str("Alice <alice@example.com>")), kv("list", arrVal(str("a"), str("4111111111111111"))))
			}
		}
		b := mustMarshal(t, m)
		n, appends := r.IntN(12), true
		if round%10 == 0 {
			n, appends = 64+r.IntN(80), false // one long run
		}
		var eds []Edit
		for range n {
			eds = append(eds, randomOp(appends))
		}

		seq := b
		for _, ed := range eds {
			var ix Index
			if err := ix.Parse(Traces, seq); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			var e Edits
			if err := e.Decode(encodeEdits(ed), &ix); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			out, _, err := Apply(&ix, seq, &e, nil)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			seq = out
		}

		var ix Index
		if err := ix.Parse(Traces, b); err != nil {
			t.Fatal(err)
		}
		var e Edits
		if err := e.Decode(encodeEdits(eds...), &ix); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		out, _, changed, err := ApplyChanged(&ix, b, &e, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !changed {
			out = b
		}
		if !bytes.Equal(out, seq) && !sameRequest(t, out, seq) {
			var ds []string
			for _, ed := range eds {
				ds = append(ds, fmt.Sprintf("%s owner %d arg %#x a %q b %q", ed.Op, ed.Owner, ed.Arg, ed.A, ed.B))
			}
			a, s := &coltrace.ExportTraceServiceRequest{}, &coltrace.ExportTraceServiceRequest{}
			_ = proto.Unmarshal(out, a)
			_ = proto.Unmarshal(seq, s)
			t.Fatalf("round %d: at once and one at a time differ\n%s\nat once:\n%s\none at a time:\n%s", round, strings.Join(ds, "\n"), prototext.Format(a), prototext.Format(s))
		}
	}
}

// TestContentDecodeRejects: what Decode refuses in the five ops, with its
// reasons.
func TestContentDecodeRejects(t *testing.T) {
	tix, _ := parsed(t, Traces, makeTraces(1, 1, 2, 2))
	mix, _ := parsed(t, Metrics, makeMetrics(1, 1, 1))
	lix, _ := parsed(t, Logs, makeLogs(1, 1, 1, 1))
	good := Edit{Op: OpDropMatch, A: cond1(CondName, "x")}
	long := strings.Repeat("a", MaxPatternSize+1)
	dm := func(a []byte) []byte { return encodeEdits(Edit{Op: OpDropMatch, A: a}) }
	mv := func(arg uint32, a []byte) []byte {
		return encodeEdits(Edit{Op: OpMaskValues, Owner: EditOwnersItem, Arg: arg, A: a, B: []byte("*")})
	}
	cases := []struct {
		name   string
		ix     *Index
		list   []byte
		record int
		reason string
	}{
		{"match: invalid pattern", tix, dm(cond1(CondName, "(")), 0, "condition 0: pattern: error parsing regexp: missing closing )"},
		{"match: invalid body pattern", lix, dm(cond1(CondBody, "a**")), 0, "condition 0: pattern: error parsing regexp: invalid nested repetition operator"},
		{"match: invalid attr pattern", tix, dm(raw(cond1(CondName, "x"), condMatch("k", "[a"))), 0, "condition 1: pattern: error parsing regexp: missing closing ]"},
		{"match: empty pattern", tix, dm(cond1(CondName, "")), 0, "condition 0: empty pattern"},
		{"match: empty attr pattern", tix, dm(condMatch("k", "")), 0, "condition 0: empty pattern"},
		{"match: long pattern", tix, dm(cond1(CondName, long)), 0, "condition 0: pattern of 1025 bytes exceeds 1024"},
		{"match: pattern not UTF-8", tix, dm(cond1(CondName, "\xff")), 0, "condition 0: pattern is not valid UTF-8"},
		{"match: cut short", tix, dm([]byte{CondName, 5, 'a'}), 0, "condition 0 is cut short"},
		{"match: length cut short", tix, dm([]byte{CondName, 0x80}), 0, "condition 0 is cut short"},
		{"match: second field missing", tix, dm(raw(cond1(CondName, "x"), cond1(CondAttrString, "k"))), 0, "condition 1 is cut short"},
		{"match: kind alone", tix, dm([]byte{CondAttrExists}), 0, "condition 0 is cut short"},
		{"match: unknown kind 0", tix, dm(cond1(0, "k")), 0, "condition 0: unknown kind 0"},
		{"match: unknown kind 8", tix, dm(cond2(8, "k", []byte("v"))), 0, "condition 0: unknown kind 8"},
		{"match: number of 4 bytes", tix, dm(cond2(CondAttrNumber, "k", make([]byte, 4))), 0, "condition 0: number is 4 bytes, want 8"},
		{"match: number of 9 bytes", tix, dm(cond2(CondAttrNumber, "k", make([]byte, 9))), 0, "condition 0: number is 9 bytes, want 8"},
		{"match: bool 2", tix, dm(cond2(CondAttrBool, "k", []byte{2})), 0, "condition 0: boolean is not one byte 0 or 1"},
		{"match: bool of 2 bytes", tix, dm(cond2(CondAttrBool, "k", []byte{0, 1})), 0, "condition 0: boolean is not one byte 0 or 1"},
		{"match: empty key", tix, dm(cond1(CondAttrExists, "")), 0, "condition 0: key is empty"},
		{"match: key not UTF-8", tix, dm(condString("\xc3", "v")), 0, "condition 0: key is not valid UTF-8"},
		{"match: no conditions", tix, dm(nil), 0, "no conditions"},
		{"match: owner", tix, encodeEdits(Edit{Op: OpDropMatch, Owner: 1, A: cond1(CondName, "x")}), 0, "owner 1, want 0 (DROP_MATCH takes no owner)"},
		{"match: arg", tix, encodeEdits(Edit{Op: OpDropMatch, Arg: 1, A: cond1(CondName, "x")}), 0, "unused target/arg is 1"},
		{"match: target", tix, encodeEdits(Edit{Op: OpDropMatch, Target: 1, A: cond1(CondName, "x")}), 0, "unused target/arg is 1"},
		{"match: reason not UTF-8", tix, encodeEdits(good, Edit{Op: OpDropMatch, A: cond1(CondName, "x"), B: []byte{0xff}}), 1, "reason is not valid UTF-8"},

		{"sample: metrics", mix, encodeEdits(Edit{Op: OpSample, A: u64le(1)}), 0, "sampling by trace ID is for traces and logs; this batch is metrics"},
		{"sample: 7 bytes", tix, encodeEdits(Edit{Op: OpSample, A: make([]byte, 7)}), 0, "a is 7 bytes, want 8 (the threshold)"},
		{"sample: no threshold", lix, encodeEdits(Edit{Op: OpSample}), 0, "a is 0 bytes, want 8"},
		{"sample: arg", tix, encodeEdits(Edit{Op: OpSample, Arg: 2, A: u64le(1)}), 0, "unused target/arg is 2"},
		{"sample: owner", tix, encodeEdits(Edit{Op: OpSample, Owner: 4, A: u64le(1)}), 0, "owner 4, want 0"},
		{"sample: reason not UTF-8", tix, encodeEdits(Edit{Op: OpSample, A: u64le(1), B: []byte{0xc3}}), 0, "reason is not valid UTF-8"},

		{"severity: traces", tix, encodeEdits(Edit{Op: OpDropSeverity, Arg: 9}), 0, "severity is a log record field; this batch is traces"},
		{"severity: metrics", mix, encodeEdits(Edit{Op: OpDropSeverity, Arg: 9}), 0, "this batch is metrics"},
		{"severity: arg 0", lix, encodeEdits(Edit{Op: OpDropSeverity}), 0, "max severity 0, want 1..24"},
		{"severity: arg 25", lix, encodeEdits(Edit{Op: OpDropSeverity, Arg: 25}), 0, "max severity 25, want 1..24"},
		{"severity: a", lix, encodeEdits(Edit{Op: OpDropSeverity, Arg: 9, A: []byte{1}}), 0, "unused a has 1 bytes"},
		{"severity: owner", lix, encodeEdits(Edit{Op: OpDropSeverity, Owner: 3, Arg: 9}), 0, "owner 3, want 0"},

		{"hash: owner mask 0", tix, encodeEdits(Edit{Op: OpHashValues, A: []byte("k")}), 0, "owner mask 0, want 1..7"},
		{"hash: owner mask 8", tix, encodeEdits(Edit{Op: OpHashValues, Owner: 8, A: []byte("k")}), 0, "owner mask 8"},
		{"hash: unknown flags", tix, encodeEdits(Edit{Op: OpHashValues, Owner: 4, Arg: 2, A: []byte("k")}), 0, "arg 0x2 has unknown flag bits (allowed 0x1)"},
		{"hash: empty key", tix, encodeEdits(Edit{Op: OpHashValues, Owner: 4}), 0, "key is empty"},
		{"hash: target", tix, encodeEdits(Edit{Op: OpHashValues, Owner: 4, Target: 3, A: []byte("k")}), 0, "unused target/arg is 3"},

		{"mask: owner mask 0", tix, encodeEdits(Edit{Op: OpMaskValues, Arg: 2, A: maskA("")}), 0, "owner mask 0, want 1..7"},
		{"mask: detector with a pattern", tix, mv(2, maskA("x")), 0, "a detector takes no pattern"},
		{"mask: unknown detector", tix, mv(5, maskA("")), 0, "detector 5, want 0 (pattern) or 1..4"},
		{"mask: detector 255", tix, mv(255, maskA("")), 0, "detector 255, want 0 (pattern) or 1..4"},
		{"mask: unknown flag bits", tix, mv(2|1<<9, maskA("")), 0, "arg 0x202 has unknown flag bits (allowed 0x1ff)"},
		{"mask: invalid pattern", tix, mv(0, maskA("[")), 0, "pattern: error parsing regexp: missing closing ]"},
		{"mask: empty pattern", tix, mv(0, maskA("")), 0, "empty pattern"},
		{"mask: long pattern", tix, mv(0, maskA(long)), 0, "pattern of 1025 bytes exceeds 1024"},
		{"mask: no a", tix, mv(2, nil), 0, "a: pattern is cut short"},
		{"mask: pattern cut short", tix, mv(0, []byte{5, 'a'}), 0, "a: pattern is cut short"},
		{"mask: key cut short", tix, mv(2, raw(maskA("", "k"), []byte{3, 'a'})), 0, "key 1 is cut short"},
		{"mask: empty key", tix, mv(2, maskA("", "")), 0, "key 0: key is empty"},
		{"mask: key not UTF-8", tix, mv(2, maskA("", "k", "\xff")), 0, "key 1: key is not valid UTF-8"},
		{"mask: replacement not UTF-8", tix, encodeEdits(Edit{Op: OpMaskValues, Owner: 4, Arg: 2, A: maskA(""), B: []byte{0xff}}), 0, "replacement is not valid UTF-8"},
		{"mask: target", tix, encodeEdits(Edit{Op: OpMaskValues, Owner: 4, Target: 1, Arg: 2, A: maskA("")}), 0, "unused target/arg is 1"},
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

	// The limits themselves are accepted.
	for name, list := range map[string][]byte{
		"pattern of MaxPatternSize": dm(cond1(CondName, long[1:])),
		"string value not UTF-8":    dm(condString("k", "\xc3")), // compared as bytes
		"severity 1":                encodeEdits(Edit{Op: OpDropSeverity, Arg: 1}),
		"severity 24":               encodeEdits(Edit{Op: OpDropSeverity, Arg: 24}),
		"mask 4 with exclusions":    mv(4|MaskExceptKeys, maskA("", "a", "b")),
		"mask pattern, no keys":     mv(0, maskA("x")),
		"hash folded, all owners":   encodeEdits(Edit{Op: OpHashValues, Owner: 7, Arg: 1, A: []byte("k"), B: []byte{0xff}}), // the salt is bytes
		"every condition kind": dm(raw(cond1(CondName, "n"), cond1(CondBody, "b"), cond1(CondAttrExists, "k"), condString("k", ""),
			condNumber("k", math.Inf(-1)), condBool("k", false), condMatch("k", "."))),
	} {
		if err := e.Decode(list, lix); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// raceEnabled says whether the test binary runs under the race detector
// (race_test.go sets it).
var raceEnabled bool

// TestContentEditsNoAllocs: once warm, Decode and Apply of the content
// edits allocate nothing (MASK_VALUES with a pattern that matches aside:
// finding the matches allocates).
func TestContentEditsNoAllocs(t *testing.T) {
	tm := makeTraces(2, 2, 4, 8)
	for r, rs := range tm.ResourceSpans {
		for s, ss := range rs.ScopeSpans {
			for k, sp := range ss.Spans {
				if k%2 == 0 {
					sp.Name = []string{"GET /healthz", "HEAD /readyz"}[(r+s)%2]
				}
				sp.Attributes = append(sp.Attributes,
					kv("user", str("mail alice@example.com or bob@example.org")),
					kv("card", str("4111 1111 1111 1111")),
					kv("auth", str("Authorization: Bearer abc.def")),
					kv("token", str("t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")),
					kv("list", arrVal(str("x"), str("carol@example.net"))),
					kv("map", mapVal(kv("a", str("4111111111111111")))),
				)
			}
		}
	}
	lm := makeLogs(2, 2, 25, 3)
	// Scenarios marked norace allocate under the race detector only: its
	// sync.Pool drops items at random (regexp keeps its matchers in one),
	// and it keeps append(s[:0], make(...)...) (the log body cache) from
	// being compiled into a clear.
	scenarios := []struct {
		name   string
		sig    Signal
		msg    proto.Message
		eds    []Edit
		norace bool
	}{
		{"drop-match", Traces, tm, []Edit{
			{Op: OpDropMatch, A: raw(cond1(CondName, `^(GET|HEAD) /(healthz|readyz)$`), condString("span.attr0", "value-0")), B: []byte("probe")},
			{Op: OpDropMatch, A: raw(cond1(CondName, `^span-1`), condNumber("span.attr2", -2000006), condBool("span.attr1", true), cond1(CondAttrExists, "span.attr3")), B: []byte("n")},
		}, false},
		{"drop-match-logs", Logs, lm, []Edit{
			{Op: OpDropMatch, A: raw(cond1(CondName, `^event-(1|2)$`), condString("log.attr0", "value-0")), B: []byte("name")},
		}, false},
		{"drop-match-regexp", Traces, tm, []Edit{
			{Op: OpDropMatch, A: raw(cond1(CondName, `^span-\d*1$`), condMatch("span.attr0", `^value-\d$`)), B: []byte("p")},
		}, true},
		{"drop-match-body", Logs, lm, []Edit{
			{Op: OpDropMatch, A: raw(cond1(CondBody, `^pla(in)?$`), condString("log.attr0", "value-0")), B: []byte("body")},
		}, true},
		{"sample-traces", Traces, tm, []Edit{{Op: OpSample, A: u64le(1 << 55), B: []byte("sampled")}}, false},
		{"sample-logs", Logs, lm, []Edit{{Op: OpSample, A: u64le(1 << 55), B: []byte("sampled")}}, false},
		{"drop-severity", Logs, lm, []Edit{{Op: OpDropSeverity, Arg: 9, B: []byte("debug")}}, false},
		{"hash", Traces, tm, []Edit{
			{Op: OpSetAttr, Owner: 1, Target: 0, A: []byte("added"), B: anyBody(t, str("x"))},
			{Op: OpHashValues, Owner: 7, Arg: 1, A: []byte("SERVICE.NAME"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 7, A: []byte("added"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr0"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr1"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr2"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr3"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr4"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr5"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr6"), B: []byte("salt")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr7"), B: []byte("salt")},
		}, false},
		{"mask-detectors", Traces, tm, []Edit{
			{Op: OpMaskValues, Owner: 7, Arg: 1, A: maskA(""), B: []byte("<card>")},
			{Op: OpMaskValues, Owner: 7, Arg: 2 | MaskExceptKeys, A: maskA("", "service.name"), B: []byte("<email>")},
			{Op: OpMaskValues, Owner: 4, Arg: 3, A: maskA("", "auth"), B: []byte("***")},
			{Op: OpMaskValues, Owner: 4, Arg: 4, A: maskA(""), B: []byte("***")},
		}, false},
		{"value-run", Traces, tm, []Edit{
			{Op: OpSetDefault, Owner: 7, A: []byte("new"), B: anyBody(t, str("x carol@example.net"))},
			{Op: OpDeleteKey, Owner: 4, A: []byte("span.attr7")},
			{Op: OpHashValues, Owner: 4, A: []byte("span.attr0"), B: []byte("salt")},
			{Op: OpMaskValues, Owner: 7, Arg: 2 | MaskExceptKeys, A: maskA("", "service.name"), B: []byte("<email>")},
			{Op: OpHashValues, Owner: 7, Arg: 1, A: []byte("NEW"), B: []byte("salt")},
			{Op: OpMaskValues, Owner: 4, Arg: 1, A: maskA("", "card", "map"), B: []byte("<card>")},
			{Op: OpDeleteKey, Owner: 4, Arg: 1, A: []byte("TOKEN")},
		}, false},
		{"mask-pattern-no-match", Traces, tm, []Edit{
			{Op: OpMaskValues, Owner: 7, A: maskA(`\d{3}-\d{2}-\d{4}`), B: []byte("***")},
			{Op: OpDeleteKey, Owner: 4, A: []byte("span.attr7")},
		}, true},
	}
	for _, sc := range scenarios {
		ix, req := parsed(t, sc.sig, sc.msg)
		list := encodeEdits(sc.eds...)
		var e Edits
		dst := make([]byte, 0, 2*len(req))
		changed := false
		run := func() {
			if err := e.Decode(list, ix); err != nil {
				t.Fatal(err)
			}
			var err error
			var out []byte
			if out, _, changed, err = ApplyChanged(ix, req, &e, dst[:0]); err != nil {
				t.Fatal(err)
			}
			if changed {
				dst = out
			}
		}
		run()
		if !changed {
			t.Errorf("%s: the edits changed nothing; the scenario means them to", sc.name)
		}
		if n := testing.AllocsPerRun(50, run); n != 0 && !(sc.norace && raceEnabled) {
			t.Errorf("%s: Decode+Apply allocate %.1f times per call in steady state", sc.name, n)
		}
	}

	// A pattern that matches allocates (regexp's FindAllIndex): logged,
	// not checked.
	ix, req := parsed(t, Traces, tm)
	list := encodeEdits(Edit{Op: OpMaskValues, Owner: 7, A: maskA(`value-\d`), B: []byte("***")})
	var e Edits
	var dst []byte
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
	t.Logf("MASK_VALUES with a matching pattern: %.1f allocations per Decode+Apply", testing.AllocsPerRun(10, run))
}

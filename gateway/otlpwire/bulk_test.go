package otlpwire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// TestDropNamedBody: DROP_NAMED with the body flag drops the log records
// whose body is exactly the string, and nothing whose body is another type
// or whose event_name is that string.
func TestDropNamedBody(t *testing.T) {
	req := makeLogs(2, 1, 6, 1)
	bodies := []*commonpb.AnyValue{str("GET /healthz"), str("GET /healthz/x"), {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("GET /healthz")}}, str("GET /healthz"), nil, str("ok")}
	i := 0
	for _, rl := range req.ResourceLogs {
		for _, lr := range rl.ScopeLogs[0].LogRecords {
			lr.Body = bodies[i%len(bodies)]
			lr.EventName = "GET /healthz" // must not match: the flag selects the body
			i++
		}
	}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Logs, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	if err := e.Decode(AppendEdit(nil, Edit{Op: OpDropNamed, Arg: DropNamedBody, A: []byte("GET /healthz"), B: []byte("probe")}), &ix); err != nil {
		t.Fatal(err)
	}
	out, dropped, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 4 || string(e.DropReason) != "probe" {
		t.Fatalf("dropped %d (reason %q), want 4 (probe)", dropped, e.DropReason)
	}
	got := &collogs.ExportLogsServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, rl := range got.ResourceLogs {
		for _, lr := range rl.ScopeLogs[0].LogRecords {
			left++
			if lr.Body.GetStringValue() == "GET /healthz" {
				t.Errorf("a record with body %q survived", lr.Body.GetStringValue())
			}
		}
	}
	if left != 8 {
		t.Errorf("%d records left, want 8", left)
	}

	// The body flag is for logs only.
	var tix Index
	if err := tix.Parse(Traces, mustMarshal(t, makeTraces(1, 1, 1, 0))); err != nil {
		t.Fatal(err)
	}
	err = e.Decode(AppendEdit(nil, Edit{Op: OpDropNamed, Arg: DropNamedBody, A: []byte("x")}), &tix)
	if err == nil || !strings.Contains(err.Error(), "for logs") {
		t.Errorf("DROP_NAMED by body on traces: %v, want an error saying it is for logs", err)
	}
}

// TestSetDefault: SET_DEFAULT adds the attribute to every owner in its
// mask that lacks the key as the list so far leaves it.
func TestSetDefault(t *testing.T) {
	req := makeTraces(4, 1, 2, 0)
	req.ResourceSpans[1].Resource.Attributes = append(req.ResourceSpans[1].Resource.Attributes, kv("deployment.environment", str("prod")))
	req.ResourceSpans[2].Resource = nil // no Resource message at all
	// An empty value counts as missing.
	req.ResourceSpans[3].Resource.Attributes = append(req.ResourceSpans[3].Resource.Attributes, kv("deployment.environment", str("")))
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	val := anyBody(t, str("unknown"))
	res := func(eds ...Edit) *coltrace.ExportTraceServiceRequest {
		t.Helper()
		var e Edits
		if err := e.Decode(encodeEdits(eds...), &ix); err != nil {
			t.Fatal(err)
		}
		out, _, err := Apply(&ix, b, &e, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	env := func(got *coltrace.ExportTraceServiceRequest) string {
		var vs []string
		for _, rs := range got.ResourceSpans {
			v := "-"
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "deployment.environment" {
					v = a.Value.GetStringValue()
				}
			}
			vs = append(vs, v)
		}
		return strings.Join(vs, ",")
	}

	if got := env(res(Edit{Op: OpSetDefault, Owner: EditOwnersResource, A: []byte("deployment.environment"), B: val})); got != "unknown,prod,unknown,unknown" {
		t.Errorf("after SET_DEFAULT: %s, want unknown,prod,unknown,unknown", got)
	}
	// A key deleted earlier in the list is missing; a key renamed to it
	// is present.
	del := Edit{Op: OpDeleteKey, Owner: EditOwnersResource, A: []byte("deployment.environment")}
	if got := env(res(del, Edit{Op: OpSetDefault, Owner: EditOwnersResource, A: []byte("deployment.environment"), B: val})); got != "unknown,unknown,unknown,unknown" {
		t.Errorf("after DELETE_KEY then SET_DEFAULT: %s, want unknown everywhere", got)
	}
	rename := Edit{Op: OpRenameAttr, Target: uint32(ix.Resources[0].AttrStart), A: []byte("deployment.environment")}
	got := res(rename, Edit{Op: OpSetDefault, Owner: EditOwnersResource, A: []byte("deployment.environment"), B: val})
	if n := len(got.ResourceSpans[0].Resource.Attributes); n != len(req.ResourceSpans[0].Resource.Attributes) {
		t.Errorf("resource 0 has %d attributes after a rename to the key, want %d (no default added)", n, len(req.ResourceSpans[0].Resource.Attributes))
	}
	// On items, every span gets it once, and a second SET_DEFAULT of the
	// same key adds nothing.
	got = res(Edit{Op: OpSetDefault, Owner: EditOwnersItem, A: []byte("k"), B: val}, Edit{Op: OpSetDefault, Owner: EditOwnersItem, A: []byte("k"), B: anyBody(t, str("other"))})
	for _, rs := range got.ResourceSpans {
		for _, sp := range rs.ScopeSpans[0].Spans {
			if n := len(sp.Attributes); n != 1 || sp.Attributes[0].Value.GetStringValue() != "unknown" {
				t.Errorf("span %s attributes %v, want one k=unknown", sp.Name, sp.Attributes)
			}
		}
	}
}

// TestApplyChangedReportsNoChange: bulk edits that match nothing leave the
// request alone and ApplyChanged says so without writing.
func TestApplyChangedReportsNoChange(t *testing.T) {
	b := mustMarshal(t, makeTraces(2, 1, 3, 2))
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	list := encodeEdits(
		Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("password")},
		Edit{Op: OpTruncateValues, Owner: EditOwnersResource | EditOwnersItem, Arg: 1 << 20},
		Edit{Op: OpDropNamed, A: []byte("GET /healthz")},
		Edit{Op: OpSetDefault, Owner: EditOwnersResource, A: []byte("service.name"), B: anyBody(t, str("x"))},
	)
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	out, dropped, changed, err := ApplyChanged(&ix, b, &e, nil)
	if err != nil || changed || dropped != 0 || out != nil {
		t.Fatalf("ApplyChanged = %d bytes, %d dropped, changed %v, %v; want nothing changed", len(out), dropped, changed, err)
	}
	out, _, err = Apply(&ix, b, &e, nil)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("Apply of a no-op list: %v, output equal %v", err, bytes.Equal(out, b))
	}
	// One that does change something says so.
	list = encodeEdits(Edit{Op: OpTruncateValues, Owner: EditOwnersItem, Arg: 1})
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	if _, _, changed, err := ApplyChanged(&ix, b, &e, nil); err != nil || !changed {
		t.Fatalf("truncating to 1 byte: changed %v, %v; want a change", changed, err)
	}
}

// TestDecodeMoreSegments: several filters' bulk lists applied together
// count their drops and reasons apart; the first list to drop an item owns
// it; a non-bulk record in a later list is refused.
func TestDecodeMoreSegments(t *testing.T) {
	req := makeTraces(1, 1, 6, 1)
	for i, sp := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		sp.Name = []string{"a", "b", "c"}[i%3]
	}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	if err := e.Decode(encodeEdits(Edit{Op: OpDropNamed, A: []byte("a"), B: []byte("first")}), &ix); err != nil {
		t.Fatal(err)
	}
	if err := e.DecodeMore(encodeEdits(Edit{Op: OpTruncateValues, Owner: EditOwnersItem, Arg: 2}), &ix); err != nil {
		t.Fatal(err)
	}
	if err := e.DecodeMore(encodeEdits(Edit{Op: OpDropNamed, A: []byte("a"), B: []byte("again")}, Edit{Op: OpDropNamed, A: []byte("b"), B: []byte("third")}), &ix); err != nil {
		t.Fatal(err)
	}
	_, dropped, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 4 || e.Segments != 3 || e.SegmentDrops[0] != 2 || e.SegmentDrops[1] != 0 || e.SegmentDrops[2] != 2 {
		t.Fatalf("dropped %d, segments %d, per segment %v; want 4, 3, [2 0 2]", dropped, e.Segments, e.SegmentDrops)
	}
	if r := e.SegmentReasons; string(r[0]) != "first" || r[1] != nil || string(r[2]) != "again" {
		t.Errorf("segment reasons %q, want first, none, again", r)
	}

	if err := e.Decode(nil, &ix); err != nil {
		t.Fatal(err)
	}
	err = e.DecodeMore(encodeEdits(Edit{Op: OpDropItem, Target: 0}), &ix)
	if err == nil || !strings.Contains(err.Error(), "only bulk edits") {
		t.Fatalf("DecodeMore with DROP_ITEM: %v, want it refused", err)
	}
	if _, _, err := Apply(&ix, b, &e, nil); err == nil {
		t.Error("Apply after a failed DecodeMore succeeded, want it refused")
	}
}

// sameRequest says whether two encoded trace requests decode equal.
func sameRequest(t *testing.T, a, b []byte) bool {
	t.Helper()
	ma, mb := &coltrace.ExportTraceServiceRequest{}, &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(a, ma); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, mb); err != nil {
		t.Fatal(err)
	}
	return proto.Equal(ma, mb)
}

// TestDecodeMoreMatchesSequential: applying bulk lists together gives the
// same bytes, drops and per-list counts as applying them one after another
// with a fresh index each time, which is what the filter chain would do
// without merging.
func TestDecodeMoreMatchesSequential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"span-str-0", "span-int-1", "res-str-0", "service.name", "scope-str-0", "new"}
	names := []string{"span-0", "span-1", "span-101", "span-1002", "x"}
	values := []string{"d", ""}
	randomBulk := func() Edit {
		switch r.IntN(6) {
		case 5:
			lim := 1700000000000000000 + uint64(r.IntN(3000))
			return Edit{Op: OpClampFuture, A: append(binary.LittleEndian.AppendUint64(nil, lim), binary.LittleEndian.AppendUint64(nil, lim-uint64(r.IntN(2000)))...)}
		case 4:
			return Edit{Op: OpCapAttrs, Owner: uint8(1 + r.IntN(7)), Arg: uint32(r.IntN(4))}
		case 0:
			return Edit{Op: OpDeleteKey, Owner: uint8(1 + r.IntN(7)), A: []byte(keys[r.IntN(len(keys))])}
		case 1:
			return Edit{Op: OpTruncateValues, Owner: uint8(1 + r.IntN(7)), Arg: uint32(r.IntN(6))}
		case 2:
			return Edit{Op: OpDropNamed, A: []byte(names[r.IntN(len(names))]), B: []byte("why")}
		}
		return Edit{Op: OpSetDefault, Owner: uint8(1 + r.IntN(7)), A: []byte(keys[r.IntN(len(keys))]), B: anyBody(t, str(values[r.IntN(2)]))}
	}
	for round := range 300 {
		b := mustMarshal(t, makeTraces(1+r.IntN(3), 1+r.IntN(2), 1+r.IntN(4), r.IntN(3)))
		lists := make([][]byte, 1+r.IntN(4))
		for k := range lists {
			var eds []Edit
			for range r.IntN(4) {
				eds = append(eds, randomBulk())
			}
			lists[k] = encodeEdits(eds...)
		}

		// One after another.
		seq := b
		var seqDrops []int
		for _, l := range lists {
			var ix Index
			if err := ix.Parse(Traces, seq); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			var e Edits
			if err := e.Decode(l, &ix); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			out, d, err := Apply(&ix, seq, &e, nil)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			seq, seqDrops = out, append(seqDrops, d)
		}

		// Together.
		var ix Index
		if err := ix.Parse(Traces, b); err != nil {
			t.Fatal(err)
		}
		var e Edits
		if err := e.Decode(lists[0], &ix); err != nil {
			t.Fatal(err)
		}
		for _, l := range lists[1:] {
			if err := e.DecodeMore(l, &ix); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		checkResources(t, &ix, b, &e, Traces)
		out, _, changed, err := ApplyChanged(&ix, b, &e, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !changed {
			out = b
		}
		// Fields the passes append land in the order the passes ran, so
		// the bytes may differ in field order only: compare decoded.
		if !bytes.Equal(out, seq) && !sameRequest(t, out, seq) {
			var ds []string
			for _, l := range lists {
				var e2 Edits
				var ix2 Index
				_ = ix2.Parse(Traces, b)
				_ = e2.Decode(l, &ix2)
				for _, ed := range e2.List {
					ds = append(ds, ed.Op.String()+" "+string(ed.A)+" "+string(rune('0'+ed.Owner))+" "+string(rune('0'+ed.Arg)))
				}
				ds = append(ds, "|")
			}
			t.Fatalf("round %d: together %d bytes, one after another %d bytes\n%s", round, len(out), len(seq), strings.Join(ds, "\n"))
		}
		for k := range lists {
			if e.SegmentDrops[k] != seqDrops[k] {
				t.Fatalf("round %d: list %d dropped %d together, %d alone", round, k, e.SegmentDrops[k], seqDrops[k])
			}
		}
	}
}

// TestDeleteKeySeesRenames: DELETE_KEY matches an attribute by the key an
// earlier RENAME_ATTR in the list gave it, not the one it arrived with.
func TestDeleteKeySeesRenames(t *testing.T) {
	req := makeTraces(1, 1, 1, 0)
	sp := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	sp.Attributes = []*commonpb.KeyValue{kv("pw", str("x")), kv("password", str("y")), kv("user", str("bob"))}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	f := finder{t: t, ix: &ix, req: b}
	var e Edits
	list := encodeEdits(
		Edit{Op: OpRenameAttr, Target: f.attr(OwnerItem, 0, "pw"), A: []byte("password")},
		Edit{Op: OpRenameAttr, Target: f.attr(OwnerItem, 0, "password"), A: []byte("secret")},
		Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("password")},
	)
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	out, _, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range got.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes {
		keys = append(keys, a.Key)
	}
	if strings.Join(keys, ",") != "secret,user" {
		t.Errorf("keys after renames and DELETE_KEY password: %v, want [secret user]", keys)
	}
}

// TestDropNamedBodyFreshPerRequest: the bodies found for one request are
// not reused for the next, even one with as many records.
func TestDropNamedBodyFreshPerRequest(t *testing.T) {
	var e Edits
	for round, want := range []string{"a", "b", "a"} {
		req := makeLogs(1, 1, 4, 0)
		for i, lr := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
			lr.Body = str([]string{"a", "b"}[(i+round)%2])
		}
		b := mustMarshal(t, req)
		var ix Index
		if err := ix.Parse(Logs, b); err != nil {
			t.Fatal(err)
		}
		list := encodeEdits(Edit{Op: OpDropNamed, Arg: DropNamedBody, A: []byte("a")}, Edit{Op: OpDropNamed, Arg: DropNamedBody, A: []byte("zz")})
		if err := e.Decode(list, &ix); err != nil {
			t.Fatal(err)
		}
		out, dropped, err := Apply(&ix, b, &e, nil)
		if err != nil || dropped != 2 {
			t.Fatalf("round %d: dropped %d, %v; want 2", round, dropped, err)
		}
		got := &collogs.ExportLogsServiceRequest{}
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		for _, lr := range got.ResourceLogs[0].ScopeLogs[0].LogRecords {
			if lr.Body.GetStringValue() == "a" {
				t.Fatalf("round %d: a record with body a survived (want %s kept only)", round, want)
			}
		}
	}
}

// TestCapAttrs: CAP_ATTRS keeps each owner's first n live attributes, the
// indexed ones before appended ones, and deletes the rest.
func TestCapAttrs(t *testing.T) {
	req := makeTraces(1, 1, 2, 0)
	sp := req.ResourceSpans[0].ScopeSpans[0].Spans
	sp[0].Attributes = []*commonpb.KeyValue{kv("a", str("1")), kv("b", str("2")), kv("c", str("3")), kv("d", str("4"))}
	sp[1].Attributes = []*commonpb.KeyValue{kv("a", str("1"))}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var e Edits
	list := encodeEdits(
		Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("a")},
		Edit{Op: OpSetDefault, Owner: EditOwnersItem, A: []byte("z"), B: anyBody(t, str("x"))},
		Edit{Op: OpCapAttrs, Owner: EditOwnersItem, Arg: 2},
	)
	if err := e.Decode(list, &ix); err != nil {
		t.Fatal(err)
	}
	out, _, err := Apply(&ix, b, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := &coltrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(out, got); err != nil {
		t.Fatal(err)
	}
	keys := func(i int) string {
		var ks []string
		for _, a := range got.ResourceSpans[0].ScopeSpans[0].Spans[i].Attributes {
			ks = append(ks, a.Key)
		}
		return strings.Join(ks, ",")
	}
	// Span 0: a deleted, b and c kept, d and the appended z cut. Span 1:
	// a deleted, the appended z kept.
	if k0, k1 := keys(0), keys(1); k0 != "b,c" || k1 != "z" {
		t.Errorf("keys after DELETE_KEY a, SET_DEFAULT z, CAP_ATTRS 2: span 0 %q, span 1 %q; want \"b,c\" and \"z\"", k0, k1)
	}
}

// TestClampFuture: CLAMP_FUTURE moves timestamps after the limit to now,
// keeping spans' ends after their starts and points' starts before their
// times, on every signal.
func TestClampFuture(t *testing.T) {
	const limit, now = 1000, 500
	clamp := encodeEdits(Edit{Op: OpClampFuture, A: append(binary.LittleEndian.AppendUint64(nil, limit), binary.LittleEndian.AppendUint64(nil, now)...)})
	run := func(sig Signal, m proto.Message) proto.Message {
		t.Helper()
		b := mustMarshal(t, m)
		var ix Index
		if err := ix.Parse(sig, b); err != nil {
			t.Fatal(err)
		}
		var e Edits
		if err := e.Decode(clamp, &ix); err != nil {
			t.Fatal(err)
		}
		out, _, err := Apply(&ix, b, &e, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := newRequest(sig)
		if err := proto.Unmarshal(out, got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	tr := makeTraces(1, 1, 4, 0)
	sp := tr.ResourceSpans[0].ScopeSpans[0].Spans
	sp[0].StartTimeUnixNano, sp[0].EndTimeUnixNano = 100, 200   // kept
	sp[1].StartTimeUnixNano, sp[1].EndTimeUnixNano = 100, 5000  // end to now
	sp[2].StartTimeUnixNano, sp[2].EndTimeUnixNano = 3000, 5000 // both to now
	sp[3].StartTimeUnixNano, sp[3].EndTimeUnixNano = 800, 5000  // end to max(now, start) = 800
	got := run(Traces, tr).(*coltrace.ExportTraceServiceRequest).ResourceSpans[0].ScopeSpans[0].Spans
	want := [][2]uint64{{100, 200}, {100, 500}, {500, 500}, {800, 800}}
	for i, s := range got {
		if g := [2]uint64{s.StartTimeUnixNano, s.EndTimeUnixNano}; g != want[i] {
			t.Errorf("span %d: start, end %v, want %v", i, g, want[i])
		}
	}

	lg := makeLogs(1, 1, 2, 0)
	lr := lg.ResourceLogs[0].ScopeLogs[0].LogRecords
	lr[0].TimeUnixNano, lr[0].ObservedTimeUnixNano = 5000, 10
	lr[1].TimeUnixNano, lr[1].ObservedTimeUnixNano = 0, 5000
	gl := run(Logs, lg).(*collogs.ExportLogsServiceRequest).ResourceLogs[0].ScopeLogs[0].LogRecords
	if gl[0].TimeUnixNano != now || gl[0].ObservedTimeUnixNano != 10 || gl[1].TimeUnixNano != 0 || gl[1].ObservedTimeUnixNano != now {
		t.Errorf("log times %d/%d and %d/%d, want 500/10 and 0/500", gl[0].TimeUnixNano, gl[0].ObservedTimeUnixNano, gl[1].TimeUnixNano, gl[1].ObservedTimeUnixNano)
	}

	mr := makeMetrics(1, 1, 3)
	var pts []*metricspb.NumberDataPoint
	for _, m := range mr.ResourceMetrics[0].ScopeMetrics[0].Metrics {
		if g := m.GetGauge(); g != nil {
			pts = g.DataPoints
			break
		}
	}
	if len(pts) < 3 {
		t.Fatalf("want a gauge with 3 points, got %d", len(pts))
	}
	pts[0].StartTimeUnixNano, pts[0].TimeUnixNano = 100, 5000 // time to now
	pts[1].StartTimeUnixNano, pts[1].TimeUnixNano = 700, 5000 // time to now, start after it: to min(now, time)
	pts[2].StartTimeUnixNano, pts[2].TimeUnixNano = 3000, 900 // start to min(now, time)
	gm := run(Metrics, mr).(*colmetrics.ExportMetricsServiceRequest)
	var gp []*metricspb.NumberDataPoint
	for _, m := range gm.ResourceMetrics[0].ScopeMetrics[0].Metrics {
		if g := m.GetGauge(); g != nil {
			gp = g.DataPoints
			break
		}
	}
	wantP := [][2]uint64{{100, 500}, {500, 500}, {500, 900}}
	for i := range wantP {
		if g := [2]uint64{gp[i].StartTimeUnixNano, gp[i].TimeUnixNano}; g != wantP[i] {
			t.Errorf("point %d: start, time %v, want %v", i, g, wantP[i])
		}
	}
}

// TestDropInvalidDecode: DROP_INVALID needs the window and exactly ten
// NUL-terminated reasons, and known check bits.
func TestDropInvalidDecode(t *testing.T) {
	var ix Index
	if err := ix.Parse(Traces, mustMarshal(t, makeTraces(1, 1, 1, 0))); err != nil {
		t.Fatal(err)
	}
	window := make([]byte, 16)
	reasons := []byte(strings.Repeat("r\x00", numInvalidReasons))
	var e Edits
	if err := e.Decode(encodeEdits(Edit{Op: OpDropInvalid, Arg: 31, A: window, B: reasons}), &ix); err != nil {
		t.Fatalf("a well-formed DROP_INVALID: %v", err)
	}
	for name, ed := range map[string]Edit{
		"short window":   {Op: OpDropInvalid, A: window[:8], B: reasons},
		"nine reasons":   {Op: OpDropInvalid, A: window, B: reasons[2:]},
		"unterminated":   {Op: OpDropInvalid, A: window, B: append(append([]byte(nil), reasons...), 'x')},
		"unknown checks": {Op: OpDropInvalid, Arg: 64, A: window, B: reasons},
	} {
		if err := e.Decode(encodeEdits(ed), &ix); err == nil {
			t.Errorf("%s: decoded, want it refused", name)
		}
	}
}

// NORMALIZE_KEY leaves every owner at most one attribute spelled the key:
// the first other spelling is renamed where the exact key is missing, the
// rest are deleted; keys set or renamed earlier in the list count as they
// were left.
func TestNormalizeKey(t *testing.T) {
	req := makeTraces(1, 1, 3, 0)
	rs := req.ResourceSpans[0]
	rs.Resource.Attributes = []*commonpb.KeyValue{kv("Service.Name", str("cart")), kv("SERVICE.NAME", str("x"))}
	rs.ScopeSpans[0].Scope.Attributes = []*commonpb.KeyValue{kv("service.name", str("s")), kv("Service.name", str("y"))}
	sps := rs.ScopeSpans[0].Spans
	sps[0].Attributes = []*commonpb.KeyValue{kv("a", str("1"))}
	sps[1].Attributes = []*commonpb.KeyValue{kv("svc", str("2")), kv("SERVICE.name", str("3"))}
	sps[2].Attributes = []*commonpb.KeyValue{kv("SERVICE.NAME", str("4")), kv("other.key.", str("5"))}
	res := runContent(t, Traces, req, func(f finder) []Edit {
		return []Edit{
			// span 1 gets the exact key by a rename first: its other spelling goes.
			{Op: OpRenameAttr, Target: f.attr(OwnerItem, 1, "svc"), A: []byte("service.name")},
			{Op: OpNormalizeKey, Owner: EditOwnersResource | EditOwnersScope | EditOwnersItem, A: []byte("service.name")},
		}
	})
	got := res.got.(*coltrace.ExportTraceServiceRequest)
	render := func(kvs []*commonpb.KeyValue) string {
		var parts []string
		for _, a := range kvs {
			parts = append(parts, a.Key+"="+a.Value.GetStringValue())
		}
		return strings.Join(parts, ",")
	}
	g := got.ResourceSpans[0]
	lines := []string{render(g.Resource.Attributes), render(g.ScopeSpans[0].Scope.Attributes)}
	for _, sp := range g.ScopeSpans[0].Spans {
		lines = append(lines, render(sp.Attributes))
	}
	want := []string{"service.name=cart", "service.name=s", "a=1", "service.name=2", "service.name=4,other.key.=5"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("after NORMALIZE_KEY:\n got %q\nwant %q", lines, want)
	}
	ix, _ := parsed(t, Traces, req)
	if err := res.e.Decode(encodeEdits(Edit{Op: OpNormalizeKey, A: []byte("k")}), ix); err == nil || !strings.Contains(err.Error(), "owner mask 0") {
		t.Errorf("NORMALIZE_KEY without owners: %v", err)
	}
}

// Edits.Drops counts each list's drops by reason, and past MaxReasonDrops
// reasons counts the rest in one Other entry per list.
func TestDropsByReason(t *testing.T) {
	req := makeTraces(1, 1, 40, 0)
	for i, sp := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		sp.Name = fmt.Sprintf("s%d", i)
	}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	var first []Edit
	for i := range 36 { // 36 reasons for 36 spans: 32 counted apart, 4 as other
		first = append(first, Edit{Op: OpDropItem, Target: uint32(i), A: []byte(fmt.Sprintf("r%d", i))})
	}
	first = append(first, Edit{Op: OpDropItem, Target: 0, A: []byte("again")}) // already dropped: not counted
	var e Edits
	if err := e.Decode(encodeEdits(first...), &ix); err != nil {
		t.Fatal(err)
	}
	second := encodeEdits(
		Edit{Op: OpDropMatch, A: raw(cond1(CondName, `^s3[6-8]$`)), B: []byte("matched")},
		Edit{Op: OpDropNamed, A: []byte("s39"), B: []byte("named")},
	)
	if err := e.DecodeMore(second, &ix); err != nil {
		t.Fatal(err)
	}
	if _, dropped, err := Apply(&ix, b, &e, nil); err != nil || dropped != 40 {
		t.Fatalf("Apply: dropped %d, %v", dropped, err)
	}
	var got []string
	for _, d := range e.Drops {
		if d.Items != 1 || d.Other || d.Segment != 0 {
			got = append(got, fmt.Sprintf("%d:%q:%v:%d", d.Segment, d.Reason, d.Other, d.Items))
		}
	}
	// The second list's reasons find no room among the first's 32: they
	// count as its Other.
	want := []string{`0:"":true:4`, `1:"":true:4`}
	if strings.Join(got, " ") != strings.Join(want, " ") || len(e.Drops) != 34 || string(e.Drops[31].Reason) != "r31" {
		t.Errorf("Drops beyond the 32 single ones: %v (of %d entries), want %v", got, len(e.Drops), want)
	}
	if e.SegmentDrops[0] != 36 || e.SegmentDrops[1] != 4 {
		t.Errorf("SegmentDrops %v, want [36 4]", e.SegmentDrops)
	}
}

// TestSegmentChanged: Apply says which lists changed the request, each
// judged on what it did itself, including inside one run of value records
// that spans two lists.
func TestSegmentChanged(t *testing.T) {
	req := makeTraces(1, 1, 6, 1) // each span has one attribute, span.0
	for i, sp := range req.ResourceSpans[0].ScopeSpans[0].Spans {
		sp.Name = []string{"a", "b", "c"}[i%3]
	}
	b := mustMarshal(t, req)
	var ix Index
	if err := ix.Parse(Traces, b); err != nil {
		t.Fatal(err)
	}
	lists := [][]byte{
		encodeEdits(Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte("no.such.key")}),
		encodeEdits(Edit{Op: OpDeleteKey, Owner: EditOwnersItem, A: []byte(spanAttrKey(req))}), // same run of value records as list 0
		encodeEdits(Edit{Op: OpDropNamed, A: []byte("nothing is called this")}),
		encodeEdits(Edit{Op: OpDropNamed, A: []byte("b"), B: []byte("b")}),
		encodeEdits(Edit{Op: OpTruncateValues, Owner: EditOwnersItem, Arg: 1 << 20}),
	}
	var e Edits
	for k, l := range lists {
		var err error
		if k == 0 {
			err = e.Decode(l, &ix)
		} else {
			err = e.DecodeMore(l, &ix)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, changed, err := ApplyChanged(&ix, b, &e, nil); err != nil || !changed {
		t.Fatalf("ApplyChanged: changed %v, %v", changed, err)
	}
	if want := []bool{false, true, false, true, false}; !slices.Equal(e.SegmentChanged, want) {
		t.Fatalf("SegmentChanged = %v, want %v", e.SegmentChanged, want)
	}
}

func spanAttrKey(req *coltrace.ExportTraceServiceRequest) string {
	return req.ResourceSpans[0].ScopeSpans[0].Spans[0].Attributes[0].Key
}

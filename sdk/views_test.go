package sdk_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

var (
	traceID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID  = [8]byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}
	parent  = [8]byte{0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8}
)

func TestTracesViews(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces,
		sdktest.Resource{
			Attrs: []sdktest.KV{sdktest.Attr("service.name", "checkout")},
			Scopes: []sdktest.Scope{
				{Name: "lib-a", Version: "1.2.3", Attrs: []sdktest.KV{sdktest.Attr("scope.k", int64(7))}, Spans: []sdktest.Span{{
					TraceID: traceID, SpanID: spanID, ParentSpanID: parent, TraceState: "k=v",
					Name: "GET /cart", Kind: sdk.SpanKindServer, StartTime: 1_000, EndTime: 2_500,
					Attrs:        []sdktest.KV{sdktest.Attr("http.method", "GET"), sdktest.Attr("http.status_code", 200)},
					DroppedAttrs: 3, Events: 2, Links: 1,
					StatusCode: sdk.StatusError, StatusMessage: "boom", Flags: 0x301,
				}}},
				{Spans: []sdktest.Span{{Name: "second"}}},
			},
		},
		sdktest.Resource{NoResource: true, Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "third"}}}}},
	)
	var lines []string
	sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
		p("len %d", tr.Len())
		for r := range tr.Resources() {
			v, _ := r.Attributes().Get("service.name")
			p("resource %d service=%q attrs=%d", r.Index(), v.Str(), r.Attributes().Len())
			for s := range r.Scopes() {
				v, _ := s.Attributes().Get("scope.k")
				p(" scope %d %q %q scope.k=%d resource=%d", s.Index(), s.Name(), s.Version(), v.Int(), s.Resource().Index())
				for sp := range s.Spans() {
					p("  span %d %q", sp.Index(), sp.Name())
				}
				for range s.LogRecords() {
					p("  log record in a traces batch")
				}
			}
		}
		s := tr.Span(0)
		code, msg := s.Status()
		p("trace=%x span=%x parent=%x state=%q", s.TraceID(), s.SpanID(), s.ParentSpanID(), s.TraceState())
		p("kind=%d start=%d end=%d status=%d/%q flags=%#x dropped=%d events=%d links=%d",
			s.Kind(), s.StartTime(), s.EndTime(), code, msg, s.Flags(), s.DroppedAttributesCount(), s.EventsCount(), s.LinksCount())
		for k, v := range s.Attributes().All() {
			p("attr %s=%s", k, show(v))
		}
		s2 := tr.Span(2)
		code, msg = s2.Status()
		p("span2 trace=%x span=%x kind=%d start=%d status=%d/%q resource=%d scope=%d",
			s2.TraceID(), s2.SpanID(), s2.Kind(), s2.StartTime(), code, msg, s2.Resource().Index(), s2.Scope().Index())
	}}, sdk.SignalTraces, req, idx)
	want := []string{
		"len 3",
		`resource 0 service="checkout" attrs=1`,
		` scope 0 "lib-a" "1.2.3" scope.k=7 resource=0`,
		`  span 0 "GET /cart"`,
		` scope 1 "" "" scope.k=0 resource=0`,
		`  span 1 "second"`,
		`resource 1 service="" attrs=0`,
		` scope 2 "" "" scope.k=0 resource=1`,
		`  span 2 "third"`,
		`trace=0102030405060708090a0b0c0d0e0f10 span=a1a2a3a4a5a6a7a8 parent=b1b2b3b4b5b6b7b8 state="k=v"`,
		`kind=2 start=1000 end=2500 status=2/"boom" flags=0x301 dropped=3 events=2 links=1`,
		`attr http.method=string("GET")`,
		`attr http.status_code=int(200)`,
		`span2 trace=00000000000000000000000000000000 span=0000000000000000 kind=0 start=0 status=0/"" resource=1 scope=2`,
	}
	diffLines(t, lines, want)
}

func TestLogsViews(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalLogs, sdktest.Resource{Scopes: []sdktest.Scope{{
		Name: "logger",
		LogRecords: []sdktest.LogRecord{
			{
				Time: 11, ObservedTime: 12, Severity: sdk.SeverityWarn + 1, SeverityText: "WARN2",
				Body:  []sdktest.KV{sdktest.Attr("msg", "disk full"), sdktest.Attr("pct", 99.5)},
				Attrs: []sdktest.KV{sdktest.Attr("user", "bob")}, DroppedAttrs: 1, Flags: 1,
				TraceID: traceID, SpanID: spanID, EventName: "disk.alert",
			},
			{Body: "plain"},
			{},
		},
	}}})
	var lines []string
	sdktest.RunFilter(sdk.Filter{Logs: func(l *sdk.Logs) {
		p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
		for r := range l.LogRecords() {
			p("record %d time=%d observed=%d sev=%d %q event=%q trace=%x span=%x flags=%d dropped=%d scope=%q body=%s attrs=%d",
				r.Index(), r.Time(), r.ObservedTime(), r.Severity(), r.SeverityText(), r.EventName(),
				r.TraceID(), r.SpanID(), r.Flags(), r.DroppedAttributesCount(), r.Scope().Name(), show(r.Body()), r.Attributes().Len())
		}
		for r := range l.Resources() {
			for sc := range r.Scopes() {
				for range sc.Spans() {
					p("span in a logs batch")
				}
			}
		}
	}}, sdk.SignalLogs, req, idx)
	want := []string{
		`record 0 time=11 observed=12 sev=14 "WARN2" event="disk.alert" trace=0102030405060708090a0b0c0d0e0f10 span=a1a2a3a4a5a6a7a8 flags=1 dropped=1 scope="logger" body=map{msg:string("disk full"),pct:double(99.5)} attrs=1`,
		`record 1 time=0 observed=0 sev=0 "" event="" trace=00000000000000000000000000000000 span=0000000000000000 flags=0 dropped=0 scope="logger" body=string("plain") attrs=0`,
		`record 2 time=0 observed=0 sev=0 "" event="" trace=00000000000000000000000000000000 span=0000000000000000 flags=0 dropped=0 scope="logger" body=empty attrs=0`,
	}
	diffLines(t, lines, want)
}

func TestMetricsViews(t *testing.T) {
	sum, lo, hi := 12.5, 0.5, 9.0
	req, idx := sdktest.Batch(sdk.SignalMetrics, sdktest.Resource{Scopes: []sdktest.Scope{{Metrics: []sdktest.Metric{
		{Name: "g", Description: "a gauge", Unit: "1", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{
			{Time: 5, StartTime: 4, Value: int64(-3), Attrs: []sdktest.KV{sdktest.Attr("host", "a")}, Flags: 1},
			{Time: 6, Value: 2.25},
		}},
		{Name: "s", Type: sdk.MetricSum, Temporality: sdk.TemporalityCumulative, Monotonic: true, Points: []sdktest.DataPoint{{Value: 7}}},
		{Name: "h", Type: sdk.MetricHistogram, Temporality: sdk.TemporalityDelta, Points: []sdktest.DataPoint{{
			Count: 4, Sum: &sum, Min: &lo, Max: &hi, BucketCounts: []uint64{1, 2, 1}, ExplicitBounds: []float64{1, 5},
			Attrs: []sdktest.KV{sdktest.Attr("route", "/x")}, Flags: 1,
		}}},
		{Name: "e", Type: sdk.MetricExponentialHistogram, Points: []sdktest.DataPoint{{Count: 3, Scale: -2, ZeroCount: 1, Max: &hi}}},
		{Name: "q", Type: sdk.MetricSummary, Points: []sdktest.DataPoint{{Count: 2, Sum: &sum}}},
		{Name: "empty"},
	}}}})
	var lines []string
	sdktest.RunFilter(sdk.Filter{Metrics: func(m *sdk.Metrics) {
		p := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
		p("points=%d metrics=%d", m.Len(), m.MetricCount())
		for mt := range m.Metrics() {
			p("metric %d %q %s desc=%q unit=%q temporality=%d monotonic=%t points=%d",
				mt.Index(), mt.Name(), mt.Type(), mt.Description(), mt.Unit(), mt.Temporality(), mt.IsMonotonic(), mt.Len())
			for dp := range mt.DataPoints() {
				iv, iok := dp.IntValue()
				dv, dok := dp.DoubleValue()
				s, sok := dp.Sum()
				mn, mnok := dp.Min()
				mx, mxok := dp.Max()
				p(" point %d %q/%s metric=%d time=%d start=%d flags=%d int=%d/%t double=%g/%t count=%d sum=%g/%t min=%g/%t max=%g/%t attrs=%d",
					dp.Index(), dp.Name(), dp.Type(), dp.Metric().Index(), dp.Time(), dp.StartTime(), dp.Flags(),
					iv, iok, dv, dok, dp.Count(), s, sok, mn, mnok, mx, mxok, dp.Attributes().Len())
				if dp.Type() == sdk.MetricHistogram {
					var b []string
					for i := range dp.BucketCountsLen() {
						b = append(b, fmt.Sprint(dp.BucketCount(i)))
					}
					var e []string
					for i := range dp.ExplicitBoundsLen() {
						e = append(e, fmt.Sprint(dp.ExplicitBound(i)))
					}
					p("  buckets=%s bounds=%s", strings.Join(b, ","), strings.Join(e, ","))
				}
				if dp.Type() == sdk.MetricExponentialHistogram {
					p("  scale=%d zero=%d", dp.Scale(), dp.ZeroCount())
				}
			}
		}
		p("point 3 via Metrics.DataPoint: %q", m.DataPoint(3).Name())
		p("metric 5 via Metrics.Metric: %q, scope's metrics: %d", m.Metric(5).Name(), count(m.Metric(0).Scope().Metrics()))
	}}, sdk.SignalMetrics, req, idx)
	want := []string{
		"points=6 metrics=6",
		`metric 0 "g" gauge desc="a gauge" unit="1" temporality=0 monotonic=false points=2`,
		` point 0 "g"/gauge metric=0 time=5 start=4 flags=1 int=-3/true double=0/false count=0 sum=0/false min=0/false max=0/false attrs=1`,
		` point 1 "g"/gauge metric=0 time=6 start=0 flags=0 int=0/false double=2.25/true count=0 sum=0/false min=0/false max=0/false attrs=0`,
		`metric 1 "s" sum desc="" unit="" temporality=2 monotonic=true points=1`,
		` point 2 "s"/sum metric=1 time=0 start=0 flags=0 int=7/true double=0/false count=0 sum=0/false min=0/false max=0/false attrs=0`,
		`metric 2 "h" histogram desc="" unit="" temporality=1 monotonic=false points=1`,
		` point 3 "h"/histogram metric=2 time=0 start=0 flags=1 int=0/false double=0/false count=4 sum=12.5/true min=0.5/true max=9/true attrs=1`,
		`  buckets=1,2,1 bounds=1,5`,
		`metric 3 "e" exponential_histogram desc="" unit="" temporality=0 monotonic=false points=1`,
		` point 4 "e"/exponential_histogram metric=3 time=0 start=0 flags=0 int=0/false double=0/false count=3 sum=0/false min=0/false max=9/true attrs=0`,
		`  scale=-2 zero=1`,
		`metric 4 "q" summary desc="" unit="" temporality=0 monotonic=false points=1`,
		` point 5 "q"/summary metric=4 time=0 start=0 flags=0 int=0/false double=0/false count=2 sum=12.5/true min=0/false max=0/false attrs=0`,
		`metric 5 "empty" empty desc="" unit="" temporality=0 monotonic=false points=0`,
		`point 3 via Metrics.DataPoint: "h"`,
		`metric 5 via Metrics.Metric: "empty", scope's metrics: 6`,
	}
	diffLines(t, lines, want)
}

// Histogram bucket counts may arrive unpacked or split over several packed
// runs; a validation filter must count them all.
func TestHistogramRepeatedEncodings(t *testing.T) {
	// HistogramDataPoint: bucket_counts unpacked (two fixed64 fields) then
	// one packed run of one; explicit_bounds as two packed runs.
	f64 := func(v uint64) string { return fmt.Sprintf("%016x", swap64(v)) }
	dp := "31" + f64(1) + "31" + f64(2) + "3208" + f64(3) +
		"3a08" + f64(math.Float64bits(1)) + "3a08" + f64(math.Float64bits(2))
	hist := fmt.Sprintf("0a%02x", len(dp)/2) + dp
	metric := "0a01" + "68" + fmt.Sprintf("4a%02x", len(hist)/2) + hist
	sm := fmt.Sprintf("12%02x", len(metric)/2) + metric
	rm := fmt.Sprintf("12%02x", len(sm)/2) + sm
	req := unhex(fmt.Sprintf("0a%02x", len(rm)/2) + rm)
	idx, err := sdktest.Index(sdk.SignalMetrics, req)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	sdktest.RunFilter(sdk.Filter{Metrics: func(m *sdk.Metrics) {
		p := m.DataPoint(0)
		got = fmt.Sprintf("%d buckets %d %d %d, %d bounds %g %g", p.BucketCountsLen(), p.BucketCount(0), p.BucketCount(1), p.BucketCount(2),
			p.ExplicitBoundsLen(), p.ExplicitBound(0), p.ExplicitBound(1))
	}}, sdk.SignalMetrics, req, idx)
	if want := "3 buckets 1 2 3, 2 bounds 1 2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValues(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Attrs: []sdktest.KV{
		sdktest.Attr("s", "héllo"), sdktest.Attr("empty.s", ""), sdktest.Attr("b", true), sdktest.Attr("f", false), sdktest.Attr("i", int64(math.MinInt64)), sdktest.Attr("d", -0.5),
		sdktest.Attr("bytes", []byte{0, 1, 2}), sdktest.Attr("arr", []any{"x", int64(2), []any{true}}),
		sdktest.Attr("map", []sdktest.KV{sdktest.Attr("k", "v"), sdktest.Attr("n", nil)}), sdktest.Attr("none", nil),
	}}}}}})
	var lines []string
	sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		a := tr.Span(0).Attributes()
		for k, v := range a.All() {
			lines = append(lines, fmt.Sprintf("%s %s len=%d %s", k, v.Type(), v.Len(), show(v)))
		}
		// Typed getters return zero values for other types.
		s, _ := a.Get("s")
		i, _ := a.Get("i")
		lines = append(lines, fmt.Sprintf("mismatch %d %t %g %v %q %d", s.Int(), s.Bool(), s.Double(), s.Bytes(), i.Str(), count(i.Array())))
		if _, ok := a.Get("missing"); ok {
			lines = append(lines, "missing found")
		}
		lines = append(lines, fmt.Sprintf("has s=%t missing=%t", a.Has("s"), a.Has("missing")))
	}}, sdk.SignalTraces, req, idx)
	want := []string{
		`s string len=6 string("héllo")`,
		`empty.s string len=0 string("")`,
		`b bool len=0 bool(true)`,
		`f bool len=0 bool(false)`,
		`i int len=0 int(-9223372036854775808)`,
		`d double len=0 double(-0.5)`,
		`bytes bytes len=3 bytes(000102)`,
		`arr array len=3 array[string("x"),int(2),array[bool(true)]]`,
		`map map len=2 map{k:string("v"),n:empty}`,
		`none empty len=0 empty`,
		`mismatch 0 false 0 [] "" 0`,
		`has s=true missing=false`,
	}
	diffLines(t, lines, want)
}

// Views point into the request only during the callback; one kept past it
// must fail loudly rather than read the next request.
func TestViewsAfterCallPanic(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}})
	var kept sdk.Span
	sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) { kept = tr.Span(0) }}, sdk.SignalTraces, req, idx)
	defer func() {
		if recover() == nil {
			t.Error("reading a span after its call did not panic")
		}
	}()
	_ = kept.Name()
}

func TestOutOfRangePanics(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}})
	var msg any
	sdktest.RunFilter(sdk.Filter{Traces: func(tr *sdk.Traces) {
		defer func() { msg = recover() }()
		tr.Span(1)
	}}, sdk.SignalTraces, req, idx)
	if want := "otlpgw sdk: span index 1 out of range [0,1)"; msg != want {
		t.Errorf("panic %v, want %q", msg, want)
	}
}

func TestMalformedIndexPanics(t *testing.T) {
	req, idx := sdktest.Batch(sdk.SignalTraces, sdktest.Resource{Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}})
	cases := []struct {
		name string
		idx  []byte
		sig  sdk.Signal
		want string
	}{
		{"short", idx[:51], sdk.SignalTraces, "shorter than its header"},
		{"version", patch(idx, 0, 2), sdk.SignalTraces, "ABI version 2"},
		{"signal", idx, sdk.SignalLogs, "index of signal 0 in a logs call"},
		{"items", patch(idx, 8, 2), sdk.SignalTraces, "items and n_items disagree"},
		{"table", patch(idx, 44, 1<<20), sdk.SignalTraces, "runs past the index"},
		{"count", patch(patch(idx, 24, 1<<30), 8, 1<<30), sdk.SignalTraces, "exceeds the index"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "malformed index") || !strings.Contains(msg, c.want) {
					t.Errorf("panic %q, want it to mention %q", msg, c.want)
				}
			}()
			sdktest.RunFilter(sdk.Filter{}, c.sig, req, c.idx)
		})
	}
}

func patch(b []byte, at int, v uint32) []byte {
	b = bytes.Clone(b)
	b[at], b[at+1], b[at+2], b[at+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

func swap64(v uint64) uint64 {
	var r uint64
	for range 8 {
		r = r<<8 | v&0xff
		v >>= 8
	}
	return r
}

func count[T any](seq func(func(T) bool)) int {
	n := 0
	for range seq {
		n++
	}
	return n
}

// show renders a value with its type, recursing into arrays and maps.
func show(v sdk.Value) string {
	switch v.Type() {
	case sdk.ValueString:
		return fmt.Sprintf("string(%q)", v.Str())
	case sdk.ValueBool:
		return fmt.Sprintf("bool(%t)", v.Bool())
	case sdk.ValueInt:
		return fmt.Sprintf("int(%d)", v.Int())
	case sdk.ValueDouble:
		return fmt.Sprintf("double(%g)", v.Double())
	case sdk.ValueBytes:
		return fmt.Sprintf("bytes(%x)", v.Bytes())
	case sdk.ValueArray:
		var s []string
		for e := range v.Array() {
			s = append(s, show(e))
		}
		return "array[" + strings.Join(s, ",") + "]"
	case sdk.ValueMap:
		var s []string
		for k, e := range v.Map() {
			s = append(s, k+":"+show(e))
		}
		return "map{" + strings.Join(s, ",") + "}"
	}
	return v.Type().String()
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

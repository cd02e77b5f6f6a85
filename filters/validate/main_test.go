package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

const (
	now   = filtertest.BenchNow
	start = now - 2_000_000_000
	end   = now - 1_000_000_000
	day   = uint64(24 * time.Hour)
)

var (
	tid = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sid = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func setup(t testing.TB, config string) {
	t.Helper()
	sdktest.SetNow(now)
	t.Cleanup(func() { sdktest.SetNow(0) })
	if _, err := sdktest.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
}

// run runs the filter natively over a batch built from rs, applies its
// edits as the gateway does and describes the drops the old way, one
// DROP_ITEM line per dropped item with the reason the client sees. Every
// case puts its valid items first, so the dropped ones are the last.
func run(t *testing.T, sig sdk.Signal, rs ...sdktest.Resource) []string {
	t.Helper()
	a := filtertest.ApplyNative(t, sig, rs...)
	var out []string
	for k := a.Items - a.Dropped; k < a.Items; k++ {
		out = append(out, fmt.Sprintf("DROP_ITEM item %d %q", k, a.Reason))
	}
	return out
}

func span(mod func(*sdktest.Span)) sdktest.Span {
	s := sdktest.Span{TraceID: tid, SpanID: sid, Name: "op", StartTime: start, EndTime: end}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestTraces(t *testing.T) {
	cases := []struct {
		name   string
		config string
		span   sdktest.Span
		want   []string
	}{
		{"valid", `{}`, span(nil), nil},
		{"valid root span with parent unset", `{}`, span(func(s *sdktest.Span) { s.ParentSpanID = [8]byte{} }), nil},
		{"zero trace_id", `{}`, span(func(s *sdktest.Span) { s.TraceID = [16]byte{} }), []string{`DROP_ITEM item 0 "invalid trace_id: missing or all zero"`}},
		{"zero span_id", `{}`, span(func(s *sdktest.Span) { s.SpanID = [8]byte{} }), []string{`DROP_ITEM item 0 "invalid span_id: missing or all zero"`}},
		{"empty name", `{}`, span(func(s *sdktest.Span) { s.Name = "" }), []string{`DROP_ITEM item 0 "empty name"`}},
		{"zero start", `{}`, span(func(s *sdktest.Span) { s.StartTime = 0 }), []string{`DROP_ITEM item 0 "missing timestamp"`}},
		{"zero end", `{}`, span(func(s *sdktest.Span) { s.EndTime = 0 }), []string{`DROP_ITEM item 0 "missing timestamp"`}},
		{"end before start", `{}`, span(func(s *sdktest.Span) { s.StartTime, s.EndTime = end, start }), []string{`DROP_ITEM item 0 "start after end"`}},
		{"start in seconds", `{}`, span(func(s *sdktest.Span) { s.StartTime = 1_700_000_000 }), []string{`DROP_ITEM item 0 "timestamp before the year 2000"`}},
		{"end two days ahead", `{}`, span(func(s *sdktest.Span) { s.EndTime = now + 2*day }), []string{`DROP_ITEM item 0 "timestamp too far in the future"`}},
		{"end an hour ahead", `{}`, span(func(s *sdktest.Span) { s.EndTime = now + day/24 }), nil},
		{"end an hour ahead, max_future 30m", `{"max_future": "30m"}`, span(func(s *sdktest.Span) { s.EndTime = now + day/24 }), []string{`DROP_ITEM item 0 "timestamp too far in the future"`}},
		{"ids check off", `{"checks": {"ids": false}}`, span(func(s *sdktest.Span) { s.TraceID, s.SpanID = [16]byte{}, [8]byte{} }), nil},
		{"names check off", `{"checks": {"names": false}}`, span(func(s *sdktest.Span) { s.Name = "" }), nil},
		{"timestamps check off", `{"checks": {"timestamps": false}}`, span(func(s *sdktest.Span) { s.StartTime, s.EndTime = 0, 5 }), nil},
		{"first reason wins", `{}`, span(func(s *sdktest.Span) { s.TraceID, s.Name = [16]byte{}, "" }), []string{`DROP_ITEM item 0 "invalid trace_id: missing or all zero"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got := run(t, sdk.SignalTraces, filtertest.Spans(span(nil), c.span))
			want := make([]string, 0, len(c.want))
			for _, w := range c.want { // the case's span is item 1, after a valid one
				want = append(want, strings.Replace(w, "item 0", "item 1", 1))
			}
			if d := filtertest.Diff(got, want); d != "" {
				t.Error(d)
			}
		})
	}
}

func f(v float64) *float64 { return &v }

func TestMetrics(t *testing.T) {
	pt := func(mod func(*sdktest.DataPoint)) sdktest.DataPoint {
		p := sdktest.DataPoint{StartTime: start, Time: end, Value: 1}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	hist := func(count uint64, buckets []uint64, bounds []float64) sdktest.DataPoint {
		return sdktest.DataPoint{StartTime: start, Time: end, Count: count, Sum: f(1), BucketCounts: buckets, ExplicitBounds: bounds}
	}
	cases := []struct {
		name   string
		config string
		metric sdktest.Metric
		want   []string
	}{
		{"valid gauge", `{}`, sdktest.Metric{Name: "g", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(nil)}}, nil},
		{"gauge without start_time", `{}`, sdktest.Metric{Name: "g", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(func(p *sdktest.DataPoint) { p.StartTime = 0 })}}, nil},
		{"empty metric name drops every point", `{}`, sdktest.Metric{Type: sdk.MetricSum, Points: []sdktest.DataPoint{pt(nil), pt(nil)}},
			[]string{`DROP_ITEM item 1 "empty name"`, `DROP_ITEM item 2 "empty name"`}},
		{"zero time", `{}`, sdktest.Metric{Name: "g", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(func(p *sdktest.DataPoint) { p.StartTime, p.Time = 0, 0 })}},
			[]string{`DROP_ITEM item 1 "missing timestamp"`}},
		{"start after time", `{}`, sdktest.Metric{Name: "s", Type: sdk.MetricSum, Points: []sdktest.DataPoint{pt(func(p *sdktest.DataPoint) { p.StartTime, p.Time = end, start })}},
			[]string{`DROP_ITEM item 1 "start after end"`}},
		{"start in milliseconds", `{}`, sdktest.Metric{Name: "s", Type: sdk.MetricSum, Points: []sdktest.DataPoint{pt(func(p *sdktest.DataPoint) { p.StartTime = 1_700_000_000_000 })}},
			[]string{`DROP_ITEM item 1 "timestamp before the year 2000"`}},
		{"time in the future", `{}`, sdktest.Metric{Name: "g", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(func(p *sdktest.DataPoint) { p.Time = now + 2*day })}},
			[]string{`DROP_ITEM item 1 "timestamp too far in the future"`}},
		{"valid histogram", `{}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(6, []uint64{1, 2, 3}, []float64{10, 20})}}, nil},
		{"histogram without buckets", `{}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(6, nil, []float64{10, 20})}}, nil},
		{"histogram, one bucket and no bounds", `{}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(4, []uint64{4}, nil)}}, nil},
		{"histogram bucket count mismatch", `{}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(6, []uint64{1, 2, 3}, []float64{10})}},
			[]string{`DROP_ITEM item 1 "histogram bucket_counts length is not explicit_bounds length + 1"`}},
		{"histogram count is not the sum", `{}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(7, []uint64{1, 2, 3}, []float64{10, 20})}},
			[]string{`DROP_ITEM item 1 "histogram count is not the sum of bucket_counts"`}},
		{"histogram checks off", `{"checks": {"histograms": false}}`, sdktest.Metric{Name: "h", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{hist(7, []uint64{1, 2, 3}, []float64{10})}}, nil},
		{"summary is not a histogram", `{}`, sdktest.Metric{Name: "s", Type: sdk.MetricSummary, Points: []sdktest.DataPoint{{StartTime: start, Time: end, Count: 3}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			ok := sdktest.Metric{Name: "ok", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(nil)}}
			got := run(t, sdk.SignalMetrics, filtertest.Metrics(ok, c.metric))
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	rec := func(mod func(*sdktest.LogRecord)) sdktest.LogRecord {
		r := sdktest.LogRecord{Time: end, ObservedTime: end, Severity: sdk.SeverityInfo, Body: "hello"}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	cases := []struct {
		name   string
		config string
		rec    sdktest.LogRecord
		want   []string
	}{
		{"valid", `{}`, rec(nil), nil},
		{"severity 24", `{}`, rec(func(r *sdktest.LogRecord) { r.Severity = 24 }), nil},
		{"severity 25", `{}`, rec(func(r *sdktest.LogRecord) { r.Severity = 25 }), []string{`DROP_ITEM item 1 "severity_number out of range 0..24"`}},
		{"negative severity", `{}`, rec(func(r *sdktest.LogRecord) { r.Severity = -1 }), []string{`DROP_ITEM item 1 "severity_number out of range 0..24"`}},
		{"severity check off", `{"checks": {"severity": false}}`, rec(func(r *sdktest.LogRecord) { r.Severity = 99 }), nil},
		{"no time, observed set", `{}`, rec(func(r *sdktest.LogRecord) { r.Time = 0 }), nil},
		{"no time, no observed", `{}`, rec(func(r *sdktest.LogRecord) { r.Time, r.ObservedTime = 0, 0 }), []string{`DROP_ITEM item 1 "missing timestamp"`}},
		{"time in seconds", `{}`, rec(func(r *sdktest.LogRecord) { r.Time = 1_700_000_000 }), []string{`DROP_ITEM item 1 "timestamp before the year 2000"`}},
		{"observed in the future", `{}`, rec(func(r *sdktest.LogRecord) { r.ObservedTime = now + 2*day }), []string{`DROP_ITEM item 1 "timestamp too far in the future"`}},
		{"with trace context", `{}`, rec(func(r *sdktest.LogRecord) { r.TraceID, r.SpanID = tid, sid }), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got := run(t, sdk.SignalLogs, filtertest.Logs(rec(nil), c.rec))
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestFirstReasonReported: every invalid item is dropped and the client
// hears the reason of the first one, as with one DROP_ITEM per item.
func TestFirstReasonReported(t *testing.T) {
	setup(t, `{}`)
	a := filtertest.ApplyNative(t, sdk.SignalTraces, filtertest.Spans(
		span(nil),
		span(func(s *sdktest.Span) { s.Name = "" }),
		span(func(s *sdktest.Span) { s.TraceID = [16]byte{} }),
		span(func(s *sdktest.Span) { s.TraceID = [16]byte{} }),
	))
	if a.Dropped != 3 || a.Reason != "empty name" {
		t.Errorf("dropped %d with reason %q, want 3 with \"empty name\"", a.Dropped, a.Reason)
	}
	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Traces, a.Out); err != nil || ix.Items != 1 {
		t.Errorf("%d spans left (%v), want the valid one", ix.Items, err)
	}
}

func TestConfig(t *testing.T) {
	good := map[string]config{
		`{}`:                      defaultConfig(),
		`{"max_future": "1h30m"}`: func() config { c := defaultConfig(); c.MaxFuture = int64(90 * time.Minute); return c }(),
		`{"checks": {"ids": false, "histograms": false}}`: func() config { c := defaultConfig(); c.IDs, c.Histograms = false, false; return c }(),
	}
	for raw, want := range good {
		got, err := parseConfig([]byte(raw))
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", raw, got, err, want)
		}
	}
	bad := map[string]string{
		`{"max_future": 5}`:          "max_future: want a string, got a number",
		`{"max_future": "-1h"}`:      `max_future: want a duration`,
		`{"checks": {"idz": false}}`: "checks.idz: unknown key",
		`{"checks": {"ids": "no"}}`:  "checks.ids: want true or false",
		`{"max_futur": "1h"}`:        "max_futur: unknown key",
		`{"checks": []}`:             "checks: want an object, got an array",
		`not json`:                   "invalid JSON",
	}
	filtertest.ConfigErrors(t, bad)
}

func TestExampleConfig(t *testing.T) {
	filtertest.ExamplesLoad(t, "validate")
}

// BenchmarkValidate runs 100 typical spans through the filter natively and
// in WASM (filtertest.BenchCompare), with its example config.
func BenchmarkValidate(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "validate")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "validate"), []byte(`{"max_future": "1h", "checks": {"histograms": false}}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

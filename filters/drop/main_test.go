package main

import (
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
	"github.com/otlpgw/otlpgw/filters/internal/match"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

func setup(t testing.TB, config string) {
	t.Helper()
	sdktest.SetPressure(0)
	t.Cleanup(func() { sdktest.SetPressure(0) })
	if _, err := sdktest.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
}

var kv = sdktest.Attr

// tid is a trace ID whose sampling randomness (its low 56 bits) is r
// scaled to 56 bits: r = 0.25 sits a quarter of the way up.
func tid(r float64) [16]byte {
	v := uint64(r * (1 << 56))
	var id [16]byte
	id[0] = 0xaa
	for i := range 7 {
		id[15-i] = byte(v >> (8 * i))
	}
	return id
}

const s2 = `{"rules": [{"name_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"}]}`

func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		config string
		spans  []sdktest.Span
		want   []string
	}{
		{"attribute equals a string", `{"rules": [{"attribute": {"key": "http.target", "equals": "/metrics"}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("http.target", "/metrics")}},
			{Name: "b", Attrs: []sdktest.KV{kv("http.target", "/metrics/x")}},
			{Name: "c", Attrs: []sdktest.KV{kv("other", "/metrics")}},
		}, []string{`DROP_ITEM item 0 "dropped by rules[0]"`}},
		{"attribute equals a number", `{"rules": [{"attribute": {"key": "code", "equals": 404}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("code", 404)}},
			{Name: "b", Attrs: []sdktest.KV{kv("code", 404.0)}},
			{Name: "c", Attrs: []sdktest.KV{kv("code", "404")}},
		}, []string{`DROP_ITEM item 0 "dropped by rules[0]"`, `DROP_ITEM item 1 "dropped by rules[0]"`}},
		{"attribute equals a bool", `{"rules": [{"attribute": {"key": "synthetic", "equals": true}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("synthetic", true)}}, {Name: "b", Attrs: []sdktest.KV{kv("synthetic", false)}},
		}, []string{`DROP_ITEM item 0 "dropped by rules[0]"`}},
		{"attribute matches, attribute exists", `{"rules": [{"attribute": {"key": "user_agent.original", "matches": "(?i)bot"}}, {"attribute": {"key": "debug"}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("user_agent.original", "Googlebot/2.1")}},
			{Name: "b", Attrs: []sdktest.KV{kv("user_agent.original", "Firefox")}},
			{Name: "c", Attrs: []sdktest.KV{kv("debug", false)}},
		}, []string{`DROP_ITEM item 0 "dropped by rules[0]"`, `DROP_ITEM item 2 "dropped by rules[1]"`}},
		{"conditions of a rule all hold", `{"rules": [{"name_regex": "^GET ", "attribute": {"key": "env", "equals": "dev"}}]}`, []sdktest.Span{
			{Name: "GET /a", Attrs: []sdktest.KV{kv("env", "dev")}},
			{Name: "GET /b", Attrs: []sdktest.KV{kv("env", "prod")}},
			{Name: "PUT /c", Attrs: []sdktest.KV{kv("env", "dev")}},
		}, []string{`DROP_ITEM item 0 "dropped by rules[0]"`}},
		{"a body rule never matches a span", `{"rules": [{"body_regex": "."}]}`, []sdktest.Span{{Name: "a"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, rec := filtertest.Run(sdk.SignalTraces, filtertest.Spans(c.spans...))
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
			if n := filtertest.MetricTotals(rec)["drop_rule_dropped_total"]; n != float64(len(c.want)) {
				t.Errorf("drop_rule_dropped_total += %v, want %d", n, len(c.want))
			}
		})
	}
}

func TestS2PatternRunsWithoutRegexp(t *testing.T) {
	m, err := match.Compile("^(GET|HEAD) /(healthz|readyz|livez)$")
	if err != nil || m.Mode() != match.ModeExact {
		t.Errorf("the S2 pattern compiles to mode %v, %v; want a set of exact names", m.Mode(), err)
	}
}

func TestRulesOnLogsAndMetrics(t *testing.T) {
	setup(t, `{"rules": [{"body_regex": "^GET /healthz"}, {"name_regex": "^(go_gc_.*|process_.*)$"}, {"name_regex": "^heartbeat$"}]}`)
	got, _ := filtertest.Run(sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{Body: "GET /healthz 200 1ms"},
		sdktest.LogRecord{Body: "GET /api 200"},
		sdktest.LogRecord{Body: []any{"GET /healthz"}},
		sdktest.LogRecord{EventName: "heartbeat"},
	))
	want := []string{`DROP_ITEM item 0 "dropped by rules[0]"`, `DROP_ITEM item 3 "dropped by rules[2]"`}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
	pts := []sdktest.DataPoint{{Time: 1, Value: 1}, {Time: 2, Value: 2}}
	got, _ = filtertest.Run(sdk.SignalMetrics, filtertest.Metrics(
		sdktest.Metric{Name: "go_gc_duration_seconds", Type: sdk.MetricGauge, Points: pts},
		sdktest.Metric{Name: "http_requests_total", Type: sdk.MetricSum, Points: pts},
	))
	want = []string{`DROP_ITEM item 0 "dropped by rules[1]"`, `DROP_ITEM item 1 "dropped by rules[1]"`}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("metrics: %s", d)
	}
}

func TestSampling(t *testing.T) {
	setup(t, `{"sample_percent": 25}`)
	got, rec := filtertest.Run(sdk.SignalTraces, filtertest.Spans(
		sdktest.Span{Name: "a", TraceID: tid(0.10)},  // below 0.75: dropped
		sdktest.Span{Name: "b", TraceID: tid(0.749)}, // dropped
		sdktest.Span{Name: "c", TraceID: tid(0.75)},  // kept: the top quarter
		sdktest.Span{Name: "d", TraceID: tid(0.99)},  // kept
		sdktest.Span{Name: "e"},                      // no trace ID: kept
	))
	want := []string{`DROP_ITEM item 0 "sampled out"`, `DROP_ITEM item 1 "sampled out"`}
	if d := filtertest.Diff(got, want); d != "" {
		t.Error(d)
	}
	if n := filtertest.MetricTotals(rec)["drop_sampled_out_total"]; n != 2 {
		t.Errorf("drop_sampled_out_total += %v, want 2", n)
	}
	// Log records follow their trace: the same trace IDs, the same verdicts.
	got, _ = filtertest.Run(sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{TraceID: tid(0.10)}, sdktest.LogRecord{TraceID: tid(0.99)}, sdktest.LogRecord{},
	))
	if d := filtertest.Diff(got, []string{`DROP_ITEM item 0 "sampled out"`}); d != "" {
		t.Errorf("logs: %s", d)
	}
}

func TestSamplingKeepsAboutThePercentage(t *testing.T) {
	setup(t, `{"sample_percent": 10}`)
	spans := filtertest.BenchSpans(1000).Scopes[0].Spans
	got, _ := filtertest.Run(sdk.SignalTraces, filtertest.Spans(spans...))
	if kept := len(spans) - len(got); kept < 70 || kept > 130 {
		t.Errorf("kept %d of 1000 spans at 10 %%", kept)
	}
	for _, cfg := range []string{`{"sample_percent": 0}`, `{"sample_percent": 100, "rules": [{"name_regex": "^x$"}]}`} {
		setup(t, cfg)
		got, _ := filtertest.Run(sdk.SignalTraces, filtertest.Spans(spans...))
		want := 0
		if strings.Contains(cfg, ": 0}") {
			want = len(spans)
		}
		// Sampling drops show as DROP_ITEM; the rule's exact name goes to
		// the gateway as one DROP_NAMED, which drops nothing here.
		var drops []string
		for _, e := range got {
			if strings.HasPrefix(e, "DROP_ITEM") {
				drops = append(drops, e)
			}
		}
		got = drops
		if len(got) != want {
			t.Errorf("%s: dropped %d of %d", cfg, len(got), len(spans))
		}
	}
}

func TestShed(t *testing.T) {
	const config = `{"sample_percent": 50, "shed": {"above_pressure": 0.8, "max_severity": 8, "sample_percent": 10}}`
	logs := filtertest.Logs(
		sdktest.LogRecord{Severity: sdk.SeverityDebug},     // 5
		sdktest.LogRecord{Severity: sdk.SeverityDebug + 3}, // 8
		sdktest.LogRecord{Severity: sdk.SeverityInfo},      // 9
		sdktest.LogRecord{Severity: sdk.SeverityTrace},     // 1
		sdktest.LogRecord{},                                // unspecified
	)
	spans := filtertest.Spans(
		sdktest.Span{Name: "a", TraceID: tid(0.3)},  // sampled out at 50 %
		sdktest.Span{Name: "b", TraceID: tid(0.7)},  // shed: kept at 50 %, not at 10 %
		sdktest.Span{Name: "c", TraceID: tid(0.95)}, // kept
	)
	for _, c := range []struct {
		pressure         float64
		wantLogs, wantTr []string
	}{
		{0.5, nil, []string{`DROP_ITEM item 0 "sampled out"`}},
		{0.8, nil, []string{`DROP_ITEM item 0 "sampled out"`}}, // above, not at
		{0.9, []string{`DROP_ITEM item 0 "shed under pressure"`, `DROP_ITEM item 1 "shed under pressure"`, `DROP_ITEM item 3 "shed under pressure"`},
			[]string{`DROP_ITEM item 0 "sampled out"`, `DROP_ITEM item 1 "shed under pressure"`}},
	} {
		setup(t, config)
		sdktest.SetPressure(c.pressure)
		got, _ := filtertest.Run(sdk.SignalLogs, logs)
		if d := filtertest.Diff(got, c.wantLogs); d != "" {
			t.Errorf("pressure %v, logs: %s", c.pressure, d)
		}
		got, rec := filtertest.Run(sdk.SignalTraces, spans)
		if d := filtertest.Diff(got, c.wantTr); d != "" {
			t.Errorf("pressure %v, traces: %s", c.pressure, d)
		}
		if want := float64(len(c.wantTr) - 1); filtertest.MetricTotals(rec)["drop_shed_total"] != want {
			t.Errorf("pressure %v: drop_shed_total += %v, want %v", c.pressure, filtertest.MetricTotals(rec)["drop_shed_total"], want)
		}
	}
}

func TestConfig(t *testing.T) {
	c, err := parseConfig([]byte(`{"shed": {}}`))
	if err != nil || c.Shed == nil || *c.Shed != (shed{AbovePressure: 0.8, MaxSeverity: 8}) {
		t.Errorf("shed defaults: %+v, %v", c.Shed, err)
	}
	bad := map[string]string{
		`{}`:                               "nothing to drop",
		`{"rules": [{}]}`:                  "rules[0]: a rule needs name_regex, body_regex or attribute",
		`{"rules": [{"name_regex": "("}]}`: "rules[0].name_regex: error parsing regexp",
		`{"rules": [{"name": "x"}]}`:       "rules[0].name: unknown key",
		`{"rules": [{"attribute": {"equals": "x"}}]}`:                           "rules[0].attribute: want a non-empty key",
		`{"rules": [{"attribute": {"key": "k", "equals": [1]}}]}`:               "rules[0].attribute.equals: want a string, number or boolean, got an array",
		`{"rules": [{"attribute": {"key": "k", "equals": 1, "matches": "x"}}]}`: "rules[0].attribute.matches: set equals or matches, not both",
		`{"sample_percent": 101}`:                                               "sample_percent: want a number from 0 to 100, got 101",
		`{"shed": {"above_pressure": 2}}`:                                       "shed.above_pressure: want a number from 0 to 1",
		`{"shed": {"max_severity": 25}}`:                                        "shed.max_severity: want an integer from 0 to 24",
	}
	filtertest.ConfigErrors(t, bad)
}

func TestExampleConfig(t *testing.T) {
	filtertest.ExamplesLoad(t, "drop")
}

// BenchmarkDrop runs 100 typical spans through the filter natively and
// in WASM (filtertest.BenchCompare), with its example config and with
// S2's rule (exact names, so bulk-only).
func BenchmarkDrop(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "drop")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"rules": [{"name_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"}]}`, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
}

// Rules, sampling and shedding together, under pressure.
func BenchmarkDropAll(b *testing.B) {
	setup(b, `{"rules": [{"name_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"}, {"attribute": {"key": "http.target", "equals": "/metrics"}}],
		"sample_percent": 50, "shed": {"above_pressure": 0.5, "sample_percent": 10}}`)
	sdktest.SetPressure(0.9)
	filtertest.Bench(b, sdk.SignalTraces, filtertest.BenchSpans(100))
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "drop"), []byte(`{"rules": [{"attribute": {"key": "password", "equals": "hunter2"}}, {"body_regex": "x{5}"}], "sample_percent": 10}`),
		// Exact names and bodies only: bulk-only, the gateway matches.
		[]byte(`{"rules": [{"name_regex": "^(GET|HEAD) /(healthz|readyz|livez)$"}, {"body_regex": "^request from user@example\\.com done$"}]}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// TestExactNamesAreDroppedByTheGateway: bench S2's rule is a set of exact
// names, so the filter reads no span and sends one DROP_NAMED per name;
// the gateway drops exactly the matching spans (checked end to end by
// TestWASMMatchesNative and in wasmhost).
func TestExactNamesAreDroppedByTheGateway(t *testing.T) {
	setup(t, s2)
	got, _ := filtertest.Run(sdk.SignalTraces, filtertest.Spans(
		sdktest.Span{Name: "GET /healthz"}, sdktest.Span{Name: "GET /api"}, sdktest.Span{Name: "HEAD /livez"},
	))
	var want []string
	for _, n := range []string{"GET /healthz", "GET /readyz", "GET /livez", "HEAD /healthz", "HEAD /readyz", "HEAD /livez"} {
		want = append(want, `DROP_NAMED "`+n+`" "dropped by rules[0]"`)
	}
	if d := filtertest.Diff(got, want); d != "" {
		t.Error(d)
	}
}

// Exact names and log bodies, and nothing else, make the filter
// bulk-only: the gateway does all the matching.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"rules": [{"name_regex": "^(GET|HEAD) /healthz$"}, {"body_regex": "^ping$"}]}`: true,
		`{"rules": [{"name_regex": "^GET /"}]}`:                                          false, // not a finite set
		`{"rules": [{"name_regex": "^a$", "body_regex": "^b$"}]}`:                        false, // two conditions in one rule
		`{"rules": [{"name_regex": "^a$"}], "sample_percent": 50}`:                       false,
		`{"rules": [{"attribute": {"key": "k"}}]}`:                                       false,
	})
}

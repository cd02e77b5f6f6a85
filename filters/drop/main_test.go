package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
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

// run runs the filter natively over a batch built from rs and applies its
// edits as the gateway does. It returns the items left, as
// filtertest.Describe renders them without their attributes, and the
// reason the client reads.
func run(t *testing.T, sig sdk.Signal, rs ...sdktest.Resource) (left []string, reason string) {
	t.Helper()
	a := filtertest.ApplyNative(t, sig, rs...)
	for _, line := range filtertest.Describe(t, sig, a.Out) {
		if !strings.HasPrefix(line, "resource") && !strings.HasPrefix(line, "scope") {
			_, rest, _ := strings.Cut(line, " ")
			name, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatal(err)
			}
			left = append(left, name)
		}
	}
	if len(left) != a.Items-a.Dropped {
		t.Errorf("%d items left, the gateway counts %d of %d dropped", len(left), a.Dropped, a.Items)
	}
	if a.Dropped > 0 && a.Reason == "" {
		t.Error("items dropped without a reason")
	}
	return left, a.Reason
}

func check(t *testing.T, what string, left []string, reason string, wantLeft []string, wantReason string) {
	t.Helper()
	if d := filtertest.Diff(left, wantLeft); d != "" {
		t.Errorf("%s: items left: %s", what, d)
	}
	if reason != wantReason {
		t.Errorf("%s: reason %q, want %q", what, reason, wantReason)
	}
}

func TestRules(t *testing.T) {
	cases := []struct {
		name, config string
		spans        []sdktest.Span
		left         []string
		reason       string
	}{
		{"attribute equals a string", `{"rules": [{"attribute": {"key": "http.target", "equals": "/metrics"}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("http.target", "/metrics")}},
			{Name: "b", Attrs: []sdktest.KV{kv("http.target", "/metrics/x")}},
			{Name: "c", Attrs: []sdktest.KV{kv("other", "/metrics")}},
		}, []string{`"b"`, `"c"`}, "dropped by rules[0]"},
		{"attribute equals a number", `{"rules": [{"attribute": {"key": "code", "equals": 404}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("code", 404)}},
			{Name: "b", Attrs: []sdktest.KV{kv("code", 404.0)}},
			{Name: "c", Attrs: []sdktest.KV{kv("code", "404")}},
		}, []string{`"c"`}, "dropped by rules[0]"},
		{"attribute equals a bool", `{"rules": [{"attribute": {"key": "synthetic", "equals": true}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("synthetic", true)}}, {Name: "b", Attrs: []sdktest.KV{kv("synthetic", false)}},
		}, []string{`"b"`}, "dropped by rules[0]"},
		{"attribute matches, attribute exists", `{"rules": [{"attribute": {"key": "user_agent.original", "matches": "(?i)bot"}}, {"attribute": {"key": "debug"}}]}`, []sdktest.Span{
			{Name: "a", Attrs: []sdktest.KV{kv("user_agent.original", "Googlebot/2.1")}},
			{Name: "b", Attrs: []sdktest.KV{kv("user_agent.original", "Firefox")}},
			{Name: "c", Attrs: []sdktest.KV{kv("debug", false)}},
		}, []string{`"b"`}, "dropped by rules[0]"},
		{"conditions of a rule all hold", `{"rules": [{"name_regex": "^GET ", "attribute": {"key": "env", "equals": "dev"}}]}`, []sdktest.Span{
			{Name: "GET /a", Attrs: []sdktest.KV{kv("env", "dev")}},
			{Name: "GET /b", Attrs: []sdktest.KV{kv("env", "prod")}},
			{Name: "PUT /c", Attrs: []sdktest.KV{kv("env", "dev")}},
		}, []string{`"GET /b"`, `"PUT /c"`}, "dropped by rules[0]"},
		{"the first matching rule names the reason", `{"rules": [{"name_regex": "^b$"}, {"name_regex": "^[ab]$"}]}`, []sdktest.Span{
			{Name: "a"}, {Name: "b"}, {Name: "c"},
		}, []string{`"c"`}, "dropped by rules[0]"},
		{"S2: six exact names", s2, []sdktest.Span{
			{Name: "GET /healthz"}, {Name: "GET /api"}, {Name: "HEAD /livez"}, {Name: "GET /healthz/x"},
		}, []string{`"GET /api"`, `"GET /healthz/x"`}, "dropped by rules[0]"},
		{"a body rule never matches a span", `{"rules": [{"body_regex": "."}]}`, []sdktest.Span{{Name: "a"}}, []string{`"a"`}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			left, reason := run(t, sdk.SignalTraces, filtertest.Spans(c.spans...))
			check(t, "traces", left, reason, c.left, c.reason)
		})
	}
}

func TestRulesOnLogsAndMetrics(t *testing.T) {
	setup(t, `{"rules": [{"body_regex": "^GET /healthz"}, {"name_regex": "^(go_gc_.*|process_.*)$"}, {"name_regex": "^heartbeat$"}]}`)
	left, reason := run(t, sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{EventName: "a", Body: "GET /healthz 200 1ms"},
		sdktest.LogRecord{EventName: "b", Body: "GET /api 200"},
		sdktest.LogRecord{EventName: "c", Body: []any{"GET /healthz"}}, // not a string body
		sdktest.LogRecord{EventName: "heartbeat"},
	))
	check(t, "logs", left, reason, []string{`"b"`, `"c"`}, "dropped by rules[0]")
	pts := []sdktest.DataPoint{{Time: 1, Value: 1}, {Time: 2, Value: 2}}
	left, reason = run(t, sdk.SignalMetrics, filtertest.Metrics(
		sdktest.Metric{Name: "go_gc_duration_seconds", Type: sdk.MetricGauge, Points: pts},
		sdktest.Metric{Name: "http_requests_total", Type: sdk.MetricSum, Points: pts},
	))
	check(t, "metrics", left, reason, []string{`"http_requests_total"`, `"http_requests_total"`}, "dropped by rules[1]")
}

func TestSampling(t *testing.T) {
	setup(t, `{"sample_percent": 25}`)
	left, reason := run(t, sdk.SignalTraces, filtertest.Spans(
		sdktest.Span{Name: "a", TraceID: tid(0.10)},  // below 0.75: dropped
		sdktest.Span{Name: "b", TraceID: tid(0.749)}, // dropped
		sdktest.Span{Name: "c", TraceID: tid(0.75)},  // kept: the top quarter
		sdktest.Span{Name: "d", TraceID: tid(0.99)},  // kept
		sdktest.Span{Name: "e"},                      // no trace ID: kept
	))
	check(t, "traces", left, reason, []string{`"c"`, `"d"`, `"e"`}, "sampled out")
	// Log records follow their trace: the same trace IDs, the same verdicts.
	left, reason = run(t, sdk.SignalLogs, filtertest.Logs(
		sdktest.LogRecord{EventName: "a", TraceID: tid(0.10)}, sdktest.LogRecord{EventName: "b", TraceID: tid(0.99)}, sdktest.LogRecord{EventName: "c"},
	))
	check(t, "logs", left, reason, []string{`"b"`, `"c"`}, "sampled out")
}

func TestSamplingKeepsAboutThePercentage(t *testing.T) {
	spans := filtertest.BenchSpans(1000)
	for _, c := range []struct {
		config   string
		min, max int
	}{
		{`{"sample_percent": 10}`, 70, 130},
		{`{"sample_percent": 0}`, 0, 0},
		{`{"sample_percent": 100, "rules": [{"name_regex": "^x$"}]}`, 1000, 1000},
	} {
		setup(t, c.config)
		left, _ := run(t, sdk.SignalTraces, spans)
		if len(left) < c.min || len(left) > c.max {
			t.Errorf("%s: kept %d of 1000 spans, want %d..%d", c.config, len(left), c.min, c.max)
		}
	}
}

func TestShed(t *testing.T) {
	const config = `{"sample_percent": 50, "shed": {"above_pressure": 0.8, "max_severity": 8, "sample_percent": 10}}`
	logs := filtertest.Logs(
		sdktest.LogRecord{EventName: "debug", Severity: sdk.SeverityDebug},      // 5
		sdktest.LogRecord{EventName: "debug4", Severity: sdk.SeverityDebug + 3}, // 8
		sdktest.LogRecord{EventName: "info", Severity: sdk.SeverityInfo},        // 9
		sdktest.LogRecord{EventName: "trace", Severity: sdk.SeverityTrace},      // 1
		sdktest.LogRecord{EventName: "unspecified"},                             // 0
		sdktest.LogRecord{EventName: "sampled", Severity: 9, TraceID: tid(0.3)}, // sampled out at 50 %
		sdktest.LogRecord{EventName: "kept", Severity: 9, TraceID: tid(0.7)},    // logs are not shed by trace
	)
	spans := filtertest.Spans(
		sdktest.Span{Name: "a", TraceID: tid(0.3)},  // sampled out at 50 %
		sdktest.Span{Name: "b", TraceID: tid(0.7)},  // shed: kept at 50 %, not at 10 %
		sdktest.Span{Name: "c", TraceID: tid(0.95)}, // kept
	)
	for _, c := range []struct {
		pressure              float64
		logsLeft, spansLeft   []string
		logReason, spanReason string
	}{
		{0.5, []string{`"debug"`, `"debug4"`, `"info"`, `"trace"`, `"unspecified"`, `"kept"`}, []string{`"b"`, `"c"`}, "sampled out", "sampled out"},
		{0.8, []string{`"debug"`, `"debug4"`, `"info"`, `"trace"`, `"unspecified"`, `"kept"`}, []string{`"b"`, `"c"`}, "sampled out", "sampled out"}, // above, not at
		{0.9, []string{`"info"`, `"unspecified"`, `"kept"`}, []string{`"c"`}, "shed under pressure", "sampled out"},
	} {
		setup(t, config)
		sdktest.SetPressure(c.pressure)
		left, reason := run(t, sdk.SignalLogs, logs)
		check(t, "logs", left, reason, c.logsLeft, c.logReason)
		left, reason = run(t, sdk.SignalTraces, spans)
		check(t, "traces", left, reason, c.spansLeft, c.spanReason)
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
		`{"rules": [{"attribute": {"key": "k", "matches": "["}}]}`:              "rules[0].attribute.matches: error parsing regexp",
		`{"rules": [{"name_regex": "` + strings.Repeat("a", 1025) + `"}]}`:      "rules[0].name_regex: pattern of 1025 bytes",
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
// S2's rule.
func BenchmarkDrop(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "drop")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, s2, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("logs", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "drop")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalLogs, filtertest.MixedLogs())
	})
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "drop"),
		[]byte(`{"rules": [{"attribute": {"key": "password", "equals": "hunter2"}}, {"body_regex": "x{5}"}], "sample_percent": 10}`),
		[]byte(s2))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// Every rule, threshold and shedding level is a batch-wide edit the
// gateway applies: the filter never reads a batch.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		s2:                                      true,
		`{"rules": [{"name_regex": "^GET /"}]}`: true,
		`{"rules": [{"name_regex": "^a$", "body_regex": "^b$"}], "sample_percent": 50}`: true,
		`{"rules": [{"attribute": {"key": "k"}}], "shed": {"above_pressure": 0.1}}`:     true,
	})
}

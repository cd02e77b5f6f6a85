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
	if _, err := sdktest.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
}

var kv = sdktest.Attr

func attrs(n int) []sdktest.KV {
	out := make([]sdktest.KV, n)
	for i := range out {
		out[i] = kv("k"+strconv.Itoa(i), "v")
	}
	return out
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		name   string
		config string
		res    sdktest.Resource
		want   []string
	}{
		{"bench S2: every value to 256 bytes, on every owner", `{"max_value_length": 256}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("r", long), kv("short", "s")}, // attrs 0, 1
			Scopes: []sdktest.Scope{{Attrs: []sdktest.KV{kv("s", long)}, // 2
				Spans: []sdktest.Span{{Name: "a", Attrs: []sdktest.KV{
					kv("exact", strings.Repeat("y", 256)), kv("b", []byte(long)), kv("n", 123456789), kv("arr", []any{long}), kv("c", long), // 3..7
				}}}}},
		}, []string{"TRUNCATE_ATTR attr 0 to 256", "TRUNCATE_ATTR attr 2 to 256", "TRUNCATE_ATTR attr 4 to 256", "TRUNCATE_ATTR attr 7 to 256"}},
		{"defaults: 4096 bytes", `{}`, filtertest.Spans(sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", long), kv("b", strings.Repeat("z", 5000))}}),
			[]string{"TRUNCATE_ATTR attr 1 to 4096"}},
		{"value limit off", `{"max_value_length": 0}`, filtertest.Spans(sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("b", strings.Repeat("z", 5000))}}), nil},
		{"attribute cap keeps the first", `{"max_attributes": 3}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: attrs(3)},
			sdktest.Span{Name: "b", Attrs: attrs(5)}, // attrs 3..7
		), []string{"DELETE_ATTR attr 6", "DELETE_ATTR attr 7"}},
		{"cap and truncate together", `{"max_attributes": 1, "max_value_length": 2}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "long"), kv("b", "long")}},
		), []string{"TRUNCATE_ATTR attr 0 to 2", "DELETE_ATTR attr 1"}},
		{"a repeated extra key is deleted once", `{"max_attributes": 1}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "1"), kv("b", "2"), kv("b", "3")}},
		), []string{"DELETE_ATTR attr 1", "DELETE_ATTR attr 2"}},
		{"resource attributes are not capped", `{"max_attributes": 1}`, sdktest.Resource{Attrs: attrs(3), Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, _ := filtertest.Run(sdk.SignalTraces, c.res)
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestLimitsLogsMetricsAndCounters(t *testing.T) {
	setup(t, `{"max_attributes": 2, "max_value_length": 4}`)
	got, rec := filtertest.Run(sdk.SignalLogs, filtertest.Logs(sdktest.LogRecord{Attrs: []sdktest.KV{kv("a", "12345"), kv("b", "x"), kv("c", "y"), kv("d", "z")}}))
	want := []string{"TRUNCATE_ATTR attr 0 to 4", "DELETE_ATTR attr 2", "DELETE_ATTR attr 3"}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
	counts := filtertest.MetricTotals(rec)
	if counts["limits_values_truncated_total"] != 1 || counts["limits_attributes_dropped_total"] != 2 {
		t.Errorf("counters %v, want 1 truncated and 2 dropped", counts)
	}
	got, _ = filtertest.Run(sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge,
		Points: []sdktest.DataPoint{{Time: 1, Value: 1, Attrs: []sdktest.KV{kv("a", "12345")}}}}))
	if d := filtertest.Diff(got, []string{"TRUNCATE_ATTR attr 0 to 4"}); d != "" {
		t.Errorf("metrics: %s", d)
	}
}

func TestConfig(t *testing.T) {
	c, err := parseConfig([]byte(`{"max_value_length": 256, "max_attributes": 0}`))
	if err != nil || c != (config{MaxValueLength: 256}) {
		t.Errorf("parsed %+v, %v", c, err)
	}
	bad := map[string]string{
		`{"max_value_length": -1}`:    "max_value_length: want an integer from 0",
		`{"max_attributes": 1.5}`:     "max_attributes: want an integer, got a number",
		`{"max_events": 10}`:          "max_events: unknown key",
		`{"max_value_length": "256"}`: "max_value_length: want an integer, got a string",
	}
	filtertest.ConfigErrors(t, bad)
}

func TestExampleConfig(t *testing.T) {
	filtertest.ExamplesLoad(t, "limits")
}

// BenchmarkLimits runs 100 typical spans through the filter natively and
// in WASM (filtertest.BenchCompare), with its example config and with
// S2's value cap and no attribute cap (bulk-only).
func BenchmarkLimits(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "limits")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"max_value_length": 256, "max_attributes": 0}`, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "limits"), []byte(`{"max_value_length": 16, "max_attributes": 120}`), []byte(`{"max_value_length": 16, "max_attributes": 0}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// TestBulkTruncateWithoutAttributeCap: with max_attributes 0 the filter
// walks nothing and asks the gateway for one batch-wide truncation.
func TestBulkTruncateWithoutAttributeCap(t *testing.T) {
	setup(t, `{"max_value_length": 10, "max_attributes": 0}`)
	got, _ := filtertest.Run(sdk.SignalTraces, filtertest.Spans(sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("q", "0123456789abcdef")}}))
	if d := filtertest.Diff(got, []string{`TRUNCATE_VALUES to 10 on resources,scopes,items`}); d != "" {
		t.Error(d)
	}
}

// Without an attribute cap the filter only truncates, batch-wide.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"max_value_length": 256, "max_attributes": 0}`: true,
		`{"max_value_length": 256}`:                      false, // the default cap of 128
	})
}

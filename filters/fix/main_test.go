package main

import (
	"reflect"
	"testing"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

const (
	now    = filtertest.BenchNow
	past   = now - 1_000_000_000
	hourNs = uint64(hour)
)

func setup(t testing.TB, config string) {
	t.Helper()
	sdktest.SetNow(now)
	t.Cleanup(func() { sdktest.SetNow(0) })
	if _, err := sdktest.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
}

const s2 = `{"resource_defaults": {"deployment.environment": "unknown"}}`

func TestResourceDefaults(t *testing.T) {
	sp := []sdktest.Span{{Name: "op", StartTime: past, EndTime: past}}
	cases := []struct {
		name   string
		config string
		res    []sdktest.Resource
		want   []string
	}{
		{"service.name by default", `{}`, []sdktest.Resource{{Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`SET_ATTR resource 0 "service.name"=string("unknown_service")`}},
		{"present is kept", `{}`, []sdktest.Resource{{Attrs: []sdktest.KV{sdktest.Attr("service.name", "cart")}, Scopes: []sdktest.Scope{{Spans: sp}}}}, nil},
		{"empty string counts as missing", `{}`, []sdktest.Resource{{Attrs: []sdktest.KV{sdktest.Attr("service.name", "")}, Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`SET_ATTR resource 0 "service.name"=string("unknown_service")`}},
		{"no resource message at all", `{}`, []sdktest.Resource{{NoResource: true, Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`SET_ATTR resource 0 "service.name"=string("unknown_service")`}},
		{"bench S2: deployment.environment where missing", s2, []sdktest.Resource{
			{Attrs: []sdktest.KV{sdktest.Attr("deployment.environment", "prod")}, Scopes: []sdktest.Scope{{Spans: sp}}},
			{Attrs: []sdktest.KV{sdktest.Attr("service.name", "x")}, Scopes: []sdktest.Scope{{Spans: sp}}},
		}, []string{`SET_ATTR resource 1 "deployment.environment"=string("unknown")`}},
		{"typed defaults in order", `{"resource_defaults": {"b": true, "i": 3, "f": 0.5, "s": "x"}}`, []sdktest.Resource{{Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`SET_ATTR resource 0 "b"=bool(true)`, `SET_ATTR resource 0 "i"=int(3)`, `SET_ATTR resource 0 "f"=double(0.5)`, `SET_ATTR resource 0 "s"=string("x")`}},
		{"none", `{"resource_defaults": {}}`, []sdktest.Resource{{Scopes: []sdktest.Scope{{Spans: sp}}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, rec := filtertest.Run(sdk.SignalTraces, c.res...)
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
			if n := filtertest.MetricTotals(rec)["fix_resource_attributes_set_total"]; n != float64(len(c.want)) {
				t.Errorf("fix_resource_attributes_set_total += %v, want %d", n, len(c.want))
			}
		})
	}
}

func TestResourceDefaultsOnEverySignal(t *testing.T) {
	setup(t, s2)
	want := []string{`SET_ATTR resource 0 "deployment.environment"=string("unknown")`}
	got, _ := filtertest.Run(sdk.SignalLogs, filtertest.Logs(sdktest.LogRecord{Time: past}))
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
	got, _ = filtertest.Run(sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{{Time: past, Value: 1}}}))
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("metrics: %s", d)
	}
}

func TestClampSpans(t *testing.T) {
	far := now + 2*24*hourNs
	cases := []struct {
		name       string
		config     string
		start, end uint64
		want       []string
	}{
		{"in the past", `{}`, past, past, nil},
		{"an hour ahead is tolerated", `{}`, now + hourNs, now + hourNs, nil},
		{"end far ahead", `{}`, past, far, []string{"SET_FIXED64 item 0 field 8 = 1760000000000000000"}},
		{"both far ahead", `{}`, far, far, []string{"SET_FIXED64 item 0 field 7 = 1760000000000000000", "SET_FIXED64 item 0 field 8 = 1760000000000000000"}},
		{"end never before a tolerated start", `{}`, now + hourNs, far, []string{"SET_FIXED64 item 0 field 8 = 1760003600000000000"}},
		{"max_future 30m", `{"max_future": "30m"}`, past, now + hourNs, []string{"SET_FIXED64 item 0 field 8 = 1760000000000000000"}},
		// With clamping off only the resource default is left: one
		// batch-wide edit, which this resource (it has service.name)
		// does not need; the span is not touched.
		{"max_future 0 turns clamping off", `{"max_future": "0"}`, far, far, []string{`SET_DEFAULT "service.name" = string("unknown_service") on resources`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, _ := filtertest.Run(sdk.SignalTraces, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
				Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "op", StartTime: c.start, EndTime: c.end}}}}})
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestClampPointsAndLogs(t *testing.T) {
	setup(t, `{}`)
	far := now + 2*24*hourNs
	got, rec := filtertest.Run(sdk.SignalMetrics, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
		Scopes: []sdktest.Scope{{Metrics: []sdktest.Metric{{Name: "m", Type: sdk.MetricSum, Points: []sdktest.DataPoint{
			{StartTime: past, Time: far, Value: 1},          // time clamped, start kept
			{StartTime: now + hourNs, Time: far, Value: 1},  // time clamped, start pulled back to it
			{StartTime: far, Time: past, Value: 1},          // start alone in the future: set to time
			{StartTime: past, Time: now + hourNs, Value: 1}, // tolerated
		}}}}}})
	want := []string{
		"SET_FIXED64 item 0 field 3 = 1760000000000000000",
		"SET_FIXED64 item 1 field 3 = 1760000000000000000",
		"SET_FIXED64 item 1 field 2 = 1760000000000000000",
		"SET_FIXED64 item 2 field 2 = 1759999999000000000",
	}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("metrics: %s", d)
	}
	if n := filtertest.MetricTotals(rec)["fix_timestamps_clamped_total"]; n != 4 {
		t.Errorf("fix_timestamps_clamped_total += %v, want 4", n)
	}

	got, _ = filtertest.Run(sdk.SignalLogs, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
		Scopes: []sdktest.Scope{{LogRecords: []sdktest.LogRecord{{Time: far, ObservedTime: far}, {ObservedTime: far}, {Time: past, ObservedTime: past}}}}})
	want = []string{
		"SET_FIXED64 item 0 field 1 = 1760000000000000000",
		"SET_FIXED64 item 0 field 11 = 1760000000000000000",
		"SET_FIXED64 item 1 field 11 = 1760000000000000000",
	}
	if d := filtertest.Diff(got, want); d != "" {
		t.Errorf("logs: %s", d)
	}
}

func TestLowercaseKeys(t *testing.T) {
	setup(t, `{"resource_defaults": {}, "lowercase_keys": ["HTTP.Method", "user.id"]}`)
	got, rec := filtertest.Run(sdk.SignalTraces, sdktest.Resource{
		Attrs: []sdktest.KV{sdktest.Attr("User.ID", "r")}, // attr 0
		Scopes: []sdktest.Scope{{Attrs: []sdktest.KV{sdktest.Attr("USER.ID", "s")}, // attr 1
			Spans: []sdktest.Span{
				{Name: "a", StartTime: past, EndTime: past, Attrs: []sdktest.KV{
					sdktest.Attr("HTTP.METHOD", "GET"), // 2: renamed
					sdktest.Attr("http.method", "GET"), // 3: already right
				}},
				{Name: "b", StartTime: past, EndTime: past, Attrs: []sdktest.KV{
					sdktest.Attr("Http.Method", "GET"), // 4: renamed
					sdktest.Attr("HTTP.Method", "PUT"), // 5: deleted, the key is taken now
					sdktest.Attr("Http.Method", "GET"), // 6: renamed by the first rename already
					sdktest.Attr("other", "x"),         // 7
				}},
			}}},
	})
	want := []string{
		`RENAME_ATTR attr 0 to "user.id"`,
		`RENAME_ATTR attr 1 to "user.id"`,
		`DELETE_ATTR attr 2`,
		`RENAME_ATTR attr 4 to "http.method"`,
		`RENAME_ATTR attr 6 to "http.method"`,
		`DELETE_ATTR attr 5`,
	}
	if d := filtertest.Diff(got, want); d != "" {
		t.Error(d)
	}
	if n := filtertest.MetricTotals(rec)["fix_keys_lowercased_total"]; n != 6 {
		t.Errorf("fix_keys_lowercased_total += %v, want 6", n)
	}
}

func TestConfig(t *testing.T) {
	c, err := parseConfig([]byte(`{"resource_defaults": {"a": "x", "n": -2}, "max_future": "1h", "lowercase_keys": ["A.B"]}`))
	want := config{
		ResourceDefaults: []attr{{key: "a", kind: sdk.ValueString, s: "x"}, {key: "n", kind: sdk.ValueInt, i: -2}},
		MaxFuture:        hour,
		LowercaseKeys:    []string{"a.b"},
	}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("parsed %+v, %v; want %+v", c, err, want)
	}
	bad := map[string]string{
		`{"resource_defaults": {"a": null}}`: "resource_defaults.a: want a string, number or boolean, got null",
		`{"resource_defaults": {"a": [1]}}`:  "resource_defaults.a: want a string, number or boolean, got an array",
		`{"resource_defaults": {"": "x"}}`:   "resource_defaults: an empty key",
		`{"resource_defaults": ["a"]}`:       "resource_defaults: want an object",
		`{"lowercase_keys": [""]}`:           "lowercase_keys[0]: an empty key",
		`{"max_future": "soon"}`:             "max_future: want a duration",
		`{"normalize": true}`:                "normalize: unknown key",
	}
	filtertest.ConfigErrors(t, bad)
}

func TestExampleConfig(t *testing.T) {
	filtertest.ExamplesLoad(t, "fix")
}

// BenchmarkFix runs 100 typical spans through the filter natively and
// in WASM (filtertest.BenchCompare), with its example config and with
// S2's default with clamping off (bulk-only).
func BenchmarkFix(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "fix")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"resource_defaults": {"deployment.environment": "unknown"}, "max_future": "0"}`, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
}

// The committed module, run by the gateway's WASM host, must do exactly
// what this package's code does natively, on every signal.
func TestWASMMatchesNative(t *testing.T) {
	configs := append(filtertest.ExampleConfigs(t, "example.yaml", "fix"), []byte(`{"lowercase_keys": ["USER.EMAIL", "Password"], "max_future": "0"}`),
		// String defaults only: bulk-only.
		[]byte(`{"resource_defaults": {"deployment.environment": "unknown", "service.name": "x"}, "max_future": "0"}`))
	filtertest.MatchesNative(t, setup, configs)
}

func TestModuleImportsOnlyTheABI(t *testing.T) {
	t.Logf("imports: %v", filtertest.CheckModule(t))
}

// String resource defaults with clamping and lowercase_keys off make the
// filter bulk-only.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"resource_defaults": {"deployment.environment": "unknown"}, "max_future": "0"}`: true,
		`{"resource_defaults": {"deployment.environment": "unknown"}}`:                    false, // clamping on
		`{"resource_defaults": {"replicas": 3}, "max_future": "0"}`:                       false, // not a string
		`{"max_future": "0", "lowercase_keys": ["http.method"]}`:                          false,
	})
}

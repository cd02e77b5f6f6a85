package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

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

// paths runs check under config. The filter has one path since every
// config is batch-wide edits; the name stays so the cases read alike.
func paths(t *testing.T, config string, check func(t *testing.T)) {
	t.Helper()
	setup(t, config)
	if !sdktest.BulkOnly() {
		t.Fatalf("config %s: not bulk-only", config)
	}
	check(t)
}

// resourceAttrs decodes a traces, metrics or logs request's resource
// attributes as "key=value" per resource.
func resourceAttrs(t *testing.T, sig sdk.Signal, b []byte) []string {
	t.Helper()
	var rs []*resourcepb.Resource
	switch sig {
	case sdk.SignalTraces:
		m := &coltrace.ExportTraceServiceRequest{}
		unmarshal(t, b, m)
		for _, r := range m.ResourceSpans {
			rs = append(rs, r.Resource)
		}
	case sdk.SignalLogs:
		m := &collogs.ExportLogsServiceRequest{}
		unmarshal(t, b, m)
		for _, r := range m.ResourceLogs {
			rs = append(rs, r.Resource)
		}
	default:
		m := &colmetrics.ExportMetricsServiceRequest{}
		unmarshal(t, b, m)
		for _, r := range m.ResourceMetrics {
			rs = append(rs, r.Resource)
		}
	}
	var out []string
	for _, r := range rs {
		var kvs []string
		for _, a := range r.GetAttributes() {
			kvs = append(kvs, a.Key+"="+fmt.Sprint(a.Value.GetValue()))
		}
		out = append(out, strings.Join(kvs, ","))
	}
	return out
}

func unmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}

func TestResourceDefaults(t *testing.T) {
	sp := []sdktest.Span{{Name: "op", StartTime: past, EndTime: past}}
	cases := []struct {
		name   string
		config string
		res    []sdktest.Resource
		want   []string // per resource
	}{
		{"service.name by default", `{}`, []sdktest.Resource{{Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`service.name=&{unknown_service}`}},
		{"present is kept", `{}`, []sdktest.Resource{{Attrs: []sdktest.KV{sdktest.Attr("service.name", "cart")}, Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`service.name=&{cart}`}},
		{"empty string counts as missing", `{}`, []sdktest.Resource{{Attrs: []sdktest.KV{sdktest.Attr("service.name", "")}, Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`service.name=&{unknown_service}`}},
		{"no resource message at all", `{}`, []sdktest.Resource{{NoResource: true, Scopes: []sdktest.Scope{{Spans: sp}}}},
			[]string{`service.name=&{unknown_service}`}},
		{"bench S2: deployment.environment where missing", s2, []sdktest.Resource{
			{Attrs: []sdktest.KV{sdktest.Attr("deployment.environment", "prod")}, Scopes: []sdktest.Scope{{Spans: sp}}},
			{Attrs: []sdktest.KV{sdktest.Attr("service.name", "x")}, Scopes: []sdktest.Scope{{Spans: sp}}},
		}, []string{`deployment.environment=&{prod}`, `service.name=&{x},deployment.environment=&{unknown}`}},
		{"none", `{"resource_defaults": {}}`, []sdktest.Resource{{Scopes: []sdktest.Scope{{Spans: sp}}}}, []string{""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths(t, c.config, func(t *testing.T) {
				a := filtertest.ApplyNative(t, sdk.SignalTraces, c.res...)
				if d := filtertest.Diff(resourceAttrs(t, sdk.SignalTraces, a.Out), c.want); d != "" {
					t.Error(d)
				}
			})
		})
	}
}

// Defaults of every scalar type are batch-wide edits too.
func TestTypedDefaults(t *testing.T) {
	paths(t, `{"resource_defaults": {"b": true, "i": 3, "f": 0.5, "s": "x"}}`, func(t *testing.T) {
		a := filtertest.ApplyNative(t, sdk.SignalTraces, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("i", "")},
			Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "op", StartTime: past, EndTime: past}}}}})
		want := []string{`i=&{3},b=&{true},f=&{0.5},s=&{x}`}
		if d := filtertest.Diff(resourceAttrs(t, sdk.SignalTraces, a.Out), want); d != "" {
			t.Error(d)
		}
	})
}

func TestResourceDefaultsOnEverySignal(t *testing.T) {
	paths(t, s2, func(t *testing.T) {
		want := []string{`deployment.environment=&{unknown}`}
		a := filtertest.ApplyNative(t, sdk.SignalLogs, filtertest.Logs(sdktest.LogRecord{Time: past}))
		if d := filtertest.Diff(resourceAttrs(t, sdk.SignalLogs, a.Out), want); d != "" {
			t.Errorf("logs: %s", d)
		}
		a = filtertest.ApplyNative(t, sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{{Time: past, Value: 1}}}))
		if d := filtertest.Diff(resourceAttrs(t, sdk.SignalMetrics, a.Out), want); d != "" {
			t.Errorf("metrics: %s", d)
		}
	})
}

func TestClampSpans(t *testing.T) {
	far := now + 2*24*hourNs
	cases := []struct {
		name               string
		config             string
		start, end         uint64
		wantStart, wantEnd uint64
	}{
		{"in the past", `{}`, past, past, past, past},
		{"an hour ahead is tolerated", `{}`, now + hourNs, now + hourNs, now + hourNs, now + hourNs},
		{"end far ahead", `{}`, past, far, past, now},
		{"both far ahead", `{}`, far, far, now, now},
		{"end never before a tolerated start", `{}`, now + hourNs, far, now + hourNs, now + hourNs},
		{"max_future 30m", `{"max_future": "30m"}`, past, now + hourNs, past, now},
		{"max_future 0 turns clamping off", `{"max_future": "0"}`, far, far, far, far},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths(t, c.config, func(t *testing.T) {
				a := filtertest.ApplyNative(t, sdk.SignalTraces, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
					Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "op", StartTime: c.start, EndTime: c.end}}}}})
				m := &coltrace.ExportTraceServiceRequest{}
				unmarshal(t, a.Out, m)
				sp := m.ResourceSpans[0].ScopeSpans[0].Spans[0]
				if sp.StartTimeUnixNano != c.wantStart || sp.EndTimeUnixNano != c.wantEnd {
					t.Errorf("start, end = %d, %d; want %d, %d", sp.StartTimeUnixNano, sp.EndTimeUnixNano, c.wantStart, c.wantEnd)
				}
			})
		})
	}
}

func TestClampPointsAndLogs(t *testing.T) {
	far := now + 2*24*hourNs
	paths(t, `{}`, func(t *testing.T) {
		a := filtertest.ApplyNative(t, sdk.SignalMetrics, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
			Scopes: []sdktest.Scope{{Metrics: []sdktest.Metric{{Name: "m", Type: sdk.MetricSum, Points: []sdktest.DataPoint{
				{StartTime: past, Time: far, Value: 1},          // time clamped, start kept
				{StartTime: now + hourNs, Time: far, Value: 1},  // time clamped, start pulled back to it
				{StartTime: far, Time: past, Value: 1},          // start alone in the future: set to time
				{StartTime: past, Time: now + hourNs, Value: 1}, // tolerated
			}}}}}})
		m := &colmetrics.ExportMetricsServiceRequest{}
		unmarshal(t, a.Out, m)
		want := [][2]uint64{{past, now}, {now, now}, {past, past}, {past, now + hourNs}}
		for i, p := range m.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetSum().DataPoints {
			if g := [2]uint64{p.StartTimeUnixNano, p.TimeUnixNano}; g != want[i] {
				t.Errorf("point %d: start, time %v, want %v", i, g, want[i])
			}
		}

		a = filtertest.ApplyNative(t, sdk.SignalLogs, sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "s")},
			Scopes: []sdktest.Scope{{LogRecords: []sdktest.LogRecord{{Time: far, ObservedTime: far}, {ObservedTime: far}, {Time: past, ObservedTime: past}}}}})
		l := &collogs.ExportLogsServiceRequest{}
		unmarshal(t, a.Out, l)
		wantL := [][2]uint64{{now, now}, {0, now}, {past, past}}
		for i, r := range l.ResourceLogs[0].ScopeLogs[0].LogRecords {
			if g := [2]uint64{r.TimeUnixNano, r.ObservedTimeUnixNano}; g != wantL[i] {
				t.Errorf("log %d: time, observed %v, want %v", i, g, wantL[i])
			}
		}
	})
}

func TestLowercaseKeys(t *testing.T) {
	paths(t, `{"resource_defaults": {"service.name": "x"}, "lowercase_keys": ["HTTP.Method", "user.id", "Service.Name"]}`, func(t *testing.T) {
		a := filtertest.ApplyNative(t, sdk.SignalTraces, sdktest.Resource{
			Attrs: []sdktest.KV{sdktest.Attr("User.ID", "r"), sdktest.Attr("SERVICE.NAME", "cart")},
			Scopes: []sdktest.Scope{{Name: "s", Attrs: []sdktest.KV{sdktest.Attr("USER.ID", "s")},
				Spans: []sdktest.Span{
					{Name: "a", StartTime: past, EndTime: past, Attrs: []sdktest.KV{
						sdktest.Attr("HTTP.METHOD", "GET"), // deleted: the key is there
						sdktest.Attr("http.method", "GET"),
					}},
					{Name: "b", StartTime: past, EndTime: past, Attrs: []sdktest.KV{
						sdktest.Attr("Http.Method", "GET"), // renamed: the first other spelling
						sdktest.Attr("HTTP.Method", "PUT"), // deleted
						sdktest.Attr("Http.Method", "GET"), // deleted
						sdktest.Attr("other", "x"),
					}},
				}}},
		})
		// Normalising runs before the defaults, so the resource keeps its
		// own service name.
		want := []string{"resource user.id=r,service.name=cart", "scope s user.id=s",
			`span "a" http.method=GET`, `span "b" http.method=GET,other=x`}
		if d := filtertest.Diff(filtertest.Describe(t, sdk.SignalTraces, a.Out), want); d != "" {
			t.Error(d)
		}
	})
}

func TestConfig(t *testing.T) {
	c, err := parseConfig([]byte(`{"resource_defaults": {"a": "x", "n": -2}, "max_future": "1h", "lowercase_keys": ["A.B"]}`))
	want := config{
		ResourceDefaults: []attr{{key: "a", value: sdk.StrValue("x")}, {key: "n", value: sdk.IntValue(-2)}},
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
// S2's default with clamping off, and with keys to normalise and a typed
// default.
func BenchmarkFix(b *testing.B) {
	b.Run("example", func(b *testing.B) {
		raw := filtertest.ExampleConfigs(b, "example.yaml", "fix")[0]
		filtertest.BenchCompare(b, setup, string(raw), sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("s2", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"resource_defaults": {"deployment.environment": "unknown"}, "max_future": "0"}`, sdk.SignalTraces, filtertest.BenchSpans(100))
	})
	b.Run("lowercase", func(b *testing.B) {
		filtertest.BenchCompare(b, setup, `{"resource_defaults": {"replicas": 3}, "lowercase_keys": ["http.request.method", "user.id", "tenant.id"]}`, sdk.SignalTraces, filtertest.BenchSpans(100))
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

// Every config is batch-wide edits: the filter never reads a batch.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"resource_defaults": {"deployment.environment": "unknown"}, "max_future": "0"}`: true,
		`{"resource_defaults": {"deployment.environment": "unknown"}}`:                    true, // clamping on
		`{}`: true, // the defaults: service.name and a 24h clamp
		`{"resource_defaults": {"replicas": 3}, "max_future": "0"}`: true,
		`{"max_future": "0", "lowercase_keys": ["http.method"]}`:    true,
	})
}

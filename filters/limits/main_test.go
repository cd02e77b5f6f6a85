package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/filters/internal/filtertest"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
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

// applied runs the filter natively over a batch of sig built from rs,
// applies its edits as the gateway does, and returns the result's
// attribute values as "owner.key=value" lines (owners r, s and i0, i1...
// for items, in order) and its edits as sdktest.Describe renders them.
func applied(t *testing.T, sig sdk.Signal, rs ...sdktest.Resource) (attrs []string, edits []string) {
	t.Helper()
	res := filtertest.ApplyNative(t, sig, rs...)
	out := res.Out
	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Signal(sig), out); err != nil {
		t.Fatal(err)
	}
	for _, a := range ix.Attrs {
		owner := map[otlpwire.AttrOwner]string{otlpwire.OwnerResource: "r", otlpwire.OwnerScope: "s"}[a.Owner]
		if a.Owner == otlpwire.OwnerItem {
			owner = "i" + strconv.Itoa(int(a.Parent))
		}
		v := string(out[a.ValOff:a.ValEnd])
		if a.ValType != otlpwire.ValueString && a.ValType != otlpwire.ValueBytes {
			v = "(" + strconv.Itoa(len(v)) + " bytes)"
		} else if len(v) > 8 {
			v = v[:1] + "*" + strconv.Itoa(len(v))
		}
		attrs = append(attrs, owner+"."+string(out[a.KeyOff:a.KeyEnd])+"="+v)
	}
	return attrs, res.Edits
}

func TestLimits(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		name   string
		config string
		res    sdktest.Resource
		want   []string
		edits  []string
	}{
		{"bench S2: every value to 256 bytes, on every owner", `{"max_value_length": 256, "max_attributes": 0}`, sdktest.Resource{
			Attrs: []sdktest.KV{kv("r", long), kv("short", "s")},
			Scopes: []sdktest.Scope{{Attrs: []sdktest.KV{kv("s", long)},
				Spans: []sdktest.Span{{Name: "a", Attrs: []sdktest.KV{
					kv("exact", strings.Repeat("y", 256)), kv("b", []byte(long)), kv("n", 123456789), kv("arr", []any{long}), kv("c", long),
				}}}}},
		}, []string{"r.r=x*256", "r.short=s", "s.s=x*256", "i0.exact=y*256", "i0.b=x*256", "i0.n=(4 bytes)", "i0.arr=(306 bytes)", "i0.c=x*256"},
			[]string{"TRUNCATE_VALUES to 256 on resources,scopes,items"}},
		{"defaults: 4096 bytes and 128 attributes", `{}`, filtertest.Spans(sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", long), kv("b", strings.Repeat("z", 5000))}}),
			[]string{"i0.a=x*300", "i0.b=z*4096"}, []string{"TRUNCATE_VALUES to 4096 on resources,scopes,items", "CAP_ATTRS to 128 on items"}},
		{"both limits off", `{"max_value_length": 0, "max_attributes": 0}`, filtertest.Spans(sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("b", strings.Repeat("z", 5000))}}),
			[]string{"i0.b=z*5000"}, nil},
		{"attribute cap keeps the first", `{"max_attributes": 3, "max_value_length": 0}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: attrs(3)},
			sdktest.Span{Name: "b", Attrs: attrs(5)},
		), []string{"i0.k0=v", "i0.k1=v", "i0.k2=v", "i1.k0=v", "i1.k1=v", "i1.k2=v"}, []string{"CAP_ATTRS to 3 on items"}},
		{"cap and truncate together", `{"max_attributes": 1, "max_value_length": 2}`, filtertest.Spans(
			sdktest.Span{Name: "a", Attrs: []sdktest.KV{kv("a", "long"), kv("b", "long")}},
		), []string{"i0.a=lo"}, []string{"TRUNCATE_VALUES to 2 on resources,scopes,items", "CAP_ATTRS to 1 on items"}},
		{"resource attributes are not capped", `{"max_attributes": 1}`, sdktest.Resource{Attrs: attrs(3), Scopes: []sdktest.Scope{{Spans: []sdktest.Span{{Name: "a"}}}}},
			[]string{"r.k0=v", "r.k1=v", "r.k2=v"}, []string{"TRUNCATE_VALUES to 4096 on resources,scopes,items", "CAP_ATTRS to 1 on items"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c.config)
			got, edits := applied(t, sdk.SignalTraces, c.res)
			if d := filtertest.Diff(got, c.want); d != "" {
				t.Errorf("attributes: %s", d)
			}
			if d := filtertest.Diff(edits, c.edits); d != "" {
				t.Errorf("edits: %s", d)
			}
		})
	}
}

func TestLimitsLogsAndMetrics(t *testing.T) {
	setup(t, `{"max_attributes": 2, "max_value_length": 4}`)
	got, _ := applied(t, sdk.SignalLogs, filtertest.Logs(sdktest.LogRecord{Attrs: []sdktest.KV{kv("a", "12345"), kv("b", "x"), kv("c", "y"), kv("d", "z")}}))
	if d := filtertest.Diff(got, []string{"i0.a=1234", "i0.b=x"}); d != "" {
		t.Errorf("logs: %s", d)
	}
	got, _ = applied(t, sdk.SignalMetrics, filtertest.Metrics(sdktest.Metric{Name: "m", Type: sdk.MetricGauge,
		Points: []sdktest.DataPoint{{Time: 1, Value: 1, Attrs: []sdktest.KV{kv("a", "12345"), kv("b", "x"), kv("c", "y")}}}}))
	if d := filtertest.Diff(got, []string{"i0.a=1234", "i0.b=x"}); d != "" {
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

// Every config is bulk-only: both limits are batch-wide edits.
func TestBulkOnly(t *testing.T) {
	filtertest.BulkOnlyConfigs(t, setup, map[string]bool{
		`{"max_value_length": 256, "max_attributes": 0}`: true,
		`{"max_value_length": 256}`:                      true, // with the default cap of 128
		`{"max_value_length": 0, "max_attributes": 0}`:   true,
	})
}

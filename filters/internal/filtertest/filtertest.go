//go:build !wasip1

// Package filtertest holds what the stock filters' native tests share:
// reading a filter's config out of its example gateway config, and the
// per-item benchmark loop.
package filtertest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/config"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
)

// ExampleConfigs loads path (a filter's example.yaml) as the gateway does,
// failing the test on any error, and returns the config of every entry of
// filters whose module is builtin:name, as the JSON the module's Init
// receives.
func ExampleConfigs(t testing.TB, path, name string) [][]byte {
	t.Helper()
	// The examples are fragments with no exporter: let the OTEL variables
	// supply one, as they would in a deployment.
	env := func(k string) (string, bool) {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return "http://127.0.0.1:4317", true
		}
		return "", false
	}
	cfg, err := config.Load([]string{path}, env)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	var out [][]byte
	for _, f := range cfg.Filters {
		if f.Module != "builtin:"+name {
			continue
		}
		raw := []byte("{}")
		if len(f.Config) > 0 {
			if raw, err = json.Marshal(f.Config); err != nil {
				t.Fatalf("%s: filter %s: config as JSON: %v", path, f.Name, err)
			}
		}
		out = append(out, raw)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no filter with module builtin:%s", path, name)
	}
	return out
}

// Run runs the registered filter over a batch of sig built from rs and
// returns its edits as sdktest.Describe renders them.
func Run(sig sdk.Signal, rs ...sdktest.Resource) ([]string, sdktest.Recorded) {
	req, idx := sdktest.Batch(sig, rs...)
	edits, rec := sdktest.Run(sig, req, idx)
	return sdktest.Describe(edits), rec
}

// Spans is one resource with one scope holding spans.
func Spans(spans ...sdktest.Span) sdktest.Resource {
	return sdktest.Resource{Scopes: []sdktest.Scope{{Spans: spans}}}
}

// Logs is one resource with one scope holding log records.
func Logs(logs ...sdktest.LogRecord) sdktest.Resource {
	return sdktest.Resource{Scopes: []sdktest.Scope{{LogRecords: logs}}}
}

// Metrics is one resource with one scope holding metrics.
func Metrics(ms ...sdktest.Metric) sdktest.Resource {
	return sdktest.Resource{Scopes: []sdktest.Scope{{Metrics: ms}}}
}

// Diff returns "" when got equals want, else both, one edit per line.
func Diff(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	return "got:\n  " + strings.Join(got, "\n  ") + "\nwant:\n  " + strings.Join(want, "\n  ")
}

// MetricTotals sums a recording's metric updates by name.
func MetricTotals(rec sdktest.Recorded) map[string]float64 {
	out := map[string]float64{}
	for _, m := range rec.Metrics {
		out[m.Name] += m.Value
	}
	return out
}

// Bench runs the registered filter over one batch per iteration, through
// sdktest.Run (the module's own export path minus the memory boundary),
// and reports ns per item (ns/span, ns/point or ns/record). This is the
// native baseline the cost of the same code in WASM is compared with.
func Bench(b *testing.B, sig sdk.Signal, rs ...sdktest.Resource) {
	req, idx := sdktest.Batch(sig, rs...)
	items := 0
	for _, r := range rs {
		for _, s := range r.Scopes {
			items += len(s.Spans) + len(s.LogRecords)
			for _, m := range s.Metrics {
				items += len(m.Points)
			}
		}
	}
	unit := map[sdk.Signal]string{sdk.SignalTraces: "ns/span", sdk.SignalMetrics: "ns/point", sdk.SignalLogs: "ns/record"}[sig]
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		sdktest.Run(sig, req, idx)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), unit)
}

// BenchNow is the clock the benchmark batches are built around; set it
// with sdktest.SetNow.
const BenchNow = 1_760_000_000_000_000_000

// BenchSpans is the traces batch every stock filter is benchmarked on: n
// spans of a typical HTTP service, in one resource (service.name and
// host.name, no deployment.environment) and one scope. Each span has 12
// to 14 attributes; every tenth is a GET /healthz, every fifth carries
// user.email, every twentieth a password, every fourth a 320-byte
// db.statement.
func BenchSpans(n int) sdktest.Resource {
	spans := make([]sdktest.Span, n)
	for i := range spans {
		s := &spans[i]
		x := uint64(i)*0x9e3779b97f4a7c15 + 1
		for k := range 8 {
			s.TraceID[k], s.TraceID[8+k] = byte(x>>(8*k)), byte((x*31)>>(8*k))
			s.SpanID[k] = byte((x * 17) >> (8 * k))
		}
		s.SpanID[0] |= 1
		s.Name, s.Kind = "GET /api/v1/items/{id}", sdk.SpanKindServer
		if i%10 == 0 {
			s.Name = "GET /healthz"
		}
		s.StartTime, s.EndTime = BenchNow-2_000_000, BenchNow-1_000_000
		s.Attrs = []sdktest.KV{
			sdktest.Attr("http.request.method", "GET"),
			sdktest.Attr("http.route", "/api/v1/items/{id}"),
			sdktest.Attr("url.path", "/api/v1/items/"+strconv.Itoa(i)),
			sdktest.Attr("http.response.status_code", 200),
			sdktest.Attr("network.peer.address", "10.1.2."+strconv.Itoa(i%250)),
			sdktest.Attr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"),
			sdktest.Attr("server.address", "api.internal.example.com"),
			sdktest.Attr("tenant.id", "tenant-"+strconv.Itoa(i%7)),
			sdktest.Attr("retry.count", i%3),
			sdktest.Attr("cache.hit", i%2 == 0),
			sdktest.Attr("app.region", "eu-west-1"),
			sdktest.Attr("app.version", "1.42.7"),
		}
		if i%5 == 0 {
			s.Attrs = append(s.Attrs, sdktest.Attr("user.email", "user"+strconv.Itoa(i)+"@example.com"))
		}
		if i%20 == 0 {
			s.Attrs = append(s.Attrs, sdktest.Attr("password", "hunter2"))
		}
		if i%4 == 0 {
			s.Attrs = append(s.Attrs, sdktest.Attr("db.statement", "SELECT "+strings.Repeat("column_name, ", 22)+"id FROM items WHERE id = $1"))
		}
	}
	return sdktest.Resource{
		Attrs:  []sdktest.KV{sdktest.Attr("service.name", "checkout"), sdktest.Attr("host.name", "node-7")},
		Scopes: []sdktest.Scope{{Name: "io.opentelemetry.http", Version: "1.0.0", Spans: spans}},
	}
}

// ConfigErrors checks that each bad config (JSON) is refused by the
// filter's init with an error containing the wanted text.
func ConfigErrors(t *testing.T, bad map[string]string) {
	t.Helper()
	for raw, want := range bad {
		if _, err := sdktest.Init([]byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", raw, err, want)
		}
	}
}

// ExamplesLoad checks that the filter accepts every config in its
// example.yaml.
func ExamplesLoad(t *testing.T, name string) {
	t.Helper()
	for _, raw := range ExampleConfigs(t, "example.yaml", name) {
		if _, err := sdktest.Init(raw); err != nil {
			t.Errorf("example config %s: %v", raw, err)
		}
	}
}

// BulkOnlyConfigs checks, for each config (JSON), that the filter's Init
// declares it bulk-only (sdk.BulkOnly) exactly when want[config] says.
func BulkOnlyConfigs(t *testing.T, setup func(testing.TB, string), want map[string]bool) {
	t.Helper()
	for raw, bulk := range want {
		setup(t, raw)
		if got := sdktest.BulkOnly(); got != bulk {
			t.Errorf("config %s: bulk-only %v, want %v", raw, got, bulk)
		}
	}
}

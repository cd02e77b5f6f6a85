//go:build !wasip1

package filtertest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/sdk"
	"github.com/otlpgw/otlpgw/sdk/sdktest"
	"github.com/otlpgw/otlpgw/wasmhost"
)

// LoadWASM loads the filter's committed module (NAME.wasm in the current
// directory, as `make filters` builds it) through the gateway's WASM host
// with config, and closes it when the test ends. It fails the test when
// the host refuses the module: a WASI import outside the ABI's list, a
// missing export, or Init refusing config.
func LoadWASM(t testing.TB, config []byte) *wasmhost.Filter {
	t.Helper()
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(abs)
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.RuntimeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	// The generous timeout is for -race and loaded machines: these tests
	// are about what the module does, not how fast.
	f, err := rt.Load(ctx, wasmhost.LoadConfig{Name: name, Module: name + ".wasm", Config: config, Instances: 1, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatalf("loading %s.wasm: %v", name, err)
	}
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// CompareWASM runs the batch built from rs through the registered filter
// natively (sdktest) and through f (the built module in the real runtime)
// and fails the test unless both produce the same request bytes and drop
// count: the committed module is the code under test.
func CompareWASM(t testing.TB, f *wasmhost.Filter, sig sdk.Signal, rs ...sdktest.Resource) {
	t.Helper()
	req, idx := sdktest.Batch(sig, rs...)
	edits, _ := sdktest.Run(sig, req, idx)

	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Signal(sig), req); err != nil {
		t.Fatalf("indexing the batch: %v", err)
	}
	var e otlpwire.Edits
	if err := e.Decode(edits, &ix); err != nil {
		t.Fatalf("the native edit list does not decode: %v", err)
	}
	want, wantDropped, err := otlpwire.Apply(&ix, req, &e, nil)
	if err != nil {
		t.Fatalf("applying the native edits: %v", err)
	}

	res, err := f.Process(context.Background(), otlpwire.Signal(sig), req, &ix)
	if err != nil {
		t.Fatalf("WASM %s: %v", sig, err)
	}
	got := res.Req
	if got == nil {
		got = req
	}
	if !bytes.Equal(got, want) || res.Dropped != wantDropped {
		t.Errorf("%s: the module gives %d bytes with %d dropped, the native run %d bytes with %d dropped (edits: %s)",
			sig, len(got), res.Dropped, len(want), wantDropped, strings.Join(sdktest.Describe(edits), "; "))
	}
}

// BenchWASM runs the batch through f once per iteration and reports ns per
// item, end to end through wasmhost.Filter.Process: copying the request
// and index into the guest, the guest's work, decoding and applying its
// edits. It is indicative; the gateway's own benchmarks are the reference
// for the WASM side.
func BenchWASM(b *testing.B, f *wasmhost.Filter, sig sdk.Signal, rs ...sdktest.Resource) {
	req := sdktest.Encode(sig, rs...)
	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Signal(sig), req); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := f.Process(ctx, otlpwire.Signal(sig), req, &ix); err != nil {
			b.Fatal(err)
		}
	}
	unit := map[sdk.Signal]string{sdk.SignalTraces: "ns/span", sdk.SignalMetrics: "ns/point", sdk.SignalLogs: "ns/record"}[sig]
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(ix.Items), unit)
}

// MixedLogs is a logs batch touching what the stock filters look at:
// severities, timestamps, trace context, e-mail addresses, secrets, long
// values and many attributes.
func MixedLogs() sdktest.Resource {
	recs := make([]sdktest.LogRecord, 40)
	for i := range recs {
		r := &recs[i]
		r.Time, r.ObservedTime = BenchNow-uint64(i)*1_000_000, BenchNow
		r.Severity = sdk.Severity(i % 26)
		r.Body = "request from user" + strings.Repeat("x", i) + "@example.com done"
		if i%3 == 0 {
			r.TraceID = [16]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, byte(i * 37), byte(i * 11), 3, 4, 5, 6, byte(i)}
			r.SpanID = [8]byte{1, byte(i), 3, 4, 5, 6, 7, 8}
		}
		if i%7 == 0 {
			r.Time = 0
		}
		r.Attrs = []sdktest.KV{
			sdktest.Attr("user.email", "u"+strings.Repeat("y", i)+"@example.com"),
			sdktest.Attr("password", "hunter2"),
			sdktest.Attr("note", "card 4111 1111 1111 1111 and Bearer abc.def"),
			sdktest.Attr("big", strings.Repeat("z", 200+10*i)),
		}
		for k := range i % 5 * 40 {
			r.Attrs = append(r.Attrs, sdktest.Attr("extra."+strings.Repeat("k", k%7)+string(rune('a'+k%26)), k))
		}
	}
	return sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("host.name", "h")}, Scopes: []sdktest.Scope{{Name: "logger", LogRecords: recs}}}
}

// MixedMetrics is a metrics batch of every point type, with a few invalid
// points (an empty metric name, a histogram whose count disagrees, a start
// after the time).
func MixedMetrics() sdktest.Resource {
	sum := 6.0
	pt := func(i int) sdktest.DataPoint {
		return sdktest.DataPoint{StartTime: BenchNow - 60e9, Time: BenchNow - uint64(i), Value: i,
			Attrs: []sdktest.KV{sdktest.Attr("user.email", "a@b.io"), sdktest.Attr("route", "/x"), sdktest.Attr("long", strings.Repeat("q", 300))}}
	}
	return sdktest.Resource{Attrs: []sdktest.KV{sdktest.Attr("service.name", "svc")}, Scopes: []sdktest.Scope{{Metrics: []sdktest.Metric{
		{Name: "go_gc_duration_seconds", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(1), pt(2)}},
		{Name: "http_requests_total", Type: sdk.MetricSum, Temporality: sdk.TemporalityCumulative, Monotonic: true, Points: []sdktest.DataPoint{pt(3), {StartTime: BenchNow, Time: BenchNow - 1e9, Value: 1}}},
		{Name: "", Type: sdk.MetricGauge, Points: []sdktest.DataPoint{pt(4)}},
		{Name: "latency", Type: sdk.MetricHistogram, Points: []sdktest.DataPoint{
			{StartTime: BenchNow - 60e9, Time: BenchNow, Count: 6, Sum: &sum, BucketCounts: []uint64{1, 2, 3}, ExplicitBounds: []float64{1, 2}},
			{StartTime: BenchNow - 60e9, Time: BenchNow, Count: 7, Sum: &sum, BucketCounts: []uint64{1, 2, 3}, ExplicitBounds: []float64{1, 2}},
		}},
		{Name: "rpc.duration", Type: sdk.MetricSummary, Points: []sdktest.DataPoint{{Time: BenchNow, Count: 2}}},
	}}}}
}

// abiImports is every function ABI.md §2 lets a module import. The host
// also tolerates five inert WASI file functions that Go's os and syscall
// packages import; the stock filters stay within the ABI's own list.
var abiImports = map[string]bool{
	"otlpgw.log": true, "otlpgw.metric_define": true, "otlpgw.metric_add": true, "otlpgw.metric_record": true,
	"otlpgw.health_report": true, "otlpgw.gateway_pressure": true, "otlpgw.gateway_health": true, "otlpgw.now": true,
	"wasi_snapshot_preview1.clock_time_get": true, "wasi_snapshot_preview1.clock_res_get": true,
	"wasi_snapshot_preview1.random_get": true, "wasi_snapshot_preview1.fd_write": true,
	"wasi_snapshot_preview1.proc_exit": true, "wasi_snapshot_preview1.sched_yield": true,
	"wasi_snapshot_preview1.args_sizes_get": true, "wasi_snapshot_preview1.args_get": true,
	"wasi_snapshot_preview1.environ_sizes_get": true, "wasi_snapshot_preview1.environ_get": true,
	"wasi_snapshot_preview1.poll_oneoff": true,
}

// CheckModule fails the test unless the committed module (NAME.wasm in the
// current directory) imports only functions ABI.md §2 lists and exports
// the ABI's functions for every signal. It returns the module's imports.
func CheckModule(t testing.TB) []string {
	t.Helper()
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(abs)
	bin, err := os.ReadFile(name + ".wasm")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("%s.wasm: %v", name, err)
	}
	var imports []string
	for _, f := range m.ImportedFunctions() {
		mod, fn, _ := f.Import()
		imp := mod + "." + fn
		imports = append(imports, imp)
		if !abiImports[imp] {
			t.Errorf("%s.wasm imports %s, which ABI.md §2 does not list", name, imp)
		}
	}
	exports := m.ExportedFunctions()
	for _, want := range []string{"otlpgw_abi_version", "otlpgw_alloc", "otlpgw_init", "otlpgw_process_traces",
		"otlpgw_process_metrics", "otlpgw_process_logs", "_initialize"} {
		if _, ok := exports[want]; !ok {
			t.Errorf("%s.wasm does not export %s", name, want)
		}
	}
	return imports
}

// MatchesNative checks, for each config, that the committed module gives
// the same result on every signal as the package's code run natively.
// setup initialises the native filter with a config, as each package's
// tests do.
func MatchesNative(t *testing.T, setup func(testing.TB, string), configs [][]byte) {
	t.Helper()
	for _, raw := range configs {
		setup(t, string(raw))
		sdktest.SetNow(0) // the module reads the host's real clock
		f := LoadWASM(t, raw)
		if native := sdktest.BulkOnly(); f.BulkOnly() != native {
			t.Errorf("config %s: the module says bulk-only %v, the native run %v", raw, f.BulkOnly(), native)
		}
		CompareWASM(t, f, sdk.SignalTraces, BenchSpans(100))
		CompareWASM(t, f, sdk.SignalLogs, MixedLogs())
		CompareWASM(t, f, sdk.SignalMetrics, MixedMetrics())
	}
}

// BenchCompare runs the batch built from rs through the filter with config
// twice, as sub-benchmarks: "native" (the filter's own code through
// sdktest, then decoding and applying its edit list) and "wasm" (the
// committed module through the gateway's WASM host, which does the same
// plus the copy into the guest and the call). Both do the whole step a
// filter costs the gateway, so their ratio is the price of the sandbox;
// both report ns per item.
func BenchCompare(b *testing.B, setup func(testing.TB, string), config string, sig sdk.Signal, rs ...sdktest.Resource) {
	req := sdktest.Encode(sig, rs...)
	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Signal(sig), req); err != nil {
		b.Fatal(err)
	}
	unit := map[sdk.Signal]string{sdk.SignalTraces: "ns/span", sdk.SignalMetrics: "ns/point", sdk.SignalLogs: "ns/record"}[sig]
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(ix.Items), unit)
	}
	b.Run("native", func(b *testing.B) {
		setup(b, config)
		idx, err := sdktest.Index(sig, req)
		if err != nil {
			b.Fatal(err)
		}
		var e otlpwire.Edits
		b.SetBytes(int64(len(req)))
		for b.Loop() {
			edits, _ := sdktest.Run(sig, req, idx)
			if err := e.Decode(edits, &ix); err != nil {
				b.Fatal(err)
			}
			if e.Verdict == otlpwire.VerdictEdit && len(e.List) > 0 {
				if _, _, _, err := otlpwire.ApplyChanged(&ix, req, &e, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("wasm", func(b *testing.B) {
		setup(b, config)
		sdktest.SetNow(0) // the module reads the host's real clock
		f := LoadWASM(b, []byte(config))
		ctx := context.Background()
		b.SetBytes(int64(len(req)))
		for b.Loop() {
			if _, err := f.Process(ctx, otlpwire.Signal(sig), req, &ix); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

// Applied is one native run of the registered filter with its edit list
// applied as the gateway applies it.
type Applied struct {
	Out     []byte // the resulting request
	Items   int    // items in the batch before the filter
	Dropped int
	Reason  string   // the drop reason the client reads
	Edits   []string // the edit list, as sdktest.Describe renders it
	Rec     sdktest.Recorded
}

// ApplyNative runs the registered filter natively over a batch of sig
// built from rs and applies its edit list as the gateway does. It fails
// the test if the filter rejects or replaces the batch.
func ApplyNative(t testing.TB, sig sdk.Signal, rs ...sdktest.Resource) Applied {
	t.Helper()
	req, idx := sdktest.Batch(sig, rs...)
	list, rec := sdktest.Run(sig, req, idx)
	var ix otlpwire.Index
	if err := ix.Parse(otlpwire.Signal(sig), req); err != nil {
		t.Fatal(err)
	}
	var e otlpwire.Edits
	if err := e.Decode(list, &ix); err != nil {
		t.Fatalf("the filter's edit list: %v", err)
	}
	if e.Verdict != otlpwire.VerdictEdit {
		t.Fatalf("the filter rejected or replaced the batch")
	}
	out, dropped, err := otlpwire.Apply(&ix, req, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Applied{Out: out, Items: ix.Items, Dropped: dropped, Reason: string(e.DropReason), Edits: sdktest.Describe(list), Rec: rec}
}
